import Broker
import Foundation

/// SNS's SMS and mobile-push operations (API version 2010-03-31): the deliveries they make are captured in the
/// broker's outbox, served as JSON by ``SNSOutboxRoute``.
enum SNSCapturedOperations {
    static let all: [Operation] = [
        setSMSAttributes, getSMSAttributes, checkIfPhoneNumberIsOptedOut, listPhoneNumbersOptedOut, optInPhoneNumber,
        createSMSSandboxPhoneNumber, verifySMSSandboxPhoneNumber, listSMSSandboxPhoneNumbers, deleteSMSSandboxPhoneNumber,
        getSMSSandboxAccountStatus, listOriginationNumbers,
        createPlatformApplication, getPlatformApplicationAttributes, setPlatformApplicationAttributes,
        listPlatformApplications, deletePlatformApplication, createPlatformEndpoint, getEndpointAttributes,
        setEndpointAttributes, listEndpointsByPlatformApplication, deleteEndpoint,
    ]

    private static let attributes = Member("Attributes", .map(.string, key: "key", value: "value"))
    private static let nextToken = Member("NextToken", .string)
    private static let applicationArn = Member("PlatformApplicationArn", .string, required: true)
    private static let endpointArn = Member("EndpointArn", .string, required: true)
    private static let phoneNumber = Member("PhoneNumber", .string, required: true)

    // MARK: SMS

    static let setSMSAttributes = Operation(
        "SetSMSAttributes", input: [Member("attributes", .map(.string, key: "key", value: "value"), required: true)], output: []
    ) { context, input in
        try context.broker.setSMSAttributes(input.stringMap("attributes"))
        return [:]
    }

    static let getSMSAttributes = Operation(
        "GetSMSAttributes", input: [Member("attributes", .list(.string))],
        output: [Member("attributes", .map(.string, key: "key", value: "value"))]
    ) { context, input in
        ["attributes": .stringMap(context.broker.smsAttributes(names: input.strings("attributes")))]
    }

    static let checkIfPhoneNumberIsOptedOut = Operation(
        "CheckIfPhoneNumberIsOptedOut", input: [Member("phoneNumber", .string, required: true)],
        output: [Member("isOptedOut", .boolean)]
    ) { context, input in
        ["isOptedOut": .boolean(try context.broker.isPhoneNumberOptedOut(input.string("phoneNumber") ?? ""))]
    }

    static let listPhoneNumbersOptedOut = Operation(
        "ListPhoneNumbersOptedOut", input: [Member("nextToken", .string)],
        output: [Member("phoneNumbers", .list(.string)), Member("nextToken", .string)]
    ) { context, input in
        let page = try context.broker.listPhoneNumbersOptedOut(nextToken: input.string("nextToken"))
        var fields: [String: WireValue] = ["phoneNumbers": .list(page.phoneNumbers.map(WireValue.string))]
        fields["nextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    static let optInPhoneNumber = Operation(
        "OptInPhoneNumber", input: [Member("phoneNumber", .string, required: true)], output: []
    ) { context, input in
        try context.broker.optInPhoneNumber(input.string("phoneNumber") ?? "")
        return [:]
    }

    static let createSMSSandboxPhoneNumber = Operation(
        "CreateSMSSandboxPhoneNumber", input: [phoneNumber, Member("LanguageCode", .string)], output: []
    ) { context, input in
        try context.broker.createSMSSandboxPhoneNumber(input.string("PhoneNumber") ?? "",
                                                       languageCode: input.string("LanguageCode") ?? "en-US")
        return [:]
    }

    static let verifySMSSandboxPhoneNumber = Operation(
        "VerifySMSSandboxPhoneNumber", input: [phoneNumber, Member("OneTimePassword", .string, required: true)], output: []
    ) { context, input in
        try context.broker.verifySMSSandboxPhoneNumber(input.string("PhoneNumber") ?? "",
                                                       oneTimePassword: input.string("OneTimePassword") ?? "")
        return [:]
    }

    static let listSMSSandboxPhoneNumbers = Operation(
        "ListSMSSandboxPhoneNumbers", input: [nextToken, Member("MaxResults", .integer)],
        output: [Member("PhoneNumbers", .list(.structure(Structure([Member("PhoneNumber", .string), Member("Status", .string)])))),
                 nextToken]
    ) { context, input in
        let page = try context.broker.listSMSSandboxPhoneNumbers(nextToken: input.string("NextToken"))
        var fields: [String: WireValue] = ["PhoneNumbers": .list(page.phoneNumbers.map {
            .structure(["PhoneNumber": .string($0.phoneNumber), "Status": .string($0.status.rawValue)])
        })]
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    static let deleteSMSSandboxPhoneNumber = Operation(
        "DeleteSMSSandboxPhoneNumber", input: [phoneNumber], output: []
    ) { context, input in
        try context.broker.deleteSMSSandboxPhoneNumber(input.string("PhoneNumber") ?? "")
        return [:]
    }

    static let getSMSSandboxAccountStatus = Operation(
        "GetSMSSandboxAccountStatus", input: [], output: [Member("IsInSandbox", .boolean)]
    ) { context, _ in
        ["IsInSandbox": .boolean(context.broker.isInSMSSandbox)]
    }

    static let listOriginationNumbers = Operation(
        "ListOriginationNumbers", input: [nextToken, Member("MaxResults", .integer)],
        output: [Member("PhoneNumbers", .list(.structure(Structure([Member("PhoneNumber", .string)])))), nextToken]
    ) { context, input in
        if let max = input.integer("MaxResults"), !(1...30).contains(max) {
            throw BrokerError(.invalidParameter, "Invalid parameter: MaxResults Reason: must be between 1 and 30")
        }
        let page = try context.broker.listOriginationNumbers(nextToken: input.string("NextToken"))
        var fields: [String: WireValue] = ["PhoneNumbers": .list(page.phoneNumbers.map { .structure(["PhoneNumber": .string($0)]) })]
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    // MARK: Mobile push

    static let createPlatformApplication = Operation(
        "CreatePlatformApplication",
        input: [Member("Name", .string, required: true), Member("Platform", .string, required: true),
                Member("Attributes", .map(.string, key: "key", value: "value"), required: true)],
        output: [Member("PlatformApplicationArn", .string)]
    ) { context, input in
        let arn = try context.broker.createPlatformApplication(name: input.string("Name") ?? "", platform: input.string("Platform") ?? "",
                                                               attributes: input.stringMap("Attributes"))
        return ["PlatformApplicationArn": .string(arn)]
    }

    static let getPlatformApplicationAttributes = Operation(
        "GetPlatformApplicationAttributes", input: [applicationArn], output: [attributes]
    ) { context, input in
        ["Attributes": .stringMap(try context.broker.platformApplicationAttributes(arn: input.string("PlatformApplicationArn") ?? ""))]
    }

    static let setPlatformApplicationAttributes = Operation(
        "SetPlatformApplicationAttributes", input: [applicationArn, attributes], output: nil
    ) { context, input in
        try context.broker.setPlatformApplicationAttributes(arn: input.string("PlatformApplicationArn") ?? "",
                                                            input.stringMap("Attributes"))
        return [:]
    }

    static let listPlatformApplications = Operation(
        "ListPlatformApplications", input: [nextToken],
        output: [Member("PlatformApplications", .list(.structure(Structure([Member("PlatformApplicationArn", .string), attributes])))),
                 nextToken]
    ) { context, input in
        let page = try context.broker.listPlatformApplications(nextToken: input.string("NextToken"))
        var fields: [String: WireValue] = ["PlatformApplications": .list(page.applications.map {
            .structure(["PlatformApplicationArn": .string($0.arn), "Attributes": .stringMap($0.attributes)])
        })]
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    static let deletePlatformApplication = Operation(
        "DeletePlatformApplication", input: [applicationArn], output: nil
    ) { context, input in
        try context.broker.deletePlatformApplication(arn: input.string("PlatformApplicationArn") ?? "")
        return [:]
    }

    static let createPlatformEndpoint = Operation(
        "CreatePlatformEndpoint",
        input: [applicationArn, Member("Token", .string, required: true), Member("CustomUserData", .string), attributes],
        output: [Member("EndpointArn", .string)]
    ) { context, input in
        let arn = try context.broker.createPlatformEndpoint(applicationArn: input.string("PlatformApplicationArn") ?? "",
                                                            token: input.string("Token") ?? "",
                                                            customUserData: input.string("CustomUserData"),
                                                            attributes: input.stringMap("Attributes"))
        return ["EndpointArn": .string(arn)]
    }

    static let getEndpointAttributes = Operation(
        "GetEndpointAttributes", input: [endpointArn], output: [attributes]
    ) { context, input in
        ["Attributes": .stringMap(try context.broker.endpointAttributes(arn: input.string("EndpointArn") ?? ""))]
    }

    static let setEndpointAttributes = Operation(
        "SetEndpointAttributes", input: [endpointArn, Member("Attributes", .map(.string, key: "key", value: "value"), required: true)],
        output: nil
    ) { context, input in
        try context.broker.setEndpointAttributes(arn: input.string("EndpointArn") ?? "", input.stringMap("Attributes"))
        return [:]
    }

    static let listEndpointsByPlatformApplication = Operation(
        "ListEndpointsByPlatformApplication", input: [applicationArn, nextToken],
        output: [Member("Endpoints", .list(.structure(Structure([Member("EndpointArn", .string), attributes])))), nextToken]
    ) { context, input in
        let page = try context.broker.listEndpoints(applicationArn: input.string("PlatformApplicationArn") ?? "",
                                                    nextToken: input.string("NextToken"))
        var fields: [String: WireValue] = ["Endpoints": .list(page.endpoints.map {
            .structure(["EndpointArn": .string($0.arn), "Attributes": .stringMap($0.attributes)])
        })]
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    static let deleteEndpoint = Operation("DeleteEndpoint", input: [endpointArn], output: nil) { context, input in
        try context.broker.deleteEndpoint(arn: input.string("EndpointArn") ?? "")
        return [:]
    }
}

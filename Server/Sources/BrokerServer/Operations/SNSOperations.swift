import Broker
import Foundation

/// SNS's operations (API version 2010-03-31) over Broker. SNS speaks Query only; its lists and maps are wrapped
/// (`Tags.member.1`, `Attributes.entry.1.key`), which ``QueryCodec`` derives from the same shapes.
enum SNSOperations {
    static let namespace = "http://sns.amazonaws.com/doc/2010-03-31/"

    static let all: [String: Operation] = Dictionary(uniqueKeysWithValues: [
        createTopic, deleteTopic, listTopics, getTopicAttributes, setTopicAttributes, subscribe, unsubscribe,
        confirmSubscription, listSubscriptions, listSubscriptionsByTopic, getSubscriptionAttributes,
        setSubscriptionAttributes, publish, publishBatch, tagResource, untagResource, listTagsForResource,
        addPermission, removePermission, putDataProtectionPolicy, getDataProtectionPolicy,
    ].map { ($0.name, $0) } + SNSCapturedOperations.all.map { ($0.name, $0) })

    // MARK: Shapes shared by several operations

    private static let topicArn = Member("TopicArn", .string, required: true)
    private static let subscriptionArn = Member("SubscriptionArn", .string, required: true)
    private static let attributes = Member("Attributes", .map(.string, key: "key", value: "value"))
    private static let nextToken = Member("NextToken", .string)
    private static let tags = Shape.list(.structure(Structure([Member("Key", .string, required: true),
                                                               Member("Value", .string, required: true)])))
    private static let messageAttributes = Member("MessageAttributes", .map(.structure(Structure([
        Member("DataType", .string, required: true), Member("StringValue", .string), Member("BinaryValue", .blob),
    ])), key: "Name", value: "Value"))
    private static let publishFields: [Member] = [
        Member("Message", .string, required: true), Member("Subject", .string), Member("MessageStructure", .string),
        messageAttributes, Member("MessageDeduplicationId", .string), Member("MessageGroupId", .string),
    ]
    private static let subscriptions = Member("Subscriptions", .list(.structure(Structure([
        Member("SubscriptionArn", .string), Member("Owner", .string), Member("Protocol", .string),
        Member("Endpoint", .string), Member("TopicArn", .string),
    ]))))
    private static let namedAttribute = [Member("AttributeName", .string, required: true), Member("AttributeValue", .string)]

    // MARK: Topics

    static let createTopic = Operation(
        "CreateTopic",
        input: [Member("Name", .string, required: true), attributes, Member("Tags", tags), Member("DataProtectionPolicy", .string)],
        output: [Member("TopicArn", .string)]
    ) { context, input in
        let topic = try context.broker.createTopic(named: input.string("Name") ?? "", awsAttributes: input.stringMap("Attributes"),
                                                   tags: try tagDictionary(input))
        if let policy = input.string("DataProtectionPolicy") { try topic.putDataProtectionPolicy(policy) }
        return ["TopicArn": .string(topic.arn)]
    }

    static let deleteTopic = Operation("DeleteTopic", input: [topicArn], output: nil) { context, input in
        try context.broker.deleteTopic(arn: input.string("TopicArn") ?? "")
        return [:]
    }

    static let listTopics = Operation(
        "ListTopics", input: [nextToken],
        output: [Member("Topics", .list(.structure(Structure([Member("TopicArn", .string)])))), nextToken]
    ) { context, input in
        let page = try context.broker.listTopics(nextToken: input.string("NextToken"))
        var fields: [String: WireValue] = ["Topics": .list(page.topicArns.map { .structure(["TopicArn": .string($0)]) })]
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }

    static let getTopicAttributes = Operation(
        "GetTopicAttributes", input: [topicArn], output: [attributes]
    ) { context, input in
        ["Attributes": .stringMap(try context.broker.topic(arn: input.string("TopicArn") ?? "").attributes())]
    }

    static let setTopicAttributes = Operation(
        "SetTopicAttributes", input: [topicArn] + namedAttribute, output: nil
    ) { context, input in
        try context.broker.topic(arn: input.string("TopicArn") ?? "")
            .setAttribute(input.string("AttributeName") ?? "", input.string("AttributeValue") ?? "")
        return [:]
    }

    /// AddPermission and RemovePermission share their names with SQS's; the Version or the credential scope
    /// routes them here.
    static let addPermission = Operation(
        "AddPermission",
        input: [topicArn, Member("Label", .string, required: true), Member("AWSAccountId", .list(.string), required: true),
                Member("ActionName", .list(.string), required: true)],
        output: nil
    ) { context, input in
        try context.broker.topic(arn: input.string("TopicArn") ?? "")
            .addPermission(label: input.string("Label") ?? "", accountIds: input.strings("AWSAccountId"),
                           actionNames: input.strings("ActionName"))
        return [:]
    }

    static let removePermission = Operation(
        "RemovePermission", input: [topicArn, Member("Label", .string, required: true)], output: nil
    ) { context, input in
        try context.broker.topic(arn: input.string("TopicArn") ?? "").removePermission(label: input.string("Label") ?? "")
        return [:]
    }

    static let putDataProtectionPolicy = Operation(
        "PutDataProtectionPolicy",
        input: [Member("ResourceArn", .string, required: true), Member("DataProtectionPolicy", .string, required: true)],
        output: nil
    ) { context, input in
        try context.broker.topic(arn: input.string("ResourceArn") ?? "")
            .putDataProtectionPolicy(input.string("DataProtectionPolicy") ?? "")
        return [:]
    }

    static let getDataProtectionPolicy = Operation(
        "GetDataProtectionPolicy", input: [Member("ResourceArn", .string, required: true)],
        output: [Member("DataProtectionPolicy", .string)]
    ) { context, input in
        let policy = try context.broker.topic(arn: input.string("ResourceArn") ?? "").dataProtectionPolicy()
        return policy.map { ["DataProtectionPolicy": .string($0)] } ?? [:]
    }

    // MARK: Subscriptions

    static let subscribe = Operation(
        "Subscribe",
        input: [topicArn, Member("Protocol", .string, required: true), Member("Endpoint", .string), attributes,
                Member("ReturnSubscriptionArn", .boolean)],
        output: [Member("SubscriptionArn", .string)]
    ) { context, input in
        let subscription = try context.broker.topic(arn: input.string("TopicArn") ?? "")
            .subscribe(protocol: input.string("Protocol") ?? "", endpoint: input.string("Endpoint") ?? "",
                       attributes: input.stringMap("Attributes"))
        // AWS names a subscription that waits for confirmation only when asked to.
        if input.boolean("ReturnSubscriptionArn") != true, try subscription.isPendingConfirmation() {
            return ["SubscriptionArn": .string("pending confirmation")]
        }
        return ["SubscriptionArn": .string(subscription.arn)]
    }

    /// Unsubscribe; unsigned (a GET of a notification's `UnsubscribeURL`) only for a subscription not confirmed with
    /// `AuthenticateOnUnsubscribe`, as AWS allows.
    static let unsubscribe = Operation("Unsubscribe", input: [subscriptionArn], output: nil) { context, input in
        let arn = input.string("SubscriptionArn") ?? ""
        if context.accessKeyId == nil, let subscription = try? context.broker.subscription(arn: arn),
           (try? subscription.attributes())?["ConfirmationWasAuthenticated"] == "true",
           subscription.protocol != .sqs, subscription.protocol != .lambda {
            throw BrokerError(.authorizationError,
                "The subscription was confirmed with AuthenticateOnUnsubscribe: only a signed request may unsubscribe it")
        }
        try context.broker.unsubscribe(subscriptionArn: arn)
        return [:]
    }

    /// ConfirmSubscription with the token of a pending subscription (the one in its `SubscriptionConfirmation`). A GET
    /// of the message's `SubscribeURL` (`/?Action=ConfirmSubscription&TopicArn=…&Token=…`) lands here too.
    static let confirmSubscription = Operation(
        "ConfirmSubscription",
        input: [topicArn, Member("Token", .string, required: true), Member("AuthenticateOnUnsubscribe", .string)],
        output: [Member("SubscriptionArn", .string)]
    ) { context, input in
        let authenticate = input.string("AuthenticateOnUnsubscribe")
        guard authenticate == nil || ["true", "false"].contains(authenticate?.lowercased()) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: AuthenticateOnUnsubscribe")
        }
        let subscription = try context.broker.confirmSubscription(topicArn: input.string("TopicArn") ?? "", token: input.string("Token") ?? "",
                                                                  authenticateOnUnsubscribe: authenticate?.lowercased() == "true")
        return ["SubscriptionArn": .string(subscription.arn)]
    }

    static let listSubscriptions = Operation(
        "ListSubscriptions", input: [nextToken], output: [subscriptions, nextToken]
    ) { context, input in
        let page = try context.broker.listSubscriptions(nextToken: input.string("NextToken"))
        return subscriptionPage(page.subscriptions, page.nextToken)
    }

    static let listSubscriptionsByTopic = Operation(
        "ListSubscriptionsByTopic", input: [topicArn, nextToken], output: [subscriptions, nextToken]
    ) { context, input in
        let page = try context.broker.topic(arn: input.string("TopicArn") ?? "").listSubscriptions(nextToken: input.string("NextToken"))
        return subscriptionPage(page.subscriptions, page.nextToken)
    }

    static let getSubscriptionAttributes = Operation(
        "GetSubscriptionAttributes", input: [subscriptionArn], output: [attributes]
    ) { context, input in
        ["Attributes": .stringMap(try context.broker.subscription(arn: input.string("SubscriptionArn") ?? "").attributes())]
    }

    static let setSubscriptionAttributes = Operation(
        "SetSubscriptionAttributes", input: [subscriptionArn] + namedAttribute, output: nil
    ) { context, input in
        try context.broker.subscription(arn: input.string("SubscriptionArn") ?? "")
            .setAttribute(input.string("AttributeName") ?? "", input.string("AttributeValue") ?? "")
        return [:]
    }

    // MARK: Publishing

    static let publish = Operation(
        "Publish",
        input: [Member("TopicArn", .string), Member("TargetArn", .string), Member("PhoneNumber", .string)] + publishFields,
        output: [Member("MessageId", .string), Member("SequenceNumber", .string)]
    ) { context, input in
        let targets = [input.string("TopicArn"), input.string("TargetArn"), input.string("PhoneNumber")].compactMap { $0 }
        if targets.count > 1 {
            throw BrokerError(.invalidParameter, "Invalid parameter: TopicArn or TargetArn or PhoneNumber Reason: only one may be given")
        }
        if let number = input.string("PhoneNumber") {
            let request = try publishRequest(input)
            let id = try context.broker.publish(phoneNumber: number, message: request.message,
                                                messageStructure: request.messageStructure,
                                                messageAttributes: request.messageAttributes)
            return ["MessageId": .string(id)]
        }
        let topic: Topic
        if let arn = input.string("TopicArn") {
            topic = try context.broker.topic(arn: arn)
        } else if let arn = input.string("TargetArn") {
            // A target is a platform endpoint, or a topic.
            if arn.contains(":endpoint/") {
                let request = try publishRequest(input)
                let id = try context.broker.publish(targetArn: arn, message: request.message, subject: request.subject,
                                                    messageStructure: request.messageStructure,
                                                    messageAttributes: request.messageAttributes)
                return ["MessageId": .string(id)]
            }
            guard let found = try? context.broker.topic(arn: arn) else {
                throw BrokerError(.invalidParameter, "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified")
            }
            topic = found
        } else {
            throw BrokerError(.invalidParameter, "Invalid parameter: TopicArn or TargetArn Reason: no value for required parameter")
        }
        let result = try topic.publish(try publishRequest(input))
        var fields: [String: WireValue] = ["MessageId": .string(result.messageId)]
        fields["SequenceNumber"] = result.sequenceNumber.map(WireValue.string)
        return fields
    }

    static let publishBatch = Operation(
        "PublishBatch",
        input: [topicArn, Member("PublishBatchRequestEntries", .list(.structure(Structure(
            [Member("Id", .string, required: true)] + publishFields))))],
        output: [Member("Successful", .list(.structure(Structure([
                    Member("Id", .string), Member("MessageId", .string), Member("SequenceNumber", .string)])))),
                 Member("Failed", .list(.structure(Structure([
                    Member("Id", .string), Member("Code", .string), Member("Message", .string),
                    Member("SenderFault", .boolean)]))))]
    ) { context, input in
        let entries = try input.structures("PublishBatchRequestEntries").map { entry in
            PublishBatchRequestEntry(id: entry.string("Id") ?? "", request: try publishRequest(entry))
        }
        let result = try context.broker.topic(arn: input.string("TopicArn") ?? "").publishBatch(entries)
        return SQSOperations.batchFields(result) { id, published in
            var fields: [String: WireValue] = ["Id": .string(id), "MessageId": .string(published.messageId)]
            fields["SequenceNumber"] = published.sequenceNumber.map(WireValue.string)
            return fields
        }
    }

    // MARK: Tags

    static let tagResource = Operation(
        "TagResource", input: [Member("ResourceArn", .string, required: true), Member("Tags", tags, required: true)], output: []
    ) { context, input in
        try taggedTopic(context, input).tag(keyValuePairs: input.structures("Tags").map { ($0.string("Key") ?? "", $0.string("Value") ?? "") })
        return [:]
    }

    static let untagResource = Operation(
        "UntagResource",
        input: [Member("ResourceArn", .string, required: true), Member("TagKeys", .list(.string), required: true)], output: []
    ) { context, input in
        try taggedTopic(context, input).untag(input.strings("TagKeys"))
        return [:]
    }

    static let listTagsForResource = Operation(
        "ListTagsForResource", input: [Member("ResourceArn", .string, required: true)], output: [Member("Tags", tags)]
    ) { context, input in
        let tags = try taggedTopic(context, input).tags()
        return ["Tags": .list(tags.sorted { $0.key < $1.key }.map { .structure(["Key": .string($0.key), "Value": .string($0.value)]) })]
    }

    // MARK: Conversions

    /// The tagging calls name a missing topic `ResourceNotFound`, not `NotFound`.
    private static func taggedTopic(_ context: OperationContext, _ input: Input) throws -> Topic {
        do {
            return try context.broker.topic(arn: input.string("ResourceArn") ?? "")
        } catch {
            throw BrokerError(.snsResourceNotFound, "Resource does not exist")
        }
    }

    private static func tagDictionary(_ input: Input) throws -> [String: String] {
        var tags: [String: String] = [:]
        for tag in input.structures("Tags") where tags.updateValue(tag.string("Value") ?? "", forKey: tag.string("Key") ?? "") != nil {
            throw BrokerError(.invalidParameter, "Invalid parameter: Duplicated keys are not allowed.")
        }
        return tags
    }

    private static func publishRequest(_ input: Input) throws -> PublishRequest {
        PublishRequest(message: input.string("Message") ?? "", subject: input.string("Subject"),
                       messageAttributes: try SQSOperations.attributeValues(input.map("MessageAttributes")),
                       messageStructure: input.string("MessageStructure"), messageGroupId: input.string("MessageGroupId"),
                       messageDeduplicationId: input.string("MessageDeduplicationId"))
    }

    private static func subscriptionPage(_ page: [SubscriptionInfo], _ token: String?) -> [String: WireValue] {
        var fields: [String: WireValue] = ["Subscriptions": .list(page.map { info in
            .structure(["SubscriptionArn": .string(info.subscriptionArn), "Owner": .string(info.owner),
                        "Protocol": .string(info.protocol.rawValue), "Endpoint": .string(info.endpoint),
                        "TopicArn": .string(info.topicArn)])
        })]
        fields["NextToken"] = token.map(WireValue.string)
        return fields
    }
}

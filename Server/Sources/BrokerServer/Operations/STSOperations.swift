import Broker
import Foundation

/// The two STS operations (API version 2011-06-15) that test suites call to learn or change their account:
/// GetCallerIdentity, and AssumeRole into another account. Credentials are never checked, so an assumed role's
/// access key id is the 12-digit account itself: requests signed with it act in that account.
enum STSOperations {
    static let namespace = "https://sts.amazonaws.com/doc/2011-06-15/"

    static let all: [String: Operation] = Dictionary(uniqueKeysWithValues: [getCallerIdentity, assumeRole].map { ($0.name, $0) })

    static let getCallerIdentity = Operation(
        "GetCallerIdentity", input: [],
        output: [Member("UserId", .string), Member("Account", .string), Member("Arn", .string)]
    ) { context, _ in
        let account = context.broker.configuration.accountId
        let user = context.accessKeyId.flatMap { $0.isEmpty ? nil : $0 } ?? "AKIAIOSFODNN7EXAMPLE"
        return ["UserId": .string(user), "Account": .string(account), "Arn": .string("arn:aws:iam::\(account):root")]
    }

    private static let credentials = Shape.structure(Structure([
        Member("AccessKeyId", .string), Member("SecretAccessKey", .string), Member("SessionToken", .string),
        Member("Expiration", .string),
    ]))
    private static let assumedRoleUser = Shape.structure(Structure([Member("AssumedRoleId", .string), Member("Arn", .string)]))

    static let assumeRole = Operation(
        "AssumeRole",
        input: [Member("RoleArn", .string, required: true), Member("RoleSessionName", .string, required: true),
                Member("DurationSeconds", .integer), Member("ExternalId", .string), Member("Policy", .string)],
        output: [Member("Credentials", credentials), Member("AssumedRoleUser", assumedRoleUser),
                 Member("PackedPolicySize", .integer)]
    ) { context, input in
        let roleArn = input.string("RoleArn") ?? ""
        let session = input.string("RoleSessionName") ?? ""
        // arn:aws:iam::<account>:role/<name>
        let parts = roleArn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == "iam", parts[4].utf8.count == 12,
              parts[4].utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }), parts[5].hasPrefix("role/"),
              parts[5].count > 5 else {
            throw BrokerError(.stsValidation, "\(roleArn) is invalid")
        }
        guard (2...64).contains(session.utf8.count) else {
            throw BrokerError(.stsValidation,
                "1 validation error detected: Value '\(session)' at 'roleSessionName' failed to satisfy constraint: Member must have length between 2 and 64")
        }
        let duration = input.integer("DurationSeconds") ?? 3_600
        guard (900...43_200).contains(duration) else {
            throw BrokerError(.stsValidation,
                "1 validation error detected: Value '\(duration)' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200")
        }
        let account = String(parts[4])
        let role = parts[5].dropFirst("role/".count)
        let expiration = context.broker.clock.now.addingTimeInterval(TimeInterval(duration))
        let roleId = "AROA" + String(UInt64.random(in: 0...UInt64.max), radix: 36).uppercased()
        return [
            "Credentials": .structure([
                "AccessKeyId": .string(account),
                "SecretAccessKey": .string(UUID().uuidString),
                "SessionToken": .string(UUID().uuidString),
                "Expiration": .string(expiration.formatted(.iso8601)),
            ]),
            "AssumedRoleUser": .structure([
                "AssumedRoleId": .string("\(roleId):\(session)"),
                "Arn": .string("arn:aws:sts::\(account):assumed-role/\(role)/\(session)"),
            ]),
            "PackedPolicySize": .integer(6),
        ]
    }
}

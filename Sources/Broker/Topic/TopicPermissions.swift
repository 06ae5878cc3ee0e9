import Foundation

/// AddPermission and RemovePermission edit the topic's access policy (`Policy`): one statement per label,
/// after the default statement AWS writes for every topic. The policy is stored and returned, never enforced.
enum TopicPermissions {
    /// SNS's action names, as AddPermission takes them (without the `SNS:` prefix).
    static let actions: Set<String> = [
        "AddPermission", "ConfirmSubscription", "CreatePlatformApplication", "CreatePlatformEndpoint", "CreateTopic",
        "DeleteEndpoint", "DeletePlatformApplication", "DeleteTopic", "GetDataProtectionPolicy", "GetEndpointAttributes",
        "GetPlatformApplicationAttributes", "GetSubscriptionAttributes", "GetTopicAttributes", "ListEndpointsByPlatformApplication",
        "ListPlatformApplications", "ListSubscriptions", "ListSubscriptionsByTopic", "ListTagsForResource", "ListTopics",
        "Publish", "PutDataProtectionPolicy", "RemovePermission", "SetEndpointAttributes",
        "SetPlatformApplicationAttributes", "SetSubscriptionAttributes", "SetTopicAttributes", "Subscribe",
        "TagResource", "Unsubscribe", "UntagResource", "*",
    ]

    /// The policy with a statement for `label` added.
    static func adding(label: String, accountIds: [String], actionNames: [String], to policy: String,
                       topicArn: String) throws(BrokerError) -> String {
        guard !label.isEmpty, !accountIds.isEmpty, !actionNames.isEmpty else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Label, AWSAccountId and ActionName are required")
        }
        guard actionNames.allSatisfy(actions.contains) else {
            throw BrokerError(.invalidParameter, "Policy statement action out of service scope!")
        }
        var members = JSONValue.policyObject(policy)?.members ?? []
        var statements = JSONValue.object(members)["Statement"]?.elements ?? []
        if statements.contains(where: { $0["Sid"]?.stringValue == label }) {
            throw BrokerError(.invalidParameter, "Statement already exists")
        }
        // One principal or action is written as a string, several as a list, as AWS writes them.
        func oneOrList(_ values: [String]) -> JSONValue {
            values.count == 1 ? .string(values[0]) : .array(values.map(JSONValue.string))
        }
        statements.append(.object([
            ("Sid", .string(label)), ("Effect", .string("Allow")),
            ("Principal", .object([("AWS", oneOrList(accountIds.map { "arn:aws:iam::\($0):root" }))])),
            ("Action", oneOrList(actionNames.map { "SNS:\($0)" })),
            ("Resource", .string(topicArn)),
        ]))
        // The writer keeps the last of repeated keys, so appending replaces the document's statements.
        members.append(("Statement", .array(statements)))
        return PolicyDocumentWriter.text(.object(members))
    }

    /// The policy without the statement for `label`; unchanged (and no error) when there is none.
    static func removing(label: String, from policy: String) -> String? {
        guard let document = JSONValue.policyObject(policy), var members = document.members,
              let statements = document["Statement"]?.elements else { return nil }
        let kept = statements.filter { $0["Sid"]?.stringValue != label }
        guard kept.count != statements.count else { return nil }
        members.append(("Statement", .array(kept)))
        return PolicyDocumentWriter.text(.object(members))
    }
}

/// Writes a policy document as AWS writes one back: keys in AWS's order (`Version`, `Id`, `Statement`; `Sid`,
/// `Effect`, `Principal`, `Action`, `Resource`, `Condition`), any others after them by name, and a repeated key once,
/// with its last value.
enum PolicyDocumentWriter {
    private static let order = ["Version", "Id", "Statement", "Sid", "Effect", "Principal", "Action", "Resource", "Condition"]

    static func text(_ document: JSONValue) -> String {
        arranged(document).jsonText
    }

    private static func arranged(_ value: JSONValue) -> JSONValue {
        switch value {
        case .object(let members):
            var last: [String: JSONValue] = [:]
            for (key, value) in members { last[key] = value }
            let keys = last.keys.sorted { a, b in
                let (ra, rb) = (order.firstIndex(of: a) ?? order.count, order.firstIndex(of: b) ?? order.count)
                return ra != rb ? ra < rb : a < b
            }
            return .object(keys.map { key in (key, arranged(last[key] ?? .null)) })
        case .array(let elements):
            return .array(elements.map(arranged))
        case .number(let number):
            return .number(JSONNumber(validatedText: foundationSpelling(of: number.text)))
        default:
            return value
        }
    }

    /// A number as Foundation's writer spells it (`1.0` → `1`, `1e-7` → `1e-07`, `2.50` → `2.5`). This writer
    /// was built on `JSONSerialization`, and a policy rewritten by AddPermission keeps reading as it did; Foundation's
    /// choice between integer, `Double` and `Decimal` is too intricate to copy, so only a number's text takes this
    /// path, and only in this rarely used rewrite.
    private static func foundationSpelling(of text: String) -> String {
        guard let array = try? JSONSerialization.jsonObject(with: Data("[\(text)]".utf8)),
              let data = try? JSONSerialization.data(withJSONObject: array)
        else { return text }
        return String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
    }
}

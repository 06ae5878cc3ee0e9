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
        var document = PolicyJSON.parseObject(policy) ?? [:]
        var statements = document["Statement"] as? [Any] ?? []
        if statements.contains(where: { ($0 as? [String: Any])?["Sid"] as? String == label }) {
            throw BrokerError(.invalidParameter, "Statement already exists")
        }
        let principals = accountIds.map { "arn:aws:iam::\($0):root" }
        let actions = actionNames.map { "SNS:\($0)" }
        // One principal or action is written as a string, several as a list, as AWS writes them.
        statements.append([
            "Sid": label, "Effect": "Allow",
            "Principal": ["AWS": principals.count == 1 ? principals[0] as Any : principals as Any],
            "Action": actions.count == 1 ? actions[0] as Any : actions as Any,
            "Resource": topicArn,
        ] as [String: Any])
        document["Statement"] = statements
        return OrderedPolicyJSON.text(document)
    }

    /// The policy without the statement for `label`; unchanged (and no error) when there is none.
    static func removing(label: String, from policy: String) -> String? {
        guard var document = PolicyJSON.parseObject(policy), let statements = document["Statement"] as? [Any] else { return nil }
        let kept = statements.filter { ($0 as? [String: Any])?["Sid"] as? String != label }
        guard kept.count != statements.count else { return nil }
        document["Statement"] = kept
        return OrderedPolicyJSON.text(document)
    }
}

/// Writes a policy document with its keys in the order AWS writes them (`Version`, `Id`, `Statement`; `Sid`,
/// `Effect`, `Principal`, `Action`, `Resource`, `Condition`), any others after them by name.
enum OrderedPolicyJSON {
    private static let order = ["Version", "Id", "Statement", "Sid", "Effect", "Principal", "Action", "Resource", "Condition"]

    static func text(_ value: Any) -> String {
        var out = ""
        write(value, to: &out)
        return out
    }

    private static func write(_ value: Any, to out: inout String) {
        switch value {
        case let object as [String: Any]:
            let keys = object.keys.sorted { a, b in
                let (ra, rb) = (order.firstIndex(of: a) ?? order.count, order.firstIndex(of: b) ?? order.count)
                return ra != rb ? ra < rb : a < b
            }
            out += "{"
            for (index, key) in keys.enumerated() {
                if index > 0 { out += "," }
                quote(key, to: &out)
                out += ":"
                write(object[key] ?? NSNull(), to: &out)
            }
            out += "}"
        case let array as [Any]:
            out += "["
            for (index, element) in array.enumerated() {
                if index > 0 { out += "," }
                write(element, to: &out)
            }
            out += "]"
        case let string as String:
            quote(string, to: &out)
        case let number as NSNumber:
            // Foundation's writer tells a boolean from a number the way its reader made them.
            let data = (try? JSONSerialization.data(withJSONObject: [number])) ?? Data("[null]".utf8)
            out += String(decoding: data.dropFirst().dropLast(), as: UTF8.self)
        default:
            out += "null"
        }
    }

    private static func quote(_ string: String, to out: inout String) {
        out += JSONText.quoted(string)
    }
}

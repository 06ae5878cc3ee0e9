/// AddPermission and RemovePermission: they edit the statements of the queue's `Policy` attribute as AWS writes them,
/// so GetQueueAttributes shows the same document. Broker enforces no policy, this one included.
///
/// The policy is read with the filter-policy JSON reader because it keeps members in document order: statements set by
/// hand come back as they were written. Permissions change rarely, so the document is parsed on each change.
enum QueuePermissions {
    /// The actions AddPermission may grant another account (without the `SQS:` prefix).
    static let grantable: Set<String> = [
        "*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
        "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags",
    ]

    /// SQS's other actions: AWS knows them, but only the queue's owner may call them.
    static let ownerOnly: Set<String> = [
        "AddPermission", "RemovePermission", "CreateQueue", "DeleteQueue", "SetQueueAttributes", "TagQueue",
        "UntagQueue", "ListQueues", "StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks",
    ]

    /// AWS's limit on the actions of one AddPermission.
    static let maximumActions = 7

    /// The checks that need no queue state, in the order AWS reports them.
    static func validate(label: String, accounts: [String], actions: [String]) throws(BrokerError) {
        if actions.isEmpty { throw BrokerError(.missingParameter, "The request must contain the parameter Actions.") }
        if accounts.isEmpty {
            throw BrokerError.invalidParameter("PrincipalId", value: "[]", reason: "Unable to verify.")
        }
        if actions.count > maximumActions {
            throw BrokerError(.overLimit, "\(actions.count) Actions were found, maximum allowed is \(maximumActions).")
        }
        try validateLabel(label)
        for action in actions where !grantable.contains(action) {
            if ownerOnly.contains(action) {
                throw BrokerError.invalidParameter("ActionName", value: "SQS:\(action)",
                                                   reason: "Only the queue owner is allowed to invoke this action.")
            }
            throw BrokerError.invalidParameter("ActionName", value: action,
                                               reason: "Please refer to the appropriate WSDL for a list of valid actions.")
        }
        for account in accounts where account.utf8.count != 12 || !account.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            throw BrokerError.invalidParameter("AWSAccountId", value: account, reason: "Account ids are 12 digits.")
        }
    }

    /// `policy` with a statement for `label` added; the label must be new.
    static func adding(label: String, accounts: [String], actions: [String], queueArn: String,
                       to policy: String?) throws(BrokerError) -> String {
        var statements = statements(of: policy)
        if statements.contains(where: { sid(of: $0) == label }) {
            throw BrokerError.invalidParameter("Label", value: label, reason: "Already exists.")
        }
        // AWS writes a single principal or action as a plain string, several as a list.
        func oneOrList(_ values: [String]) -> JSONValue {
            values.count == 1 ? .string(values[0]) : .array(values.map(JSONValue.string))
        }
        statements.append(.object([
            ("Sid", .string(label)),
            ("Effect", .string("Allow")),
            ("Principal", .object([
                ("AWS", oneOrList(accounts.map { "arn:aws:iam::\($0):root" })),
            ])),
            ("Action", oneOrList(actions.map { "SQS:\($0)" })),
            ("Resource", .string(queueArn)),
        ]))
        return document(statements, queueArn: queueArn)
    }

    /// `policy` without the statement for `label`; nil when no statement is left, as AWS then drops the `Policy`.
    static func removing(label: String, queueArn: String, from policy: String?) throws(BrokerError) -> String? {
        var statements = statements(of: policy)
        guard let index = statements.firstIndex(where: { sid(of: $0) == label }) else {
            throw BrokerError.invalidParameter("Label", value: label, reason: "can't find label.")
        }
        statements.remove(at: index)
        return statements.isEmpty ? nil : document(statements, queueArn: queueArn)
    }

    private static func validateLabel(_ label: String) throws(BrokerError) {
        let valid = !label.isEmpty && label.utf8.count <= 80 && label.utf8.allSatisfy {
            MessageValidation.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
        if !valid {
            throw BrokerError.invalidParameter("Label", value: label,
                                               reason: "Labels are 1 to 80 alphanumeric characters, hyphens or underscores.")
        }
    }

    /// The statements of a policy; a policy set by hand that has none (or is not a JSON object) counts as empty.
    private static func statements(of policy: String?) -> [JSONValue] {
        guard let policy, !policy.isEmpty, case .object(let members)? = try? JSONParser.parse(policy),
              case .array(let statements)? = members.last(where: { $0.key == "Statement" })?.value
        else { return [] }
        return statements
    }

    private static func sid(of statement: JSONValue) -> String? {
        guard case .object(let members) = statement,
              case .string(let sid)? = members.last(where: { $0.key == "Sid" })?.value else { return nil }
        return sid
    }

    /// The policy document AWS writes: the 2008 policy language and the queue's default policy id.
    private static func document(_ statements: [JSONValue], queueArn: String) -> String {
        JSONValue.object([
            ("Version", .string("2008-10-17")),
            ("Id", .string("\(queueArn)/SQSDefaultPolicy")),
            ("Statement", .array(statements)),
        ]).jsonText
    }
}

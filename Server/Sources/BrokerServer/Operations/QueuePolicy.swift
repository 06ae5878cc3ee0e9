import Broker

/// AddPermission and RemovePermission, which Broker lacks: they edit the statements of the queue's `Policy`
/// attribute, the way AWS does, so GetQueueAttributes shows them. Nothing is enforced, as Broker enforces no policy.
enum QueuePolicy {
    /// The actions AWS lets AddPermission grant (without the `SQS:` prefix).
    private static let grantable: Set<String> = [
        "*", "SendMessage", "ReceiveMessage", "DeleteMessage", "ChangeMessageVisibility", "GetQueueAttributes",
        "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ListQueueTags",
    ]

    /// SQS's other actions: known to AWS, but not grantable to another account.
    private static let ownerOnly: Set<String> = [
        "AddPermission", "RemovePermission", "CreateQueue", "DeleteQueue", "SetQueueAttributes", "TagQueue",
        "UntagQueue", "ListQueues", "StartMessageMoveTask", "CancelMessageMoveTask", "ListMessageMoveTasks",
    ]

    /// AWS's limit on the actions of one AddPermission.
    private static let maximumActions = 7

    static func addPermission(to queue: Queue, label: String, accounts: [String], actions: [String]) throws {
        if actions.isEmpty { throw BrokerError(.missingParameter, "The request must contain the parameter Actions.") }
        if accounts.isEmpty {
            throw invalid("PrincipalId", "[]", "Unable to verify.")
        }
        if actions.count > maximumActions {
            throw BrokerError(.overLimit, "\(actions.count) Actions were found, maximum allowed is \(maximumActions).")
        }
        try validateLabel(label)
        for action in actions where !grantable.contains(action) {
            if ownerOnly.contains(action) {
                throw invalid("ActionName", "SQS:\(action)", "Only the queue owner is allowed to invoke this action.")
            }
            throw invalid("ActionName", action, "Please refer to the appropriate WSDL for a list of valid actions.")
        }
        for account in accounts where account.count != 12 || !account.allSatisfy(\.isNumber) {
            throw invalid("AWSAccountId", account, "Account ids are 12 digits.")
        }
        var statements = try currentStatements(of: queue)
        if statements.contains(where: { $0["Sid"] == .string(label) }) {
            throw invalid("Label", label, "Already exists.")
        }
        // AWS writes a single principal or action as a plain string, several as a list.
        func oneOrList(_ values: [String]) -> JSONValue {
            values.count == 1 ? .string(values[0]) : .array(values.map(JSONValue.string))
        }
        statements.append(.object([
            ("Sid", .string(label)),
            ("Effect", .string("Allow")),
            ("Principal", .object([("AWS", oneOrList(accounts.map { "arn:aws:iam::\($0):root" }))])),
            ("Action", oneOrList(actions.map { "SQS:\($0)" })),
            ("Resource", .string(queue.arn)),
        ]))
        try store(statements, on: queue)
    }

    static func removePermission(from queue: Queue, label: String) throws {
        var statements = try currentStatements(of: queue)
        guard let index = statements.firstIndex(where: { $0["Sid"] == .string(label) }) else {
            throw invalid("Label", label, "can't find label.")
        }
        statements.remove(at: index)
        try store(statements, on: queue)
    }

    private static func validateLabel(_ label: String) throws {
        let valid = !label.isEmpty && label.count <= 80 && label.unicodeScalars.allSatisfy {
            ($0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0))) || $0 == "-" || $0 == "_"
        }
        if !valid { throw invalid("Label", label, "Labels are 1 to 80 alphanumeric characters, hyphens or underscores.") }
    }

    /// The statements of the queue's policy; a policy set by hand that is not a JSON object counts as none.
    private static func currentStatements(of queue: Queue) throws -> [JSONValue] {
        guard let text = try queue.attributes(["Policy"])["Policy"], !text.isEmpty,
              let policy = try? JSONParser.parse(Array(text.utf8)), case .array(let statements)? = policy["Statement"]
        else { return [] }
        return statements
    }

    /// The policy AddPermission writes, in AWS's shape (its `Version` is the 2008 policy language); with no
    /// statement left the `Policy` attribute goes, as on AWS.
    private static func store(_ statements: [JSONValue], on queue: Queue) throws {
        guard !statements.isEmpty else {
            try queue.setAttributes(awsAttributes: ["Policy": ""])
            return
        }
        let policy = JSONValue.object([
            ("Version", .string("2008-10-17")),
            ("Id", .string("\(queue.arn)/SQSDefaultPolicy")),
            ("Statement", .array(statements)),
        ])
        try queue.setAttributes(awsAttributes: ["Policy": policy.serialized])
    }

    private static func invalid(_ parameter: String, _ value: String, _ reason: String) -> BrokerError {
        BrokerError(.invalidParameterValue, "Value \(value) for parameter \(parameter) is invalid. Reason: \(reason)")
    }
}

@_spi(BrokerServer) import Broker
import Foundation

/// SQS's operations (API version 2012-11-05) over Broker. Member names are the JSON model's; `query:` gives the
/// Query model's flattened name where it differs.
enum SQSOperations {
    static let namespace = "http://queue.amazonaws.com/doc/2012-11-05/"

    static let all: [String: Operation] = Dictionary(uniqueKeysWithValues: [
        createQueue, getQueueUrl, listQueues, deleteQueue, getQueueAttributes, setQueueAttributes, purgeQueue,
        sendMessage, sendMessageBatch, receiveMessage, deleteMessage, deleteMessageBatch, changeMessageVisibility,
        changeMessageVisibilityBatch, tagQueue, untagQueue, listQueueTags, listDeadLetterSourceQueues,
        startMessageMoveTask, listMessageMoveTasks, cancelMessageMoveTask, addPermission, removePermission,
    ].map { ($0.name, $0) })

    // MARK: Shapes shared by several operations

    private static let queueUrl = Member("QueueUrl", .string)
    private static let attributeMap = Shape.map(.string, key: "Name", value: "Value")
    private static let tagMap = Shape.map(.string, key: "Key", value: "Value")
    private static let attributeValue = Shape.structure(Structure([
        Member("StringValue", .string),
        Member("BinaryValue", .blob),
        Member("StringListValues", .list(.string), query: "StringListValue"),
        Member("BinaryListValues", .list(.blob), query: "BinaryListValue"),
        Member("DataType", .string, required: true),
    ]))
    private static let messageAttributes = Shape.map(attributeValue, key: "Name", value: "Value")
    private static let batchError = Shape.structure(Structure([
        Member("Id", .string), Member("SenderFault", .boolean), Member("Code", .string), Member("Message", .string),
    ]))
    private static let failed = Member("Failed", .list(batchError), query: "BatchResultErrorEntry")
    private static let sendFields: [Member] = [
        Member("DelaySeconds", .integer),
        Member("MessageAttributes", messageAttributes, query: "MessageAttribute"),
        Member("MessageSystemAttributes", messageAttributes, query: "MessageSystemAttribute"),
        Member("MessageDeduplicationId", .string),
        Member("MessageGroupId", .string),
    ]
    private static let sendResultFields: [Member] = [
        Member("MD5OfMessageBody", .string), Member("MD5OfMessageAttributes", .string),
        Member("MD5OfMessageSystemAttributes", .string), Member("MessageId", .string), Member("SequenceNumber", .string),
    ]
    /// A received message, as ReceiveMessage's output lists it.
    static let message = Shape.structure(Structure([
        Member("MessageId", .string), Member("ReceiptHandle", .string), Member("MD5OfBody", .string),
        Member("Body", .string), Member("Attributes", attributeMap, query: "Attribute"),
        Member("MD5OfMessageAttributes", .string), Member("MessageAttributes", messageAttributes, query: "MessageAttribute"),
    ]))

    // MARK: Queues

    static let createQueue = Operation(
        "CreateQueue",
        input: [Member("QueueName", .string, required: true), Member("Attributes", attributeMap, query: "Attribute"),
                Member("tags", tagMap, query: "Tag")],
        output: [Member("QueueUrl", .string)]
    ) { context, input in
        let queue = try context.broker.createQueue(named: input.string("QueueName") ?? "",
                                                   awsAttributes: input.stringMap("Attributes"), tags: input.stringMap("tags"))
        return ["QueueUrl": .string(context.url(ofQueueNamed: queue.name))]
    }

    static let getQueueUrl = Operation(
        "GetQueueUrl",
        input: [Member("QueueName", .string, required: true), Member("QueueOwnerAWSAccountId", .string)],
        output: [Member("QueueUrl", .string)]
    ) { context, input in
        var owner = context.broker
        if let account = input.string("QueueOwnerAWSAccountId"), account != owner.configuration.accountId {
            guard let scoped = try? owner.scoped(accountId: account) else {
                throw BrokerError(.queueDoesNotExist, "The specified queue does not exist.")
            }
            owner = scoped
        }
        let queue = try owner.queue(named: input.string("QueueName") ?? "")
        return ["QueueUrl": .string(context.rewrite(queue.url))]
    }

    static let listQueues = Operation(
        "ListQueues",
        input: [Member("QueueNamePrefix", .string), Member("NextToken", .string), Member("MaxResults", .integer)],
        output: [Member("QueueUrls", .list(.string), query: "QueueUrl"), Member("NextToken", .string)]
    ) { context, input in
        let page = try context.broker.listQueues(prefix: input.string("QueueNamePrefix"), maxResults: input.integer("MaxResults"),
                                                 nextToken: input.string("NextToken"))
        return urlPage(page, key: "QueueUrls", required: false, context)
    }

    static let deleteQueue = Operation("DeleteQueue", input: [queueUrl], output: nil) { context, input in
        try context.broker.deleteQueue(context.queue(input))
        return [:]
    }

    static let getQueueAttributes = Operation(
        "GetQueueAttributes",
        input: [queueUrl, Member("AttributeNames", .list(.string), query: "AttributeName")],
        output: [Member("Attributes", attributeMap, query: "Attribute")]
    ) { context, input in
        // Without AttributeNames AWS returns no attributes at all.
        let attributes = try context.queue(input).attributes(input.strings("AttributeNames"))
        return attributes.isEmpty ? [:] : ["Attributes": .stringMap(attributes)]
    }

    static let setQueueAttributes = Operation(
        "SetQueueAttributes",
        input: [queueUrl, Member("Attributes", attributeMap, required: true, query: "Attribute")], output: nil
    ) { context, input in
        try context.queue(input).setAttributes(awsAttributes: input.stringMap("Attributes"))
        return [:]
    }

    static let purgeQueue = Operation("PurgeQueue", input: [queueUrl], output: nil) { context, input in
        try context.queue(input).purge()
        return [:]
    }

    // MARK: Messages

    static let sendMessage = Operation(
        "SendMessage",
        input: [queueUrl, Member("MessageBody", .string, required: true)] + sendFields,
        output: sendResultFields
    ) { context, input in
        fields(of: try context.queue(input).sendMessage(try sendRequest(input)))
    }

    static let sendMessageBatch = Operation(
        "SendMessageBatch",
        input: [queueUrl, Member("Entries", .list(.structure(Structure(
            [Member("Id", .string, required: true), Member("MessageBody", .string, required: true)] + sendFields))),
            query: "SendMessageBatchRequestEntry")],
        output: [Member("Successful", .list(.structure(Structure([Member("Id", .string)] + sendResultFields))),
                        query: "SendMessageBatchResultEntry"), failed]
    ) { context, input in
        let queue = try context.queue(input)
        let entries = try input.structures("Entries").map { entry in
            SendMessageBatchRequestEntry(id: entry.string("Id") ?? "", message: try sendRequest(entry))
        }
        // AWS leaves `Failed` out of a SendMessageBatch reply in which nothing failed.
        return batchFields(try queue.sendMessageBatch(entries), omittingEmptyFailed: true) { id, sent in
            fields(of: sent).merging(["Id": .string(id)]) { $1 }
        }
    }

    static let receiveMessage = Operation(
        "ReceiveMessage",
        input: [queueUrl,
                Member("AttributeNames", .list(.string), query: "AttributeName"),
                Member("MessageSystemAttributeNames", .list(.string), query: "MessageSystemAttributeName"),
                Member("MessageAttributeNames", .list(.string), query: "MessageAttributeName"),
                Member("MaxNumberOfMessages", .integer), Member("VisibilityTimeout", .integer),
                Member("WaitTimeSeconds", .integer), Member("ReceiveRequestAttemptId", .string)],
        output: [Member("Messages", .list(message), query: "Message")],
        now: { context, input in
            let queue = try context.queue(input)
            let parameters = receiveParameters(input)
            let messages = try queue.receiveMessagesWithoutWaiting(
                maxNumberOfMessages: parameters.maxNumberOfMessages, visibilityTimeout: parameters.visibilityTimeout,
                waitTimeSeconds: parameters.waitTimeSeconds, messageAttributeNames: parameters.messageAttributeNames,
                messageSystemAttributeNames: parameters.system, receiveRequestAttemptId: parameters.attemptId)
            return messages.map(receiveOutput)
        },
        wait: { context, input async throws in
            let queue = try context.queue(input)
            let parameters = receiveParameters(input)
            let messages = try await queue.receiveMessages(
                maxNumberOfMessages: parameters.maxNumberOfMessages, visibilityTimeout: parameters.visibilityTimeout,
                waitTimeSeconds: parameters.waitTimeSeconds, messageAttributeNames: parameters.messageAttributeNames,
                messageSystemAttributeNames: parameters.system, receiveRequestAttemptId: parameters.attemptId)
            return receiveOutput(messages)
        })

    /// ReceiveMessage's input, read once for both of its paths.
    private static func receiveParameters(_ input: Input)
        -> (maxNumberOfMessages: Int, visibilityTimeout: Duration?, waitTimeSeconds: Duration?,
            messageAttributeNames: [String], system: [MessageSystemAttributeName], attemptId: String?) {
        // Queue attribute names are allowed in AttributeNames too (a legacy of the API); only system ones select.
        let system = (input.strings("AttributeNames") + input.strings("MessageSystemAttributeNames"))
            .compactMap(MessageSystemAttributeName.init(rawValue:))
        return (input.integer("MaxNumberOfMessages") ?? 1, input.integer("VisibilityTimeout").map { .seconds($0) },
                input.integer("WaitTimeSeconds").map { .seconds($0) }, input.strings("MessageAttributeNames"), system,
                input.string("ReceiveRequestAttemptId"))
    }

    /// No messages: no Messages member at all, as AWS answers (the .NET SDK fails on an empty list).
    private static func receiveOutput(_ messages: [Message]) -> [String: WireValue] {
        messages.isEmpty ? [:] : ["Messages": .list(messages.map(fields(of:)))]
    }

    static let deleteMessage = Operation(
        "DeleteMessage", input: [queueUrl, Member("ReceiptHandle", .string, required: true)], output: nil
    ) { context, input in
        try context.queue(input).deleteMessage(receiptHandle: input.string("ReceiptHandle") ?? "")
        return [:]
    }

    static let deleteMessageBatch = Operation(
        "DeleteMessageBatch",
        input: [queueUrl, Member("Entries", .list(.structure(Structure([
            Member("Id", .string, required: true), Member("ReceiptHandle", .string, required: true)]))),
            query: "DeleteMessageBatchRequestEntry")],
        output: [Member("Successful", .list(.structure(Structure([Member("Id", .string)]))),
                        query: "DeleteMessageBatchResultEntry"), failed]
    ) { context, input in
        let entries = input.structures("Entries").map {
            DeleteMessageBatchRequestEntry(id: $0.string("Id") ?? "", receiptHandle: $0.string("ReceiptHandle") ?? "")
        }
        let result = try context.queue(input).deleteMessageBatch(entries)
        return batchFields(result) { id, _ in ["Id": .string(id)] }
    }

    static let changeMessageVisibility = Operation(
        "ChangeMessageVisibility",
        input: [queueUrl, Member("ReceiptHandle", .string, required: true), Member("VisibilityTimeout", .integer, required: true)],
        output: nil
    ) { context, input in
        try context.queue(input).changeMessageVisibility(receiptHandle: input.string("ReceiptHandle") ?? "",
                                                         visibilityTimeout: .seconds(input.integer("VisibilityTimeout") ?? 0))
        return [:]
    }

    static let changeMessageVisibilityBatch = Operation(
        "ChangeMessageVisibilityBatch",
        input: [queueUrl, Member("Entries", .list(.structure(Structure([
            Member("Id", .string, required: true), Member("ReceiptHandle", .string, required: true),
            Member("VisibilityTimeout", .integer)]))),
            query: "ChangeMessageVisibilityBatchRequestEntry")],
        output: [Member("Successful", .list(.structure(Structure([Member("Id", .string)]))),
                        query: "ChangeMessageVisibilityBatchResultEntry"), failed]
    ) { context, input in
        let entries = input.structures("Entries").map {
            ChangeMessageVisibilityBatchRequestEntry(id: $0.string("Id") ?? "", receiptHandle: $0.string("ReceiptHandle") ?? "",
                                                     visibilityTimeout: .seconds($0.integer("VisibilityTimeout") ?? 0))
        }
        let result = try context.queue(input).changeMessageVisibilityBatch(entries)
        return batchFields(result) { id, _ in ["Id": .string(id)] }
    }

    // MARK: Tags

    static let tagQueue = Operation(
        "TagQueue", input: [queueUrl, Member("Tags", tagMap, required: true, query: "Tag")], output: nil
    ) { context, input in
        try context.queue(input).tag(input.stringMap("Tags"))
        return [:]
    }

    static let untagQueue = Operation(
        "UntagQueue", input: [queueUrl, Member("TagKeys", .list(.string), required: true, query: "TagKey")], output: nil
    ) { context, input in
        try context.queue(input).untag(input.strings("TagKeys"))
        return [:]
    }

    static let listQueueTags = Operation(
        "ListQueueTags", input: [queueUrl], output: [Member("Tags", tagMap, query: "Tag")]
    ) { context, input in
        let tags = try context.queue(input).tags()
        return tags.isEmpty ? [:] : ["Tags": .stringMap(tags)]
    }

    // MARK: Dead-letter queues

    static let listDeadLetterSourceQueues = Operation(
        "ListDeadLetterSourceQueues",
        input: [queueUrl, Member("NextToken", .string), Member("MaxResults", .integer)],
        output: [Member("queueUrls", .list(.string), query: "QueueUrl"), Member("NextToken", .string)]
    ) { context, input in
        let page = try context.broker.listDeadLetterSourceQueues(context.queue(input), maxResults: input.integer("MaxResults"),
                                                                 nextToken: input.string("NextToken"))
        return urlPage(page, key: "queueUrls", required: true, context)
    }

    static let startMessageMoveTask = Operation(
        "StartMessageMoveTask",
        input: [Member("SourceArn", .string, required: true), Member("DestinationArn", .string),
                Member("MaxNumberOfMessagesPerSecond", .integer)],
        output: [Member("TaskHandle", .string)]
    ) { context, input in
        let handle = try context.broker.startMessageMoveTask(
            sourceArn: input.string("SourceArn") ?? "", destinationArn: input.string("DestinationArn"),
            maxNumberOfMessagesPerSecond: input.integer("MaxNumberOfMessagesPerSecond"))
        return ["TaskHandle": .string(handle)]
    }

    static let listMessageMoveTasks = Operation(
        "ListMessageMoveTasks",
        input: [Member("SourceArn", .string, required: true), Member("MaxResults", .integer)],
        output: [Member("Results", .list(.structure(Structure([
            Member("TaskHandle", .string), Member("Status", .string), Member("SourceArn", .string),
            Member("DestinationArn", .string), Member("MaxNumberOfMessagesPerSecond", .integer),
            Member("ApproximateNumberOfMessagesMoved", .integer), Member("ApproximateNumberOfMessagesToMove", .integer),
            Member("FailureReason", .string), Member("StartedTimestamp", .integer),
        ]))), query: "ListMessageMoveTasksResultEntry")]
    ) { context, input in
        let tasks = try context.broker.listMessageMoveTasks(sourceArn: input.string("SourceArn") ?? "",
                                                            maxResults: input.integer("MaxResults") ?? 1)
        return ["Results": .list(tasks.map { task in
            var entry: [String: WireValue] = [
                "Status": .string(task.status.rawValue), "SourceArn": .string(task.sourceArn),
                "ApproximateNumberOfMessagesMoved": .integer(task.approximateNumberOfMessagesMoved),
                "ApproximateNumberOfMessagesToMove": .integer(task.approximateNumberOfMessagesToMove),
                "StartedTimestamp": .integer(Int(task.startedTimestamp.timeIntervalSince1970 * 1000)),
            ]
            entry["TaskHandle"] = task.taskHandle.map(WireValue.string)
            entry["DestinationArn"] = task.destinationArn.map(WireValue.string)
            entry["MaxNumberOfMessagesPerSecond"] = task.maxNumberOfMessagesPerSecond.map(WireValue.integer)
            entry["FailureReason"] = task.failureReason.map(WireValue.string)
            return .structure(entry)
        })]
    }

    static let cancelMessageMoveTask = Operation(
        "CancelMessageMoveTask", input: [Member("TaskHandle", .string, required: true)],
        output: [Member("ApproximateNumberOfMessagesMoved", .integer)]
    ) { context, input in
        ["ApproximateNumberOfMessagesMoved": .integer(try context.broker.cancelMessageMoveTask(taskHandle: input.string("TaskHandle") ?? ""))]
    }

    // MARK: Permissions

    static let addPermission = Operation(
        "AddPermission",
        input: [queueUrl, Member("Label", .string, required: true),
                Member("AWSAccountIds", .list(.string), required: true, query: "AWSAccountId"),
                Member("Actions", .list(.string), required: true, query: "ActionName")],
        output: nil
    ) { context, input in
        try context.queue(input).addPermission(label: input.string("Label") ?? "", awsAccountIds: input.strings("AWSAccountIds"),
                                               actions: input.strings("Actions"))
        return [:]
    }

    static let removePermission = Operation(
        "RemovePermission", input: [queueUrl, Member("Label", .string, required: true)], output: nil
    ) { context, input in
        try context.queue(input).removePermission(label: input.string("Label") ?? "")
        return [:]
    }

    // MARK: Conversions

    private static func sendRequest(_ input: Input) throws -> SendMessageRequest {
        SendMessageRequest(
            body: input.string("MessageBody") ?? "",
            delaySeconds: input.integer("DelaySeconds").map { .seconds($0) },
            messageAttributes: try attributeValues(input.map("MessageAttributes")),
            messageSystemAttributes: try attributeValues(input.map("MessageSystemAttributes")),
            messageGroupId: input.string("MessageGroupId"),
            messageDeduplicationId: input.string("MessageDeduplicationId"))
    }

    /// Message attributes as Broker takes them. SQS has never accepted list values, though the model declares them.
    static func attributeValues(_ entries: [WireValue.MapEntry]?) throws -> [String: MessageAttributeValue] {
        var values: [String: MessageAttributeValue] = [:]
        for entry in entries ?? [] {
            guard case .structure(let fields) = entry.value else { continue }
            let value = Input(fields)
            if !(value.list("StringListValues") ?? []).isEmpty || !(value.list("BinaryListValues") ?? []).isEmpty {
                throw BrokerError(.unsupportedOperation, "Message attribute list values in SendMessage operation are not supported.")
            }
            var binary: Data?
            if case .blob(let data) = fields["BinaryValue"] { binary = data }
            values[entry.key] = MessageAttributeValue(dataType: value.string("DataType") ?? "", stringValue: value.string("StringValue"),
                                                      binaryValue: binary)
        }
        return values
    }

    static func attributeFields(_ values: [String: MessageAttributeValue]) -> WireValue {
        .entries(values.mapValues { value in
            var fields: [String: WireValue] = ["DataType": .string(value.dataType)]
            fields["StringValue"] = value.stringValue.map(WireValue.string)
            fields["BinaryValue"] = value.binaryValue.map(WireValue.blob)
            return .structure(fields)
        })
    }

    private static func fields(of result: SendMessageResult) -> [String: WireValue] {
        var fields: [String: WireValue] = ["MessageId": .string(result.messageId), "MD5OfMessageBody": .string(result.md5OfMessageBody)]
        fields["MD5OfMessageAttributes"] = result.md5OfMessageAttributes.map(WireValue.string)
        fields["MD5OfMessageSystemAttributes"] = result.md5OfMessageSystemAttributes.map(WireValue.string)
        fields["SequenceNumber"] = result.sequenceNumber.map(WireValue.string)
        return fields
    }

    /// A received message's output fields.
    static func fields(of message: Message) -> WireValue {
        var fields: [String: WireValue] = [
            "MessageId": .string(message.messageId), "ReceiptHandle": .string(message.receiptHandle),
            "MD5OfBody": .string(message.md5OfBody), "Body": .string(message.body),
        ]
        // Formatted on each read: read once.
        let attributes = message.attributes
        if !attributes.isEmpty {
            fields["Attributes"] = .stringMap(Dictionary(uniqueKeysWithValues: attributes.map { ($0.key.rawValue, $0.value) }))
        }
        // The digest covers exactly the attributes returned; with none, neither is sent.
        if !message.messageAttributes.isEmpty {
            fields["MessageAttributes"] = attributeFields(message.messageAttributes)
            fields["MD5OfMessageAttributes"] = message.md5OfMessageAttributes.map(WireValue.string)
        }
        return .structure(fields)
    }

    private static func batchError(id: String, _ code: String, _ message: String, senderFault: Bool) -> WireValue {
        .structure(["Id": .string(id), "Code": .string(code), "Message": .string(message), "SenderFault": .boolean(senderFault)])
    }

    /// `Successful` and `Failed`, both present as the model requires, unless `omittingEmptyFailed` and nothing failed.
    static func batchFields<Success>(_ result: BatchResult<Success>, omittingEmptyFailed: Bool = false,
                                     _ success: (String, Success) -> [String: WireValue]) -> [String: WireValue] {
        var fields: [String: WireValue] = [
            "Successful": .list(result.successful.map { .structure(success($0.id, $0.result)) }),
        ]
        if !omittingEmptyFailed || !result.failed.isEmpty {
            fields["Failed"] = .list(result.failed.map { batchError(id: $0.id, $0.code, $0.message, senderFault: $0.senderFault) })
        }
        return fields
    }

    /// A page of queue URLs. An empty optional list is left out, as AWS leaves it; a required one (`queueUrls`) is
    /// always written, since SDKs that model it as non-optional (Soto) fail to decode its absence.
    private static func urlPage(_ page: Broker.ListQueuesPage, key: String, required: Bool,
                                _ context: OperationContext) -> [String: WireValue] {
        var fields: [String: WireValue] = [:]
        if required || !page.queueUrls.isEmpty { fields[key] = .list(page.queueUrls.map { .string(context.rewrite($0)) }) }
        fields["NextToken"] = page.nextToken.map(WireValue.string)
        return fields
    }
}

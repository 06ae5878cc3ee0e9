import Foundation

/// A handle to one SQS queue in a ``Broker``: cheap to copy and `Sendable`; every call goes to the queue's core.
///
/// After the queue is deleted every call throws `QueueDoesNotExist`, even if a queue of the same name is created
/// later (that one is a different queue, as its receipt handles are).
public struct Queue: Sendable, Hashable {
    let core: QueueCore
    /// Keeps the broker alive while a handle is held: dead-letter moves and lookups go through its registry.
    let owner: (any AnyObject & Sendable)?

    init(core: QueueCore, owner: (any AnyObject & Sendable)? = nil) {
        self.core = core
        self.owner = owner
    }

    /// The queue's name.
    public var name: String { core.name }
    /// The queue URL, `https://sqs.<region>.amazonaws.com/<account>/<name>` unless configured otherwise.
    public var url: String { core.url }
    /// The queue ARN, `arn:aws:sqs:<region>:<account>:<name>`.
    public var arn: String { core.arn }
    /// Whether this is a FIFO queue.
    public var isFifo: Bool { core.isFifo }

    /// Two handles are equal when they name the same queue incarnation.
    public static func == (lhs: Queue, rhs: Queue) -> Bool { lhs.core === rhs.core }

    /// Hashes the queue's identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(core)) }

    // MARK: Sending

    /// SendMessage.
    @discardableResult
    public func sendMessage(_ body: String, delaySeconds: Duration? = nil,
                            messageAttributes: [String: MessageAttributeValue] = [:],
                            messageGroupId: String? = nil, messageDeduplicationId: String? = nil) throws(BrokerError) -> SendMessageResult {
        try sendMessage(SendMessageRequest(body: body, delaySeconds: delaySeconds, messageAttributes: messageAttributes,
                                           messageGroupId: messageGroupId, messageDeduplicationId: messageDeduplicationId))
    }

    /// SendMessage with every field of the request.
    @discardableResult
    public func sendMessage(_ request: SendMessageRequest) throws(BrokerError) -> SendMessageResult {
        try core.send(request)
    }

    /// A topic's copy (see `QueueCore.prepare`'s `trusted`): no second character scan.
    func deliver(_ request: borrowing SendMessageRequest) throws(BrokerError) {
        try core.deliver(request)
    }

    /// SendMessageBatch: 1–10 entries with distinct ids, together at most 1 MiB. Entries that fail are reported
    /// in `failed`; the others are sent. On a FIFO queue an entry without `MessageGroupId`, or without
    /// `MessageDeduplicationId` while the queue has no content-based deduplication, fails the whole request, as on AWS.
    public func sendMessageBatch(_ entries: [SendMessageBatchRequestEntry]) throws(BrokerError) -> BatchResult<SendMessageResult> {
        try MessageValidation.validateBatch(count: entries.count) { entries[$0].id }
        return try core.sendBatch(entries)
    }

    // MARK: Receiving

    /// ReceiveMessage.
    ///
    /// - Parameters:
    ///   - maxNumberOfMessages: 1–10.
    ///   - visibilityTimeout: 0 s – 12 h; nil uses the queue's. Zero leaves the messages visible.
    ///   - waitTimeSeconds: 0–20 s; nil uses the queue's `ReceiveMessageWaitTimeSeconds`. A long poll returns as soon
    ///     as a message is available (sent, delay ended, visibility lapsed) and empty at its deadline.
    ///   - messageAttributeNames: `All`, `.*`, `prefix.*` or names.
    ///   - messageSystemAttributeNames: the system attributes to return.
    ///   - receiveRequestAttemptId: FIFO only: a retry within 5 minutes returns the same messages and handles.
    /// - Throws: `BrokerError`, or `CancellationError` when the task is cancelled while waiting (no message is lost:
    ///   nothing is taken from the queue for a cancelled wait).
    public func receiveMessages(maxNumberOfMessages: Int = 1, visibilityTimeout: Duration? = nil,
                                waitTimeSeconds: Duration? = nil, messageAttributeNames: [String] = [],
                                messageSystemAttributeNames: [MessageSystemAttributeName] = [],
                                receiveRequestAttemptId: String? = nil) async throws -> [Message] {
        let request = try receiveRequest(maxNumberOfMessages: maxNumberOfMessages, visibilityTimeout: visibilityTimeout,
                                         waitTimeSeconds: waitTimeSeconds, messageAttributeNames: messageAttributeNames,
                                         messageSystemAttributeNames: messageSystemAttributeNames,
                                         receiveRequestAttemptId: receiveRequestAttemptId)
        let deliveries = try await core.receive(request)
        return core.messages(from: deliveries, selection: request.selection)
    }

    /// Whether this handle still names a queue: false once the queue was deleted (or the broker reset), after which
    /// a queue made under the same name is another queue and needs a handle of its own. Read without the queue's
    /// lock, so a caller that keeps handles between requests can check one for the price of an atomic load.
    @_spi(BrokerServer)
    public var isCurrent: Bool { !core.wasDeleted }

    /// ReceiveMessage as far as it goes without waiting: the messages a receive with these parameters returns at
    /// once, or nil when it would wait (a long poll that finds nothing), in which case nothing was taken and
    /// ``receiveMessages(maxNumberOfMessages:visibilityTimeout:waitTimeSeconds:messageAttributeNames:messageSystemAttributeNames:receiveRequestAttemptId:)``
    /// does the waiting. Lets a caller that must not suspend (an event loop) answer every receive that need not wait.
    @_spi(BrokerServer)
    public func receiveMessagesWithoutWaiting(maxNumberOfMessages: Int = 1, visibilityTimeout: Duration? = nil,
                                              waitTimeSeconds: Duration? = nil, messageAttributeNames: [String] = [],
                                              messageSystemAttributeNames: [MessageSystemAttributeName] = [],
                                              receiveRequestAttemptId: String? = nil) throws(BrokerError) -> [Message]? {
        let request = try receiveRequest(maxNumberOfMessages: maxNumberOfMessages, visibilityTimeout: visibilityTimeout,
                                         waitTimeSeconds: waitTimeSeconds, messageAttributeNames: messageAttributeNames,
                                         messageSystemAttributeNames: messageSystemAttributeNames,
                                         receiveRequestAttemptId: receiveRequestAttemptId)
        guard let deliveries = try core.receiveWithoutWaiting(request) else { return nil }
        return core.messages(from: deliveries, selection: request.selection)
    }

    /// A receive's parameters, checked as AWS checks them.
    private func receiveRequest(maxNumberOfMessages: Int, visibilityTimeout: Duration?, waitTimeSeconds: Duration?,
                                messageAttributeNames: [String], messageSystemAttributeNames: [MessageSystemAttributeName],
                                receiveRequestAttemptId: String?) throws(BrokerError) -> ReceiveRequest {
        guard (1...10).contains(maxNumberOfMessages) else {
            throw BrokerError.invalidParameter("MaxNumberOfMessages", value: String(maxNumberOfMessages),
                                               reason: "Must be between 1 and 10, if provided.")
        }
        let visibility = try visibilityTimeout.map { d throws(BrokerError) in
            try MessageValidation.wholeSeconds(d, parameter: "VisibilityTimeout", range: 0...QueueStateMachine.maximumVisibility,
                                               reason: "Must be between 0 and 43200, if provided.")
        }
        let wait = try waitTimeSeconds.map { d throws(BrokerError) in
            try MessageValidation.wholeSeconds(d, parameter: "WaitTimeSeconds", range: 0...20,
                                               reason: "Must be >= 0 and <= 20, if provided.")
        }
        if let attempt = receiveRequestAttemptId {
            try FifoRules.validateIdentifier(attempt, parameter: "ReceiveRequestAttemptId")
        }
        return ReceiveRequest(
            maxNumberOfMessages: maxNumberOfMessages, visibilityTimeout: visibility, waitTimeSeconds: wait,
            selection: AttributeSelection(messageAttributeNames: messageAttributeNames,
                                          systemAttributeNames: messageSystemAttributeNames),
            receiveRequestAttemptId: isFifo ? receiveRequestAttemptId : nil)
    }

    // MARK: Deleting and visibility

    /// DeleteMessage with the receipt handle of a receive. Deleting an already deleted message succeeds.
    public func deleteMessage(receiptHandle: String) throws(BrokerError) {
        try core.delete(receiptHandle: receiptHandle)
    }

    /// DeleteMessageBatch: per-entry outcomes.
    public func deleteMessageBatch(_ entries: [DeleteMessageBatchRequestEntry]) throws(BrokerError) -> BatchResult<BatchEntryAcknowledged> {
        try MessageValidation.validateBatch(count: entries.count, entryType: "DeleteMessageBatchRequestEntry") { entries[$0].id }
        return try core.batch(entries) { entry, handle, state, _ throws(BrokerError) in
            try state.delete(handle, text: entry.receiptHandle)
        }
    }

    /// ChangeMessageVisibility: the new timeout counts from now and may not reach past 12 hours from the receive.
    /// A handle whose message is no longer in flight succeeds and changes nothing, as on AWS; one whose message was
    /// deleted is `InvalidParameterValue`.
    public func changeMessageVisibility(receiptHandle: String, visibilityTimeout: Duration) throws(BrokerError) {
        let timeout = try Self.visibilitySeconds(visibilityTimeout)
        try core.changeVisibility(receiptHandle: receiptHandle, timeout: timeout)
    }

    /// ChangeMessageVisibilityBatch: per-entry outcomes.
    public func changeMessageVisibilityBatch(_ entries: [ChangeMessageVisibilityBatchRequestEntry]) throws(BrokerError) -> BatchResult<BatchEntryAcknowledged> {
        try MessageValidation.validateBatch(count: entries.count, entryType: "ChangeMessageVisibilityBatchRequestEntry") { entries[$0].id }
        return try core.batch(entries) { entry, handle, state, now throws(BrokerError) in
            let timeout = try Self.visibilitySeconds(entry.visibilityTimeout)
            try state.changeVisibility(handle, text: entry.receiptHandle, timeout: timeout, now: now)
        }
    }

    private static func visibilitySeconds(_ duration: Duration) throws(BrokerError) -> Int {
        try MessageValidation.wholeSeconds(duration, parameter: "VisibilityTimeout", range: 0...QueueStateMachine.maximumVisibility,
                                           reason: "Must be between 0 and 43200, if provided.")
    }

    // MARK: Management

    /// PurgeQueue: deletes every message (and, on a FIFO queue, the deduplication history). One purge per 60 seconds.
    public func purge() throws(BrokerError) {
        try core.mutate { state, now, _ throws(BrokerError) in try state.purge(now: now, queueName: core.name) }
    }

    /// GetQueueAttributes as AWS's string map; `All` (the default) returns every attribute.
    public func attributes(_ names: [String] = ["All"]) throws(BrokerError) -> [String: String] {
        var wanted: [QueueAttributeName] = []
        for name in names {
            if name == "All" {
                wanted = QueueAttributeName.allCases
            } else if let attribute = QueueAttributeName(rawValue: name) {
                wanted.append(attribute)
            } else {
                throw BrokerError(.invalidAttributeName, "Unknown Attribute \(name).")
            }
        }
        return try core.attributes(wanted)
    }

    /// The queue's settable attributes, typed, every one filled in with its current value.
    public func configuration() throws(BrokerError) -> QueueAttributes {
        try core.read { state, _ in state.settings.attributes }
    }

    /// Message counts and the age of the oldest message, settled to the clock's `now`. Exact, unlike AWS's
    /// approximate counters.
    public func statistics() throws(BrokerError) -> QueueStatistics {
        try core.read { state, now in state.statistics(now: now) }
    }

    /// SetQueueAttributes with typed values.
    public func setAttributes(_ attributes: QueueAttributes) throws(BrokerError) {
        try RedriveValidation.validate(attributes, sourceArn: core.arn, sourceIsFifo: core.isFifo, resolve: core.resolveQueue)
        try core.mutate { state, now, _ throws(BrokerError) in try state.setAttributes(attributes, now: now) }
    }

    /// SetQueueAttributes with AWS's string map.
    public func setAttributes(awsAttributes: [String: String]) throws(BrokerError) {
        try setAttributes(QueueAttributes(awsAttributes: awsAttributes))
    }

    /// TagQueue: adds or replaces tags (keys ≤128, values ≤256 characters, at most 50 tags).
    public func tag(_ tags: [String: String]) throws(BrokerError) {
        if tags.isEmpty { throw BrokerError(.missingParameter, "The request must contain the parameter Tags.") }
        try QueueTags.validate(tags)
        try core.mutate { state, _, _ throws(BrokerError) in try state.tag(tags, queueName: core.name) }
    }

    /// UntagQueue: at least one key.
    public func untag(_ keys: [String]) throws(BrokerError) {
        if keys.isEmpty {
            throw BrokerError(.invalidParameterValue, "Tag keys must be between 1 and 128 characters in length.")
        }
        try core.mutate { state, _, _ in state.untag(keys) }
    }

    /// ListQueueTags.
    public func tags() throws(BrokerError) -> [String: String] {
        try core.read { state, _ in state.tags }
    }

    // MARK: Permissions

    /// AddPermission: adds a statement labelled `label` to the queue's `Policy`, allowing `actions` (1–7 of
    /// `SendMessage`, `ReceiveMessage`, `DeleteMessage`, `ChangeMessageVisibility`, `GetQueueAttributes`, `GetQueueUrl`,
    /// `ListDeadLetterSourceQueues`, `PurgeQueue`, `ListQueueTags` or `*`) to the 12-digit `awsAccountIds`. The policy
    /// reads as AWS writes it; like every policy in Broker it is stored, not enforced.
    public func addPermission(label: String, awsAccountIds: [String], actions: [String]) throws(BrokerError) {
        try QueuePermissions.validate(label: label, accounts: awsAccountIds, actions: actions)
        try core.mutate { state, now, _ throws(BrokerError) in
            try state.addPermission(label: label, accounts: awsAccountIds, actions: actions, queueArn: core.arn, now: now)
        }
    }

    /// RemovePermission: removes the statement labelled `label` from the queue's `Policy`; with the last one the
    /// `Policy` attribute goes too. An unknown label is `InvalidParameterValue`.
    public func removePermission(label: String) throws(BrokerError) {
        try core.mutate { state, now, _ throws(BrokerError) in
            try state.removePermission(label: label, queueArn: core.arn, now: now)
        }
    }
}

/// Exact message counts of a queue.
public struct QueueStatistics: Sendable, Hashable {
    /// Messages available for retrieval (`ApproximateNumberOfMessages`).
    public let approximateNumberOfMessages: Int
    /// Messages in flight (`ApproximateNumberOfMessagesNotVisible`).
    public let approximateNumberOfMessagesNotVisible: Int
    /// Messages waiting out a delay (`ApproximateNumberOfMessagesDelayed`).
    public let approximateNumberOfMessagesDelayed: Int
    /// Age of the oldest message in the queue, if any.
    public let oldestMessageAge: Duration?
    /// CloudWatch's `NumberOfMessagesSent`, cumulative since the queue was created or the broker recovered it:
    /// messages added by a send or an SNS subscription; not those moved in as dead letters or by a redrive task.
    public internal(set) var numberOfMessagesSent = 0
    /// CloudWatch's `NumberOfMessagesReceived`, cumulative: messages ReceiveMessage returned, each receive of the
    /// same message counted.
    public internal(set) var numberOfMessagesReceived = 0
    /// CloudWatch's `NumberOfMessagesDeleted`, cumulative: successful deletes with a valid receipt handle, a second
    /// delete of the same message included; purges and expiry are not deletes.
    public internal(set) var numberOfMessagesDeleted = 0
    /// CloudWatch's `NumberOfEmptyReceives`, cumulative: ReceiveMessage calls that returned no message (a long
    /// poll counted once, when it times out).
    public internal(set) var numberOfEmptyReceives = 0
}

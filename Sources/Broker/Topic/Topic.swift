import Foundation

/// A handle to one SNS topic in a ``Broker``.
public struct Topic: Sendable, Hashable {
    let core: TopicCore
    /// Keeps the broker alive while a handle is held: deliveries find their queues through its registry.
    let owner: (any AnyObject & Sendable)?

    init(core: TopicCore, owner: (any AnyObject & Sendable)? = nil) {
        self.core = core
        self.owner = owner
    }

    /// The topic's name.
    public var name: String { core.name }
    /// The topic ARN, `arn:aws:sns:<region>:<account>:<name>`.
    public var arn: String { core.arn }
    /// Whether this is a FIFO topic.
    public var isFifo: Bool { core.isFifo }

    /// Two handles are equal when they name the same topic.
    public static func == (lhs: Topic, rhs: Topic) -> Bool { lhs.core === rhs.core }
    /// Hashes the topic's identity.
    public func hash(into hasher: inout Hasher) { hasher.combine(ObjectIdentifier(core)) }

    // MARK: Publishing

    /// Publish. Returns once the topic has accepted the message; queue copies are in their queues by then, handler
    /// copies run on their own tasks. A delivery that fails never fails the publish.
    @discardableResult
    public func publish(_ message: String, subject: String? = nil,
                        messageAttributes: [String: MessageAttributeValue] = [:],
                        messageGroupId: String? = nil, messageDeduplicationId: String? = nil) throws(BrokerError) -> PublishResult {
        try publish(PublishRequest(message: message, subject: subject, messageAttributes: messageAttributes,
                                   structure: nil, messageGroupId: messageGroupId, messageDeduplicationId: messageDeduplicationId))
    }

    /// Publish with every field of the request.
    @discardableResult
    public func publish(_ request: PublishRequest) throws(BrokerError) -> PublishResult {
        try core.publish(request)
    }

    /// PublishBatch: 1–10 entries with distinct ids, together at most 256 KiB; per-entry results.
    ///
    /// As on AWS, some faults fail the whole request rather than their entry: the batch's own rules (count, ids,
    /// total size), a FIFO topic's entry without `MessageGroupId`, and malformed message attributes.
    public func publishBatch(_ entries: [PublishBatchRequestEntry]) throws(BrokerError) -> BatchResult<PublishResult> {
        do throws(BrokerError) {
            try MessageValidation.validateBatch(count: entries.count) { entries[$0].id }
        } catch {
            throw BrokerError.snsBatchError(error)
        }
        var total = 0
        var attributeSizes: [Int] = []
        attributeSizes.reserveCapacity(entries.count)
        for entry in entries {
            if isFifo, entry.request.messageGroupId == nil {
                throw BrokerError(.invalidParameter, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
            }
            let size = entry.request.messageAttributes.isEmpty ? 0 : try SNSAttributes.validate(entry.request.messageAttributes)
            attributeSizes.append(size)
            total += entry.request.message.utf8.count + size
        }
        if total > TopicCore.maximumMessageSize {
            throw BrokerError(.snsBatchRequestTooLong, "The length of all the messages put together is more than the limit.")
        }
        var successful: [BatchResult<PublishResult>.Entry] = []
        var failed: [BatchResultErrorEntry] = []
        // On a durable broker, every entry's copies are waited for once, after the last entry.
        let waits = core.copyWaits()
        defer { if let waits { core.settle(waits) } }
        for (entry, size) in zip(entries, attributeSizes) {
            do throws(BrokerError) {
                successful.append(.init(id: entry.id, result: try core.publish(entry.request, attributeSize: size, waits: waits)))
            } catch {
                if error.code == .notFound { throw error }
                failed.append(BatchResultErrorEntry(id: entry.id, error: error))
            }
        }
        return BatchResult(failed: failed, successfulEntries: successful)
    }

    // MARK: Subscribing

    /// Subscribe an SQS queue of the same broker. Subscribing the same queue again returns the same subscription
    /// (or `InvalidParameter` when the attributes differ). A standard topic cannot feed a FIFO queue.
    @discardableResult
    public func subscribe(_ queue: Queue, attributes: SubscriptionAttributes = SubscriptionAttributes()) throws(BrokerError) -> Subscription {
        if queue.isFifo, !isFifo { throw Self.fifoQueueOnStandardTopic }
        let arn = try core.subscribe(protocol: .sqs, endpoint: queue.arn, attributes: attributes, handler: nil)
        return Subscription(arn: arn, topicArn: self.arn, protocol: .sqs, endpoint: queue.arn, topic: self)
    }

    /// Subscribe with AWS's protocol and endpoint strings, as boto3 code does: `sqs` and a queue ARN, or a
    /// protocol whose deliveries leave the machine and are captured in the outbox (``Broker/outbox(matching:)``):
    /// `http`/`https` (a URL), `email`/`email-json` (an address), `sms` (an E.164 number), `application` (a platform
    /// endpoint ARN), `firehose` (a stream ARN, with `SubscriptionRoleArn`) and `lambda` (a function ARN with no
    /// in-process handler). `http`, `https`, `email` and `email-json` subscriptions wait for ConfirmSubscription,
    /// as on AWS: their `SubscriptionConfirmation` is in the outbox.
    ///
    /// As on AWS, the queue need not exist yet: a well-formed SQS ARN is subscribed either way (again: the same
    /// subscription), and copies published while no queue answers to it fail like any delivery to a deleted queue.
    @discardableResult
    public func subscribe(protocol name: String, endpoint: String, attributes: [String: String] = [:]) throws(BrokerError) -> Subscription {
        let parsed = try SubscriptionAttributes(awsAttributes: attributes)
        guard let kind = SubscriptionProtocol(rawValue: name) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Amazon SNS does not support this protocol string: \(name)")
        }
        guard kind == .sqs else {
            if isFifo {
                throw BrokerError(.invalidParameter, "Invalid parameter: Invalid protocol type: \(name)")
            }
            let endpoint = try OutboundEndpoint.validate(endpoint, protocol: kind, broker: core.broker)
            let arn = try core.subscribe(protocol: kind, endpoint: endpoint, attributes: parsed, handler: nil)
            return Subscription(arn: arn, topicArn: self.arn, protocol: kind, endpoint: endpoint, topic: self)
        }
        if let queue = core.broker.resolveQueue(endpoint) {
            return try subscribe(Queue(core: queue, owner: owner), attributes: parsed)
        }
        guard Self.isQueueArn(endpoint) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: SQS endpoint ARN")
        }
        if endpoint.hasSuffix(".fifo"), !isFifo { throw Self.fifoQueueOnStandardTopic }
        let arn = try core.subscribe(protocol: .sqs, endpoint: endpoint, attributes: parsed, handler: nil)
        return Subscription(arn: arn, topicArn: self.arn, protocol: .sqs, endpoint: endpoint, topic: self)
    }

    /// ConfirmSubscription: confirms the pending subscription whose token this is and returns it; a subscription
    /// confirmed already answers again. `authenticateOnUnsubscribe` is AWS's flag (only a signed Unsubscribe may
    /// remove it), kept as `ConfirmationWasAuthenticated`. An unknown or expired token is `InvalidParameter`.
    @discardableResult
    public func confirmSubscription(token: String, authenticateOnUnsubscribe: Bool = false) throws(BrokerError) -> Subscription {
        let arn = try core.confirm(token: token, authenticateOnUnsubscribe: authenticateOnUnsubscribe)
        let record = try core.record(arn)
        return Subscription(arn: arn, topicArn: self.arn, protocol: record.protocol, endpoint: record.endpoint, topic: self)
    }

    static let fifoQueueOnStandardTopic = BrokerError(.invalidParameter,
        "Invalid parameter: Invalid parameter: Endpoint Reason: FIFO SQS Queues can not be subscribed to standard SNS topics")

    /// `arn:<partition>:sqs:<region>:<account>:<queue name>`, the shape SNS takes as an SQS endpoint.
    static func isQueueArn(_ endpoint: String) -> Bool {
        let parts = endpoint.split(separator: ":", omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && !parts[1].isEmpty && parts[2] == "sqs" && !parts[3].isEmpty
            && !parts[4].isEmpty && !parts[5].isEmpty
    }

    /// Subscribe an in-process handler: it stands where a Lambda function would, receives each matching
    /// notification on its own task, and is retried under the subscription's (or topic's, or AWS's managed)
    /// delivery policy when it throws. FIFO topics deliver only to SQS queues, as on AWS.
    @discardableResult
    public func subscribe(functionName: String, attributes: SubscriptionAttributes = SubscriptionAttributes(),
                          handler: @escaping @Sendable (SNSNotification) async throws -> Void) throws(BrokerError) -> Subscription {
        guard !isFifo else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Invalid protocol type: lambda. FIFO topics deliver only to SQS queues.")
        }
        let endpoint = "arn:aws:lambda:\(core.broker.region):\(core.broker.accountId):function:\(functionName)"
        let arn = try core.subscribe(protocol: .lambda, endpoint: endpoint, attributes: attributes, handler: handler)
        return Subscription(arn: arn, topicArn: self.arn, protocol: .lambda, endpoint: endpoint, topic: self)
    }

    /// ListSubscriptionsByTopic: 100 a page.
    public func listSubscriptions(nextToken: String? = nil) throws(BrokerError) -> (subscriptions: [SubscriptionInfo], nextToken: String?) {
        let now = core.broker.clock.now
        let all = try core.withLiveState { state in
            TopicCore.dropExpired(&state, now: now)
            return state.subscriptions
        }.map(core.info)
        let page = try Paging.page(all, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    // MARK: Attributes and tags

    /// GetTopicAttributes.
    public func attributes() throws(BrokerError) -> [String: String] {
        try core.attributes()
    }

    /// SetTopicAttributes: one attribute by AWS's name.
    public func setAttribute(_ name: String, _ value: String) throws(BrokerError) {
        var attributes = TopicAttributes()
        try attributes.set(name, value)
        try core.changeSettings { (state) throws(BrokerError) in try state.settings.apply(attributes, creating: false) }
    }

    /// TagResource: keys of 1–128 and values of up to 256 characters, in AWS's tag alphabet (letters, numbers,
    /// spaces and `_ . : / = + - @`).
    public func tag(_ tags: [String: String]) throws(BrokerError) {
        try Self.validate(tags)
        try core.changeSettings { (state) throws(BrokerError) in
            let merged = state.tags.merging(tags) { $1 }
            guard merged.count <= 50 else { throw BrokerError(.tagLimitExceeded, "Could not complete request: tag quota of per resource exceeded") }
            state.tags = merged
        }
    }

    static func validate(_ tags: [String: String]) throws(BrokerError) {
        for (key, value) in tags {
            guard (1...128).contains(key.count), value.count <= 256 else {
                throw BrokerError(.invalidParameter,
                    "Invalid parameter: Tags Reason: A tag key has 1 to 128 characters and a value at most 256.")
            }
            guard TagRules.hasTagCharacters(key), TagRules.hasTagCharacters(value) else {
                throw BrokerError(.invalidParameter,
                    "Invalid parameter: Tags Reason: Keys and values may contain letters, numbers, spaces and _ . : / = + - @ only.")
            }
        }
    }

    /// TagResource with the tags as the wire lists them: a key given twice is `InvalidParameter`, as on AWS.
    public func tag(keyValuePairs: [(key: String, value: String)]) throws(BrokerError) {
        var tags: [String: String] = [:]
        for (key, value) in keyValuePairs {
            guard tags.updateValue(value, forKey: key) == nil else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Duplicated keys are not allowed.")
            }
        }
        try tag(tags)
    }

    /// UntagResource.
    public func untag(_ keys: [String]) throws(BrokerError) {
        try core.changeSettings { state in for key in keys { state.tags[key] = nil } }
    }

    /// ListTagsForResource.
    public func tags() throws(BrokerError) -> [String: String] {
        try core.withLiveState { state in state.tags }
    }

    // MARK: Permissions and data protection

    /// AddPermission: adds a statement labelled `label` to the topic's `Policy`, allowing the accounts the actions
    /// (SNS action names such as `Publish`). The policy is stored and returned, not enforced. A label already in
    /// the policy is `InvalidParameter` ("Statement already exists"), as is an action SNS does not have.
    public func addPermission(label: String, accountIds: [String], actionNames: [String]) throws(BrokerError) {
        try editPolicy { (current) throws(BrokerError) in
            try TopicPermissions.adding(label: label, accountIds: accountIds, actionNames: actionNames, to: current,
                                        topicArn: arn)
        }
    }

    /// RemovePermission: removes the statement labelled `label` from the topic's `Policy`; a label that is not
    /// there is no error.
    public func removePermission(label: String) throws(BrokerError) {
        try editPolicy { current in TopicPermissions.removing(label: label, from: current) }
    }

    /// Rewrites the topic's policy (nil from `edit`: no change). The JSON work runs outside the topic's lock; the
    /// result is stored only if the policy is still the one it was made from, else the edit runs again.
    private func editPolicy(_ edit: (String) throws(BrokerError) -> String?) throws(BrokerError) {
        let defaultPolicy = TopicSettings.defaultPolicy(topicArn: arn, account: core.broker.accountId)
        while true {
            let current = try core.withLiveState { state in state.settings.policy ?? defaultPolicy }
            guard let edited = try edit(current) else { return }
            let stored = try core.changeSettings { state -> Bool in
                guard (state.settings.policy ?? defaultPolicy) == current else { return false }
                state.settings.policy = edited
                return true
            }
            if stored { return }
        }
    }

    /// PutDataProtectionPolicy: a JSON document, stored and returned by ``dataProtectionPolicy()``; Broker does not
    /// audit, mask or deny message content by it.
    public func putDataProtectionPolicy(_ policy: String) throws(BrokerError) {
        guard JSONValue.policyObject(policy) != nil else {
            throw BrokerError(.invalidParameter, "Invalid parameter: DataProtectionPolicy Reason: Policy is not valid JSON")
        }
        try core.changeSettings { state in state.dataProtectionPolicy = policy }
    }

    /// GetDataProtectionPolicy: the policy last put, or nil.
    public func dataProtectionPolicy() throws(BrokerError) -> String? {
        try core.withLiveState { state in state.dataProtectionPolicy }
    }
}

extension BrokerError {
    /// The batch rules SQS and SNS share, with SNS's `…Exception` shape names and SNS's own wording.
    static func snsBatchError(_ error: BrokerError) -> BrokerError {
        switch error.code {
        case .emptyBatchRequest:
            BrokerError(.snsEmptyBatchRequest, "The batch request doesn't contain any entries.")
        case .tooManyEntriesInBatchRequest:
            BrokerError(.snsTooManyEntriesInBatchRequest, "The batch request contains more entries than permissible.")
        case .batchEntryIdsNotDistinct:
            BrokerError(.snsBatchEntryIdsNotDistinct, "Two or more batch entries in the request have the same Id.")
        case .invalidBatchEntryId:
            BrokerError(.snsInvalidBatchEntryId, "The Id of a batch entry in the batch request contains an impermissible character.")
        default: error
        }
    }
}

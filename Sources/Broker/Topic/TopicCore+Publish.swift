import Foundation

/// A publish after validation, shared by every subscription's delivery. A class: passed to every copy, kept by the
/// envelope's builder and returned out of the topic's lock, a struct of eleven fields was copied field by field
/// (a retain and release each) several times per publish.
final class PublishedMessage: Sendable {
    let messageId: String
    let timestamp: Date
    /// `timestamp` as the envelope writes it.
    let formattedTimestamp: String
    let request: PublishRequest
    /// Per-protocol bodies of `MessageStructure=json`; nil otherwise.
    let structuredBodies: [String: String]?
    let sequenceNumber: UInt64?
    let deduplicationId: String?

    init(messageId: String, timestamp: Date, formattedTimestamp: String, request: PublishRequest,
         structuredBodies: [String: String]?, sequenceNumber: UInt64?, deduplicationId: String?) {
        self.messageId = messageId
        self.timestamp = timestamp
        self.formattedTimestamp = formattedTimestamp
        self.request = request
        self.structuredBodies = structuredBodies
        self.sequenceNumber = sequenceNumber
        self.deduplicationId = deduplicationId
    }

    func body(for protocol: SubscriptionProtocol) -> String {
        guard let bodies = structuredBodies else { return request.message }
        return bodies[`protocol`.rawValue] ?? bodies["default"] ?? request.message
    }
}

extension TopicCore {
    static let maximumMessageSize = 262_144

    /// Publish: validates, deduplicates (FIFO), then delivers a copy to every subscription whose filter matches.
    /// A failed delivery never fails the publish.
    /// `attributeSize`: the size of the request's attributes, when the caller has validated them already
    /// (PublishBatch does, for the whole request, before it publishes any entry).
    func publish(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) -> PublishResult {
        let structured = try validate(request, attributeSize: attributeSize)
        let contentId = isFifo && request.messageDeduplicationId == nil ? SHA256.hash(request.message).hexString : nil
        let now = broker.clock.now
        let accepted = try withLiveState { (state) throws(BrokerError) -> (PublishedMessage?, PublishResult, [SubscriptionRecord]) in
            var deduplicationId: String?
            var sequence: UInt64?
            let id = state.ids.messageID()
            if isFifo {
                guard let deduplication = request.messageDeduplicationId
                    ?? (state.settings.contentBasedDeduplication ? contentId : nil) else {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
                }
                deduplicationId = deduplication
                state.deduplication.expire(now: now)
                let next = state.nextSequenceNumber + 1
                let record = DeduplicationRecord(expiresAt: now.addingTimeInterval(QueueCore.deduplicationWindow),
                                                 messageId: id, sequenceNumber: next)
                let group = state.settings.fifoThroughputScope == "MessageGroup" ? request.messageGroupId ?? "" : nil
                if let original = state.deduplication.recordUnlessDuplicate(id: deduplication, group: group, now: now,
                                                                            record: record) {
                    // Accepted, not delivered again: AWS's five-minute deduplication.
                    return (nil, PublishResult(messageId: original.messageId.string,
                                               sequenceNumber: String(original.sequenceNumber)), [])
                }
                state.nextSequenceNumber = next
                sequence = next
            }
            let messageId = id.string
            let message = PublishedMessage(messageId: messageId, timestamp: now,
                                           formattedTimestamp: state.timestamps.format(now), request: request,
                                           structuredBodies: structured, sequenceNumber: sequence,
                                           deduplicationId: deduplicationId)
            return (message, PublishResult(messageId: messageId, sequenceNumber: sequence.map { String($0) }), state.subscriptions)
        }
        if let message = accepted.0 { deliver(message, to: accepted.2) }
        return accepted.1
    }

    /// Publish's input rules, with SNS's error codes and wording; returns the per-protocol bodies of
    /// `MessageStructure=json`.
    func validate(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) -> [String: String]? {
        try PublishValidation.validateMessage(request, attributeSize: attributeSize)
        if isFifo {
            guard let group = request.messageGroupId else {
                throw BrokerError(.invalidParameter, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
            }
            try snsIdentifier(group, "MessageGroupId")
            if let id = request.messageDeduplicationId { try snsIdentifier(id, "MessageDeduplicationId") }
        } else {
            if request.messageDeduplicationId != nil {
                throw BrokerError(.invalidParameter,
                    "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
            }
            if let group = request.messageGroupId { try snsIdentifier(group, "MessageGroupId") }
        }
        return try PublishValidation.structuredBodies(request)
    }

    private func snsIdentifier(_ value: String, _ name: String) throws(BrokerError) {
        do throws(BrokerError) {
            try FifoRules.validateIdentifier(value, parameter: name)
        } catch {
            throw BrokerError(.invalidParameter, "Invalid parameter: \(name) Reason: \(name) can only include alphanumeric and punctuation characters. 1 to 128 in length.")
        }
    }

    // MARK: Delivery

    /// Sends a copy to every subscription whose filter policy matches. The body is parsed for body-scope policies
    /// at most once, however many subscriptions use one; the envelope's common part is built at most once.
    func deliver(_ message: PublishedMessage, to subscriptions: [SubscriptionRecord]) {
        guard !subscriptions.isEmpty else { return }
        var input = FilterInput(attributes: message.request.messageAttributes, body: message.request.message)
        var parts = copyParts(for: message)
        for subscription in subscriptions {
            if let policy = subscription.settings.filterPolicy, !policy.matches(&input) {
                subscription.count { $0.filteredOut += 1 }
                continue
            }
            switch subscription.protocol {
            case .sqs: deliverToQueue(message, parts: &parts, subscription: subscription)
            case .lambda where subscription.handler != nil: deliverToHandler(message, subscription: subscription)
            default: deliverOutbound(message, parts: &parts, subscription: subscription)
            }
        }
    }

    /// The parts a publish's copies share; signed envelopes only with a signer, and never on a FIFO topic, whose
    /// envelopes AWS sends without signature fields.
    func copyParts(for message: PublishedMessage) -> CopyParts {
        CopyParts(message: message, fragments: envelopeFragments, fifo: isFifo, signing: envelopeSigning())
    }

    /// How this topic's envelopes are signed now, or nil to keep the placeholder. The topic's `SignatureVersion` is
    /// read only when there is a signer, so the unsigned path takes no lock for it.
    func envelopeSigning() -> EnvelopeSigning? {
        guard let signer = broker.signer, !isFifo else { return nil }
        let version = state.withLock { $0.settings.signatureVersion }.flatMap(SNSSignatureVersion.init(rawValue:)) ?? .v1
        return EnvelopeSigning(signer: signer, version: version, topicArn: arn)
    }

    /// The SQS message a subscription's queue gets: the envelope, or with raw delivery the message and its
    /// attributes.
    func queueMessage(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord,
                      queueIsFifo: Bool) -> SendMessageRequest {
        let raw = subscription.settings.rawMessageDelivery
        return SendMessageRequest(
            body: raw ? message.body(for: .sqs) : parts.envelope.body(subscriptionArn: subscription.arn),
            messageAttributes: raw ? message.request.messageAttributes : [:],
            // A FIFO topic's group goes to FIFO queues only: its copy in a standard queue has none.
            messageGroupId: queueIsFifo ? message.request.messageGroupId : nil,
            messageDeduplicationId: queueIsFifo ? message.deduplicationId : nil)
    }

    private func deliverToQueue(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord) {
        var queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue)
        for attempt in 0..<2 {
            guard let core = queue else { break }
            let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: core.isFifo)
            do throws(BrokerError) {
                try Queue(core: core).deliver(request)
                subscription.count { $0.delivered += 1 }
                return
            } catch {
                if error.code == .queueDoesNotExist, attempt == 0 {
                    // The queue found earlier was deleted; one of the same name may have been created since.
                    queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue, refresh: true)
                    continue
                }
                // SQS refused the message (attributes SQS cannot take, too large): a client-side error, which SNS
                // does not retry.
                return fail(message, parts: &parts, subscription: subscription, error: error)
            }
        }
        fail(message, parts: &parts, subscription: subscription,
             error: BrokerError(.queueDoesNotExist, "The specified queue does not exist."))
    }

    private func deliverToHandler(_ message: PublishedMessage, subscription: SubscriptionRecord) {
        guard let handler = subscription.handler else { return }
        let notification = SNSNotification(
            messageId: message.messageId, topicArn: arn, subject: message.request.subject,
            message: message.body(for: .lambda), timestamp: message.timestamp,
            messageAttributes: message.request.messageAttributes, subscriptionArn: subscription.arn,
            sequenceNumber: message.sequenceNumber.map { String($0) }, messageGroupId: message.request.messageGroupId)
        let policy = subscription.settings.deliveryPolicy ?? state.withLock { $0.settings.deliveryPolicy } ?? .awsManaged
        let clock = broker.clock
        let tracker = broker.deliveries
        tracker.begin()
        // Off the publisher's task: a slow handler slows neither the publish nor other subscriptions.
        Task { [self] in
            defer { tracker.end() }
            var retry = 0
            while true {
                do {
                    try await handler(notification)
                    subscription.count { $0.delivered += 1 }
                    return
                } catch {
                    retry += 1
                    guard let delay = policy.delay(beforeRetry: retry) else {
                        var parts = copyParts(for: message)
                        return fail(message, parts: &parts, subscription: subscription,
                                    error: BrokerError(BrokerError.Code(name: "HandlerError"), String(describing: error)))
                    }
                    subscription.count { $0.retried += 1 }
                    if delay > 0 {
                        do { try await clock.sleep(for: .seconds(delay)) } catch { return }
                    }
                }
            }
        }
    }

    /// A delivery that failed for good: to the subscription's dead-letter queue, or dropped; counted either way,
    /// with the error kept as the subscription's last failure.
    func fail(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord, error: BrokerError) {
        guard let dlqArn = subscription.settings.deadLetterTargetArn, let dlq = broker.resolveQueue(dlqArn) else {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
            return
        }
        // The copy as the subscription would have had it, with no attributes added: why it failed is kept in the
        // subscription's statistics.
        let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: dlq.isFifo)
        do throws(BrokerError) {
            try Queue(core: dlq).deliver(request)
            subscription.count { $0.deadLettered += 1; $0.lastFailure = error }
        } catch {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
        }
    }
}

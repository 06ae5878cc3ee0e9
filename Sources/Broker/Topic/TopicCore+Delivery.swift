import Foundation

extension TopicCore {
    /// Sends a copy to every subscription whose filter policy matches. The body is parsed for body-scope policies
    /// at most once, however many subscriptions use one; the envelope's common part is built at most once. With
    /// `realism`, each copy's failures and duplicates are drawn here, in subscription order (`SNSRealism.swift`).
    ///
    /// `waits`: where a PublishBatch gathers its publishes' copies, to wait for them once after its last publish.
    func deliver(_ message: PublishedMessage, to subscriptions: [SubscriptionRecord], realism: TopicRealism? = nil,
                 waits shared: CopyWaits? = nil) {
        // What this call decides goes to the history in one entry with the publish, after the loop.
        var outcomes = PublishOutcomes()
        defer { history?.recordPublish(message, subscriptions: subscriptions, outcomes: outcomes) }
        guard !subscriptions.isEmpty else { return }
        var input = FilterInput(attributes: message.request.messageAttributes, body: message.request.message)
        var parts = copyParts(for: message)
        let owned = shared == nil ? copyWaits() : nil
        let waits = shared ?? owned
        defer {
            if let owned {
                for failure in owned.wait() {
                    copyNotStored(failure, parts: &parts)
                    outcomes.clear(failure.index)
                }
            }
        }
        for (index, subscription) in subscriptions.enumerated() {
            if let policy = subscription.settings.filterPolicy, !policy.matches(&input) {
                subscription.count { $0.filteredOut += 1 }
                if history != nil, !outcomes.set(index, .filteredOut) {
                    note(subscription, messageId: message.messageId, .filteredOut)
                }
                continue
            }
            if let realism {
                deliverRealistically(message, parts: &parts, subscription: subscription, realism: realism)
                continue
            }
            switch subscription.protocol {
            case .sqs:
                let delivered: Bool
                if let waits {
                    delivered = waits.deliver(message, subscription: subscription, index: index) {
                        deliverToQueue(message, parts: &parts, subscription: subscription)
                    }
                } else {
                    delivered = deliverToQueue(message, parts: &parts, subscription: subscription)
                }
                if delivered, history != nil, !outcomes.set(index, .delivered) {
                    note(subscription, messageId: message.messageId, .delivered)
                }
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

    /// Where a publish's copies to queues wait together, on a durable broker whose calls wait for their records;
    /// nil otherwise, and inside `awaitingDurability`, whose task they join instead.
    @inline(__always)
    func copyWaits() -> CopyWaits? {
        guard let durable else { return nil }
        return durable.store.callsWait && DurableDeferral.current == nil ? CopyWaits() : nil
    }

    /// Waits for the copies of a PublishBatch's publishes, and counts those that could not be stored.
    func settle(_ waits: CopyWaits) {
        for failure in waits.wait() {
            var parts = copyParts(for: failure.message)
            copyNotStored(failure, parts: &parts)
        }
    }

    /// A copy the queue took whose record could not be stored, found once the copies were waited for: counted and
    /// noted as the failure it is, in place of the delivery counted when the queue took it.
    private func copyNotStored(_ failure: CopyWaits.Failure, parts: inout CopyParts) {
        guard failure.delivered else {
            // The queue refused the copy and this was its move to the subscription's dead-letter queue: dropped.
            failure.subscription.count { $0.deadLettered -= 1; $0.dropped += 1; $0.lastFailure = failure.error }
            note(failure.subscription, messageId: failure.message.messageId, .failed, reason: failure.error.message)
            return
        }
        failure.subscription.count { $0.delivered -= 1 }
        fail(failure.message, parts: &parts, subscription: failure.subscription, error: failure.error)
    }

    /// True when the queue took the copy; a failure is counted and noted here.
    func deliverToQueue(_ message: PublishedMessage, parts: inout CopyParts,
                                subscription: SubscriptionRecord) -> Bool {
        var queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue)
        for attempt in 0..<2 {
            guard let core = queue else { break }
            do throws(BrokerError) {
                if subscription.settings.rawMessageDelivery {
                    try core.deliver(queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: core.isFifo))
                } else {
                    // The envelope is written into the queue's message as it is made: no String of it in between.
                    let envelope = parts.envelope
                    let arn = subscription.arn
                    try core.deliver(SendMessageRequest(body: "", messageGroupId: core.isFifo ? message.request.messageGroupId : nil,
                                                        messageDeduplicationId: core.isFifo ? message.deduplicationId : nil),
                                     bodyCount: envelope.bodyCount(subscriptionArn: arn)) { out in
                        envelope.write(subscriptionArn: arn, into: out)
                    }
                }
                subscription.count { $0.delivered += 1 }
                return true
            } catch {
                if error.code == .queueDoesNotExist, attempt == 0 {
                    // The queue found earlier was deleted; one of the same name may have been created since.
                    queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue, refresh: true)
                    continue
                }
                // SQS refused the message (attributes SQS cannot take, too large): a client-side error, which SNS
                // does not retry.
                fail(message, parts: &parts, subscription: subscription, error: error)
                return false
            }
        }
        fail(message, parts: &parts, subscription: subscription,
             error: BrokerError(.queueDoesNotExist, "The specified queue does not exist."))
        return false
    }

    func deliverToHandler(_ message: PublishedMessage, subscription: SubscriptionRecord, realism: TopicRealism? = nil) {
        guard let handler = subscription.handler else { return }
        let notification = SNSNotification(
            messageId: message.messageId, topicArn: arn, subject: message.request.subject,
            message: message.body(for: .lambda), timestamp: message.timestamp,
            messageAttributes: message.request.messageAttributes, subscriptionArn: subscription.arn,
            sequenceNumber: message.sequenceNumber.map { String($0) }, messageGroupId: message.request.messageGroupId)
        let policy = subscription.settings.deliveryPolicy ?? state.withLock { $0.settings.deliveryPolicy } ?? .awsManaged
        // Drawn now, on the publisher's call: drawn on the task, the order of draws would follow the scheduler.
        let fate = realism?.fate(attempts: policy.attempts) ?? .clean
        let clock = broker.clock
        let tracker = broker.deliveries
        tracker.begin()
        // Off the publisher's task: a slow handler slows neither the publish nor other subscriptions.
        Task { [self] in
            defer { tracker.end() }
            /// One copy through the policy's retries; true once the handler took it.
            func attempt(simulatedFailures: Int, duplicate: Bool) async -> Bool {
                var retry = 0
                while true {
                    do {
                        if retry < simulatedFailures { throw SimulatedDeliveryFailure() }
                        try await handler(notification)
                        subscription.count { $0.delivered += 1 }
                        note(subscription, messageId: message.messageId, .delivered,
                             reason: duplicate ? DeliveryFate.duplicateReason : nil)
                        return true
                    } catch {
                        retry += 1
                        guard let delay = policy.delay(beforeRetry: retry) else {
                            var parts = copyParts(for: message)
                            fail(message, parts: &parts, subscription: subscription,
                                 error: BrokerError(BrokerError.Code(name: "HandlerError"), String(describing: error)))
                            return false
                        }
                        subscription.count { $0.retried += 1 }
                        note(subscription, messageId: message.messageId, .retried, reason: String(describing: error))
                        if delay > 0 {
                            do { try await clock.sleep(for: .seconds(delay)) } catch { return false }
                        }
                    }
                }
            }
            guard await attempt(simulatedFailures: fate.failures, duplicate: false), fate.duplicate else { return }
            _ = await attempt(simulatedFailures: 0, duplicate: true)
        }
    }

    /// A delivery that failed for good: to the subscription's dead-letter queue, or dropped; counted either way,
    /// with the error kept as the subscription's last failure.
    func fail(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord, error: BrokerError) {
        guard let dlqArn = subscription.settings.deadLetterTargetArn, let dlq = broker.resolveQueue(dlqArn) else {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
            note(subscription, messageId: message.messageId, .failed, reason: error.message)
            return
        }
        // The copy as the subscription would have had it, with no attributes added: why it failed is kept in the
        // subscription's statistics.
        let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: dlq.isFifo)
        do throws(BrokerError) {
            try Queue(core: dlq).deliver(request)
            subscription.count { $0.deadLettered += 1; $0.lastFailure = error }
            note(subscription, messageId: message.messageId, .deadLettered, reason: error.message)
        } catch {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
            note(subscription, messageId: message.messageId, .failed, reason: error.message)
        }
    }
}

/// A publish's copies to queues (or a PublishBatch's), journaled as each queue takes its copy and waited for
/// together afterwards: at `acknowledged` one sync, not one per subscribed queue. Used by one thread.
final class CopyWaits {
    /// A copy whose record could not be stored.
    struct Failure {
        let message: PublishedMessage
        let subscription: SubscriptionRecord
        /// The subscription's place in its publish's list.
        let index: Int
        /// Whether the subscribed queue took the copy; if not, the record was of its move to the subscription's
        /// dead-letter queue.
        let delivered: Bool
        let error: BrokerError
    }

    private let deferral = DurableDeferral()
    private var copies: [(message: PublishedMessage, subscription: SubscriptionRecord, index: Int, delivered: Bool)] = []

    /// Runs `body`, the delivery of one copy (true when the queue took it), with the records it makes left for
    /// ``wait()``.
    func deliver(_ message: PublishedMessage, subscription: SubscriptionRecord, index: Int, _ body: () -> Bool) -> Bool {
        let tag = copies.count
        copies.append((message, subscription, index, true))
        let delivered = deferral.deferring(tag: tag, body)
        copies[tag].delivered = delivered
        return delivered
    }

    /// Blocks until every copy's record is decided, applying what each delivery left for after it (long polls to
    /// wake); returns the copies that could not be stored.
    func wait() -> [Failure] {
        deferral.waitBlocking().map { tag, error in
            let copy = copies[tag]
            return Failure(message: copy.message, subscription: copy.subscription, index: copy.index,
                           delivered: copy.delivered, error: error)
        }
    }
}

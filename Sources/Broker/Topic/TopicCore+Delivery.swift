import Foundation

extension TopicCore {
    /// Sends a copy to every subscription whose filter policy matches. The body is parsed for body-scope policies
    /// at most once, however many subscriptions use one; the envelope's common part is built at most once. With
    /// `realism`, each copy's failures and duplicates are drawn here, in subscription order (`SNSRealism.swift`).
    func deliver(_ message: PublishedMessage, to subscriptions: [SubscriptionRecord], realism: TopicRealism? = nil) {
        // What this call decides goes to the history in one entry with the publish, after the loop.
        var outcomes = PublishOutcomes()
        defer { history?.recordPublish(message, subscriptions: subscriptions, outcomes: outcomes) }
        guard !subscriptions.isEmpty else { return }
        var input = FilterInput(attributes: message.request.messageAttributes, body: message.request.message)
        var parts = copyParts(for: message)
        // On a durable broker whose calls wait for their records, the copies' records are waited for together after
        // the loop: one sync for the publish, not one per subscribed queue. (Inside `awaitingDurability` they join
        // the caller's wait instead.)
        let copies = durable?.store.callsWait == true && DurableDeferral.current == nil ? DurableDeferral() : nil
        defer {
            if let copies {
                for (index, error) in copies.waitBlocking() {
                    copyNotStored(message, parts: &parts, subscription: subscriptions[index], error: error)
                    outcomes.clear(index)
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
                let delivered = copies.map { copies in
                    copies.deferring(tag: index) { deliverToQueue(message, parts: &parts, subscription: subscription) }
                } ?? deliverToQueue(message, parts: &parts, subscription: subscription)
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

    /// A copy the queue took whose record could not be stored, found once the publish's copies were waited for:
    /// counted and noted as the failure it is, in place of the delivery counted when the queue took it.
    private func copyNotStored(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord,
                               error: BrokerError) {
        subscription.count { $0.delivered -= 1 }
        fail(message, parts: &parts, subscription: subscription, error: error)
    }

    /// True when the queue took the copy; a failure is counted and noted here.
    func deliverToQueue(_ message: PublishedMessage, parts: inout CopyParts,
                                subscription: SubscriptionRecord) -> Bool {
        var queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue)
        for attempt in 0..<2 {
            guard let core = queue else { break }
            let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: core.isFifo)
            do throws(BrokerError) {
                try Queue(core: core).deliver(request)
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

import Foundation

/// The error a handler's retry loop sees for an attempt that ``SNSRealism`` made fail.
struct SimulatedDeliveryFailure: Error, CustomStringConvertible {
    var description: String { DeliveryFate.reason }
}

extension TopicCore {
    /// One copy on a topic with ``SNSRealism``: its fate drawn now, then delivered by its protocol's path.
    /// Kept out of line so that the ordinary fan-out loop stays as small as it was.
    @inline(never)
    func deliverRealistically(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord,
                              realism: TopicRealism) {
        switch subscription.protocol {
        case .sqs:
            let fate = realism.fate(attempts: DeliveryPolicy.awsManaged.attempts)
            attemptQueueDelivery(message, subscription: subscription, fate: fate, attempt: 0, due: message.timestamp,
                                 tracked: false)
        case .lambda where subscription.handler != nil:
            deliverToHandler(message, subscription: subscription, realism: realism)
        default:
            deliverOutbound(message, parts: &parts, subscription: subscription, realism: realism)
        }
    }

    /// Attempt number `attempt` (0 is the first) of a copy to an SQS subscription, due at `due`: attempts that
    /// `fate` makes fail are retried under AWS's policy for SQS endpoints, immediate retries at once and later ones
    /// on a wake-up of the broker's clock at the time the policy gives, counted from the attempt before (not from
    /// when the wake-up ran), so a retry's time never depends on how late a wake-up came. Scheduled chains count as
    /// running deliveries (``Broker/waitForDeliveries()``) until they end.
    func attemptQueueDelivery(_ message: PublishedMessage, subscription: SubscriptionRecord, fate: DeliveryFate,
                              attempt: Int, due: Date, tracked: Bool) {
        let policy = DeliveryPolicy.awsManaged
        var attempt = attempt
        var due = due
        while attempt < fate.failures {
            let retry = attempt + 1
            guard let delay = policy.delay(beforeRetry: retry) else {
                var parts = copyParts(for: message)
                fail(message, parts: &parts, subscription: subscription,
                     error: BrokerError(BrokerError.Code(name: "DeliveryFailed"), DeliveryFate.reason))
                if tracked { broker.deliveries.end() }
                return
            }
            subscription.count { $0.retried += 1 }
            note(subscription, messageId: message.messageId, .retried, reason: DeliveryFate.reason)
            attempt = retry
            guard delay == 0 else {
                due = due.addingTimeInterval(delay)
                if !tracked { broker.deliveries.begin() }
                let next = attempt
                let at = due
                _ = broker.clock.schedule(at: at) { [self] in
                    attemptQueueDelivery(message, subscription: subscription, fate: fate, attempt: next, due: at,
                                         tracked: true)
                }
                return
            }
        }
        var parts = copyParts(for: message)
        if deliverToQueue(message, parts: &parts, subscription: subscription) {
            note(subscription, messageId: message.messageId, .delivered)
            if fate.duplicate, deliverToQueue(message, parts: &parts, subscription: subscription) {
                note(subscription, messageId: message.messageId, .delivered, reason: DeliveryFate.duplicateReason)
            }
        }
        if tracked { broker.deliveries.end() }
    }
}

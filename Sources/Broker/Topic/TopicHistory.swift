import Foundation

/// A publish as a topic's history keeps it (``Topic/recentPublishes(limit:)``).
public struct TopicPublishRecord: Sendable, Hashable {
    /// The SNS `MessageId` Publish returned.
    public let messageId: String
    /// When SNS accepted it, on the broker's clock.
    public let timestamp: Date
    /// The `Message` as published (with `MessageStructure=json`, the JSON of per-protocol bodies).
    public let message: String
    /// The `Subject`, if any.
    public let subject: String?
    /// The publish's message attributes.
    public let messageAttributes: [String: MessageAttributeValue]
    /// FIFO topics: the `MessageGroupId`.
    public let messageGroupId: String?
    /// FIFO topics: the `SequenceNumber`.
    public let sequenceNumber: String?
}

/// One thing that happened to one publish on one subscription (``Subscription/deliveries(limit:outcomes:)``).
public struct SubscriptionDelivery: Sendable, Hashable {
    /// What happened.
    public enum Outcome: Sendable, Hashable, CaseIterable {
        /// The copy reached the endpoint (a queue accepted it, a handler returned, an endpoint answered 2xx, the
        /// outbox captured it). SNS's `NumberOfNotificationsDelivered`.
        case delivered
        /// The subscription's filter policy did not match: no copy was sent. `NumberOfNotificationsFilteredOut`.
        case filteredOut
        /// An attempt failed and the delivery policy will try again.
        case retried
        /// The delivery failed for good and was dropped (no dead-letter queue, or it could not take the copy).
        /// `NumberOfNotificationsFailed`.
        case failed
        /// The delivery failed for good and the copy went to the subscription's dead-letter queue
        /// (`NumberOfNotificationsRedrivenToDlq`).
        case deadLettered
    }

    /// The SNS `MessageId` of the publish.
    public let messageId: String
    /// The subscription.
    public let subscriptionArn: String
    /// What happened.
    public let outcome: Outcome
    /// Why an attempt failed (for `retried`, `failed` and `deadLettered`); nil otherwise.
    public let reason: String?
    /// When it happened, on the broker's clock.
    public let timestamp: Date
}

/// A topic's recent publishes and delivery outcomes, each in a ring of fixed capacity that drops the oldest.
/// Behind a lock of its own (a leaf: nothing else is taken while it is held); a topic keeps none when the
/// broker's ``BrokerConfiguration/topicHistoryLimit`` is 0.
final class TopicHistory: Sendable {
    private struct State {
        var publishes = Ring<TopicPublishRecord>()
        var deliveries = Ring<SubscriptionDelivery>()
    }

    let capacity: Int
    private let clock: any BrokerClock
    private let state = LockedState(State())

    init(capacity: Int, clock: any BrokerClock) {
        self.capacity = capacity
        self.clock = clock
    }

    func recordPublish(_ message: PublishedMessage) {
        let request = message.request
        let record = TopicPublishRecord(messageId: message.messageId, timestamp: message.timestamp,
                                        message: request.message, subject: request.subject,
                                        messageAttributes: request.messageAttributes,
                                        messageGroupId: request.messageGroupId,
                                        sequenceNumber: message.sequenceNumber.map { String($0) })
        state.withLock { state in
            if state.publishes.count >= capacity { _ = state.publishes.removeFirst() }
            state.publishes.append(record)
        }
    }

    func recordDelivery(messageId: String, subscriptionArn: String, _ outcome: SubscriptionDelivery.Outcome,
                        reason: String? = nil) {
        let record = SubscriptionDelivery(messageId: messageId, subscriptionArn: subscriptionArn, outcome: outcome,
                                          reason: reason, timestamp: clock.now)
        state.withLock { state in
            if state.deliveries.count >= capacity { _ = state.deliveries.removeFirst() }
            state.deliveries.append(record)
        }
    }

    func publishes(limit: Int?) -> [TopicPublishRecord] {
        state.withLock { state in Self.newest(state.publishes, limit: limit) { _ in true } }
    }

    func deliveries(limit: Int?, where isIncluded: (SubscriptionDelivery) -> Bool) -> [SubscriptionDelivery] {
        state.withLock { state in Self.newest(state.deliveries, limit: limit, where: isIncluded) }
    }

    func clear() {
        state.withLock { $0 = State() }
    }

    /// The last `limit` elements that pass `isIncluded`, oldest first.
    private static func newest<Element>(_ ring: Ring<Element>, limit: Int?,
                                        where isIncluded: (Element) -> Bool) -> [Element] {
        var picked: [Element] = []
        var offset = ring.count - 1
        let maximum = limit ?? Int.max
        while offset >= 0, picked.count < maximum {
            if let element = ring.element(at: offset), isIncluded(element) { picked.append(element) }
            offset -= 1
        }
        return picked.reversed()
    }
}

extension TopicCore {
    /// Notes an outcome in the topic's history, when it keeps one.
    @inline(__always)
    func note(_ subscription: SubscriptionRecord, messageId: String, _ outcome: SubscriptionDelivery.Outcome,
              reason: String? = nil) {
        history?.recordDelivery(messageId: messageId, subscriptionArn: subscription.arn, outcome, reason: reason)
    }
}

extension Topic {
    /// The topic's most recent publishes, oldest first: at most the broker's
    /// ``BrokerConfiguration/topicHistoryLimit`` are kept (none when it is 0).
    ///
    /// - Parameter limit: at most this many (the newest); nil for every one kept.
    public func recentPublishes(limit: Int? = nil) -> [TopicPublishRecord] {
        core.history?.publishes(limit: limit) ?? []
    }

    /// The most recent delivery outcomes of every subscription of the topic, oldest first (see
    /// ``Subscription/deliveries(limit:outcomes:)``).
    public func recentDeliveries(limit: Int? = nil,
                                 outcomes: Set<SubscriptionDelivery.Outcome> = Set(SubscriptionDelivery.Outcome.allCases))
        -> [SubscriptionDelivery] {
        core.history?.deliveries(limit: limit) { outcomes.contains($0.outcome) } ?? []
    }
}

extension Subscription {
    /// The subscription's most recent delivery outcomes, oldest first: delivered, filtered out, retried, failed
    /// with the reason, or sent to the subscription's dead-letter queue. Kept in the topic's bounded history
    /// (``BrokerConfiguration/topicHistoryLimit`` outcomes across its subscriptions; none when it is 0); the
    /// counts since the subscription began are in ``statistics()``.
    ///
    /// - Parameters:
    ///   - limit: at most this many (the newest); nil for every one kept.
    ///   - outcomes: only these outcomes; all by default.
    public func deliveries(limit: Int? = nil,
                           outcomes: Set<SubscriptionDelivery.Outcome> = Set(SubscriptionDelivery.Outcome.allCases))
        -> [SubscriptionDelivery] {
        let arn = self.arn
        return topic.core.history?.deliveries(limit: limit) {
            $0.subscriptionArn == arn && outcomes.contains($0.outcome)
        } ?? []
    }
}

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

/// The outcomes a publish's own call decided (filtered out, delivered to a queue), two bits per subscription in the
/// order of the publish's subscription list, so the fan-out path records them with no allocation and, with the
/// publish itself, under one lock.
struct PublishOutcomes {
    /// Subscriptions past this index are noted one by one.
    static let capacity = 32
    private(set) var codes: UInt64 = 0

    mutating func set(_ index: Int, _ outcome: SubscriptionDelivery.Outcome) -> Bool {
        guard index < Self.capacity else { return false }
        let code: UInt64 = outcome == .delivered ? 1 : 2
        codes |= code << UInt64(2 * index)
        return true
    }

    /// Forgets the outcome of `index`: a later entry of its own says what became of it.
    mutating func clear(_ index: Int) {
        guard index < Self.capacity else { return }
        codes &= ~(3 << UInt64(2 * index))
    }

    func outcome(at index: Int) -> SubscriptionDelivery.Outcome? {
        guard index < Self.capacity else { return nil }
        switch codes >> UInt64(2 * index) & 3 {
        case 1: return .delivered
        case 2: return .filteredOut
        default: return nil
        }
    }
}

/// A topic's recent publishes and delivery outcomes in one ring of fixed capacity that drops the oldest, behind a
/// lock of its own (a leaf: nothing else is taken while it is held). A publish is one entry holding what its own
/// call decided for each subscription; outcomes decided later (handlers, HTTP posts, outbound copies, failures) are
/// entries of their own. Records are built only when read. A topic keeps none when the broker's
/// ``BrokerConfiguration/topicHistoryLimit`` is 0.
final class TopicHistory: Sendable {
    private enum Entry {
        case publish(PublishedMessage, subscriptions: [SubscriptionRecord], outcomes: PublishOutcomes)
        case delivery(SubscriptionDelivery)
    }

    let capacity: Int
    private let clock: any BrokerClock
    private let entries = LockedState(Ring<Entry>())

    init(capacity: Int, clock: any BrokerClock) {
        self.capacity = capacity
        self.clock = clock
    }

    private func append(_ entry: Entry) {
        entries.withLock { ring in
            if ring.count >= capacity { _ = ring.removeFirst() }
            ring.append(entry)
        }
    }

    /// Records a publish with the outcomes its own call decided (one lock for both).
    func recordPublish(_ message: PublishedMessage, subscriptions: [SubscriptionRecord], outcomes: PublishOutcomes) {
        append(.publish(message, subscriptions: subscriptions, outcomes: outcomes))
    }

    func recordDelivery(messageId: String, subscriptionArn: String, _ outcome: SubscriptionDelivery.Outcome,
                        reason: String? = nil, at timestamp: Date? = nil) {
        append(.delivery(SubscriptionDelivery(messageId: messageId, subscriptionArn: subscriptionArn, outcome: outcome,
                                              reason: reason, timestamp: timestamp ?? clock.now)))
    }

    func publishes(limit: Int?) -> [TopicPublishRecord] {
        var picked: [TopicPublishRecord] = []
        let maximum = limit ?? Int.max
        entries.withLock { ring in
            var offset = ring.count - 1
            while offset >= 0, picked.count < maximum {
                if case .publish(let message, _, _) = ring.element(at: offset) { picked.append(Self.record(message)) }
                offset -= 1
            }
        }
        return picked.reversed()
    }

    func deliveries(limit: Int?, where isIncluded: (SubscriptionDelivery) -> Bool) -> [SubscriptionDelivery] {
        var picked: [SubscriptionDelivery] = []
        let maximum = limit ?? Int.max
        entries.withLock { ring in
            var offset = ring.count - 1
            while offset >= 0, picked.count < maximum {
                switch ring.element(at: offset) {
                case .delivery(let delivery):
                    if isIncluded(delivery) { picked.append(delivery) }
                case .publish(let message, let subscriptions, let outcomes):
                    for index in subscriptions.indices.reversed() where picked.count < maximum {
                        guard let outcome = outcomes.outcome(at: index) else { continue }
                        let delivery = SubscriptionDelivery(messageId: message.messageId,
                                                            subscriptionArn: subscriptions[index].arn,
                                                            outcome: outcome, reason: nil, timestamp: message.timestamp)
                        if isIncluded(delivery) { picked.append(delivery) }
                    }
                case nil:
                    break
                }
                offset -= 1
            }
        }
        return picked.reversed()
    }

    private static func record(_ message: PublishedMessage) -> TopicPublishRecord {
        let request = message.request
        return TopicPublishRecord(messageId: message.messageId, timestamp: message.timestamp,
                                  message: request.message, subject: request.subject,
                                  messageAttributes: request.messageAttributes,
                                  messageGroupId: request.messageGroupId,
                                  sequenceNumber: message.sequenceNumber.map { String($0) })
    }
}

extension TopicCore {
    /// Notes an outcome decided after the publish's own call, when the topic keeps a history.
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

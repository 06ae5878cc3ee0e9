import Foundation

/// A topic's CloudWatch counters (namespace `AWS/SNS`), cumulative since the topic was created in this process.
///
/// Broker keeps them as running totals rather than per-minute sums: a test or a scraper takes the difference of two
/// readings. They follow CloudWatch's definitions (SNS Developer Guide, *Monitoring Amazon SNS topics using
/// CloudWatch*), including its uneven count of failures across protocols.
public struct TopicStatistics: Sendable, Hashable {
    /// `NumberOfMessagesPublished`: publishes the topic accepted (a FIFO publish deduplicated against an earlier
    /// one is not published again, and is not counted).
    public var numberOfMessagesPublished = 0
    /// `NumberOfNotificationsDelivered`: copies an endpoint took, a duplicate included.
    public var numberOfNotificationsDelivered = 0
    /// `NumberOfNotificationsFailed`: for HTTP/S subscriptions every failed attempt, the retries that follow the
    /// first included; for every other protocol one per copy that SNS stopped trying to deliver (moved to the
    /// subscription's dead-letter queue or dropped).
    public var numberOfNotificationsFailed = 0
    /// `NumberOfNotificationsFilteredOut`: copies a subscription's filter policy kept back.
    public var numberOfNotificationsFilteredOut = 0
    /// `NumberOfNotificationsRedrivenToDlq`: copies moved to a subscription's dead-letter queue.
    public var numberOfNotificationsRedrivenToDlq = 0

    /// Creates counters, all zero unless given.
    public init(numberOfMessagesPublished: Int = 0, numberOfNotificationsDelivered: Int = 0,
                numberOfNotificationsFailed: Int = 0, numberOfNotificationsFilteredOut: Int = 0,
                numberOfNotificationsRedrivenToDlq: Int = 0) {
        self.numberOfMessagesPublished = numberOfMessagesPublished
        self.numberOfNotificationsDelivered = numberOfNotificationsDelivered
        self.numberOfNotificationsFailed = numberOfNotificationsFailed
        self.numberOfNotificationsFilteredOut = numberOfNotificationsFilteredOut
        self.numberOfNotificationsRedrivenToDlq = numberOfNotificationsRedrivenToDlq
    }
}

/// The notification counters of subscriptions, summed. A topic derives its counters from its subscriptions' own
/// (``DeliveryStatistics``, counted where each outcome is decided) instead of counting each outcome a second time on
/// the fan-out path, and keeps here those of subscriptions since deleted.
struct NotificationCounts: Sendable {
    var delivered = 0
    var failed = 0
    var filteredOut = 0
    var redriven = 0

    mutating func add(_ subscription: SubscriptionRecord) {
        let statistics = subscription.statistics.withLock { $0 }
        let http = subscription.protocol == .http || subscription.protocol == .https
        delivered += statistics.delivered
        failed += statistics.deadLettered + statistics.dropped + (http ? statistics.retried : 0)
        filteredOut += statistics.filteredOut
        redriven += statistics.deadLettered
    }
}

extension Topic {
    /// The topic's CloudWatch counters now; see ``TopicStatistics``.
    public func statistics() throws(BrokerError) -> TopicStatistics {
        let (published, subscriptions, unsubscribed) = try core.withLiveState { state in
            (state.published, state.subscriptions, state.unsubscribedCounts)
        }
        // Each subscription's counters are read under its own lock, after the topic's.
        var counts = unsubscribed
        for subscription in subscriptions { counts.add(subscription) }
        return TopicStatistics(numberOfMessagesPublished: published, numberOfNotificationsDelivered: counts.delivered,
                               numberOfNotificationsFailed: counts.failed,
                               numberOfNotificationsFilteredOut: counts.filteredOut,
                               numberOfNotificationsRedrivenToDlq: counts.redriven)
    }
}

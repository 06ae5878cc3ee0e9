import Foundation
import Testing

@testable import Broker

/// A topic's CloudWatch counters, read in process: published, delivered, filtered out, failed and redriven, kept
/// across deleted subscriptions.
@Suite("Topic statistics")
struct TopicStatisticsTests {
    @Test func publishesDeliveriesAndFilteredOutCopiesAreCountedAndSurviveAnUnsubscribe() throws {
        let broker = Broker(configuration: BrokerConfiguration(seed: 3), clock: ManualClock())
        let topic = try broker.createTopic(named: "orders")
        #expect(try topic.statistics() == TopicStatistics())
        let all = try topic.subscribe(try broker.createQueue(named: "all"))
        _ = try topic.subscribe(try broker.createQueue(named: "refunds"),
                                attributes: SubscriptionAttributes(filterPolicy: #"{"kind": ["refund"]}"#))
        try topic.publish(PublishRequest(message: "a", messageAttributes: ["kind": .string("order")]))
        try topic.publish(PublishRequest(message: "b", messageAttributes: ["kind": .string("refund")]))
        let expected = TopicStatistics(numberOfMessagesPublished: 2, numberOfNotificationsDelivered: 3,
                                       numberOfNotificationsFilteredOut: 1)
        #expect(try topic.statistics() == expected)
        try broker.unsubscribe(subscriptionArn: all.arn)
        #expect(try topic.statistics() == expected, "counters are the topic's, not its current subscriptions'")
    }

    @Test func aCopyThatFailsForGoodCountsAsFailedAndRedrivenOnce() throws {
        let broker = Broker(configuration: BrokerConfiguration(seed: 3), clock: ManualClock())
        let topic = try broker.createTopic(named: "orders")
        let target = try broker.createQueue(named: "target", attributes: QueueAttributes(maximumMessageSize: 1_024))
        let dlq = try broker.createQueue(named: "dlq")
        _ = try topic.subscribe(target, attributes: SubscriptionAttributes(
            rawMessageDelivery: true, redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#))
        try topic.publish(String(repeating: "x", count: 2_000))
        let statistics = try topic.statistics()
        #expect(statistics.numberOfNotificationsFailed == 1)
        #expect(statistics.numberOfNotificationsRedrivenToDlq == 1)
        #expect(statistics.numberOfNotificationsDelivered == 0)
    }
}

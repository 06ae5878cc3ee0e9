import Foundation
import Testing

@testable import Broker

/// A topic's bounded history: recent publishes, and each subscription's delivered, filtered-out, retried, failed and
/// dead-lettered outcomes with their reasons. On a `ManualClock`.
@Suite("Delivery history")
struct DeliveryHistoryTests {
    private func makeBroker(limit: Int = 256) -> (Broker, ManualClock) {
        let clock = ManualClock()
        return (Broker(configuration: BrokerConfiguration(seed: 1, topicHistoryLimit: limit), clock: clock), clock)
    }

    @Test func publishesAreKeptOldestFirstWithTheirAttributes() throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "orders")
        let first = try topic.publish("one", subject: "s1")
        clock.advance(by: .seconds(1))
        let second = try topic.publish(PublishRequest(message: "two", messageAttributes: ["kind": .string("refund")]))
        let publishes = topic.recentPublishes()
        #expect(publishes.map(\.messageId) == [first.messageId, second.messageId])
        #expect(publishes.map(\.message) == ["one", "two"])
        #expect(publishes[0].subject == "s1")
        #expect(publishes[1].messageAttributes["kind"] == .string("refund"))
        #expect(publishes[1].timestamp == publishes[0].timestamp.addingTimeInterval(1))
        #expect(topic.recentPublishes(limit: 1).map(\.message) == ["two"])
    }

    @Test func eachSubscriptionSeesItsDeliveriesAndFilteredOutCopies() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "orders")
        let all = try topic.subscribe(try broker.createQueue(named: "all"))
        let refunds = try topic.subscribe(try broker.createQueue(named: "refunds"),
                                          attributes: SubscriptionAttributes(filterPolicy: #"{"kind": ["refund"]}"#))
        let order = try topic.publish(PublishRequest(message: "order", messageAttributes: ["kind": .string("order")]))
        let refund = try topic.publish(PublishRequest(message: "refund", messageAttributes: ["kind": .string("refund")]))

        #expect(all.deliveries().map(\.outcome) == [.delivered, .delivered])
        #expect(all.deliveries().map(\.messageId) == [order.messageId, refund.messageId])
        #expect(refunds.deliveries().map(\.outcome) == [.filteredOut, .delivered])
        #expect(refunds.deliveries(outcomes: [.filteredOut]).map(\.messageId) == [order.messageId])
        #expect(topic.recentDeliveries().count == 4)
    }

    @Test func aFailingHandlerIsRetriedThenDeadLetteredWithTheReason() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let dlq = try broker.createQueue(named: "handler-dlq")
        struct Failure: Error, CustomStringConvertible { var description: String { "handler broke" } }
        let policy = #"{"healthyRetryPolicy":{"numRetries":2,"numNoDelayRetries":2,"minDelayTarget":1,"maxDelayTarget":1}}"#
        let subscription = try topic.subscribe(functionName: "flaky", attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#, deliveryPolicy: policy)) { _ in throw Failure() }
        try topic.publish("boom")
        clock.advance(by: .zero)
        await broker.waitForDeliveries()
        let outcomes = subscription.deliveries()
        #expect(outcomes.map(\.outcome) == [.retried, .retried, .deadLettered])
        #expect(outcomes.first?.reason == "handler broke")
        #expect(outcomes.last?.reason?.contains("handler broke") == true)
    }

    @Test func aDeliveryToADeletedQueueFailsWithTheReason() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "gone")
        let subscription = try topic.subscribe(queue)
        try broker.deleteQueue(queue)
        try topic.publish("lost")
        let outcomes = subscription.deliveries()
        #expect(outcomes.map(\.outcome) == [.failed])
        #expect(outcomes.first?.reason?.isEmpty == false)
    }

    @Test func theHistoryIsBoundedByTheConfiguredLimit() throws {
        let (broker, _) = makeBroker(limit: 5)
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"))
        for index in 0..<12 { try topic.publish("m\(index)") }
        #expect(topic.recentPublishes().map(\.message) == ["m7", "m8", "m9", "m10", "m11"])
        #expect(subscription.deliveries().count == 5)
    }

    @Test func aLimitOfZeroKeepsNothing() throws {
        let (broker, _) = makeBroker(limit: 0)
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"))
        try topic.publish("m")
        #expect(topic.core.history == nil)
        #expect(topic.recentPublishes().isEmpty)
        #expect(subscription.deliveries().isEmpty)
        #expect(try subscription.statistics().delivered == 1)
    }
}

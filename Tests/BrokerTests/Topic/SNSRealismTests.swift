import Foundation
import Testing

@testable import Broker

/// ``SNSRealism``: deliveries that fail and are retried on AWS's schedule for the protocol, dead-lettered once the
/// retries run out, and duplicated at the rates a test chooses, reproducibly from the broker's seed. On a
/// `ManualClock`: retries run when the test advances it, never in real time.
@Suite("SNS realism")
struct SNSRealismTests {
    func makeBroker(_ realism: SNSRealism?, seed: UInt64 = 1, historyLimit: Int = 4_096,
                            transport: (any SNSHTTPTransport)? = nil, clock: ManualClock = ManualClock()) -> (Broker, ManualClock) {
        let configuration = BrokerConfiguration(seed: seed, httpTransport: transport, topicHistoryLimit: historyLimit,
                                                snsRealism: realism)
        return (Broker(configuration: configuration, clock: clock), clock)
    }

    /// Receives and deletes until the queue is empty; the SNS `MessageId` and `Message` of every envelope.
    private func drain(_ queue: Queue) async throws -> [(id: String, message: String)] {
        var copies: [(String, String)] = []
        while true {
            let batch = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
            if batch.isEmpty { return copies }
            for message in batch {
                let envelope = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any])
                copies.append((try #require(envelope["MessageId"] as? String), try #require(envelope["Message"] as? String)))
                try queue.deleteMessage(receiptHandle: message.receiptHandle)
            }
        }
    }

    @Test func offByDefaultEveryCopyIsDeliveredOnceWithNoRetry() async throws {
        let (broker, _) = makeBroker(nil)
        let topic = try broker.createTopic(named: "orders")
        #expect(try topic.realism() == nil)
        let queue = try broker.createQueue(named: "copies")
        let subscription = try topic.subscribe(queue)
        for index in 0..<50 { try topic.publish("\(index)") }
        #expect(try await drain(queue).map(\.message) == (0..<50).map { "\($0)" })
        #expect(try subscription.statistics().retried == 0)
        #expect(subscription.deliveries(outcomes: [.retried, .failed, .deadLettered]).isEmpty)
    }

    @Test func aFailedCopyToAQueueIsRetriedAtAWSsScheduleThenDeadLetteredAfter23Days() async throws {
        let (broker, clock) = makeBroker(SNSRealism(failureRate: 1), historyLimit: 64)
        let start = clock.now
        let topic = try broker.createTopic(named: "orders")
        let queue = try broker.createQueue(named: "never")
        let dlq = try broker.createQueue(named: "orders-dlq")
        let subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#))
        let published = try topic.publish("lost?")

        // The schedule AWS documents for SQS endpoints: 3 retries at once, 2 a second apart, then the back-off.
        var expected: [TimeInterval] = []
        var at: TimeInterval = 0
        for retry in 1...30 {
            expected.append(at)  // the attempt before this retry failed at `at`
            at += try #require(DeliveryPolicy.awsManaged.delay(beforeRetry: retry))
        }
        #expect(expected.prefix(6) == [0, 0, 0, 0, 1, 2])
        #expect(subscription.deliveries().count == 4, "the first attempt and the 3 immediate retries failed at once")
        clock.advance(to: start.addingTimeInterval(expected[29]))
        let retries = subscription.deliveries(outcomes: [.retried])
        #expect(retries.count == 30)
        #expect(retries.map { $0.timestamp.timeIntervalSince(start) } == expected)
        #expect(retries.allSatisfy { $0.messageId == published.messageId && $0.reason?.contains("SNSRealism") == true })
        #expect(try dlq.statistics().approximateNumberOfMessages == 0, "never lost, never given up while retries remain")

        clock.advance(by: .seconds(22 * 24 * 3600))
        #expect(try subscription.statistics().deadLettered == 0, "still retrying after 22 days")
        clock.advance(by: .seconds(2 * 24 * 3600))
        let statistics = try subscription.statistics()
        #expect(statistics.retried == 100_015)
        #expect(statistics.deadLettered == 1)
        #expect(statistics.delivered == 0)
        #expect(subscription.deliveries().last?.outcome == .deadLettered)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        let counters = try topic.statistics()
        #expect(counters.numberOfNotificationsFailed == 1, "an SQS copy fails once, when SNS stops trying")
        #expect(counters.numberOfNotificationsRedrivenToDlq == 1)
        await broker.waitForDeliveries()
        #expect(clock.pendingWakeUps == 0)
    }

    /// Publishes 40 messages to a queue subscription under `realism`, advances an hour, and returns what the history
    /// recorded (outcome, seconds after the start, message index) and the order the queue received.
    private func run(seed: UInt64, realism: SNSRealism) async throws -> (history: [String], received: [String]) {
        let (broker, clock) = makeBroker(realism, seed: seed)
        let start = clock.now
        let topic = try broker.createTopic(named: "orders")
        let queue = try broker.createQueue(named: "copies")
        let subscription = try topic.subscribe(queue)
        var index: [String: String] = [:]
        for number in 0..<40 { index[try topic.publish("\(number)").messageId] = "\(number)" }
        clock.advance(by: .seconds(3_600))
        let history = subscription.deliveries().map {
            "\($0.outcome) +\(Int($0.timestamp.timeIntervalSince(start))) #\(index[$0.messageId] ?? "?")"
        }
        return (history, try await drain(queue).map(\.message))
    }

    @Test func failedCopiesAreNeverLostAndTheSameSeedGivesTheSameOutcome() async throws {
        let realism = SNSRealism(failureRate: 0.5, duplicateRate: 0.1)
        let first = try await run(seed: 42, realism: realism)
        let again = try await run(seed: 42, realism: realism)
        let other = try await run(seed: 43, realism: realism)
        #expect(first.history == again.history)
        #expect(first.received == again.received)
        #expect(first.history != other.history)
        #expect(Set(first.received) == Set((0..<40).map { "\($0)" }), "every message arrives after its retries")
        #expect(first.history.contains { $0.hasPrefix("retried") })
        #expect(first.received.count > 40, "some copies came twice")
        #expect(first.received != first.received.sorted { Int($0)! < Int($1)! }, "retried copies arrive late")
    }

    @Test func anIdempotentConsumerPassesAndOneThatIsNotIsCaught() async throws {
        let (broker, clock) = makeBroker(SNSRealism(failureRate: 0.2, duplicateRate: 0.25), seed: 9)
        let topic = try broker.createTopic(named: "payments")
        let idempotentQueue = try broker.createQueue(named: "ledger")
        let naiveQueue = try broker.createQueue(named: "naive-ledger")
        _ = try topic.subscribe(idempotentQueue)
        _ = try topic.subscribe(naiveQueue)
        for _ in 0..<100 { try topic.publish("10") }
        clock.advance(by: .seconds(600))

        var seen: Set<String> = []
        var idempotentBalance = 0
        for copy in try await drain(idempotentQueue) where seen.insert(copy.id).inserted {
            idempotentBalance += Int(copy.message) ?? 0
        }
        let naiveBalance = try await drain(naiveQueue).reduce(0) { $0 + (Int($1.message) ?? 0) }
        #expect(idempotentBalance == 1_000)
        #expect(naiveBalance > 1_000, "a consumer that counts every copy is caught by the duplicates")
        let counters = try topic.statistics()
        #expect(counters.numberOfMessagesPublished == 100)
        #expect(counters.numberOfNotificationsDelivered > 200)
        #expect(counters.numberOfNotificationsFailed == 0, "retried copies that got through did not fail")
    }

    @Test func aHandlerSeesSimulatedFailuresRetriedThenDeadLetteredWithoutBeingCalled() async throws {
        let (broker, clock) = makeBroker(nil)
        let topic = try broker.createTopic(named: "t")
        try topic.setRealism(SNSRealism(failureRate: 1))
        #expect(try topic.realism() == SNSRealism(failureRate: 1))
        let dlq = try broker.createQueue(named: "handler-dlq")
        let calls = LockedState(0)
        let policy = #"{"healthyRetryPolicy":{"numRetries":2,"numNoDelayRetries":1,"numMinDelayRetries":1,"minDelayTarget":5,"maxDelayTarget":5}}"#
        let subscription = try topic.subscribe(functionName: "flaky", attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#, deliveryPolicy: policy)) { _ in calls.withLock { $0 += 1 } }
        let start = clock.now
        try topic.publish("boom")
        await drive(clock, Task { await broker.waitForDeliveries() })
        #expect(calls.withLock { $0 } == 0)
        let outcomes = subscription.deliveries()
        #expect(outcomes.map(\.outcome) == [.retried, .retried, .deadLettered])
        #expect(outcomes.map { $0.timestamp.timeIntervalSince(start) } == [0, 0, 5])
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
    }

    @Test func aHandlerGetsADuplicateAndIsCalledTwiceWithTheSameMessageId() async throws {
        let (broker, clock) = makeBroker(SNSRealism(duplicateRate: 1))
        let topic = try broker.createTopic(named: "t")
        let ids = LockedState<[String]>([])
        let subscription = try topic.subscribe(functionName: "counter") { notification in
            ids.withLock { $0.append(notification.messageId) }
        }
        let published = try topic.publish("once")
        await drive(clock, Task { await broker.waitForDeliveries() })
        #expect(ids.withLock { $0 } == [published.messageId, published.messageId])
        #expect(subscription.deliveries().map(\.outcome) == [.delivered, .delivered])
        #expect(subscription.deliveries().last?.reason?.contains("Duplicate") == true)
    }

    @Test func anHTTPEndpointIsNeverReachedWhileEveryAttemptFailsAndEachAttemptCountsAsFailed() async throws {
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock, answers: [])
        let (broker, _) = makeBroker(nil, transport: transport, clock: clock)
        let topic = try broker.createTopic(named: "hooks")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.test/hook")
        await broker.waitForDeliveries()
        let token = try #require(try subscription.confirmationToken())
        _ = try topic.confirmSubscription(token: token)
        try topic.setRealism(SNSRealism(failureRate: 1))
        let start = clock.now
        try topic.publish("hello")
        await drive(clock, Task { await broker.waitForDeliveries() })
        #expect(transport.posts.count == 1, "only the confirmation was posted")
        let outcomes = subscription.deliveries()
        #expect(outcomes.map(\.outcome) == [.retried, .retried, .retried, .failed])
        #expect(clock.now.timeIntervalSince(start) == 60, "AWS's HTTP/S default: 3 retries 20 seconds apart")
        #expect(try topic.statistics().numberOfNotificationsFailed == 4, "HTTP/S counts every failed attempt")

        try topic.setRealism(nil)
        try topic.publish("again")
        await drive(clock, Task { await broker.waitForDeliveries() })
        #expect(transport.posts.count == 2)
        #expect(try subscription.statistics().delivered == 1)
    }
}

extension SNSRealismTests {
    @Test func aFIFOTopicKeepsNoRealismSoItsOrderHolds() throws {
        let (broker, _) = makeBroker(SNSRealism(failureRate: 1, duplicateRate: 1))
        let topic = try broker.createTopic(named: "orders.fifo", attributes: TopicAttributes(fifoTopic: true))
        #expect(try topic.realism() == nil)
        try topic.setRealism(.typical)
        #expect(try topic.realism() == nil)
        #expect(try broker.createTopic(named: "standard").realism() == SNSRealism(failureRate: 1, duplicateRate: 1))
    }
}

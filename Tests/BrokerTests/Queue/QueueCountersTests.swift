import Foundation
import Testing

@testable import Broker

/// A queue's CloudWatch counters in ``QueueStatistics``: sent, received, deleted and empty receives, with
/// CloudWatch's rules for dead letters, redrives, SNS copies, second deletes and long polls.
@Suite("Queue counters")
struct QueueCountersTests {
    private func makeBroker() -> (Broker, ManualClock) {
        let clock = ManualClock()
        return (Broker(configuration: BrokerConfiguration(seed: 5), clock: clock), clock)
    }

    @Test func sendsReceivesDeletesAndEmptyReceivesAreCountedAsCloudWatchCountsThem() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "work")
        try queue.sendMessage("one")
        _ = try queue.sendMessageBatch([SendMessageBatchRequestEntry(id: "a", message: SendMessageRequest(body: "two")),
                                        SendMessageBatchRequestEntry(id: "b", message: SendMessageRequest(body: "three"))])
        let received = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
        #expect(received.count == 3)
        try queue.deleteMessage(receiptHandle: received[0].receiptHandle)
        try queue.deleteMessage(receiptHandle: received[0].receiptHandle)  // a second delete: AWS counts it again
        _ = try queue.deleteMessageBatch([DeleteMessageBatchRequestEntry(id: "x", receiptHandle: received[1].receiptHandle)])
        _ = try await queue.receiveMessages(waitTimeSeconds: .zero)
        // A long poll that times out is one empty receive, counted when it returns.
        async let polled = queue.receiveMessages(waitTimeSeconds: .seconds(5))
        await waitForPendingWakeUp(clock)
        clock.advance(by: .seconds(5))
        #expect(try await polled.isEmpty)
        try queue.purge()

        let statistics = try queue.statistics()
        #expect(statistics.numberOfMessagesSent == 3)
        #expect(statistics.numberOfMessagesReceived == 3)
        #expect(statistics.numberOfMessagesDeleted == 3)
        #expect(statistics.numberOfEmptyReceives == 2)
    }

    private func waitForPendingWakeUp(_ clock: ManualClock) async {
        while clock.pendingWakeUps == 0 { await Task.yield() }
    }

    @Test func aLongPollServedBySendIsOneReceiveNotAnEmptyOne() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "work")
        async let polled = queue.receiveMessages(waitTimeSeconds: .seconds(20))
        await waitForPendingWakeUp(clock)
        try queue.sendMessage("late")
        #expect(try await polled.map(\.body) == ["late"])
        let statistics = try queue.statistics()
        #expect(statistics.numberOfMessagesReceived == 1)
        #expect(statistics.numberOfEmptyReceives == 0)
    }

    @Test func deadLettersAreNotSentToTheDeadLetterQueueButSNSCopiesAreSent() async throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "dlq")
        let source = try broker.createQueue(named: "source", attributes: QueueAttributes(
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 1)))
        try source.sendMessage("poison")
        _ = try await source.receiveMessages(visibilityTimeout: .zero, waitTimeSeconds: .zero)
        _ = try await source.receiveMessages(waitTimeSeconds: .zero)  // moves it to the DLQ
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        #expect(try dlq.statistics().numberOfMessagesSent == 0)
        #expect(try source.statistics().numberOfMessagesSent == 1)

        let topic = try broker.createTopic(named: "fanout")
        _ = try topic.subscribe(dlq)
        try topic.publish("copy")
        #expect(try dlq.statistics().numberOfMessagesSent == 1)
    }
}

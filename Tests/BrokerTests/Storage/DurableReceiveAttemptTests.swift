import Foundation
import Testing

@testable import Broker

@Suite("Durable FIFO receive attempts")
struct DurableReceiveAttemptTests {
    /// A FIFO queue holding `a`, `b` (group g) and `c` (group h).
    private func makeQueue(_ broker: Broker) throws -> Queue {
        let queue = try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true"])
        try queue.sendMessage("a", messageGroupId: "g", messageDeduplicationId: "1")
        try queue.sendMessage("b", messageGroupId: "g", messageDeduplicationId: "2")
        try queue.sendMessage("c", messageGroupId: "h", messageDeduplicationId: "3")
        return queue
    }

    @Test("A retried attempt after a restart gets the same messages and handles, which still delete",
          arguments: durableLevels)
    func retryAfterRestartReplays(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try makeQueue(broker)
        let first = try await queue.receiveMessages(maxNumberOfMessages: 2, visibilityTimeout: .seconds(60),
                                                    messageSystemAttributeNames: [.approximateReceiveCount],
                                                    receiveRequestAttemptId: "attempt-1")
        #expect(first.map(\.body) == ["a", "b"])
        clock.advance(by: .seconds(30))
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let restored = try broker.queue(named: "orders.fifo")
        let retry = try await restored.receiveMessages(maxNumberOfMessages: 2, visibilityTimeout: .seconds(60),
                                                       messageSystemAttributeNames: [.approximateReceiveCount],
                                                       receiveRequestAttemptId: "attempt-1")
        #expect(retry.map(\.messageId) == first.map(\.messageId))
        #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
        #expect(retry.map { $0.attributes[.approximateReceiveCount] } == ["1", "1"])
        // The retry reset their visibility timeout: still hidden 40 s after the first receive's deadline.
        clock.advance(by: .seconds(40))
        #expect(try await restored.receiveMessages(maxNumberOfMessages: 10).map(\.body) == ["c"])
        for message in retry { try restored.deleteMessage(receiptHandle: message.receiptHandle) }
        clock.advance(by: .seconds(60))
        #expect(try restored.statistics().approximateNumberOfMessages == 1)
    }

    @Test("An attempt retried after its five minutes, across a restart, receives anew")
    func expiredAttemptDoesNotReplay() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try makeQueue(broker)
        let first = try await queue.receiveMessages(maxNumberOfMessages: 2, visibilityTimeout: .seconds(30),
                                                    receiveRequestAttemptId: "attempt-1")
        #expect(first.map(\.body) == ["a", "b"])
        try broker.snapshot()
        clock.advance(by: .seconds(301))
        broker = try restart(broker, directory, clock: clock)
        let retry = try await broker.queue(named: "orders.fifo").receiveMessages(
            maxNumberOfMessages: 2, receiveRequestAttemptId: "attempt-1")
        #expect(retry.map(\.body) == ["a", "b"])
        #expect(retry.map(\.receiptHandle) != first.map(\.receiptHandle))
    }

    @Test("An attempt in a snapshot replays after a restart, and one whose message was deleted does not",
          arguments: [false, true])
    func attemptInSnapshot(deleteOne: Bool) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try makeQueue(broker)
        let first = try await queue.receiveMessages(maxNumberOfMessages: 1, visibilityTimeout: .seconds(60),
                                                    receiveRequestAttemptId: "attempt-1")
        #expect(first.map(\.body) == ["a"])
        try broker.snapshot()
        if deleteOne { try queue.deleteMessage(receiptHandle: try #require(first.first).receiptHandle) }
        broker = try restart(broker, directory, clock: clock)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        let retry = try await broker.queue(named: "orders.fifo").receiveMessages(
            maxNumberOfMessages: 1, receiveRequestAttemptId: "attempt-1")
        if deleteOne {
            // Group g's next message waits behind nothing now, so a fresh receive takes it (or c).
            #expect(retry.first?.messageId != first.first?.messageId)
            #expect(retry.count == 1)
        } else {
            #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
        }
    }

    @Test("A version 2 snapshot, written before move tasks and attempts were durable, still restores its queues")
    func versionTwoSnapshotIsRead() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let (journal, _) = try openJournal(directory)
        var encoder = JournalEncoder(capacity: 256)
        encoder.write(byte: 2)
        encoder.write(fixed: 2)
        encoder.write(byte: 1)
        var image = RestoredQueue(id: 1, accountId: "000000000000", region: "us-east-1", name: "old.fifo",
                                  incarnation: 9, createdAt: Date(timeIntervalSinceReferenceDate: 0))
        image.settings = ["FifoQueue": "true"]
        try BrokerStore.encodeImage(image, snapshotVersion: 2, into: &encoder)
        encoder.write(byte: 0)
        encoder.write(byte: 0)
        let created = try journal.append([2])
        try journal.writeSnapshot(upTo: created, bytes: encoder.bytes)
        journal.close()
        var broker = try durableBroker(directory, clock: clock)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        #expect(broker.recoveryReport?.damage == [])
        let queue = try broker.queue(named: "old.fifo")
        try queue.sendMessage("a", messageGroupId: "g", messageDeduplicationId: "1")
        let first = try await queue.receiveMessages(receiveRequestAttemptId: "attempt-1")
        try broker.snapshot()
        broker = try restart(broker, directory, clock: clock)
        let retry = try await broker.queue(named: "old.fifo").receiveMessages(receiveRequestAttemptId: "attempt-1")
        #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
    }
}

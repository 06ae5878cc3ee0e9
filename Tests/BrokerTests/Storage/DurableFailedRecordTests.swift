import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// A record the disk refused leaves its change in memory while its caller is told the call failed. A FIFO send's
/// retry with the same deduplication id must then not be answered from that unstored original without storing it.
@Suite("Durable queues after a failed record")
struct DurableFailedRecordTests {
    private static func broker(_ directory: TemporaryDirectory, clock: ManualClock) throws -> (Broker, JournalFaults) {
        let faults = JournalFaults()
        let broker = try Broker(configuration: BrokerConfiguration(seed: 7), clock: clock,
                                storage: .directory(directory.path, durability: .acknowledged),
                                snapshotThreshold: 1 << 40, journalFaults: faults)
        return (broker, faults)
    }

    private static func send(_ queue: Queue, _ broker: Broker, deferred: Bool) async throws -> SendMessageResult {
        if deferred {
            return try await broker.awaitingDurability { () throws(BrokerError) in
                try queue.sendMessage("order 1", messageGroupId: "g", messageDeduplicationId: "order-1")
            }
        }
        return try queue.sendMessage("order 1", messageGroupId: "g", messageDeduplicationId: "order-1")
    }

    @Test("A FIFO send retried after its record failed is stored before it is answered, and survives a restart",
          arguments: [false, true])
    func retriedFifoSendSurvivesARestart(deferred: Bool) async throws {
        let (directory, clock, broker, _, queue) = try Self.fifoQueueWhoseFirstSyncFails()
        await #expect(throws: BrokerError.self) { _ = try await Self.send(queue, broker, deferred: deferred) }
        let retried = try await Self.send(queue, broker, deferred: deferred)
        #expect(broker.directory.store?.lastSnapshotMessages == 1)

        let messages = try await Self.messagesAfterARestart(broker, directory, clock: clock, queue: "orders.fifo")
        #expect(messages.map(\.body) == ["order 1"])
        #expect(messages.map(\.messageId) == [retried.messageId])
    }

    /// A durable broker with a FIFO queue `orders.fifo`, whose next sync is planned to fail.
    private static func fifoQueueWhoseFirstSyncFails() throws
        -> (TemporaryDirectory, ManualClock, Broker, JournalFaults, Queue) {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let (broker, faults) = try broker(directory, clock: clock)
        let queue = try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true"])
        faults.fail(.sync, with: EIO)
        return (directory, clock, broker, faults, queue)
    }

    /// Closes `broker`, opens the directory again, and receives what `queue` holds.
    private static func messagesAfterARestart(_ broker: Broker, _ directory: TemporaryDirectory, clock: ManualClock,
                                              queue: String) async throws -> [Message] {
        let reopened = try restart(broker, directory, clock: clock)
        defer { reopened.closeStorage() }
        return try await reopened.queue(named: queue).receiveMessages(maxNumberOfMessages: 10)
    }

    @Test("While the disk still refuses, the retry fails too; once it takes the snapshot, the retry succeeds")
    func retryFailsWhileTheDiskRefuses() async throws {
        let (directory, clock, broker, faults, queue) = try Self.fifoQueueWhoseFirstSyncFails()
        await #expect(throws: BrokerError.self) { _ = try await Self.send(queue, broker, deferred: false) }
        // The disk full: the retry's snapshot cannot be written (the retry itself writes no record).
        faults.fail(.write, with: ENOSPC, times: 100)
        await #expect { _ = try await Self.send(queue, broker, deferred: false) } throws: { error in
            (error as? BrokerError)?.code == .storageUnavailable
        }
        faults.clear()
        let retried = try await Self.send(queue, broker, deferred: false)
        // Covered now: a further duplicate takes no snapshot.
        let snapshots = try #require(broker.directory.store?.snapshotsWritten)
        #expect(snapshots == 1)
        _ = try await Self.send(queue, broker, deferred: false)
        #expect(broker.directory.store?.snapshotsWritten == snapshots)

        let messages = try await Self.messagesAfterARestart(broker, directory, clock: clock, queue: "orders.fifo")
        #expect(messages.map(\.messageId) == [retried.messageId])
    }

    @Test("A FIFO publish retried after its record failed is stored before it is answered, and its copy survives a restart")
    func retriedFifoPublishSurvivesARestart() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let (broker, faults) = try Self.broker(directory, clock: clock)
        let topic = try broker.createTopic(named: "orders.fifo", awsAttributes: ["FifoTopic": "true"])
        try topic.subscribe(try broker.createQueue(named: "copies.fifo", awsAttributes: ["FifoQueue": "true",
                                                                                        "ContentBasedDeduplication": "true"]),
                            attributes: SubscriptionAttributes(rawMessageDelivery: true))
        // The copy's sync, then the topic's own record's.
        faults.fail(.sync, with: EIO, times: 2)
        #expect(throws: BrokerError.self) { try topic.publish("order 1", messageGroupId: "g", messageDeduplicationId: "order-1") }
        let retried = try topic.publish("order 1", messageGroupId: "g", messageDeduplicationId: "order-1")

        let reopened = try restart(broker, directory, clock: clock)
        let copies = try await reopened.queue(named: "copies.fifo").receiveMessages(maxNumberOfMessages: 10)
        #expect(copies.map(\.body) == ["order 1"])
        let again = try reopened.topic(arn: topic.arn).publish("order 1", messageGroupId: "g", messageDeduplicationId: "order-1")
        #expect(again.messageId == retried.messageId)
        reopened.closeStorage()
    }
}

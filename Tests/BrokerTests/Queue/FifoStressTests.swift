import Foundation
import Testing

@testable import Broker

/// Concurrent producers and consumers on one FIFO queue. Each producer owns its message groups, so the send order
/// within a group is defined; consumers receive batches of up to 10, process and delete, and sometimes fail a
/// message by releasing it with ChangeMessageVisibility 0 (then they release the rest of that group's batch too,
/// as a FIFO consumer must). Within every group the processed order must equal the send order, nothing deleted is
/// processed again, and duplicate sends are never delivered.
///
/// The clock is a `ManualClock` that never moves, so visibility never lapses by itself and nothing waits: every
/// receive is a short poll (`waitTimeSeconds: 0`), and an idle consumer only yields.
@Suite("FIFO stress")
struct FifoStressTests {
    static let producers = 6
    static let groupsPerProducer = 10
    static let messagesPerGroup = 60
    static let consumers = 5
    static var total: Int { producers * groupsPerProducer * messagesPerGroup }

    /// What consumers observed, shared between tasks.
    final class Ledger: Sendable {
        struct State {
            var processed: [String: [Int]] = [:]
            var deleted: Set<String> = []
            var processedCount = 0
            var producersDone = 0
            var violations: [String] = []
            var failures = 0
            var duplicatesSent = 0
        }

        let state = LockedState(State())

        /// Records that `body` (message `number` of `group`) was processed; processing a deleted message is a violation.
        func process(body: String, group: String, number: Int) {
            state.withLock { state in
                if state.deleted.contains(body) { state.violations.append("\(body) processed again after its delete") }
                state.processed[group, default: []].append(number)
                state.processedCount += 1
            }
        }

        func deleted(_ body: String) {
            state.withLock { _ = $0.deleted.insert(body) }
        }

        func violation(_ text: String) {
            state.withLock { $0.violations.append(text) }
        }

        func failed() { state.withLock { $0.failures += 1 } }
        func sentDuplicate() { state.withLock { $0.duplicatesSent += 1 } }
        func producerFinished() { state.withLock { $0.producersDone += 1 } }

        var isComplete: Bool { state.withLock { $0.deleted.count >= FifoStressTests.total } }
        var producersFinished: Bool { state.withLock { $0.producersDone == FifoStressTests.producers } }
    }

    static func groupName(producer: Int, group: Int) -> String { "p\(producer)-g\(group)" }

    /// The deduplication id of message `number` of `group`: unique queue-wide for queue scope; for message-group
    /// scope deliberately the same in every group, which that scope must keep apart.
    static func deduplicationId(group: String, number: Int, scope: DeduplicationScope) -> String {
        scope == .queue ? "\(group)-\(number)" : "n\(number)"
    }

    /// One producer: sends message 0…N-1 of each of its groups, alternating single sends and batches, and every
    /// few rounds re-sends an already sent message under its deduplication id with a marked body.
    static func produce(_ producer: Int, queue: Queue, scope: DeduplicationScope, ledger: Ledger) async throws {
        var sentIds: [String: String] = [:]  // dedup key -> MessageId
        let groups = (0..<groupsPerProducer).map { groupName(producer: producer, group: $0) }
        for number in 0..<messagesPerGroup {
            if number % 2 == 0 {
                let entries = groups.enumerated().map { index, group in
                    SendMessageBatchRequestEntry(id: "e\(index)", body: "\(group)#\(number)", messageGroupId: group,
                                                 messageDeduplicationId: deduplicationId(group: group, number: number, scope: scope))
                }
                let result = try queue.sendMessageBatch(entries)
                if !result.failed.isEmpty { ledger.violation("batch send failed: \(result.failed)") }
                for (index, group) in groups.enumerated() {
                    if let id = result.result(for: "e\(index)")?.messageId { sentIds["\(group)#\(number)"] = id }
                }
            } else {
                for group in groups {
                    let result = try queue.sendMessage("\(group)#\(number)", messageGroupId: group,
                        messageDeduplicationId: deduplicationId(group: group, number: number, scope: scope))
                    sentIds["\(group)#\(number)"] = result.messageId
                }
            }
            if number % 3 == 2 {
                // A retry of an earlier send: accepted, answered with the original id, never delivered.
                let group = groups[number % groups.count]
                let earlier = number - 2
                let result = try queue.sendMessage("DUP \(group)#\(earlier)", messageGroupId: group,
                    messageDeduplicationId: deduplicationId(group: group, number: earlier, scope: scope))
                ledger.sentDuplicate()
                if result.messageId != sentIds["\(group)#\(earlier)"] {
                    ledger.violation("duplicate of \(group)#\(earlier) got a new MessageId")
                }
            }
            await Task.yield()
        }
        ledger.producerFinished()
    }

    /// One consumer: receives up to 10, processes and deletes in order, fails about one message in ten.
    static func consume(_ consumer: Int, queue: Queue, ledger: Ledger) async throws {
        var random = IDGenerator(seed: UInt64(consumer) &* 0xA076_1D64_78BD_642F &+ 1)
        var idlePollsAfterProducers = 0
        while !ledger.isComplete {
            let batch = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero,
                                                        messageSystemAttributeNames: [.messageGroupId])
            if batch.isEmpty {
                if ledger.producersFinished {
                    idlePollsAfterProducers += 1
                    if idlePollsAfterProducers > 200_000 {
                        ledger.violation("consumer \(consumer) gave up: the queue stays empty before every message was processed")
                        return
                    }
                }
                await Task.yield()
                continue
            }
            idlePollsAfterProducers = 0
            var failedGroups: Set<String> = []
            for message in batch {
                guard let group = message.attributes[.messageGroupId] else {
                    ledger.violation("message without MessageGroupId: \(message.body)")
                    continue
                }
                if message.body.hasPrefix("DUP") { ledger.violation("duplicate delivered: \(message.body)") }
                // After a failure the rest of this group's batch goes back unprocessed, keeping the group's order.
                if failedGroups.contains(group) || Int.random(in: 0..<10, using: &random) == 0 {
                    if !failedGroups.contains(group) { ledger.failed() }
                    failedGroups.insert(group)
                    try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .zero)
                    continue
                }
                let parts = message.body.split(separator: "#")
                guard parts.count == 2, String(parts[0]) == group, let number = Int(parts[1]) else {
                    ledger.violation("unexpected body \(message.body) in group \(group)")
                    continue
                }
                ledger.process(body: message.body, group: group, number: number)
                try queue.deleteMessage(receiptHandle: message.receiptHandle)
                ledger.deleted(message.body)
            }
            await Task.yield()
        }
    }

    @Test("concurrent producers and consumers keep each group's order and never deliver duplicates",
          arguments: [DeduplicationScope.queue, .messageGroup])
    func concurrentProducersAndConsumersKeepGroupOrder(scope: DeduplicationScope) async throws {
        let (broker, clock) = makeBroker(seed: 42)
        let queue = try broker.createQueue(named: "stress-\(scope.rawValue).fifo", attributes: QueueAttributes(
            fifoQueue: true, deduplicationScope: scope,
            fifoThroughputLimit: scope == .messageGroup ? .perMessageGroupId : .perQueue))
        let ledger = Ledger()

        try await withThrowingTaskGroup(of: Void.self) { tasks in
            for producer in 0..<Self.producers {
                tasks.addTask { try await Self.produce(producer, queue: queue, scope: scope, ledger: ledger) }
            }
            for consumer in 0..<Self.consumers {
                tasks.addTask { try await Self.consume(consumer, queue: queue, ledger: ledger) }
            }
            try await tasks.waitForAll()
        }

        let state = ledger.state.withLock { $0 }
        #expect(state.violations.isEmpty, "\(state.violations.prefix(10))")
        #expect(state.deleted.count == Self.total)
        #expect(state.processedCount == Self.total)
        #expect(state.failures > 0, "the consumers should have failed some messages")
        #expect(state.duplicatesSent > 0)
        let expectedOrder = Array(0..<Self.messagesPerGroup)
        for producer in 0..<Self.producers {
            for group in 0..<Self.groupsPerProducer {
                let name = Self.groupName(producer: producer, group: group)
                #expect(state.processed[name] == expectedOrder, "group \(name) processed out of order")
            }
        }
        let statistics = try queue.statistics()
        #expect(statistics.approximateNumberOfMessages == 0)
        #expect(statistics.approximateNumberOfMessagesNotVisible == 0)
        #expect(statistics.approximateNumberOfMessagesDelayed == 0)
        #expect(try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero).isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }
}

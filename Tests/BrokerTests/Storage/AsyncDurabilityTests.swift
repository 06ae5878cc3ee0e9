import Foundation
import Testing

@testable import Broker

/// Waiting for the disk without blocking a thread: the journal's `wait(for:) async` and `whenDecided`, and
/// `Broker.awaitingDurability`, which hands a durable call's wait to its task.
@Suite("Durable waits that suspend")
struct AsyncDurabilityTests {
    @Test(arguments: [Journal.CommitStrategy.leader, .flusherThread])
    func manyTasksWaitingAsynchronouslyShareSyncsAndAllRecordsComeBackInPerTaskOrder(strategy: Journal.CommitStrategy) async throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.commit = strategy
        let (journal, _) = try openJournal(directory, options: options)
        let tasks = 200
        let perTask = 10
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<tasks {
                group.addTask {
                    for sequence in 0..<perTask {
                        var encoder = JournalEncoder()
                        encoder.write(count: task)
                        encoder.write(count: sequence)
                        let ticket = try journal.enqueue(try JournalBatch(encoder.bytes))
                        try await journal.wait(for: ticket)
                    }
                }
            }
            try await group.waitForAll()
        }
        let statistics = journal.statistics
        journal.close()
        #expect(statistics.appends == tasks * perTask)
        // 200 tasks on a pool of a few threads: with a blocking wait at most one append per thread (two here) could
        // share a sync; suspended, many do. Four per sync, not more: when the whole suite runs at once the tasks get
        // the pool's threads seldom, and the flusher takes what has arrived (7 per sync was seen then).
        let ratio = runningUnderThreadSanitizer ? 1 : 4
        #expect(statistics.syncs * ratio < statistics.appends, "\(statistics.syncs) syncs for \(statistics.appends) appends")
        try expectEachWritersOrder(in: directory, writers: tasks, perWriter: perTask)
    }

    @Test func anAsynchronousWaiterOfAFailedWriteGetsTheErrorAndLaterAppendsSucceed() async throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        let faults = JournalFaults()
        options.faults = faults
        let (journal, _) = try openJournal(directory, options: options)
        try await journal.wait(for: try journal.enqueue(try JournalBatch(testPayload(0))))
        faults.fail(.write, with: ENOSPC)
        let failing = try journal.enqueue(try JournalBatch(testPayload(1)))
        await #expect {
            try await journal.wait(for: failing)
        } throws: { error in
            (error as? BrokerError)?.code == .storageUnavailable
        }
        try await journal.wait(for: try journal.enqueue(try JournalBatch(testPayload(2))))
        journal.close()
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.payloads == [testPayload(0), testPayload(2)])
    }

    @Test func aBatchAlreadyDecidedCallsBackAtOnce() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        let ticket = try journal.enqueue(try JournalBatch(testPayload(0)))
        try journal.wait(for: ticket)
        let called = LockedState<[BrokerError?]>([])
        journal.whenDecided(ticket) { failure in called.withLock { $0.append(failure) } }
        #expect(called.withLock { $0.count } == 1)
        #expect(called.withLock { $0.first ?? nil } == nil)
        journal.close()
    }

    @Test func closingTheJournalDecidesEveryAsynchronousWaiterAndStopsTheCommitter() async throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        let tickets = try (0..<50).map { try journal.enqueue(try JournalBatch(testPayload($0))) }
        let decided = LockedState(0)
        for ticket in tickets {
            journal.whenDecided(ticket) { failure in if failure == nil { decided.withLock { $0 += 1 } } }
        }
        journal.close()
        // Close writes what is pending, so every waiter has its outcome when it returns.
        #expect(decided.withLock { $0 } == 50)
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.records.count == 50)
    }

    @Test(arguments: durableLevels)
    func callsInsideAwaitingDurabilityReturnTheirResultsAndSurviveARestart(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q")
        let sender = broker
        let results = try await withThrowingTaskGroup(of: String.self) { group in
            for index in 0..<100 {
                group.addTask {
                    try await sender.awaitingDurability { () throws(BrokerError) in
                        try queue.sendMessage("m\(index)").messageId
                    }
                }
            }
            var ids: [String] = []
            for try await id in group { ids.append(id) }
            return ids
        }
        #expect(results.count == 100)
        let received = try await queue.receiveMessages(maxNumberOfMessages: 10)
        let entries = received.enumerated().map { DeleteMessageBatchRequestEntry(id: "d\($0.offset)", receiptHandle: $0.element.receiptHandle) }
        let deleted = try await broker.awaitingDurability { () throws(BrokerError) in try queue.deleteMessageBatch(entries) }
        #expect(deleted.successful.count == 10)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let statistics = try broker.queue(named: "q").statistics()
        #expect(statistics.approximateNumberOfMessages == 90)
        #expect(statistics.approximateNumberOfMessagesNotVisible == 0)
    }

    @Test func aLongPollWokenByASendInsideAwaitingDurabilityGetsTheMessageOnceItIsDurable() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        for _ in 0..<20 {
            let polled = Task { try await queue.receiveMessages(maxNumberOfMessages: 1, waitTimeSeconds: .seconds(20)) }
            #expect(await MessageTestKit.waitForWaiters(queue, clock: clock))
            let sent = try await broker.awaitingDurability { () throws(BrokerError) in try queue.sendMessage("hello") }
            let messages = try await polled.value
            #expect(messages.map(\.messageId) == [sent.messageId])
            if let message = messages.first { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
        }
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 0)
    }

    @Test func aLongPollServedWhenADelayEndsOnTheTimerIsResumedAfterItsReceiveIsJournaled() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        try queue.sendMessage("later", delaySeconds: .seconds(5))
        let polled = Task { try await queue.receiveMessages(maxNumberOfMessages: 1, waitTimeSeconds: .seconds(20)) }
        #expect(await MessageTestKit.waitForWaiters(queue, clock: clock))
        clock.advance(by: .seconds(5))
        let messages = try await polled.value
        #expect(messages.map(\.body) == ["later"])
        broker = try restart(broker, directory, clock: clock)
        // The receive was journaled before the poll returned: after the restart the message is in flight.
        let statistics = try broker.queue(named: "q").statistics()
        #expect(statistics.approximateNumberOfMessagesNotVisible == 1)
    }

    /// What a call inside `awaitingDurability` (and a durable receive) has waited for when it returns: the sync at
    /// `acknowledged`, the write at `none`, nothing at `interval`, whose background write is an hour away here.
    @Test(arguments: [(Durability.acknowledged, true, true), (.none, true, false), (.interval(.seconds(3600)), false, false)])
    func awaitingDurabilityReturnsOnceTheLevelsPromiseIsMetAndNoLater(durability: Durability, written: Bool, synced: Bool) async throws {
        let directory = TemporaryDirectory()
        let broker = try durableBroker(directory, clock: ManualClock(), durability: durability)
        let queue = try broker.createQueue(named: "q")
        for round in 0..<3 {
            let before = try #require(broker.journalStatistics)
            let sent = try await broker.awaitingDurability { () throws(BrokerError) in try queue.sendMessage("m\(round)") }
            let afterSend = try #require(broker.journalStatistics)
            let received = try await queue.receiveMessages(maxNumberOfMessages: 1)
            let afterReceive = try #require(broker.journalStatistics)
            #expect(received.map(\.messageId) == [sent.messageId])
            #expect(afterSend.records == before.records + 1 && afterReceive.records == afterSend.records + 1)
            #expect((afterSend.writes > before.writes) == written, "send, round \(round)")
            #expect((afterSend.syncs > before.syncs) == synced, "send, round \(round)")
            #expect((afterReceive.writes > afterSend.writes) == written, "receive, round \(round)")
            #expect((afterReceive.syncs > afterSend.syncs) == synced, "receive, round \(round)")
            try queue.deleteMessage(receiptHandle: try #require(received.first).receiptHandle)
        }
    }

    @Test func anInMemoryBrokerRunsTheBodyAsIs() async throws {
        let broker = Broker(clock: ManualClock())
        let queue = try broker.createQueue(named: "q")
        let result = try await broker.awaitingDurability { () throws(BrokerError) in try queue.sendMessage("x") }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        #expect(!result.messageId.isEmpty)
        await #expect(throws: BrokerError.self) {
            try await broker.awaitingDurability { () throws(BrokerError) in try queue.sendMessage("") }
        }
    }
}

@Suite("Consumers on a durable broker")
struct DurableConsumerTests {
    @Test(arguments: [1, 8])
    func aQueueWorkersDeletesAreDurableWhenItReportsMessagesProcessed(concurrency: Int) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "work")
        for index in 0..<50 { try queue.sendMessage("m\(index)") }
        let handled = LockedState<Set<String>>([])
        let worker = try QueueWorker(queue: queue, broker: broker, configuration: .init(concurrency: concurrency)) { message in
            handled.withLock { _ = $0.insert(message.body) }
        }
        worker.start()
        try await worker.waitUntil(timeout: .seconds(600)) { $0.processed == 50 }
        await worker.stop(drainTimeout: .zero)
        #expect(handled.withLock { $0.count } == 50)
        broker = try restart(broker, directory, clock: clock)
        // Every message reported processed was deleted on disk: none comes back, visible or in flight.
        let statistics = try broker.queue(named: "work").statistics()
        #expect(statistics.approximateNumberOfMessages == 0)
        #expect(statistics.approximateNumberOfMessagesNotVisible == 0)
    }
}

@Suite("Compaction")
struct CompactionTests {
    @Test(arguments: [Durability.acknowledged, .interval(.milliseconds(5)), .none])
    func aSnapshotLeavesOnlyItselfAndTheRecordsAfterItAndEverythingComesBack(durability: Durability) throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q")
        for index in 0..<200 { try queue.sendMessage("before \(index)") }
        try broker.snapshot()
        var names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        // The segment that was being written is covered too: what remains is the snapshot and a fresh segment.
        #expect(names.filter { $0.hasSuffix(".snap") }.count == 1)
        #expect(names.filter { $0.hasSuffix(".log") }.count == 1, "\(names.sorted())")
        let segment = try #require(names.first { $0.hasSuffix(".log") })
        let size = try #require(try FileManager.default.attributesOfItem(atPath: directory.file(segment))[.size] as? Int)
        #expect(size <= 32, "the new segment holds its header only, not the 200 sends")
        for index in 0..<5 { try queue.sendMessage("after \(index)") }
        broker = try restart(broker, directory, clock: clock, durability: durability)
        #expect(try broker.queue(named: "q").statistics().approximateNumberOfMessages == 205)
        names = try FileManager.default.contentsOfDirectory(atPath: directory.path)
        #expect(names.filter { $0.hasSuffix(".snap") }.count == 1)
    }
}

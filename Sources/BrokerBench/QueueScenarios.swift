import Broker
import Foundation

/// A broker for one run, on the chosen clock.
///
/// `durability` makes it durable, in a fresh directory under `root`, `BROKER_BENCH_DATA_DIR` or the temporary
/// directory.
/// Without it, `BROKER_BENCH_DATA_DIR` set makes the queue scenarios durable too, at the level
/// `BROKER_BENCH_DURABILITY` names (`acknowledged`, the default; `interval:MS`; `none`), so that they measure the
/// journaled paths beside the in-memory ones.
func makeBroker(_ clock: ClockChoice, durability: Durability? = nil, root: String? = nil) -> Broker {
    let configuration = BrokerConfiguration(seed: 42)
    let environment = ProcessInfo.processInfo.environment
    if let level = durability ?? environment["BROKER_BENCH_DATA_DIR"].map({ _ in parseDurability(environment["BROKER_BENCH_DURABILITY"]) }) {
        let root = root ?? environment["BROKER_BENCH_DATA_DIR"] ?? NSTemporaryDirectory()
        let path = root + "/broker-bench-run-\(UUID().uuidString)"
        try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let clockValue: any BrokerClock = clock == .manual ? ManualClock() : SystemClock()
        do {
            return try Broker(configuration: configuration, clock: clockValue, storage: .directory(path, durability: level))
        } catch {
            FileHandle.standardError.write(Data("cannot open \(path): \(error)\n".utf8))
        }
    }
    switch clock {
    case .manual: return Broker(configuration: configuration, clock: ManualClock())
    case .system: return Broker(configuration: configuration, clock: SystemClock())
    }
}

/// `acknowledged` (also for nil), `interval:MS` or `none`.
func parseDurability(_ text: String?) -> Durability {
    guard let text else { return .acknowledged }
    if text == "none" { return .none }
    if text.hasPrefix("interval:"), let ms = Int(text.dropFirst("interval:".count)) { return .interval(.milliseconds(ms)) }
    return .acknowledged
}

/// Queue attributes for benchmark queues: a visibility timeout no run outlives, so "exactly once" is what the
/// semantics promise (a standard queue redelivers only after a visibility timeout lapses).
func benchQueueAttributes(fifo: Bool) -> QueueAttributes {
    QueueAttributes(visibilityTimeout: .seconds(43_200), fifoQueue: fifo ? true : nil)
}

/// The shape of a send → receive → delete run.
struct QueueRunShape {
    var fifo: Bool
    var groups: Int
    var batch: Int
    var bodySize: Int
    var producers: Int
    var consumers: Int
    var clock: ClockChoice
    var quiet: Bool
    /// A durable broker at this level; nil for memory (or the level the environment names, see ``makeBroker``).
    var durability: Durability? = nil
    /// Where a durable run's directory goes.
    var dataRoot: String? = nil

    var scenarioName: String { fifo ? "fifo" : "send-receive-delete" }
    var variant: String {
        var parts = ["batch=\(batch)"]
        if fifo { parts.append("groups=\(groups)") }
        if producers > 1 || consumers > 1 { parts.append("producers=\(producers)"); parts.append("consumers=\(consumers)") }
        parts.append("size=\(bodySize)")
        return parts.joined(separator: ",")
    }
    var isSingleThread: Bool { producers == 1 && consumers == 1 }
}

/// Precomputed small strings (ids, group ids) so the loop allocates only what a real client would.
enum Names {
    static let entryIds = (0..<10).map { String($0) }
    static func groupIds(_ count: Int) -> [String] { (0..<count).map { "g\($0)" } }
}

/// Per-group order checking for FIFO runs: each group's sequence numbers must arrive increasing.
struct GroupOrder {
    private var last: [Int]

    init(groups: Int) {
        last = [Int](repeating: -1, count: groups)
    }

    /// False when `seq` does not come after the group's previous message.
    @inline(__always)
    mutating func accept(seq: Int, group: Int) -> Bool {
        guard group < last.count, seq > last[group] else { return false }
        last[group] = seq
        return true
    }
}

// MARK: One thread

/// One thread sends a batch, receives it back and deletes it, in turn; one latency sample per iteration.
///
/// With `resident` > 0 (the depth sweep, standard queues) the queue is first filled with that many messages, untimed,
/// and the heap and RSS growth per resident message are measured around the fill; the timed loop then runs with
/// them resident (receives take the oldest messages, so the depth stays constant).
func runQueueSingleThread(_ shape: QueueRunShape, budget: Budget, resident: Int = 0) async throws -> RunResult {
    let broker = makeBroker(shape.clock)
    let queue = try broker.createQueue(named: shape.fifo ? "bench.fifo" : "bench", attributes: benchQueueAttributes(fifo: shape.fifo))
    let groupIds = Names.groupIds(shape.groups)
    let batch = shape.batch
    var verifier = Verifier()
    var seen = SeenSet(capacity: resident + (RunBudget(budget).messageLimit ?? 1 << 20))
    var order = GroupOrder(groups: shape.groups)
    var histogram = Histogram()
    var sendEntries: [SendMessageBatchRequestEntry] = []
    sendEntries.reserveCapacity(batch)
    var deleteEntries: [DeleteMessageBatchRequestEntry] = []
    deleteEntries.reserveCapacity(batch)
    let progress = Progress("\(shape.scenarioName) \(shape.variant)", enabled: !shape.quiet)

    var memoryExtras: [(name: String, value: Double)] = []
    if resident > 0 {
        Memory.trim()
        let heapBefore = Memory.heapBytesInUse()
        let rssBefore = Memory.residentBytes()
        verifier.absorb(try fill(queue, count: resident, bodySize: shape.bodySize, quiet: shape.quiet, label: "\(resident) messages"))
        let heapAfter = Memory.heapBytesInUse()
        let rssAfter = Memory.residentBytes()
        if let heapBefore, let heapAfter {
            let perMessage = Double(heapAfter - heapBefore) / Double(resident)
            memoryExtras.append(("heap bytes/msg", perMessage))
            memoryExtras.append(("heap bytes/msg beyond body", perMessage - Double(shape.bodySize)))
        }
        if let rssBefore, let rssAfter {
            memoryExtras.append(("RSS bytes/msg", Double(rssAfter - rssBefore) / Double(resident)))
        }
        let statistics = try queue.statistics()
        verifier.check(statistics.approximateNumberOfMessages == resident, "filled \(resident), the queue holds \(statistics.approximateNumberOfMessages)")
    }

    var sent = 0
    var deleted = 0
    var emptyReceives = 0
    let cpuStart = processCPUNanoseconds()
    let run = RunBudget(budget)
    var iterationStart = run.start

    /// Receives, checks and deletes until everything sent so far is deleted (a receive may return fewer messages
    /// than are waiting, or, on a FIFO queue, one group's only).
    func drain() async throws {
        while deleted < sent {
            let messages = try await queue.receiveMessages(maxNumberOfMessages: batch)
            if messages.isEmpty {
                emptyReceives += 1
                if emptyReceives > 3 {
                    verifier.fail("\(sent - deleted) messages sent but not receivable (empty receives with nothing in flight)")
                    deleted = sent
                }
                continue
            }
            for message in messages {
                guard let parsed = Payload.parse(message.body, time: false) else {
                    verifier.fail("received a body that was never sent: \(message.body.prefix(40))")
                    continue
                }
                if !seen.insert(parsed.seq) { verifier.fail("message \(parsed.seq) delivered twice") }
                if shape.fifo, !order.accept(seq: parsed.seq, group: parsed.group) {
                    verifier.fail("FIFO order broken in group \(parsed.group) at message \(parsed.seq)")
                }
            }
            if batch == 1 {
                for message in messages { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
            } else {
                deleteEntries.removeAll(keepingCapacity: true)
                for (index, message) in messages.enumerated() {
                    deleteEntries.append(DeleteMessageBatchRequestEntry(id: Names.entryIds[index], receiptHandle: message.receiptHandle))
                }
                let result = try queue.deleteMessageBatch(deleteEntries)
                if !result.failed.isEmpty { verifier.fail("DeleteMessageBatch failed: \(result.failed[0].code) \(result.failed[0].message)") }
            }
            deleted += messages.count
        }
    }

    while !run.isSpent(sent: sent, now: iterationStart) {
        if batch == 1 && !shape.fifo {
            try queue.sendMessage(Payload.body(seq: resident + sent, size: shape.bodySize))
        } else if batch == 1 {
            let group = sent % shape.groups
            try queue.sendMessage(Payload.body(seq: sent, group: group, size: shape.bodySize),
                                  messageGroupId: groupIds[group], messageDeduplicationId: String(sent))
        } else {
            sendEntries.removeAll(keepingCapacity: true)
            for index in 0..<batch {
                let seq = sent + index
                if shape.fifo {
                    let group = seq % shape.groups
                    sendEntries.append(SendMessageBatchRequestEntry(
                        id: Names.entryIds[index], body: Payload.body(seq: seq, group: group, size: shape.bodySize),
                        messageGroupId: groupIds[group], messageDeduplicationId: String(seq)))
                } else {
                    sendEntries.append(SendMessageBatchRequestEntry(id: Names.entryIds[index], body: Payload.body(seq: resident + seq, size: shape.bodySize)))
                }
            }
            let result = try queue.sendMessageBatch(sendEntries)
            if !result.failed.isEmpty { verifier.fail("SendMessageBatch failed: \(result.failed[0].code) \(result.failed[0].message)") }
        }
        sent += batch
        try await drain()
        let now = nanosecondsNow()
        histogram.record(now &- iterationStart)
        iterationStart = now
        progress.tick(deleted, now: now)
    }
    let end = iterationStart
    let cpuSeconds = Double(processCPUNanoseconds() - cpuStart) / 1e9
    progress.finish()

    let statistics = try queue.statistics()
    verifier.check(seen.count == sent, "\(sent) messages sent, \(seen.count) distinct received")
    verifier.check(statistics.approximateNumberOfMessages == resident && statistics.approximateNumberOfMessagesNotVisible == 0,
                   "queue should hold \(resident) at the end: \(statistics.approximateNumberOfMessages) visible, \(statistics.approximateNumberOfMessagesNotVisible) in flight")
    let seconds = Double(end - run.start) / 1e9
    let row = Row(scenario: resident > 0 ? "depth-sweep" : shape.scenarioName,
                  variant: resident > 0 ? "resident=\(resident),\(shape.variant)" : shape.variant, unit: "msgs/s",
                  throughput: Double(deleted) / seconds, count: deleted, seconds: seconds,
                  latency: histogram.summary, latencyOf: "one iteration: send \(batch), receive, delete (one thread)",
                  extras: [("msgs per CPU-second", Double(deleted) / cpuSeconds)] + memoryExtras)
    return RunResult(rows: [row], failures: verifier.all)
}

// MARK: Producers and consumers

/// State shared by producer threads and consumer tasks. Taken rarely: producers add what they sent when they finish,
/// consumers add their deletes when the queue looks empty or every `Tally.flushEvery` batches, and only a FIFO run's
/// order check takes it per batch. A harness lock taken by four threads on every batch would contend with the queue's
/// own lock and measure the harness.
private struct Exchange {
    var producersRunning: Int
    var sent = 0
    var deleted = 0
    var order: GroupOrder
    var failures = Verifier()
    var lastDelete: UInt64 = 0
}

/// What one consumer saw, kept to itself and merged when the run ends.
private struct Tally: Sendable {
    static let flushEvery = 64

    var histogram = Histogram()
    /// Every sequence number received, in order of receipt: duplicates are found when the tallies merge.
    var seen: [Int] = []
    var failures = Verifier()
    /// Deletes not yet added to the exchange, and the latest delete's time.
    var unflushed = 0
    var batches = 0
    var lastDelete: UInt64 = 0
}

/// Producer threads send; consumer tasks receive (short polls) and delete. Latency is send → receive of each
/// message (the send time travels in the body).
///
/// Producers are OS threads because the send path never suspends: as tasks they would hold the cooperative pool
/// (one thread per core) and starve the consumers. Consumers are tasks (receive is async); one that finds the queue
/// empty yields.
func runQueueProducersConsumers(_ shape: QueueRunShape, budget: Budget) async throws -> RunResult {
    let broker = makeBroker(shape.clock, durability: shape.durability, root: shape.dataRoot)
    // Callers suspend for the disk only where the level's calls wait for it; at `interval` a call returns at once,
    // as in memory, and the harness takes the memory row's shape (producer threads, deletes inline).
    let callsWait = broker.callsWaitForTheDisk
    let queue = try broker.createQueue(named: shape.fifo ? "bench.fifo" : "bench", attributes: benchQueueAttributes(fifo: shape.fifo))
    let run = RunBudget(budget)
    let limit = run.messageLimit
    let exchange = Shared(Exchange(producersRunning: shape.producers, order: GroupOrder(groups: shape.groups)))
    let groupIds = Names.groupIds(shape.groups)
    let progress = Progress("\(shape.scenarioName) \(shape.variant)", enabled: !shape.quiet)
    let batch = shape.batch

    // Producer p sends sequence numbers p, p+P, p+2P, … and, on FIFO queues, owns groups p, p+P, … so that each
    // group's order is one thread's send order.
    @Sendable func nextBatch(_ producer: Int, _ k: Int, now: UInt64, into entries: inout [SendMessageBatchRequestEntry]) -> Int? {
        let ownGroups = stride(from: producer, to: shape.groups, by: shape.producers).map { $0 }
        let share = limit.map { $0 / shape.producers + (producer < $0 % shape.producers ? 1 : 0) }
        if let share { if k >= share { return nil } } else if run.isSpent(sent: 0, now: now) { return nil }
        let count = share.map { min(batch, $0 - k) } ?? batch
        entries.removeAll(keepingCapacity: true)
        for index in 0..<count {
            let seq = (k + index) * shape.producers + producer
            let group = shape.fifo ? ownGroups[(k + index) % ownGroups.count] : 0
            entries.append(SendMessageBatchRequestEntry(
                id: Names.entryIds[index], body: Payload.body(seq: seq, group: group, sentAt: now, size: shape.bodySize),
                messageGroupId: shape.fifo ? groupIds[group] : nil,
                messageDeduplicationId: shape.fifo ? String(seq) : nil))
        }
        return count
    }
    @Sendable func send(_ entries: [SendMessageBatchRequestEntry]) throws(BrokerError) -> String? {
        if entries.count == 1 {
            _ = try queue.sendMessage(entries[0].message)
            return nil
        }
        let result = try queue.sendMessageBatch(entries)
        return result.failed.first.map { "SendMessageBatch failed: \($0.code) \($0.message)" }
    }
    @Sendable func producerFinished(_ failure: String?, sent: Int) {
        exchange.withLock { state in
            state.producersRunning -= 1
            state.sent += sent
            if let failure { state.failures.fail(failure) }
        }
    }

    // In memory, producers are OS threads because the send path never suspends: as tasks they would hold the
    // cooperative pool and starve the consumers. On a durable broker whose calls wait they are tasks that suspend
    // for the disk (`Broker.awaitingDurability`), so that all of them share each sync.
    var threads: [Thread] = []
    let producersDone = DispatchGroup()
    var producerTasks: [Task<Void, Never>] = []
    for producer in 0..<shape.producers {
        if callsWait {
            producerTasks.append(Task {
                var k = 0
                var entries: [SendMessageBatchRequestEntry] = []
                var failure: String?
                while failure == nil, let count = nextBatch(producer, k, now: nanosecondsNow(), into: &entries) {
                    let batch = entries
                    do {
                        failure = try await broker.awaitingDurability { () throws(BrokerError) in try send(batch) }
                    } catch {
                        failure = "send failed: \(error)"
                    }
                    k += count
                }
                producerFinished(failure, sent: k)
            })
            continue
        }
        producersDone.enter()
        let thread = Thread {
            defer { producersDone.leave() }
            var k = 0
            var entries: [SendMessageBatchRequestEntry] = []
            var failure: String?
            while failure == nil, let count = nextBatch(producer, k, now: nanosecondsNow(), into: &entries) {
                do {
                    failure = try send(entries)
                } catch {
                    failure = "send failed: \(error)"
                }
                k += count
            }
            producerFinished(failure, sent: k)
        }
        thread.stackSize = 1 << 20
        threads.append(thread)
    }
    for thread in threads { thread.start() }

    /// A durable delete finishes in a task of its own, so it reports to the exchange directly (once per batch).
    @Sendable func recordDurableDeletes(_ result: BatchResult<BatchEntryAcknowledged>, count: Int) {
        let now = nanosecondsNow()
        exchange.withLock { state in
            if let first = result.failed.first { state.failures.fail("DeleteMessageBatch failed: \(first.code) \(first.message)") }
            state.deleted += count
            state.lastDelete = max(state.lastDelete, now)
        }
    }
    /// Adds a consumer's unreported deletes to the exchange; true when every message sent has been deleted.
    @Sendable func flush(_ tally: inout Tally) -> Bool {
        let unflushed = tally.unflushed, lastDelete = tally.lastDelete
        tally.unflushed = 0
        let (deleted, finished) = exchange.withLock { state -> (Int, Bool) in
            state.deleted += unflushed
            state.lastDelete = max(state.lastDelete, lastDelete)
            return (state.deleted, state.producersRunning == 0 && state.deleted >= state.sent)
        }
        progress.tick(deleted, now: lastDelete)
        return finished
    }

    let tallies = try await withThrowingTaskGroup(of: Tally.self) { group in
        for _ in 0..<shape.consumers {
            group.addTask {
                var tally = Tally()
                var deleteEntries: [DeleteMessageBatchRequestEntry] = []
                var pendingDelete: Task<Void, any Error>?
                while true {
                    let messages = try await queue.receiveMessages(maxNumberOfMessages: batch)
                    let received = nanosecondsNow()
                    if messages.isEmpty {
                        if let previous = pendingDelete {
                            try await previous.value
                            pendingDelete = nil
                        }
                        if flush(&tally) { return tally }
                        await Task.yield()
                        continue
                    }
                    var parsed: [(seq: Int, group: Int)] = []
                    parsed.reserveCapacity(messages.count)
                    for message in messages {
                        guard let body = Payload.parse(message.body) else {
                            tally.failures.fail("received a body that was never sent")
                            continue
                        }
                        tally.histogram.record(received &- body.sentAt)
                        tally.seen.append(body.seq)
                        parsed.append((body.seq, body.group))
                    }
                    if shape.fifo {
                        // Checked before deleting: the group's next messages are handed out only after.
                        exchange.withLock { state in
                            for (seq, group) in parsed where !state.order.accept(seq: seq, group: group) {
                                state.failures.fail("FIFO order broken in group \(group) at message \(seq)")
                            }
                        }
                    }
                    if batch == 1 {
                        for message in messages { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
                    } else {
                        deleteEntries.removeAll(keepingCapacity: true)
                        for (index, message) in messages.enumerated() {
                            deleteEntries.append(DeleteMessageBatchRequestEntry(id: Names.entryIds[index], receiptHandle: message.receiptHandle))
                        }
                        let entries = deleteEntries
                        if callsWait {
                            // A durable delete suspends for the disk rather than block one of the pool's threads, and
                            // the consumer receives its next batch meanwhile, so that both share one sync.
                            if let previous = pendingDelete { try await previous.value }
                            pendingDelete = Task {
                                let result = try await broker.awaitingDurability { () throws(BrokerError) in try queue.deleteMessageBatch(entries) }
                                recordDurableDeletes(result, count: entries.count)
                            }
                            continue
                        }
                        let result = try queue.deleteMessageBatch(entries)
                        if let first = result.failed.first { tally.failures.fail("DeleteMessageBatch failed: \(first.code) \(first.message)") }
                    }
                    tally.unflushed += messages.count
                    tally.lastDelete = nanosecondsNow()
                    tally.batches += 1
                    if tally.batches % Tally.flushEvery == 0 { _ = flush(&tally) }
                }
            }
        }
        var all: [Tally] = []
        for try await tally in group { all.append(tally) }
        return all
    }
    producersDone.wait()
    for task in producerTasks { await task.value }
    progress.finish()

    var histogram = Histogram()
    var seen = SeenSet(capacity: limit ?? 1 << 22)
    var verifier = exchange.withLock { $0.failures }
    for tally in tallies {
        histogram.merge(tally.histogram)
        verifier.absorb(tally.failures.all)
        for seq in tally.seen where !seen.insert(seq) { verifier.fail("message \(seq) delivered twice") }
    }
    let statistics = try queue.statistics()
    let (sent, deleted, lastDelete) = exchange.withLock { ($0.sent, $0.deleted, $0.lastDelete) }
    let distinct = seen.count
    verifier.check(distinct == sent, "\(sent) messages sent, \(distinct) distinct received")
    verifier.check(statistics.approximateNumberOfMessages == 0 && statistics.approximateNumberOfMessagesNotVisible == 0,
                   "queue not empty at the end")
    let seconds = Double(max(lastDelete, run.start + 1) - run.start) / 1e9
    var row = Row(scenario: shape.scenarioName, variant: shape.variant, unit: "msgs/s",
                  throughput: Double(deleted) / seconds, count: deleted, seconds: seconds,
                  latency: histogram.summary, latencyOf: "send → receive of each message")
    if let journal = broker.journalStatistics {
        // Group commit at work: how many records (one per send batch, receive and delete batch) each sync carried.
        row.extras.append(("records per sync", journal.syncs > 0 ? Double(journal.records) / Double(journal.syncs) : 0))
        row.extras.append(("syncs/s", Double(journal.syncs) / seconds))
        // Journal bytes per message sent (snapshots not included): what each message's send, receive and delete cost.
        row.extras.append(("journal bytes/msg", Double(journal.bytes) / Double(max(1, sent))))
        broker.closeStorage()
    }
    return RunResult(rows: [row], failures: verifier.all)
}

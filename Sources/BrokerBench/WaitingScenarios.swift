import Broker
import Foundation

// MARK: Long-poll wake-up

/// A receive parks in a 20-second long poll on a SystemClock broker; after `gap` a sender thread sends one message;
/// the sample is the time from just before the send to the moment the receive has returned in the waiting task.
/// The waiter is a task on Swift's cooperative pool, the sender an OS thread, as a producer in another part of a
/// process would be.
///
/// `clock: .manual` is a diagnostic: the long poll's 20-second deadline then sets no Dispatch timer (a manual clock
/// never fires by itself), which shows what the SystemClock timer's creation and cancellation add to a wake-up.
func runLongPoll(rounds: Int, gapMicroseconds: Int, clock: ClockChoice = .system, quiet: Bool) async throws -> RunResult {
    let broker = makeBroker(clock)
    let queue = try broker.createQueue(named: "long-poll", attributes: benchQueueAttributes(fifo: false))
    let ready = DispatchSemaphore(value: 0)
    let received = DispatchSemaphore(value: 0)
    let senderFailure = Shared<String?>(nil)
    let senderDone = DispatchSemaphore(value: 0)
    let sender = Thread {
        defer { senderDone.signal() }
        for round in 0..<rounds {
            ready.wait()
            if gapMicroseconds > 0 { usleep(UInt32(gapMicroseconds)) }
            let sentAt = nanosecondsNow()
            do {
                try queue.sendMessage(Payload.body(seq: round, sentAt: sentAt, size: 100))
            } catch {
                senderFailure.withLock { $0 = "send failed: \(error)" }
                return
            }
            received.wait()
        }
    }
    sender.start()

    var verifier = Verifier()
    var histogram = Histogram()
    let progress = Progress("long-poll-latency", enabled: !quiet)
    let start = nanosecondsNow()
    var completed = 0
    for round in 0..<rounds {
        // Taken before the sender is released: a preemption between the two must not shorten the measured wait.
        let entered = nanosecondsNow()
        ready.signal()
        let messages = try await queue.receiveMessages(maxNumberOfMessages: 1, waitTimeSeconds: .seconds(20))
        let returned = nanosecondsNow()
        defer { received.signal() }
        guard messages.count == 1, let body = Payload.parse(messages[0].body) else {
            verifier.fail("round \(round): the long poll returned \(messages.count) messages")
            if senderFailure.withLock({ $0 }) != nil { break }
            continue
        }
        if body.seq != round { verifier.fail("round \(round): received message \(body.seq)") }
        // The receive must have been parked when the message came: it waited at least the gap.
        if returned &- entered < UInt64(gapMicroseconds) * 1_000 {
            verifier.fail("round \(round): the receive returned after \(returned &- entered) ns, before the send (not a wake-up)")
        }
        histogram.record(returned &- body.sentAt)
        try queue.deleteMessage(receiptHandle: messages[0].receiptHandle)
        completed += 1
        progress.tick(completed, unit: "rounds", now: returned)
    }
    let end = nanosecondsNow()
    senderDone.wait()
    progress.finish()
    if let failure = senderFailure.withLock({ $0 }) { verifier.fail(failure) }
    verifier.check(completed == rounds, "\(completed) of \(rounds) rounds completed")
    let statistics = try queue.statistics()
    verifier.check(statistics.approximateNumberOfMessages == 0 && statistics.approximateNumberOfMessagesNotVisible == 0,
                   "queue not empty at the end")
    let seconds = Double(end - start) / 1e9
    let row = Row(scenario: "long-poll-latency", variant: "wait=20s,gap=\(gapMicroseconds)us,\(clock == .system ? "SystemClock" : "ManualClock")", unit: "rounds/s",
                  throughput: Double(completed) / seconds, count: completed, seconds: seconds,
                  latency: histogram.summary, latencyOf: "send (other thread) → parked long-poll receive returned")
    return RunResult(rows: [row], failures: verifier.all)
}

// MARK: Consumer

/// Fills `queue` with `count` messages (batches of 10), untimed.
func fill(_ queue: Queue, count: Int, firstSeq: Int = 0, bodySize: Int, quiet: Bool, label: String) throws -> [String] {
    var failures: [String] = []
    var entries: [SendMessageBatchRequestEntry] = []
    entries.reserveCapacity(10)
    let progress = Progress("filling \(label)", enabled: !quiet)
    var seq = firstSeq
    let end = firstSeq + count
    while seq < end {
        entries.removeAll(keepingCapacity: true)
        for index in 0..<min(10, end - seq) {
            entries.append(SendMessageBatchRequestEntry(id: Names.entryIds[index], body: Payload.body(seq: seq + index, size: bodySize)))
        }
        let result = try queue.sendMessageBatch(entries)
        if let first = result.failed.first, failures.count < 5 { failures.append("fill failed: \(first.code) \(first.message)") }
        seq += entries.count
        if seq % 10_000 == 0 { progress.tick(seq - firstSeq, now: nanosecondsNow()) }
    }
    progress.finish()
    return failures
}

/// Receives and deletes `count` messages from `queue` on one thread, batches of 10; returns seconds, latencies of
/// one receive+delete iteration, and failures (duplicates, missing messages).
func rawDrain(_ queue: Queue, count: Int, allAttributes: Bool) async throws -> (seconds: Double, histogram: Histogram, failures: [String]) {
    var verifier = Verifier()
    var seen = SeenSet(capacity: count)
    var histogram = Histogram()
    var entries: [DeleteMessageBatchRequestEntry] = []
    entries.reserveCapacity(10)
    var deleted = 0
    var empties = 0
    let start = nanosecondsNow()
    var iterationStart = start
    while deleted < count {
        let messages = allAttributes
            ? try await queue.receiveMessages(maxNumberOfMessages: 10, messageAttributeNames: ["All"], messageSystemAttributeNames: [.all])
            : try await queue.receiveMessages(maxNumberOfMessages: 10)
        if messages.isEmpty {
            empties += 1
            if empties > 3 { verifier.fail("\(count - deleted) messages missing"); break }
            continue
        }
        entries.removeAll(keepingCapacity: true)
        for (index, message) in messages.enumerated() {
            if let seq = Payload.parse(message.body)?.seq {
                if !seen.insert(seq) { verifier.fail("message \(seq) delivered twice") }
            } else {
                verifier.fail("unknown body")
            }
            entries.append(DeleteMessageBatchRequestEntry(id: Names.entryIds[index], receiptHandle: message.receiptHandle))
        }
        let result = try queue.deleteMessageBatch(entries)
        if let first = result.failed.first { verifier.fail("DeleteMessageBatch failed: \(first.code)") }
        deleted += messages.count
        let now = nanosecondsNow()
        histogram.record(now &- iterationStart)
        iterationStart = now
    }
    verifier.check(seen.count == count, "\(count) messages filled, \(seen.count) distinct drained")
    return (Double(iterationStart - start) / 1e9, histogram, verifier.all)
}

/// A QueueWorker with an empty handler drains `count` messages; beside it, in the same run and broker, one thread
/// drains the same number with plain receive (10) + DeleteMessageBatch. Overhead = the difference per message.
func runConsumer(count: Int, concurrency: Int, bodySize: Int, quiet: Bool) async throws -> RunResult {
    let broker = makeBroker(.system)
    var verifier = Verifier()

    // The raw baseline: what a hand-written loop pays.
    let raw = try broker.createQueue(named: "raw", attributes: benchQueueAttributes(fifo: false))
    verifier.absorb(try fill(raw, count: count, bodySize: bodySize, quiet: quiet, label: "raw queue"))
    let plain = try await rawDrain(raw, count: count, allAttributes: false)
    verifier.absorb(plain.failures)
    // The same, asking for every attribute as the worker does (shows what that part of the worker costs).
    let rawAll = try broker.createQueue(named: "raw-all", attributes: benchQueueAttributes(fifo: false))
    verifier.absorb(try fill(rawAll, count: count, bodySize: bodySize, quiet: quiet, label: "raw queue (all attributes)"))
    let allAttributes = try await rawDrain(rawAll, count: count, allAttributes: true)
    verifier.absorb(allAttributes.failures)

    // The worker.
    let work = try broker.createQueue(named: "work", attributes: benchQueueAttributes(fifo: false))
    verifier.absorb(try fill(work, count: count, bodySize: bodySize, quiet: quiet, label: "worker queue"))
    // The handler wakes the measuring task when it has seen every message: polling the worker's counters all along
    // would put a third busy thread on a two-core machine and measure the poller as much as the worker.
    struct Handled {
        var seen: SeenSet
        var failures = Verifier()
        var allSeen: CheckedContinuation<Void, Never>?

        /// The measuring task's continuation, taken so that it is resumed once.
        mutating func takeWaiter() -> CheckedContinuation<Void, Never>? {
            defer { allSeen = nil }
            return allSeen
        }
    }
    let handled = Shared(Handled(seen: SeenSet(capacity: count)))
    let worker = try QueueWorker(queue: work, broker: broker, configuration: QueueWorkerConfiguration(concurrency: concurrency)) { message in
        let seq = Payload.parse(message.body)?.seq
        let wake = handled.withLock { state -> CheckedContinuation<Void, Never>? in
            if let seq {
                if !state.seen.insert(seq) { state.failures.fail("handler got message \(seq) twice") }
            } else {
                state.failures.fail("handler got an unknown body")
            }
            return state.seen.count >= count ? state.takeWaiter() : nil
        }
        wake?.resume()
    }
    let progress = Progress("consumer concurrency=\(concurrency)", enabled: !quiet)
    let reporter = Task {
        // Progress only on a terminal run (not `--quiet`), which is not a measured one.
        while !quiet, !Task.isCancelled {
            progress.tick(worker.statistics.processed, now: nanosecondsNow())
            try? await Task.sleep(for: .milliseconds(200))
        }
    }
    let deadline = Task {
        try? await Task.sleep(for: .seconds(120))
        handled.withLock { $0.takeWaiter() }?.resume()
    }
    let start = nanosecondsNow()
    worker.start()
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let done = handled.withLock { state -> Bool in
            if state.seen.count >= count { return true }
            state.allSeen = continuation
            return false
        }
        if done { continuation.resume() }
    }
    // Every message handled; the end is when the last delete is done.
    var end = nanosecondsNow()
    while worker.statistics.processed < count, end - start < 125_000_000_000 {
        await Task.yield()
        end = nanosecondsNow()
    }
    deadline.cancel()
    reporter.cancel()
    let processed = worker.statistics.processed
    if processed < count { verifier.fail("the worker processed \(processed) of \(count) messages in 120 s") }
    progress.finish()
    await worker.stop(drainTimeout: .seconds(5))
    let statistics = worker.statistics
    let (distinct, handlerFailures) = handled.withLock { ($0.seen.count, $0.failures.all) }
    verifier.absorb(handlerFailures)
    verifier.check(distinct == count, "\(count) messages, the handler saw \(distinct) distinct")
    verifier.check(statistics.processed == count && statistics.failed == 0,
                   "worker statistics: \(statistics.processed) processed, \(statistics.failed) failed, expected \(count) and 0")
    let queueStatistics = try work.statistics()
    verifier.check(queueStatistics.approximateNumberOfMessages == 0 && queueStatistics.approximateNumberOfMessagesNotVisible == 0,
                   "worker queue not empty at the end")

    let workerSeconds = Double(end - start) / 1e9
    let perMessage = { (seconds: Double) in seconds / Double(count) * 1e6 }
    let rows = [
        Row(scenario: "consumer", variant: "QueueWorker,concurrency=\(concurrency),n=\(count)", unit: "msgs/s",
            throughput: Double(count) / workerSeconds, count: count, seconds: workerSeconds, latency: nil,
            latencyOf: "—",
            extras: [("worker µs/msg", perMessage(workerSeconds)),
                     ("raw µs/msg", perMessage(plain.seconds)),
                     ("overhead µs/msg", perMessage(workerSeconds) - perMessage(plain.seconds)),
                     ("overhead vs raw(All attrs) µs/msg", perMessage(workerSeconds) - perMessage(allAttributes.seconds))]),
        Row(scenario: "consumer", variant: "raw receive(10)+DeleteMessageBatch,n=\(count)", unit: "msgs/s",
            throughput: Double(count) / plain.seconds, count: count, seconds: plain.seconds,
            latency: plain.histogram.summary, latencyOf: "one receive(10) + delete batch, one thread"),
        Row(scenario: "consumer", variant: "raw receive(10,All attributes)+DeleteMessageBatch,n=\(count)", unit: "msgs/s",
            throughput: Double(count) / allAttributes.seconds, count: count, seconds: allAttributes.seconds,
            latency: allAttributes.histogram.summary, latencyOf: "one receive(10, all attributes) + delete batch, one thread"),
    ]
    return RunResult(rows: rows, failures: verifier.all)
}

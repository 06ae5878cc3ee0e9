import Broker
import Dispatch
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// The floors: what the simplest structure that could hold a queue's messages costs on this machine, in this run.
// Every goal is judged as a multiple of one of them, so that the figure says how far the broker is from the
// hardware rather than how busy or fast the host was that day.

// MARK: The ring floor

/// A prebuilt message as the ring holds it: what a received SQS message carries — an id, a body and a receipt
/// handle (each a string with storage of its own, as the broker's are), message attributes (empty, as in the
/// scenarios), the send time — and a sequence number the floor checks on the way out. Every push copies it (a retain
/// of each string) and every pop hands it out and drops it (a release of each), which is what any queue of such
/// messages must do at the least.
private struct RingMessage {
    let messageId: String
    let body: String
    let receiptHandle: String
    let messageAttributes: [String: MessageAttributeValue]
    let sentAt: Date
    let seq: Int
}

/// A fixed-capacity ring of messages behind one `pthread_mutex_t`, made the way the library's own lock is
/// (adaptive, state in memory of its own), so the floor pays what a queue pays for its lock and no more.
private final class LockedRing: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let slots: UnsafeMutablePointer<RingMessage>
    private let capacity: Int
    private var head = 0
    private var count = 0

    init(capacity: Int) {
        self.capacity = capacity
        slots = UnsafeMutablePointer<RingMessage>.allocate(capacity: capacity)
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        #if canImport(Glibc)
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        #else
        pthread_mutex_init(mutex, nil)
        #endif
    }

    deinit {
        var index = head
        for _ in 0..<count {
            (slots + index).deinitialize(count: 1)
            index = (index + 1) % capacity
        }
        slots.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
    }

    /// Appends `messages[range]` under one lock; false (nothing appended) if they do not fit.
    @inline(never)
    func push(_ messages: UnsafeBufferPointer<RingMessage>, _ range: Range<Int>) -> Bool {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        guard count + range.count <= capacity else { return false }
        var tail = (head + count) % capacity
        for index in range {
            (slots + tail).initialize(to: messages[index])
            tail = tail + 1 == capacity ? 0 : tail + 1
        }
        count += range.count
        return true
    }

    /// Takes up to `limit` messages from the front under one lock, into `out`; returns how many.
    @inline(never)
    func pop(_ limit: Int, into out: UnsafeMutablePointer<RingMessage>) -> Int {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        let taken = min(limit, count)
        for offset in 0..<taken {
            (out + offset).moveInitialize(from: slots + head, count: 1)
            head = head + 1 == capacity ? 0 : head + 1
        }
        count -= taken
        return taken
    }
}

/// Pushes and pops prebuilt messages through a `LockedRing` on one thread, `batch` at a time, for `seconds`;
/// the figure is nanoseconds per message (one push and one pop). Checks that every message came out once, in order.
func runRingFloor(batch: Int, seconds: Double) -> RunResult {
    let ring = LockedRing(capacity: 1_024)
    let prebuilt = (0..<1_000).map { seq in
        RingMessage(messageId: UUID().uuidString.lowercased(), body: Payload.body(seq: seq, size: 100),
                    receiptHandle: String(repeating: "h", count: 31) + String(seq % 10), messageAttributes: [:],
                    sentAt: Date(timeIntervalSince1970: Double(seq)), seq: seq)
    }
    let out = UnsafeMutablePointer<RingMessage>.allocate(capacity: batch)
    defer { out.deallocate() }
    var verifier = Verifier()
    var pushed = 0
    var popped = 0
    let cpuStart = processCPUNanoseconds()
    let start = nanosecondsNow()
    var now = start
    let budget = UInt64(seconds * 1e9)
    prebuilt.withUnsafeBufferPointer { messages in
        while now &- start < budget {
            // 1,000 messages between clock reads: the clock costs about as much as one push and pop.
            for _ in 0..<(1_000 / batch) {
                let first = pushed % messages.count
                let range = first..<min(first + batch, messages.count)
                if !ring.push(messages, range) { verifier.fail("the ring refused \(range.count) messages"); return }
                pushed += range.count
                let taken = ring.pop(batch, into: out)
                for offset in 0..<taken {
                    let message = (out + offset).move()
                    if message.seq != popped % messages.count { verifier.fail("message \(message.seq) out of order at \(popped)") }
                    popped += 1
                }
            }
            now = nanosecondsNow()
        }
    }
    let cpuNanoseconds = Double(processCPUNanoseconds() - cpuStart)
    verifier.check(pushed == popped, "\(pushed) pushed, \(popped) popped")
    let elapsed = Double(now &- start) / 1e9
    let row = Row(scenario: "floor", variant: "ring,batch=\(batch)", unit: "msgs/s",
                  throughput: Double(popped) / elapsed, count: popped, seconds: elapsed, latency: nil, latencyOf: "—",
                  extras: [("ns/msg", elapsed * 1e9 / Double(max(popped, 1))),
                           ("CPU ns/msg", cpuNanoseconds / Double(max(popped, 1)))])
    return RunResult(rows: [row], failures: verifier.all)
}

// MARK: The continuation floor

/// A task parks in `withCheckedContinuation`; after `gap` an OS thread resumes it; the sample is the time from just
/// before the resume to the moment the task runs again. The long poll's wake-up is this plus the broker's work, with
/// the same shape: waiter on the cooperative pool, waker on a thread of its own.
func runContinuationFloor(rounds: Int, gapMicroseconds: Int) async -> RunResult {
    let parked = Shared<CheckedContinuation<UInt64, Never>?>(nil)
    let ready = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)
    let waker = Thread {
        for _ in 0..<rounds {
            ready.wait()
            if gapMicroseconds > 0 { usleep(UInt32(gapMicroseconds)) }
            let continuation = parked.withLock { slot in
                defer { slot = nil }
                return slot
            }
            continuation?.resume(returning: nanosecondsNow())
        }
        done.signal()
    }
    waker.stackSize = 1 << 20
    waker.start()
    var verifier = Verifier()
    var histogram = Histogram()
    let start = nanosecondsNow()
    for round in 0..<rounds {
        let entered = nanosecondsNow()
        let resumedAt = await withCheckedContinuation { (continuation: CheckedContinuation<UInt64, Never>) in
            parked.withLock { $0 = continuation }
            ready.signal()
        }
        let running = nanosecondsNow()
        if resumedAt < entered || running &- entered < UInt64(gapMicroseconds) * 1_000 {
            verifier.fail("round \(round): resumed before the waker's gap (not a wake-up)")
        }
        histogram.record(running &- resumedAt)
    }
    let end = nanosecondsNow()
    done.wait()
    let seconds = Double(end - start) / 1e9
    let row = Row(scenario: "floor", variant: "continuation,gap=\(gapMicroseconds)us", unit: "rounds/s",
                  throughput: Double(histogram.count) / seconds, count: Int(histogram.count), seconds: seconds,
                  latency: histogram.summary, latencyOf: "resume (other thread) → the parked task running")
    verifier.check(histogram.count == UInt64(rounds), "\(histogram.count) of \(rounds) rounds")
    return RunResult(rows: [row], failures: verifier.all)
}

// MARK: Measured together

/// Which floors to measure.
struct FloorKinds: OptionSet {
    let rawValue: Int
    static let ringSingle = FloorKinds(rawValue: 1)
    static let ringBatched = FloorKinds(rawValue: 2)
    static let continuation = FloorKinds(rawValue: 4)
    static let all: FloorKinds = [.ringSingle, .ringBatched, .continuation]
}

/// The floors' medians over runs, as the goals divide by them.
struct Floors {
    /// Nanoseconds per message, push and pop, one at a time and ten at a time.
    var ringSingleNanoseconds: Double?
    var ringBatchedNanoseconds: Double?
    /// The same in process CPU time, which other processes on the host do not inflate.
    var ringSingleCPUNanoseconds: Double?
    var ringBatchedCPUNanoseconds: Double?
    /// Resume-to-running latency in microseconds.
    var continuationP50: Double?
    var continuationP99: Double?
}

/// Runs the ring in short spells until two in a row agree within 3% (at most `limit` seconds). A fixed 0.05 s was
/// not enough: at the start of a process the batched ring read 39–47 ns per message for its first five runs and
/// 35–36 ns from then on (`goals`, 2026-12-07 at `aed4827`), so the first goal's floor was about 30% too high and its
/// ratio flattered the broker.
private func warmRing(batch: Int, spell: Double = 0.1, limit: Double = 3) {
    func figure() -> Double? {
        runRingFloor(batch: batch, seconds: spell).rows.first?.extras.first { $0.name == "ns/msg" }?.value
    }
    var previous = figure()
    var spent = spell
    while spent < limit, let last = previous {
        guard let next = figure() else { return }
        spent += spell
        if abs(next - last) <= 0.03 * last { return }
        previous = next
    }
}

/// Measures `kinds` `runs` times each (0.3 s per ring run; `rounds` continuation rounds), returning the runs and
/// their medians.
func measureFloors(_ kinds: FloorKinds, runs: Int, ringSeconds: Double = 0.3, rounds: Int = 2_000,
                   gapMicroseconds: Int = 500, quiet: Bool) async -> (results: [RunResult], floors: Floors) {
    var results: [RunResult] = []
    var floors = Floors()
    if kinds.contains(.ringSingle) { warmRing(batch: 1) }
    if kinds.contains(.ringBatched) { warmRing(batch: 10) }
    var single: [Double] = []
    var batched: [Double] = []
    var singleCPU: [Double] = []
    var batchedCPU: [Double] = []
    func figure(_ result: RunResult, _ name: String) -> [Double] {
        result.rows.compactMap { $0.extras.first { $0.name == name }?.value }
    }
    for _ in 0..<runs {
        if kinds.contains(.ringSingle) {
            let result = runRingFloor(batch: 1, seconds: ringSeconds)
            results.append(result)
            single += figure(result, "ns/msg")
            singleCPU += figure(result, "CPU ns/msg")
        }
        if kinds.contains(.ringBatched) {
            let result = runRingFloor(batch: 10, seconds: ringSeconds)
            results.append(result)
            batched += figure(result, "ns/msg")
            batchedCPU += figure(result, "CPU ns/msg")
        }
    }
    if !single.isEmpty {
        floors.ringSingleNanoseconds = median(single)
        floors.ringSingleCPUNanoseconds = median(singleCPU)
    }
    if !batched.isEmpty {
        floors.ringBatchedNanoseconds = median(batched)
        floors.ringBatchedCPUNanoseconds = median(batchedCPU)
    }
    if kinds.contains(.continuation) {
        _ = await runContinuationFloor(rounds: 200, gapMicroseconds: gapMicroseconds)
        var p50s: [Double] = []
        var p99s: [Double] = []
        for _ in 0..<runs {
            let result = await runContinuationFloor(rounds: rounds, gapMicroseconds: gapMicroseconds)
            results.append(result)
            if let latency = result.rows.first?.latency {
                p50s.append(latency.p50)
                p99s.append(latency.p99)
            }
        }
        if !p50s.isEmpty {
            floors.continuationP50 = median(p50s)
            floors.continuationP99 = median(p99s)
        }
    }
    let summary = [floors.ringSingleNanoseconds.map { "ring one at a time \(Format.number($0, digits: 1)) ns/msg" },
                   floors.ringBatchedNanoseconds.map { "ten at a time \(Format.number($0, digits: 1)) ns/msg" },
                   floors.continuationP50.map { "continuation p50 \(Format.micros($0))" },
                   floors.continuationP99.map { "p99 \(Format.micros($0))" }].compactMap { $0 }
    note("   floors: " + summary.joined(separator: ", "), quiet: quiet)
    return (results, floors)
}

import Foundation
import Testing

@testable import Broker

/// Helpers shared by the event-source-mapping, queue-worker, helper and order-pipeline tests. Nothing here sleeps:
/// waiting is a bounded loop of `Task.yield()`, and time moves only when a test advances the `ManualClock`.
enum ConsumerTestKit {
    /// Yields until `condition` holds, a bounded number of times; returns whether it holds.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        // At least two million yields, and at least two minutes of real time: under ThreadSanitizer on a loaded
        // two-core machine two million yields took a minute, short of a busy worker's next step.
        let floor = ContinuousClock.now.advanced(by: .seconds(120))
        var yields = 0
        while yields < 2_000_000 || ContinuousClock.now < floor {
            if condition() { return true }
            await Task.yield()
            yields += 1
        }
        return condition()
    }

    /// Yields `count` times, to give other tasks the chance to do what a test asserts they do not do.
    static func settle(_ count: Int = 2_000) async {
        for _ in 0..<count { await Task.yield() }
    }

    /// Visible, in-flight and delayed messages of `queue` (exact, settled to the clock's `now`).
    static func depth(_ queue: Queue) -> (visible: Int, inFlight: Int, delayed: Int) {
        guard let statistics = try? queue.statistics() else { return (-1, -1, -1) }
        return (statistics.approximateNumberOfMessages, statistics.approximateNumberOfMessagesNotVisible,
                statistics.approximateNumberOfMessagesDelayed)
    }

    /// Every message of `queue`, visible, in flight or delayed.
    static func total(_ queue: Queue) -> Int {
        let depth = depth(queue)
        return depth.visible + depth.inFlight + depth.delayed
    }

    /// Long polls waiting on `queue`.
    static func waiters(_ queue: Queue) -> Int {
        queue.core.state.withLock { $0.waiters.count }
    }

    /// Epoch milliseconds of `date`, as SQS writes timestamps.
    static func milliseconds(_ date: Date) -> String {
        String(Int64((date.timeIntervalSince1970 * 1000).rounded(.down)))
    }
}

/// Reads a consumer's one-reader event stream into a list a test can poll.
final class EventLog: Sendable {
    private let state: LockedState<(events: [ConsumerEvent], finished: Bool)>
    private let task: Task<Void, Never>

    init(_ stream: AsyncStream<ConsumerEvent>) {
        let state = LockedState<(events: [ConsumerEvent], finished: Bool)>(([], false))
        self.state = state
        task = Task {
            for await event in stream { state.withLock { $0.events.append(event) } }
            state.withLock { $0.finished = true }
        }
    }

    var events: [ConsumerEvent] { state.withLock { $0.events } }
    /// Whether the stream has ended (the consumer stopped).
    var finished: Bool { state.withLock { $0.finished } }

    var processed: [String] {
        events.compactMap { if case .processed(let id) = $0 { id } else { nil } }
    }

    var failed: [String] {
        events.compactMap { if case .failed(let id, _) = $0 { id } else { nil } }
    }

    var filteredOut: [String] {
        events.compactMap { if case .filteredOut(let id) = $0 { id } else { nil } }
    }

    var released: [String] {
        events.compactMap { if case .released(let id) = $0 { id } else { nil } }
    }

    var batches: [ConsumerEvent] {
        events.filter { if case .batchCompleted = $0 { true } else { false } }
    }

    var timedOut: [[String]] {
        events.compactMap { if case .timedOut(let ids) = $0 { ids } else { nil } }
    }

    /// Stops reading (for a consumer whose stream may never end).
    func cancel() { task.cancel() }
}

/// A door handlers wait at until a test opens it. Waiting is cancellation-aware: a cancelled waiter throws
/// `CancellationError`, as a cooperative handler should.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextID = 0
        var arrived = 0
    }

    private let state = LockedState(State())

    /// Waiters that arrived so far (including those let through or cancelled).
    var arrived: Int { state.withLock { $0.arrived } }
    /// Waiters blocked right now.
    var waiting: Int { state.withLock { $0.waiters.count } }

    func wait() async throws {
        let id = state.withLock { state -> Int in
            state.nextID += 1
            state.arrived += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // The cancellation flag is set before the handler below runs, and both take the lock, so a
                // cancellation is seen either here or there.
                let outcome = state.withLock { state -> Result<Void, any Error>? in
                    if state.open { return .success(()) }
                    if Task.isCancelled { return .failure(CancellationError()) }
                    state.waiters[id] = continuation
                    return nil
                }
                if let outcome { continuation.resume(with: outcome) }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume(throwing: CancellationError())
        }
    }

    /// Lets every waiter, present and future, through.
    func open() {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, any Error>] in
            state.open = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Counts handlers running at once and the most seen together.
final class ConcurrencyProbe: Sendable {
    private let state = LockedState((running: 0, maximum: 0, total: 0))

    func enter() {
        state.withLock { state in
            state.running += 1
            state.total += 1
            state.maximum = max(state.maximum, state.running)
        }
    }

    func leave() { state.withLock { $0.running -= 1 } }

    var running: Int { state.withLock { $0.running } }
    var maximum: Int { state.withLock { $0.maximum } }
    var total: Int { state.withLock { $0.total } }
}

/// An order, the payload of the decoding and pipeline tests.
struct Order: Codable, Sendable, Hashable {
    var orderId: String
    var amount: Int
}

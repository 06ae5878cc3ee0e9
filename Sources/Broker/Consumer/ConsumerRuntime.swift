import Foundation

/// Lifecycle, concurrency slots, pausing, events and counters: what both consumer modes share.
///
/// One lock guards the state; waiting (for a slot, for resume, for handlers to finish) registers a continuation
/// under that lock and every state change resumes the waiters, which re-check their condition. Handler work runs on
/// unstructured tasks tracked here, so a graceful stop can let them finish while the poll loop is cancelled.
final class ConsumerRuntime: Sendable {
    enum Phase { case idle, running, stopping, stopped }

    struct State {
        var phase = Phase.idle
        var paused = false
        var freeSlots: Int
        var statistics = ConsumerStatistics()
        var waiters: [UInt64: CheckedContinuation<Void, Never>] = [:]
        var nextID: UInt64 = 0
        var handlers: [UInt64: Task<Void, Never>] = [:]
        var pollTask: Task<Void, Never>?
        var drainTimeout: Duration?
        var finished: [CheckedContinuation<Void, Never>] = []
    }

    let clock: any BrokerClock
    let state: LockedState<State>
    let events: AsyncStream<ConsumerEvent>
    private let eventSink: AsyncStream<ConsumerEvent>.Continuation

    init(clock: any BrokerClock, slots: Int) {
        self.clock = clock
        state = LockedState(State(freeSlots: slots))
        // Bounded: a consumer nobody watches must not grow a buffer forever; a watcher sees the newest events.
        (events, eventSink) = AsyncStream.makeStream(of: ConsumerEvent.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    var statistics: ConsumerStatistics { state.withLock { $0.statistics } }

    func emit(_ event: ConsumerEvent, _ count: (inout ConsumerStatistics) -> Void = { _ in }) {
        state.withLock { count(&$0.statistics) }
        eventSink.yield(event)
    }

    // MARK: Waiting

    /// Returns once `condition` holds, at the next state change (callers check again), or at once when the calling
    /// task is cancelled.
    func wait(until condition: @escaping (State) -> Bool) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if condition(state) || Task.isCancelled { return true }
                    state.waiters[id] = continuation
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.resume()
        }
    }

    /// Wakes every waiter after a state change.
    func change(_ body: (inout State) -> Void) {
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            body(&state)
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Takes between 1 and `maximum` free slots, waiting while none is free or the consumer is paused.
    /// Returns 0 when the consumer is stopping or the task is cancelled.
    func acquire(maximum: Int) async -> Int {
        while true {
            let taken = state.withLock { state -> Int? in
                guard state.phase == .running else { return 0 }
                guard !state.paused, state.freeSlots > 0 else { return nil }
                let taken = min(maximum, state.freeSlots)
                state.freeSlots -= taken
                return taken
            }
            if let taken { return taken }
            if Task.isCancelled { return 0 }
            await wait { $0.phase != .running || (!$0.paused && $0.freeSlots > 0) }
        }
    }

    func release(_ slots: Int) {
        guard slots > 0 else { return }
        change { $0.freeSlots += slots }
    }

    /// Runs `work` on its own task, tracked so that shutdown can wait for it or cancel it.
    func spawn(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            state.nextID += 1
            let id = state.nextID
            state.statistics.inFlight += 1
            state.handlers[id] = Task { [self] in
                await work()
                change { state in
                    state.handlers[id] = nil
                    state.statistics.inFlight -= 1
                }
            }
        }
    }

    // MARK: Lifecycle

    /// Runs `poll` until the task is cancelled or ``stop(drainTimeout:)`` is called, then drains.
    func run(_ poll: @escaping @Sendable () async -> Void) async throws(BrokerError) {
        let started = state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            return true
        }
        guard started else { throw BrokerError(.unsupportedOperation, "The consumer is already running or has stopped.") }
        emit(.started)
        let task = Task { await poll() }
        state.withLock { $0.pollTask = task }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            cancelNow()
        }
        // On a task of its own: when the run task was cancelled, waiting here must not end at once (``wait``
        // returns on cancellation), or run() would return while cancelled handlers are still settling.
        await Task { [self] in await drain() }.value
        let finished = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.phase = .stopped
            defer { state.finished.removeAll() }
            return state.finished
        }
        emit(.stopped)
        eventSink.finish()
        for waiter in finished { waiter.resume() }
    }

    /// Stops polling at once and cancels running handlers: their messages stay on the queue, unacknowledged.
    func cancelNow() {
        let tasks = state.withLock { state -> [Task<Void, Never>] in
            if state.phase == .running { state.phase = .stopping }
            state.drainTimeout = .zero
            return [state.pollTask].compactMap { $0 } + state.handlers.values
        }
        for task in tasks { task.cancel() }
        change { _ in }
    }

    /// Stops polling, lets running handlers finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them. Returns when the consumer has stopped.
    func stop(drainTimeout: Duration) async {
        let (poll, alreadyStopped, neverRan) = state.withLock { state -> (Task<Void, Never>?, Bool, Bool) in
            let neverRan = state.phase == .idle
            if state.phase == .idle { state.phase = .stopped }
            if state.phase == .running { state.phase = .stopping }
            if state.drainTimeout == nil { state.drainTimeout = drainTimeout }
            return (state.pollTask, state.phase == .stopped, neverRan)
        }
        // Stopped before it ran: run() will refuse to start, so end the event stream here.
        if neverRan { eventSink.finish() }
        poll?.cancel()
        change { _ in }
        guard !alreadyStopped else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.phase == .stopped { return true }
                state.finished.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func pause() { change { $0.paused = true } }
    func resume() { change { $0.paused = false } }

    var isStopping: Bool { state.withLock { $0.phase != .running } }

    private func drain() async {
        let timeout = state.withLock { $0.drainTimeout } ?? .seconds(30)
        let deadline = Task { [self] in
            if timeout > .zero {
                do { try await clock.sleep(for: timeout) } catch { return }
            }
            let running = state.withLock { Array($0.handlers.values) }
            for task in running { task.cancel() }
        }
        // `wait` also returns on any other change (a slot released): wait until no handler runs.
        while !state.withLock({ $0.handlers.isEmpty }) { await wait { $0.handlers.isEmpty } }
        deadline.cancel()
    }
}

/// What both consumer modes share: the lifecycle, the event stream and the counters.
///
/// `@unchecked Sendable` because the class is open to its two subclasses only; every stored property is an
/// immutable `Sendable` value.
public class QueueConsumer: @unchecked Sendable {
    let runtime: ConsumerRuntime

    init(runtime: ConsumerRuntime) {
        self.runtime = runtime
    }

    /// Events in order: started, received, processed, failed, timed out, filtered out, batch completed, empty poll,
    /// delete failed, released, stopped. One reader.
    public var events: AsyncStream<ConsumerEvent> { runtime.events }
    /// Counters so far.
    public var statistics: ConsumerStatistics { runtime.statistics }

    /// Polls until the task is cancelled (running handlers are cancelled; nothing unacknowledged is deleted) or
    /// ``stop(drainTimeout:)`` is called.
    public func run() async throws(BrokerError) {
        try await runtime.run { [self] in await pollLoop() }
    }

    /// Starts ``run()`` on its own task.
    public func start() {
        Task { try? await run() }
    }

    /// Stops polling, lets running handlers finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them; returns when the consumer has stopped.
    public func stop(drainTimeout: Duration = .seconds(30)) async {
        await runtime.stop(drainTimeout: drainTimeout)
    }

    /// Stops receiving until ``resume()`` (Lambda's `Enabled: false`); running handlers go on.
    public func pause() { runtime.pause() }
    /// Receives again.
    public func resume() { runtime.resume() }

    /// The mode's polling; runs until the runtime stops handing out slots.
    func pollLoop() async {}
}

/// Runs `body` against a timeout on the broker's clock; the body is cancelled (cooperatively) when time runs out, and
/// when the caller is cancelled, which settles the call at once as a `CancellationError` failure.
enum Timeout {
    enum Outcome<T: Sendable>: Sendable {
        case finished(Result<T, any Error>)
        case timedOut
    }

    static func run<T: Sendable>(_ timeout: Duration, clock: any BrokerClock,
                                 _ body: @escaping @Sendable () async throws -> T) async -> Outcome<T> {
        let gate = LockedState<(done: Bool, cancelled: Bool, timer: Task<Void, Never>?, work: Task<Void, Never>?)>(
            (false, false, nil, nil))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<T>, Never>) in
                @Sendable func finish(_ outcome: Outcome<T>) -> Bool {
                    let tasks = gate.withLock { state -> (Task<Void, Never>?, Task<Void, Never>?)? in
                        guard !state.done else { return nil }
                        state.done = true
                        return (state.timer, state.work)
                    }
                    guard let tasks else { return false }
                    continuation.resume(returning: outcome)
                    if case .timedOut = outcome { tasks.1?.cancel() } else { tasks.0?.cancel() }
                    return true
                }
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    _ = finish(.finished(result))
                }
                let timer = Task {
                    do { try await clock.sleep(for: timeout) } catch {
                        // Cancelled: the body finished first (then this does nothing), or the caller was
                        // cancelled, which settles the call now, as a failure, without waiting for the body.
                        _ = finish(.finished(.failure(CancellationError())))
                        return
                    }
                    _ = finish(.timedOut)
                }
                let (decided, cancelled) = gate.withLock { state -> (Bool, Bool) in
                    state.work = work
                    state.timer = timer
                    return (state.done, state.cancelled)
                }
                if decided || cancelled {
                    // Decided or cancelled before the tasks were recorded: stop them (a finished one ignores it).
                    timer.cancel()
                    work.cancel()
                }
            }
        } onCancel: {
            let tasks = gate.withLock { state -> [Task<Void, Never>] in
                state.cancelled = true
                return [state.timer, state.work].compactMap { $0 }
            }
            for task in tasks { task.cancel() }
        }
    }
}

import Foundation

/// Lifecycle, concurrency slots, pausing, events and counters: what both consumer modes share.
///
/// One lock guards the state; waiting (for a slot, for resume, for handlers to finish) registers a continuation and
/// its condition under that lock, and a state change resumes the waiters whose condition now holds. Handler work runs
/// on unstructured tasks tracked here, so a graceful stop can let them finish while the poll loop is cancelled:
/// either a task per unit of work (``spawn(_:)``) or a pool of long-lived workers fed by ``received(_:unusedSlots:)``.
final class ConsumerRuntime: Sendable {
    enum Phase { case idle, running, stopping, stopped }

    /// A delete owed for a handler that succeeded, batched with others by the pool (see ``received(_:unusedSlots:)``).
    struct PendingDelete: Sendable {
        let messageId: String
        let receiptHandle: String
    }

    /// What a pool job leaves to settle: the slots it frees and the delete it owes, if any.
    struct JobOutcome: Sendable {
        var slots: Int
        var delete: PendingDelete?
    }

    /// A unit of pool work: one message, or one batch that settles its own slots.
    typealias Job = @Sendable () async -> JobOutcome

    /// A short (non-waiting) receive of at most the given number of messages, done by a pool worker: the jobs for
    /// what arrived and how many messages (slots) they hold, or nil when receiving failed and the poll loop must
    /// take over (it then meets the error itself).
    typealias Receive = @Sendable (Int) async -> (jobs: [Job], messages: Int)?

    /// How pool workers receive for themselves: at most `batchSize` messages a receive.
    struct PoolReceiver: Sendable {
        let batchSize: Int
        let receive: Receive
    }

    /// A task parked in ``wait(until:)``: resumed once `condition` holds, on cancellation, or at shutdown.
    struct Waiter {
        let condition: @Sendable (borrowing State) -> Bool
        let continuation: CheckedContinuation<Void, Never>
        /// The poll loop waiting for slots: resuming it makes it responsible for pending deletes again.
        let poller: Bool
    }

    struct State {
        var phase = Phase.idle
        var paused = false
        var freeSlots: Int
        var statistics = ConsumerStatistics()
        /// Whether anyone asked for the event stream; until then only `started` and `stopped` are buffered.
        var observed = false
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        var handlers: [UInt64: Task<Void, Never>] = [:]
        var pollTask: Task<Void, Never>?
        var drainTimeout: Duration?
        var finished: [CheckedContinuation<Void, Never>] = []
        // The worker pool.
        var jobs = Ring<Job>()
        var workers = 0
        var idleWorkers: [(id: UInt64, continuation: UnsafeContinuation<Bool, Never>)] = []
        /// Workers resumed (or spawned) to take a job that have not taken one yet: while one is on its way, no
        /// other is woken, so a burst of short handlers is not spread over as many thread wake-ups.
        var waking = 0
        /// The poll loop has ended: workers exit once the jobs are done.
        var closed = false
        var deletes: [PendingDelete] = []
        /// The poll loop is running and will reach ``acquire(maximum:)`` or ``pollerWillWait()`` promptly, where it
        /// sends the pending deletes: workers leave them to it, so that a round of short handlers costs one
        /// DeleteMessageBatch instead of one per worker going idle.
        var pollerAwake = false
        /// Set while a run lasts when the mode lets workers receive (see ``received(_:unusedSlots:)``).
        var receiver: PoolReceiver?
        /// The last receive found messages: workers receive for themselves until one finds the queue empty, and
        /// the poll loop waits meanwhile unless no worker is free to do it (all run handlers).
        var workersReceive = false
        /// A receive (a worker's, or the poll loop's when the mode has a receiver) is under way; one at a time.
        var receiving = false
        /// Jobs workers are running now.
        var running = 0

        /// Workers neither running a job nor parked: each will soon take a job or receive.
        var availableWorkers: Int { workers - running - idleWorkers.count }

        /// Removes and returns the waiters whose condition holds now.
        mutating func readyWaiters() -> [CheckedContinuation<Void, Never>] {
            guard !waiters.isEmpty else { return [] }
            let ids = waiters.compactMap { $0.value.condition(self) ? $0.key : nil }
            return ids.compactMap { id in
                guard let waiter = waiters.removeValue(forKey: id) else { return nil }
                if waiter.poller { pollerAwake = true }
                return waiter.continuation
            }
        }
    }

    let clock: any BrokerClock
    let state: LockedState<State>
    private let stream: AsyncStream<ConsumerEvent>
    private let eventSink: AsyncStream<ConsumerEvent>.Continuation
    /// Most pool workers at once: the concurrency, since every queued or running job holds at least one slot.
    private let maximumWorkers: Int
    /// Deletes a batch of settled messages and reports the outcome (pool jobs only).
    private let deleter: (@Sendable ([PendingDelete], ConsumerRuntime) -> Void)?

    init(clock: any BrokerClock, slots: Int, deleter: (@Sendable ([PendingDelete], ConsumerRuntime) -> Void)? = nil) {
        self.clock = clock
        self.maximumWorkers = slots
        self.deleter = deleter
        state = LockedState(State(freeSlots: slots))
        // Bounded: a consumer nobody watches must not grow a buffer forever; a watcher sees the newest events.
        (stream, eventSink) = AsyncStream.makeStream(of: ConsumerEvent.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    /// The event stream. Asking for it turns event delivery on: a consumer nobody watches builds no events.
    var events: AsyncStream<ConsumerEvent> {
        state.withLock { $0.observed = true }
        return stream
    }

    var statistics: ConsumerStatistics { state.withLock { $0.statistics } }

    func emit(_ event: @autoclosure () -> ConsumerEvent, _ count: (inout ConsumerStatistics) -> Void = { _ in }) {
        let observed = state.withLock { state -> Bool in
            count(&state.statistics)
            return state.observed
        }
        if observed { eventSink.yield(event()) }
    }

    /// Counts several messages under one lock and reports an event for each.
    func emit<Items: Sequence>(_ items: Items, as event: (Items.Element) -> ConsumerEvent,
                               _ count: (inout ConsumerStatistics) -> Void) {
        let observed = state.withLock { state -> Bool in
            count(&state.statistics)
            return state.observed
        }
        if observed { for item in items { eventSink.yield(event(item)) } }
    }

    // MARK: Waiting

    /// Returns once `condition` holds, or at once when the calling task is cancelled. Every change that can make a
    /// condition true goes through ``change(_:)`` or the pool's own locked steps, which resume the ready waiters.
    func wait(poller: Bool = false, until condition: @escaping @Sendable (borrowing State) -> Bool) async {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { state -> Bool in
                    if condition(state) || Task.isCancelled { return true }
                    state.waiters[id] = Waiter(condition: condition, continuation: continuation, poller: poller)
                    return false
                }
                if ready { continuation.resume() }
            }
        } onCancel: {
            state.withLock { $0.waiters.removeValue(forKey: id) }?.continuation.resume()
        }
    }

    /// Changes the state and wakes the waiters whose condition now holds.
    func change(_ body: (inout State) -> Void) {
        let ready = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            body(&state)
            return state.readyWaiters()
        }
        for waiter in ready { waiter.resume() }
    }

    /// Takes between 1 and `maximum` free slots, waiting while none is free or the consumer is paused.
    /// Returns 0 when the consumer is stopping or the task is cancelled.
    ///
    /// While pool jobs wait for a worker, a receive could not start anything sooner, so it waits for them to start
    /// or for `maximum` free slots: fewer, fuller receives instead of one per slot freed.
    ///
    /// The poll loop also sends the pool's pending deletes here (see ``received(_:unusedSlots:)``): when it goes on to receive or
    /// stops, and before it waits if no queued job is left to trigger a flush.
    func acquire(maximum: Int) async -> Int {
        while true {
            var flush: [PendingDelete] = []
            let taken = state.withLock { state -> Int? in
                let taken: Int?
                if state.phase != .running {
                    taken = 0
                } else if Self.canReceive(state, maximum: maximum) {
                    taken = min(maximum, state.freeSlots)
                    state.freeSlots -= taken ?? 0
                    if state.receiver != nil { state.receiving = true }
                } else {
                    taken = nil
                }
                // Receiving (a first, short poll: prompt) keeps the poll loop responsible for the deletes.
                state.pollerAwake = (taken ?? 0) > 0
                if taken != nil || state.jobs.isEmpty { swap(&flush, &state.deletes) }
                return taken
            }
            if !flush.isEmpty { deleter?(flush, self) }
            if let taken { return taken }
            if Task.isCancelled { return 0 }
            await wait(poller: true) { $0.phase != .running || Self.canReceive($0, maximum: maximum) }
        }
    }

    /// The poll loop is about to wait (a long poll or an idle sleep): it sends the pending deletes and leaves the
    /// next ones to the workers.
    func pollerWillWait() {
        var flush: [PendingDelete] = []
        state.withLock { state in
            state.pollerAwake = false
            swap(&flush, &state.deletes)
        }
        if !flush.isEmpty { deleter?(flush, self) }
    }

    private static func canReceive(_ state: borrowing State, maximum: Int) -> Bool {
        !state.paused && state.freeSlots > 0 && (state.jobs.isEmpty || state.freeSlots >= maximum)
            && !state.receiving && (!state.workersReceive || state.availableWorkers == 0)
    }

    func release(_ slots: Int) {
        guard slots > 0 else { return }
        change { $0.freeSlots += slots }
    }

    /// Runs `work` on its own task, tracked so that shutdown can wait for it or cancel it.
    func spawn(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            state.statistics.inFlight += 1
            track(&state) { [self] in
                await work()
                change { $0.statistics.inFlight -= 1 }
            }
        }
    }

    /// Starts a tracked task; it removes itself when done. Called under the lock, so that the task cannot end
    /// before it is recorded.
    private func track(_ state: inout State, _ work: @escaping @Sendable () async -> Void) {
        state.nextID += 1
        let id = state.nextID
        state.handlers[id] = Task { [self] in
            await work()
            change { $0.handlers[id] = nil }
        }
    }

    // MARK: Worker pool

    /// Ends a receive of the poll loop, which took its slots from ``acquire(maximum:)``: returns the slots no
    /// message took and queues jobs for the pool. The poll loop is the only caller.
    ///
    /// Up to ``maximumWorkers`` long-lived worker tasks take the jobs in order: a job costs no task of its own, and a
    /// worker that finishes one takes the next without a thread wake-up. Concurrency holds as with a task per job:
    /// each job holds a slot, so jobs queued and running never outnumber the workers, and a queued job always has an
    /// idle worker to wake or room to spawn one. One worker is woken at a time; each that takes a job and leaves
    /// more behind wakes the next, so a handler that suspends never holds up the jobs behind it.
    ///
    /// When the mode gave a ``PoolReceiver``, a worker left with no job does the next receive itself, a short one,
    /// while the last receive found messages: under load, messages go from receive to handler on the same thread,
    /// with no hand-off to and from the poll loop. The first worker to find the queue empty hands receiving back to
    /// the poll loop, which long-polls. The poll loop also receives whenever no worker is available to (all run
    /// handlers or are parked), so free slots are never left unused. One receive runs at a time (`receiving`); a
    /// worker that finds one under way yields a few times for its jobs before it parks.
    ///
    /// Deletes owed by finished jobs are gathered and sent in batches of up to 10, never waiting on a handler: a
    /// worker sends them when 10 are pending, before it receives, when it parks or exits, and when it takes the
    /// last queued job unless a receive is under way or the poll loop is awake (``State/pollerAwake``): both send
    /// them promptly. While jobs are queued they are taken promptly, and the one that leaves the queue empty decides.
    func received(_ jobs: [Job], unusedSlots: Int) {
        let (wake, ready) = state.withLock { state -> (UnsafeContinuation<Bool, Never>?, [CheckedContinuation<Void, Never>]) in
            state.receiving = false
            state.freeSlots += unusedSlots
            for job in jobs { state.jobs.append(job) }
            if !jobs.isEmpty, state.receiver != nil { state.workersReceive = true }
            return (summonWorker(&state), state.readyWaiters())
        }
        wake?.resume(returning: true)
        for waiter in ready { waiter.resume() }
    }

    /// When jobs wait and no worker is on its way to them, wakes an idle worker (returned, to resume outside the
    /// lock) or spawns one.
    private func summonWorker(_ state: inout State) -> UnsafeContinuation<Bool, Never>? {
        guard !state.jobs.isEmpty, state.waking == 0 else { return nil }
        if let idle = state.idleWorkers.popLast() {
            state.waking += 1
            return idle.continuation
        }
        if state.workers < maximumWorkers {
            state.workers += 1
            state.waking += 1
            track(&state) { [self] in await work() }
        }
        return nil
    }

    /// Yields a worker makes while another's receive is under way before it parks. A worker's short receive takes
    /// a few microseconds, less than the thread wake-up that would un-park the worker when its jobs arrive; the poll
    /// loop's long poll may take seconds, so spinning stops after some tens of microseconds.
    private static let spinsBeforeParking = 100

    /// What a worker does next.
    private enum Step {
        case run(Job)
        case receive(Int, Receive)
        case spin
        case park
        case exit
    }

    /// What a worker's last step left to settle under the lock.
    private enum Settlement {
        case none
        case job(JobOutcome)
        /// A receive that took `slots`: what it returned.
        case received(slots: Int, result: (jobs: [Job], messages: Int)?)
    }

    /// A worker's loop: settle the last step, take the next job or receive, flush deletes, park when there is
    /// nothing to do.
    private func work() async {
        var settlement = Settlement.none
        var arrived = true  // spawned to take a job, counted in `waking`
        var spins = 0
        while true {
            let cancelled = Task.isCancelled
            let (step, flush, wake, ready) = state.withLock { state in
                if arrived { state.waking -= 1 }
                switch settlement {
                case .none: break
                case .job(let outcome):
                    state.running -= 1
                    state.freeSlots += outcome.slots
                    state.statistics.inFlight -= 1
                    if let delete = outcome.delete { state.deletes.append(delete) }
                case .received(let slots, let result):
                    state.receiving = false
                    let messages = result?.messages ?? 0
                    state.freeSlots += slots - messages
                    if messages == 0 { state.workersReceive = false }
                    for job in result?.jobs ?? [] { state.jobs.append(job) }
                }
                let step: Step
                var wake: UnsafeContinuation<Bool, Never>?
                if let job = state.jobs.removeFirst() {
                    state.running += 1
                    state.statistics.inFlight += 1
                    wake = summonWorker(&state)
                    step = .run(job)
                } else if state.closed || cancelled {
                    state.workers -= 1
                    step = .exit
                } else if let receiver = state.receiver, state.workersReceive, !state.receiving, !state.paused,
                          state.phase == .running, state.freeSlots > 0 {
                    let slots = min(receiver.batchSize, state.freeSlots)
                    state.freeSlots -= slots
                    state.receiving = true
                    step = .receive(slots, receiver.receive)
                } else if state.receiving, spins < Self.spinsBeforeParking {
                    step = .spin
                } else {
                    step = .park
                }
                let ready = state.readyWaiters()
                var flush: [PendingDelete] = []
                let leaving: Bool
                switch step {
                case .run: leaving = state.jobs.isEmpty && !state.pollerAwake && !state.receiving
                case .receive, .park, .exit: leaving = true
                case .spin: leaving = false
                }
                if !state.deletes.isEmpty, state.deletes.count >= 10 || leaving {
                    swap(&flush, &state.deletes)
                }
                return (step, flush, wake, ready)
            }
            settlement = .none
            arrived = false
            wake?.resume(returning: true)
            for waiter in ready { waiter.resume() }
            if !flush.isEmpty { deleter?(flush, self) }
            switch step {
            case .run(let job): spins = 0; settlement = .job(await job())
            case .spin: spins += 1; await Task.yield()
            case .receive(let slots, let receive): settlement = .received(slots: slots, result: await receive(slots))
            case .park: arrived = await park()
            case .exit: return
            }
        }
    }

    /// Parks an idle worker until a job is queued (true: it was counted in `waking`), or returns false at once
    /// when there is work, the pool closed, or the task is cancelled.
    private func park() async -> Bool {
        let id = state.withLock { state -> UInt64 in
            state.nextID += 1
            return state.nextID
        }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                // Checked again under the lock: a job queued since the worker's last step found no idle worker.
                // Parking leaves one worker fewer available to receive, which may let the poll loop go on.
                let (parked, ready) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    guard state.jobs.isEmpty, !state.closed, !Task.isCancelled else { return (false, []) }
                    state.idleWorkers.append((id, continuation))
                    return (true, state.readyWaiters())
                }
                for waiter in ready { waiter.resume() }
                if !parked { continuation.resume(returning: false) }
            }
        } onCancel: {
            let continuation = state.withLock { state -> UnsafeContinuation<Bool, Never>? in
                guard let index = state.idleWorkers.firstIndex(where: { $0.id == id }) else { return nil }
                return state.idleWorkers.remove(at: index).continuation
            }
            continuation?.resume(returning: false)
        }
    }

    /// No more jobs will come: idle workers exit, busy ones once the queue is empty.
    private func closePool() {
        var flush: [PendingDelete] = []
        let idle = state.withLock { state -> [UnsafeContinuation<Bool, Never>] in
            state.closed = true
            state.pollerAwake = false
            state.receiver = nil
            state.workersReceive = false
            swap(&flush, &state.deletes)
            defer { state.idleWorkers.removeAll() }
            return state.idleWorkers.map(\.continuation)
        }
        if !flush.isEmpty { deleter?(flush, self) }
        for worker in idle { worker.resume(returning: false) }
    }

    // MARK: Lifecycle

    /// Runs `poll` until the task is cancelled or ``stop(drainTimeout:)`` is called, then drains. With a
    /// `receiver`, pool workers also receive (see ``received(_:unusedSlots:)``).
    func run(receiver: PoolReceiver? = nil, _ poll: @escaping @Sendable () async -> Void) async throws(BrokerError) {
        let started = state.withLock { state -> Bool in
            guard state.phase == .idle else { return false }
            state.phase = .running
            state.receiver = receiver
            return true
        }
        guard started else { throw BrokerError(.unsupportedOperation, "The consumer is already running or has stopped.") }
        eventSink.yield(.started)
        let task = Task { await poll() }
        state.withLock { $0.pollTask = task }
        await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            cancelNow()
        }
        closePool()
        // On a task of its own: when the run task was cancelled, waiting here must not end at once (``wait``
        // returns on cancellation), or run() would return while cancelled handlers are still settling.
        await Task { [self] in await drain() }.value
        let finished = state.withLock { state -> [CheckedContinuation<Void, Never>] in
            state.phase = .stopped
            defer { state.finished.removeAll() }
            return state.finished
        }
        eventSink.yield(.stopped)
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
        // `wait` returns early only when cancelled; the loop keeps the check honest whatever woke it.
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
    ///
    /// Reading this property turns event delivery on (a consumer nobody watches builds no events): read it before
    /// ``start()`` or ``run()`` to see every event. `started` and `stopped` are always delivered.
    public var events: AsyncStream<ConsumerEvent> { runtime.events }
    /// Counters so far.
    public var statistics: ConsumerStatistics { runtime.statistics }

    /// Polls until the task is cancelled (running handlers are cancelled; nothing unacknowledged is deleted) or
    /// ``stop(drainTimeout:)`` is called.
    public func run() async throws(BrokerError) {
        try await runtime.run(receiver: poolReceiver) { [self] in await pollLoop() }
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

    /// How the mode's pool workers receive for themselves, if they do; read once per run.
    var poolReceiver: ConsumerRuntime.PoolReceiver? { nil }
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

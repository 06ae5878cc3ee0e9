import Foundation

/// Lifecycle, concurrency slots, pausing, events and counters: what both consumer modes share.
///
/// The decisions are a ``ConsumerStateMachine`` behind one lock; this class holds what a value type cannot: the
/// tasks, the continuations and the event stream, and it does what the machine decided once the lock is released.
/// Waiting (for a slot, for resume, for handlers to finish) registers a continuation and its condition under that
/// lock, and a state change resumes the waiters whose condition now holds. Handler work runs on unstructured tasks
/// tracked here, so a graceful stop can let them finish while the poll loop is cancelled: either a task per unit of
/// work (``spawn(_:)``) or a pool of long-lived workers fed by ``received(_:unusedSlots:)``.
final class ConsumerRuntime: Sendable {
    /// A delete owed for a message whose handler succeeded, from the job's outcome to `DeleteMessageBatch`.
    struct PendingDelete: Sendable {
        /// The message id as the worker has it (its bits: the text is made only if an event or a caller asks,
        /// which spares each message a 36-character string: a tenth of the worker's time a message), or as text.
        private enum Identity: Sendable {
            case id(MessageID)
            case text(String)
        }

        private let identity: Identity
        let receiptHandle: String

        init(id: MessageID, receiptHandle: String) {
            identity = .id(id)
            self.receiptHandle = receiptHandle
        }

        init(messageId: String, receiptHandle: String) {
            identity = .text(messageId)
            self.receiptHandle = receiptHandle
        }

        var messageId: String {
            switch identity {
            case .id(let id): id.string
            case .text(let text): text
            }
        }
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

    /// A task parked in ``wait(poller:until:)``: resumed once `condition` holds, on cancellation, or at shutdown.
    struct Waiter {
        let condition: @Sendable (borrowing State) -> Bool
        let continuation: CheckedContinuation<Void, Never>
        /// The poll loop waiting for slots: resuming it makes it responsible for pending deletes again.
        let poller: Bool
    }

    typealias Machine = ConsumerStateMachine<UnsafeContinuation<Bool, Never>>

    struct State {
        var machine: Machine
        /// Whether anyone asked for the event stream; until then only `started` and `stopped` are buffered.
        var observed = false
        var waiters: [UInt64: Waiter] = [:]
        var nextID: UInt64 = 0
        /// Every task that runs handler work: pool workers and spawned units of work.
        var handlers: [UInt64: Task<Void, Never>] = [:]
        var pollTask: Task<Void, Never>?
        /// Callers of ``stop(drainTimeout:)`` waiting for the run to end.
        var finished: [CheckedContinuation<Void, Never>] = []
        /// `waitUntil` conditions on the statistics (`ConsumerRuntime+WaitUntil.swift`).
        var statisticsWatchers = ConditionWaiters<ConsumerStatistics>()

        /// Removes and returns the waiters whose condition holds now.
        mutating func readyWaiters() -> [CheckedContinuation<Void, Never>] {
            guard !waiters.isEmpty else { return [] }
            // Conditions are read in place: every worker step asks, and copying each waiter out of the dictionary
            // (its closure and continuation retained and released) cost a QueueWorker 4% of its time a message.
            var ids: [UInt64] = []
            for index in waiters.indices where waiters.values[index].condition(self) {
                ids.append(waiters.keys[index])
            }
            guard !ids.isEmpty else { return [] }
            return ids.compactMap { id in
                guard let waiter = waiters.removeValue(forKey: id) else { return nil }
                if waiter.poller { machine.pollerResumed() }
                return waiter.continuation
            }
        }

        mutating func makeID() -> UInt64 {
            nextID += 1
            return nextID
        }
    }

    let clock: any BrokerClock
    /// The consumed queue: where settled messages are deleted.
    let queue: Queue
    let state: LockedState<State>
    private let stream: AsyncStream<ConsumerEvent>
    private let eventSink: AsyncStream<ConsumerEvent>.Continuation

    init(queue: Queue, clock: any BrokerClock, slots: Int) {
        self.queue = queue
        self.clock = clock
        state = LockedState(State(machine: Machine(slots: slots)))
        // Bounded: a consumer nobody watches must not grow a buffer forever; a watcher sees the newest events.
        (stream, eventSink) = AsyncStream.makeStream(of: ConsumerEvent.self, bufferingPolicy: .bufferingNewest(10_000))
    }

    // MARK: Events

    /// The event stream. Asking for it turns event delivery on: a consumer nobody watches builds no events.
    var events: AsyncStream<ConsumerEvent> {
        state.withLock { $0.observed = true }
        return stream
    }

    var statistics: ConsumerStatistics { state.withLock { $0.machine.statistics } }

    func emit(_ event: @autoclosure () -> ConsumerEvent, _ count: (inout ConsumerStatistics) -> Void = { _ in }) {
        let (observed, wakes) = state.withLock { state in
            count(&state.machine.statistics)
            return (state.observed, state.statisticsWakes())
        }
        if observed { eventSink.yield(event()) }
        for wake in wakes { wake() }
    }

    /// Counts several messages under one lock and reports an event for each.
    func emit<Items: Sequence>(_ items: Items, as event: (Items.Element) -> ConsumerEvent,
                               _ count: (inout ConsumerStatistics) -> Void) {
        let (observed, wakes) = state.withLock { state in
            count(&state.machine.statistics)
            return (state.observed, state.statisticsWakes())
        }
        if observed { for item in items { eventSink.yield(event(item)) } }
        for wake in wakes { wake() }
    }

    // MARK: Waiting

    /// Returns once `condition` holds, or at once when the calling task is cancelled. Every change that can make a
    /// condition true goes through ``change(_:)`` or the pool's own locked steps, which resume the ready waiters.
    func wait(poller: Bool = false, until condition: @escaping @Sendable (borrowing State) -> Bool) async {
        let id = state.withLock { $0.makeID() }
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
        let (ready, wakes) = state.withLock { state in
            body(&state)
            return (state.readyWaiters(), state.statisticsWakes())
        }
        for waiter in ready { waiter.resume() }
        for wake in wakes { wake() }
    }

    // MARK: Tasks

    /// Runs `work` on its own task, tracked so that shutdown can wait for it or cancel it.
    func spawn(_ work: @escaping @Sendable () async -> Void) {
        state.withLock { state in
            state.machine.statistics.inFlight += 1
            track(&state) { [self] in
                await work()
                change { $0.machine.statistics.inFlight -= 1 }
            }
        }
    }

    /// Starts a tracked task; it removes itself when done. Called under the lock, so that the task cannot end
    /// before it is recorded.
    func track(_ state: inout State, _ work: @escaping @Sendable () async -> Void) {
        let id = state.makeID()
        state.handlers[id] = Task { [self] in
            await work()
            change { $0.handlers[id] = nil }
        }
    }

    // MARK: Lifecycle

    /// Runs `poll` until the task is cancelled or ``stop(drainTimeout:)`` is called, then drains. With a
    /// `receiver`, pool workers also receive (see ``received(_:unusedSlots:)``).
    func run(receiver: PoolReceiver? = nil, _ poll: @escaping @Sendable () async -> Void) async throws(BrokerError) {
        let started = state.withLock { $0.machine.start(receiver: receiver) }
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
            state.machine.finish()
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
            state.machine.cancel()
            return [state.pollTask].compactMap { $0 } + state.handlers.values
        }
        for task in tasks { task.cancel() }
        change { _ in }
    }

    /// Stops polling, lets running handlers finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them. Returns when the consumer has stopped.
    func stop(drainTimeout: Duration) async {
        let (poll, request) = state.withLock { state in
            (state.pollTask, state.machine.stop(drainTimeout: drainTimeout))
        }
        // Stopped before it ran: run() will refuse to start, so end the event stream here.
        if request.neverRan { eventSink.finish() }
        poll?.cancel()
        change { _ in }
        guard !request.alreadyStopped else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done = state.withLock { state -> Bool in
                if state.machine.phase == .stopped { return true }
                state.finished.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    func pause() { change { $0.machine.pause() } }
    func resume() { change { $0.machine.resume() } }

    var isStopping: Bool { state.withLock { $0.machine.isStopping } }

    private func drain() async {
        let timeout = state.withLock { $0.machine.drainTimeout } ?? Machine.defaultDrainTimeout
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

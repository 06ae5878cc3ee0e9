/// The decisions of a consumer: its lifecycle (idle, running, stopping, stopped, paused), its slots, and its pool of
/// workers (which job runs next, who receives, who is woken, when deletes are sent).
///
/// A value type with `mutating` transitions that return what to do, so that every rule can be driven without tasks,
/// a clock or a lock. ``ConsumerRuntime`` holds one under its lock and does what the actions say after the lock:
/// resume a parked worker, send deletes, run a job. `Wake` is what resumes a parked worker: the runtime's
/// continuation, or a plain number in tests.
struct ConsumerStateMachine<Wake> {
    enum Phase { case idle, running, stopping, stopped }

    typealias Job = ConsumerRuntime.Job
    typealias PendingDelete = ConsumerRuntime.PendingDelete

    /// What a worker does next.
    enum Step {
        case run(Job)
        /// A short receive of this many messages (the slots it took).
        case receive(Int, ConsumerRuntime.Receive)
        /// Yield and ask again: another receive is under way and will likely bring jobs within microseconds.
        case spin
        case park
        case exit
    }

    /// What a worker's last step left to settle.
    enum Settlement {
        case none
        case job(ConsumerRuntime.JobOutcome)
        /// A receive that took `slots`: what it returned (nil when it failed).
        case received(slots: Int, result: (jobs: [Job], messages: Int)?)
    }

    /// How a queued job gets a worker.
    enum Summons {
        /// A worker is already on its way, or no job waits.
        case none
        /// Resume this parked worker.
        case wake(Wake)
        /// Start a new worker; it is already counted in ``workers`` and ``waking``.
        case spawn
    }

    /// Everything a worker's step decided, to be done after the lock in this order: summon, deletes, step.
    struct WorkerAction {
        var step: Step
        /// Deletes to send now.
        var deletes: [PendingDelete]
        /// Another worker for the jobs this one left queued.
        var summons: Summons
    }

    /// What the poll loop's request for slots decided.
    struct Acquisition {
        /// The slots taken (0: stop polling), or nil to wait until ``mayAcquire(maximum:)`` holds.
        var slots: Int?
        /// Deletes to send now.
        var deletes: [PendingDelete]
    }

    /// What closing the pool decided: the parked workers to resume (they exit) and the deletes left to send.
    struct Closing {
        var idleWorkers: [Wake]
        var deletes: [PendingDelete]
    }

    /// What a stop request found.
    struct StopRequest {
        /// The consumer had never run: nothing will end its event stream but the caller.
        var neverRan: Bool
        /// Nothing left to wait for.
        var alreadyStopped: Bool
    }

    /// A DeleteMessageBatch holds at most this many entries; a full batch is sent at once.
    static var deleteBatchSize: Int { 10 }

    /// Yields a worker makes while another's receive is under way before it parks. A worker's short receive takes
    /// a few microseconds, less than the thread wake-up that would un-park the worker when its jobs arrive; the poll
    /// loop's long poll may take seconds, so spinning stops after some tens of microseconds.
    static var spinsBeforeParking: Int { 100 }

    /// Drain time when a run ends with no stop having named one.
    static var defaultDrainTimeout: Duration { .seconds(30) }

    /// Most pool workers at once: the concurrency, since every queued or running job holds at least one slot.
    let maximumWorkers: Int

    private(set) var phase = Phase.idle
    private(set) var paused = false
    private(set) var freeSlots: Int
    var statistics = ConsumerStatistics()
    /// The grace period of the first stop (zero once the run's task was cancelled).
    private(set) var drainTimeout: Duration?
    private(set) var jobs = Ring<Job>()
    private(set) var workers = 0
    private(set) var idleWorkers: [(id: UInt64, wake: Wake)] = []
    /// Workers resumed (or spawned) to take a job that have not taken one yet: while one is on its way, no
    /// other is woken, so a burst of short handlers is not spread over as many thread wake-ups.
    private(set) var waking = 0
    /// The poll loop has ended: workers exit once the jobs are done.
    private(set) var closed = false
    private(set) var deletes: [PendingDelete] = []
    /// The poll loop is running and will reach ``acquire(maximum:)`` or ``pollerWillWait()`` promptly, where it
    /// sends the pending deletes: workers leave them to it, so that a round of short handlers costs one
    /// DeleteMessageBatch instead of one per worker going idle.
    private(set) var pollerAwake = false
    /// Set while a run lasts when the mode lets workers receive.
    private(set) var receiver: ConsumerRuntime.PoolReceiver?
    /// The last receive found messages: workers receive for themselves until one finds the queue empty, and
    /// the poll loop waits meanwhile unless no worker is free to do it (all run handlers).
    private(set) var workersReceive = false
    /// A receive (a worker's, or the poll loop's when the mode has a receiver) is under way; one at a time.
    private(set) var receiving = false
    /// Jobs workers are running now.
    private(set) var running = 0

    init(slots: Int) {
        maximumWorkers = slots
        freeSlots = slots
    }

    /// Workers neither running a job nor parked: each will soon take a job or receive.
    var availableWorkers: Int { workers - running - idleWorkers.count }

    var isStopping: Bool { phase != .running }

    // MARK: Lifecycle

    /// Begins a run; false when the consumer already ran or was stopped.
    mutating func start(receiver: ConsumerRuntime.PoolReceiver?) -> Bool {
        guard phase == .idle else { return false }
        phase = .running
        self.receiver = receiver
        return true
    }

    /// The run's task was cancelled: stop now, with no grace period for running handlers.
    mutating func cancel() {
        if phase == .running { phase = .stopping }
        drainTimeout = .zero
    }

    /// A graceful stop; the first grace period asked for holds.
    mutating func stop(drainTimeout: Duration) -> StopRequest {
        let neverRan = phase == .idle
        if phase == .idle { phase = .stopped }
        if phase == .running { phase = .stopping }
        if self.drainTimeout == nil { self.drainTimeout = drainTimeout }
        return StopRequest(neverRan: neverRan, alreadyStopped: phase == .stopped)
    }

    /// The run has drained.
    mutating func finish() {
        phase = .stopped
    }

    mutating func pause() { paused = true }
    mutating func resume() { paused = false }

    // MARK: The poll loop

    /// Whether the poll loop waiting for slots should ask again: it stops, or it may receive.
    func mayAcquire(maximum: Int) -> Bool {
        phase != .running || canReceive(maximum: maximum)
    }

    /// While pool jobs wait for a worker, a receive could not start anything sooner, so the poll loop waits for them
    /// to start or for `maximum` free slots: fewer, fuller receives instead of one per slot freed.
    private func canReceive(maximum: Int) -> Bool {
        !paused && freeSlots > 0 && (jobs.isEmpty || freeSlots >= maximum)
            && !receiving && (!workersReceive || availableWorkers == 0)
    }

    /// The poll loop asks for between 1 and `maximum` slots. It sends the pending deletes when it goes on to receive
    /// or stops, and before it waits if no queued job is left to trigger a send.
    mutating func acquire(maximum: Int) -> Acquisition {
        let taken: Int?
        if phase != .running {
            taken = 0
        } else if canReceive(maximum: maximum) {
            let slots = min(maximum, freeSlots)
            freeSlots -= slots
            if receiver != nil { receiving = true }
            taken = slots
        } else {
            taken = nil
        }
        // Receiving (a first, short poll: prompt) keeps the poll loop responsible for the deletes.
        pollerAwake = (taken ?? 0) > 0
        var flush: [PendingDelete] = []
        if taken != nil || jobs.isEmpty { swap(&flush, &deletes) }
        return Acquisition(slots: taken, deletes: flush)
    }

    /// The poll loop, waiting for slots, was resumed: it is responsible for pending deletes again.
    mutating func pollerResumed() {
        pollerAwake = true
    }

    /// The poll loop is about to wait (a long poll or an idle sleep): it sends the pending deletes and leaves the
    /// next ones to the workers.
    mutating func pollerWillWait() -> [PendingDelete] {
        pollerAwake = false
        var flush: [PendingDelete] = []
        swap(&flush, &deletes)
        return flush
    }

    /// Ends a receive of the poll loop, which took its slots from ``acquire(maximum:)``: returns the slots no
    /// message took and queues the jobs.
    mutating func received(_ newJobs: [Job], unusedSlots: Int) -> Summons {
        receiving = false
        freeSlots += unusedSlots
        for job in newJobs { jobs.append(job) }
        if !newJobs.isEmpty, receiver != nil { workersReceive = true }
        return summonWorker()
    }

    /// Slots given back outside the pool (a job's own, a mapping's batch).
    mutating func release(_ slots: Int) {
        freeSlots += slots
    }

    // MARK: Workers

    /// When jobs wait and no worker is on its way to them, wakes an idle worker or spawns one.
    private mutating func summonWorker() -> Summons {
        guard !jobs.isEmpty, waking == 0 else { return .none }
        if let idle = idleWorkers.popLast() {
            waking += 1
            return .wake(idle.wake)
        }
        if workers < maximumWorkers {
            workers += 1
            waking += 1
            return .spawn
        }
        return .none
    }

    /// A worker settles its last step and takes the next: a queued job first; else exit when the pool closed or
    /// the worker was cancelled; else a receive of its own while receives find messages; else spin while another
    /// receive is under way; else park.
    ///
    /// Deletes owed by finished jobs are sent in batches of up to ``deleteBatchSize``, never waiting on a handler:
    /// when a batch is full, before a receive, when the worker parks or exits, and when it takes the last queued job
    /// unless a receive is under way or the poll loop is awake (both send them promptly).
    ///
    /// - Parameters:
    ///   - settlement: what the worker's last step left.
    ///   - arrived: the worker was woken (or spawned) to take a job and is counted in ``waking``.
    ///   - cancelled: the worker's task is cancelled.
    ///   - spins: the steps it has spun since it last ran a job.
    mutating func nextStep(after settlement: Settlement, arrived: Bool, cancelled: Bool, spins: Int) -> WorkerAction {
        if arrived { waking -= 1 }
        switch settlement {
        case .none: break
        case .job(let outcome):
            running -= 1
            freeSlots += outcome.slots
            statistics.inFlight -= 1
            if let delete = outcome.delete { deletes.append(delete) }
        case .received(let slots, let result):
            receiving = false
            let messages = result?.messages ?? 0
            freeSlots += slots - messages
            if messages == 0 { workersReceive = false }
            for job in result?.jobs ?? [] { jobs.append(job) }
        }
        let step: Step
        var summons = Summons.none
        if let job = jobs.removeFirst() {
            running += 1
            statistics.inFlight += 1
            summons = summonWorker()
            step = .run(job)
        } else if closed || cancelled {
            workers -= 1
            step = .exit
        } else if let receiver, workersReceive, !receiving, !paused, phase == .running, freeSlots > 0 {
            let slots = min(receiver.batchSize, freeSlots)
            freeSlots -= slots
            receiving = true
            step = .receive(slots, receiver.receive)
        } else if receiving, spins < Self.spinsBeforeParking {
            step = .spin
        } else {
            step = .park
        }
        let leaving: Bool
        switch step {
        case .run: leaving = jobs.isEmpty && !pollerAwake && !receiving
        case .receive, .park, .exit: leaving = true
        case .spin: leaving = false
        }
        var flush: [PendingDelete] = []
        if !deletes.isEmpty, deletes.count >= Self.deleteBatchSize || leaving {
            swap(&flush, &deletes)
        }
        return WorkerAction(step: step, deletes: flush, summons: summons)
    }

    /// A worker with nothing to do parks, unless a job was queued since its last step, the pool closed, or it was
    /// cancelled: false then, and it asks again. Parking leaves one worker fewer available to receive, which may let
    /// the poll loop go on.
    mutating func park(id: UInt64, wake: Wake, cancelled: Bool) -> Bool {
        guard jobs.isEmpty, !closed, !cancelled else { return false }
        idleWorkers.append((id, wake))
        return true
    }

    /// A parked worker was cancelled: its wake, when it was still parked.
    mutating func unpark(id: UInt64) -> Wake? {
        guard let index = idleWorkers.firstIndex(where: { $0.id == id }) else { return nil }
        return idleWorkers.remove(at: index).wake
    }

    /// No more jobs will come: parked workers exit, busy ones once the queue is empty.
    mutating func close() -> Closing {
        closed = true
        pollerAwake = false
        receiver = nil
        workersReceive = false
        var flush: [PendingDelete] = []
        swap(&flush, &deletes)
        defer { idleWorkers.removeAll() }
        return Closing(idleWorkers: idleWorkers.map(\.wake), deletes: flush)
    }
}

/// The worker pool and the poll loop's slots: each step asks the ``ConsumerStateMachine`` under the lock, then
/// resumes, spawns, deletes and runs what it decided.
///
/// Up to `concurrency` long-lived worker tasks take the jobs in order: a job costs no task of its own, and a worker
/// that finishes one takes the next without a thread wake-up. Concurrency holds as with a task per job: each job
/// holds a slot, so jobs queued and running never outnumber the workers, and a queued job always has an idle worker
/// to wake or room to spawn one. One worker is woken at a time; each that takes a job and leaves more behind wakes
/// the next, so a handler that suspends never holds up the jobs behind it.
///
/// When the mode gave a ``PoolReceiver``, a worker left with no job does the next receive itself, a short one, while
/// the last receive found messages: under load, messages go from receive to handler on the same thread, with no
/// hand-off to and from the poll loop. The first worker to find the queue empty hands receiving back to the poll
/// loop, which long-polls. The poll loop also receives whenever no worker is available to (all run handlers or are
/// parked), so free slots are never left unused. One receive runs at a time; a worker that finds one under way
/// yields a few times for its jobs before it parks.
extension ConsumerRuntime {
    /// Takes between 1 and `maximum` free slots, waiting while none is free or the consumer is paused.
    /// Returns 0 when the consumer is stopping or the task is cancelled.
    ///
    /// The poll loop also sends the pool's pending deletes here (see ``ConsumerStateMachine/acquire(maximum:)``).
    func acquire(maximum: Int) async -> Int {
        while true {
            let acquisition = state.withLock { $0.machine.acquire(maximum: maximum) }
            if !acquisition.deletes.isEmpty { await settleDeletes(acquisition.deletes) }
            if let taken = acquisition.slots { return taken }
            if Task.isCancelled { return 0 }
            await wait(poller: true) { $0.machine.mayAcquire(maximum: maximum) }
        }
    }

    /// The poll loop is about to wait (a long poll or an idle sleep): it sends the pending deletes and leaves the
    /// next ones to the workers.
    func pollerWillWait() async {
        let flush = state.withLock { $0.machine.pollerWillWait() }
        if !flush.isEmpty { await settleDeletes(flush) }
    }

    /// Gives back slots taken outside the pool.
    func release(_ slots: Int) {
        guard slots > 0 else { return }
        change { $0.machine.release(slots) }
    }

    /// Ends a receive of the poll loop, which took its slots from ``acquire(maximum:)``: returns the slots no
    /// message took and queues jobs for the pool. The poll loop is the only caller.
    func received(_ jobs: [Job], unusedSlots: Int) {
        let (wake, ready) = state.withLock { state -> (UnsafeContinuation<Bool, Never>?, [CheckedContinuation<Void, Never>]) in
            let wake = summon(state.machine.received(jobs, unusedSlots: unusedSlots), in: &state)
            return (wake, state.readyWaiters())
        }
        wake?.resume(returning: true)
        for waiter in ready { waiter.resume() }
    }

    /// Carries out a summons under the lock: a new worker is tracked before it can end; a parked one is returned,
    /// to be resumed after the lock.
    private func summon(_ summons: Machine.Summons, in state: inout State) -> UnsafeContinuation<Bool, Never>? {
        switch summons {
        case .none: return nil
        case .wake(let worker): return worker
        case .spawn:
            track(&state) { [self] in await work() }
            return nil
        }
    }

    /// A worker's loop: settle the last step, take the next job or receive, send deletes, park when there is
    /// nothing to do.
    private func work() async {
        var settlement = Machine.Settlement.none
        var arrived = true  // spawned to take a job, counted in `waking`
        var spins = 0
        while true {
            let cancelled = Task.isCancelled
            let (action, wake, ready) = state.withLock { state in
                let action = state.machine.nextStep(after: settlement, arrived: arrived, cancelled: cancelled, spins: spins)
                let wake = summon(action.summons, in: &state)
                return (action, wake, state.readyWaiters())
            }
            settlement = .none
            arrived = false
            wake?.resume(returning: true)
            for waiter in ready { waiter.resume() }
            if !action.deletes.isEmpty { await settleDeletes(action.deletes) }
            switch action.step {
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
        let id = state.withLock { $0.makeID() }
        return await withTaskCancellationHandler {
            await withUnsafeContinuation { (continuation: UnsafeContinuation<Bool, Never>) in
                let (parked, ready) = state.withLock { state -> (Bool, [CheckedContinuation<Void, Never>]) in
                    guard state.machine.park(id: id, wake: continuation, cancelled: Task.isCancelled) else {
                        return (false, [])
                    }
                    return (true, state.readyWaiters())
                }
                for waiter in ready { waiter.resume() }
                if !parked { continuation.resume(returning: false) }
            }
        } onCancel: {
            state.withLock { $0.machine.unpark(id: id) }?.resume(returning: false)
        }
    }

    /// No more jobs will come: idle workers exit, busy ones once the queue is empty.
    func closePool() {
        let closing = state.withLock { $0.machine.close() }
        if !closing.deletes.isEmpty { deleteSettled(closing.deletes) }
        for worker in closing.idleWorkers { worker.resume(returning: false) }
    }
}

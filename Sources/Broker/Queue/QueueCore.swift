import Foundation
import Synchronization

/// The storage of one queue: its ``QueueStateMachine`` behind one lock, the clock the transitions are given `now`
/// from, the queue's one timer, and the effects the transitions leave, applied once the lock is released.
///
/// The only timer is one per queue, armed when a long poll waits, for the next moment a waiter can be served or must
/// return; message states follow from deadlines and are settled whenever the queue is touched.
final class QueueCore: Sendable, DeadLetterSink {
    let name: String
    let url: String
    let arn: String
    let isFifo: Bool
    let createdAt: Date
    /// Distinguishes this queue from an earlier queue of the same name, so old receipt handles are foreign.
    let incarnation: UInt64
    let clock: any BrokerClock
    let senderId: String
    let resolveQueue: @Sendable (String) -> QueueCore?
    let state: LockedState<QueueStateMachine>
    /// Whether a timer no waiter needs is cancelled at once (see ``rescheduleTimer(_:)``), read once from the clock.
    let cancelsIdleTimerAtOnce: Bool
    /// Where a durable queue's changes are journaled (`QueueCore+Journal.swift`); nil in memory.
    let durable: DurableQueue?
    /// Set with the state's `deleted`, for readers that must not take the lock: a deleted core stays deleted, and a
    /// queue made again under its name is another core.
    private let deletedFlag = Atomic<Bool>(false)

    init(name: String, url: String, arn: String, settings: QueueSettings, tags: [String: String], seed: UInt64,
         clock: any BrokerClock, senderId: String, inFlightLimit: Int,
         resolveQueue: @escaping @Sendable (String) -> QueueCore?, durable: DurableQueue? = nil,
         restoring restored: RestoredQueue? = nil) {
        self.name = name
        self.url = url
        self.arn = arn
        self.isFifo = settings.fifoQueue
        self.clock = clock
        self.senderId = senderId
        self.resolveQueue = resolveQueue
        self.cancelsIdleTimerAtOnce = clock.cancelsIdleWakeUpsEagerly
        self.durable = durable
        let now = clock.now
        self.createdAt = restored?.createdAt ?? now
        var ids = IDGenerator(seed: seed)
        self.incarnation = restored?.incarnation ?? ids.next() | 1
        let firstSequence = 10_000_000_000_000_000_000 + ids.next() % 1_000_000_000_000_000
        var machine = QueueStateMachine(isFifo: settings.fifoQueue, inFlightLimit: inFlightLimit,
                                        settings: settings, tags: tags, now: now, ids: ids,
                                        lastSequenceNumber: firstSequence)
        if let restored { machine.restore(restored) }
        if durable != nil { machine.log = QueueLog() }
        state = LockedState(machine)
    }

    /// Finds this queue's dead-letter queue for the state machine: any queue but this one.
    func deadLetterTarget(_ arn: String) -> (any DeadLetterSink)? {
        guard let target = resolveQueue(arn), target !== self else { return nil }
        return target
    }

    /// Runs `body` on the settled state, then serves waiters and re-arms the timer, then applies the effects outside
    /// the lock.
    func mutate<R>(_ body: (inout QueueStateMachine, Date, inout QueueEffects) throws(BrokerError) -> R) throws(BrokerError) -> R {
        var effects = QueueEffects()
        var ticket: Result<JournalTicket, BrokerError>?
        // `waitUntil` resumes ride beside the effects, not in them: a field more in the effects slowed every call.
        var wakes: [@Sendable () -> Void]?
        var released: [TimedEntry] = []
        var deduplicated = false
        let result: Result<R, BrokerError> = state.withLock { state in
            guard !state.deleted else { return .failure(BrokerError.queueDoesNotExist()) }
            let now = clock.now
            state.settle(now: now)
            if !state.released.isEmpty { swap(&released, &state.released) }
            defer {
                if durable != nil {
                    ticket = journal(&state)
                    if state.answeredFromDeduplication {
                        state.answeredFromDeduplication = false
                        deduplicated = true
                    }
                }
            }
            do throws(BrokerError) {
                let value = try body(&state, now, &effects)
                serveWaiters(&state, now: now, effects: &effects)
                if !state.watchers.isEmpty { wakes = checkWatchers(&state) }
                rescheduleTimer(&state)
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        if let ticket {
            if case .success(let journaled) = ticket, let deferral = DurableDeferral.current,
               let durable, deferral.add(.init(store: durable.store, ticket: journaled, finish: { [effects, wakes] failure in
                   if failure != nil { self.recordFailed() }
                   self.finish(effects, wakes)
               })) {
                if deduplicated { try durable.failedRecords.cover(with: durable.store) }
                return try result.get()
            }
            if let failure = awaitDurable(ticket) {
                recordFailed()
                finish(effects, wakes)
                throw failure
            }
        }
        finish(effects, wakes)
        // Here, after the lock, and explicitly: a value's lifetime may otherwise end at its last use, inside it.
        if !released.isEmpty { released = [] }
        if deduplicated, let durable { try durable.failedRecords.cover(with: durable.store) }
        return try result.get()
    }

    /// Counts a record of this queue that could not be stored (see ``FailedRecords``).
    func recordFailed() {
        durable?.failedRecords.note()
    }

    /// Reads the settled state.
    func read<R>(_ body: (inout QueueStateMachine, Date) throws(BrokerError) -> R) throws(BrokerError) -> R {
        try mutate { state, now, _ throws(BrokerError) in try body(&state, now) }
    }

    /// What a critical section leaves for after its lock (and its record): its effects, then its watchers' wakes.
    @inline(__always)
    func finish(_ effects: QueueEffects, _ wakes: [@Sendable () -> Void]?) {
        apply(effects)
        if let wakes { for wake in wakes { wake() } }
    }

    func apply(_ effects: QueueEffects) {
        guard !effects.isEmpty else { return }
        for (continuation, deliveries) in effects.resumes {
            continuation.resume(returning: deliveries)
        }
        if !effects.deadLetters.isEmpty {
            moveToDeadLetterQueue(effects.deadLetters, target: effects.deadLetterTarget)
        }
    }

    // MARK: Waiters and the timer

    private func serveWaiters(_ state: inout QueueStateMachine, now: Date, effects: inout QueueEffects) {
        guard !state.waiters.isEmpty else { return }
        state.serveWaiters(now: now, effects: &effects, deadLetterTarget: deadLetterTarget)
        if state.waiters.isEmpty, cancelsIdleTimerAtOnce { cancelIdleTimer(&state) }
    }

    /// Arms the queue's one timer for the next moment a waiter can be served or must return.
    ///
    /// A timer no waiter needs any more is left to fire: cancelling a Dispatch timer (and arming a new one for the
    /// next poll) sat on the path of every long poll a send satisfied and doubled its wake-up time, while the idle
    /// firing it saves costs one settle, once per wait period. A timer is cancelled only for an earlier one, when
    /// the last waiter is cancelled, when a consumer's polling ends, and when the queue is deleted. A clock that
    /// ``BrokerClock/cancelsIdleWakeUpsEagerly`` is the exception: there the timer is cancelled as the last waiter
    /// is served, so that on the manual clock `pendingWakeUps` is zero whenever no long poll waits, which is what a
    /// test asserts.
    func rescheduleTimer(_ state: inout QueueStateMachine) {
        guard let needed = state.nextWakeUp else { return }
        if let deadline = state.timer?.deadline, deadline <= needed { return }
        state.timer?.wakeUp.cancel()
        // Strong, not weak: the timer is armed only while long polls wait, so it fires within their 20 s, and a
        // weak reference would give the core a side table that slows every retain of it; a core dropped with
        // polls waiting would also leave their continuations unresumed.
        let wakeUp = clock.schedule(at: needed) { self.timerFired() }
        state.timer = (needed, wakeUp)
    }

    private func timerFired() {
        var effects = QueueEffects()
        var ticket: Result<JournalTicket, BrokerError>?
        var wakes: [@Sendable () -> Void]?
        state.withLock { state in
            state.timer = nil
            guard !state.deleted else { return }
            let now = clock.now
            state.settle(now: now)
            serveWaiters(&state, now: now, effects: &effects)
            if !state.watchers.isEmpty { wakes = checkWatchers(&state) }
            rescheduleTimer(&state)
            if durable != nil { ticket = journal(&state) }
        }
        // A waiter served here sees its messages only once their receive is journaled; a failure leaves them in
        // flight until their deadline (the waiter gets them, as the state already has them in flight). The timer's
        // thread does not wait for the disk: the journal applies the effects when it has decided the record.
        if let durable, case .success(let journaled)? = ticket {
            durable.store.journal.whenDecided(journaled) { [effects, wakes] failure in
                if failure != nil { self.recordFailed() }
                self.finish(effects, wakes)
            }
            return
        }
        finish(effects, wakes)
    }

    /// Registers a long poll; returns nil when it was registered, or what to resume with at once.
    func register(_ request: ReceiveRequest, visibilityTimeout: Int, deadline: Date, id: UInt64,
                  continuation: CheckedContinuation<[Delivery], any Error>) -> Result<[Delivery], any Error>? {
        var effects = QueueEffects()
        var ticket: Result<JournalTicket, BrokerError>?
        var wakes: [@Sendable () -> Void]?
        var outcome: Result<[Delivery], any Error>? = state.withLock { state in
            if Task.isCancelled { return .failure(CancellationError()) }
            guard !state.deleted else { return .success([]) }
            let now = clock.now
            state.settle(now: now)
            defer { if durable != nil { ticket = journal(&state) } }
            let deliveries = state.select(request: request, visibilityTimeout: visibilityTimeout, now: now,
                                          effects: &effects, deadLetterTarget: deadLetterTarget)
            if !state.watchers.isEmpty { wakes = checkWatchers(&state) }
            if !deliveries.isEmpty || deadline <= now {
                state.counters.countReceive(deliveries.count)
                return .success(deliveries)
            }
            state.waiters.append(Waiter(id: id, request: request, visibilityTimeout: visibilityTimeout,
                                        deadline: deadline, continuation: continuation))
            rescheduleTimer(&state)
            return nil
        }
        if let durable, case .success(let journaled)? = ticket {
            // The poll runs in a task: rather than block its thread for the disk, the journal resumes it (with the
            // messages it took, or the storage error) once the record is decided.
            durable.store.journal.whenDecided(journaled) { [effects, wakes, outcome] failure in
                if failure != nil { self.recordFailed() }
                self.finish(effects, wakes)
                if let outcome { continuation.resume(with: failure.map { .failure($0) } ?? outcome) }
            }
            return nil
        }
        if let ticket, let failure = awaitDurable(ticket) {
            recordFailed()
            if outcome != nil { outcome = .failure(failure) }
        }
        finish(effects, wakes)
        return outcome
    }

    /// Cancels a waiting long poll; the waiter is resumed here only if nobody resumed it before.
    func cancelWaiter(id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let waiter = state.removeWaiter(id: id) else { return nil }
            // Cancellation is off the hot path, and a stopped consumer should leave no timer behind.
            cancelIdleTimer(&state)
            return waiter
        }
        waiter?.continuation.resume(throwing: CancellationError())
    }

    /// Cancels the timer a send left armed when it served the last waiter (see ``rescheduleTimer(_:)``), if no
    /// long poll waits now. Consumers call it when their polling ends, which may be between two long polls, so that
    /// a stopped consumer leaves no wake-up on the clock.
    func cancelIdleTimer() {
        state.withLock { cancelIdleTimer(&$0) }
    }

    func cancelIdleTimer(_ state: inout QueueStateMachine) {
        guard state.waiters.isEmpty, state.watchers.isEmpty else { return }
        state.timer?.wakeUp.cancel()
        state.timer = nil
    }

    func nextWaiterID() -> UInt64 {
        state.withLock { state in
            defer { state.nextWaiterID += 1 }
            return state.nextWaiterID
        }
    }

    /// Marks the queue deleted: later calls fail with QueueDoesNotExist and waiting long polls return empty.
    func markDeleted() {
        var watcherFailures: [@Sendable () -> Void] = []
        let waiters: [Waiter] = state.withLock { state in
            state.deleted = true
            deletedFlag.store(true, ordering: .releasing)
            // Subscriptions may still hold the core until their next delivery finds it deleted; the messages go now.
            state.removeAllMessages()
            state.timer?.wakeUp.cancel()
            state.timer = nil
            defer { state.waiters.removeAll() }
            watcherFailures = state.watchers.removeAll(failingWith: BrokerError.queueDoesNotExist())
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: []) }
        for fail in watcherFailures { fail() }
    }

    var isDeleted: Bool { state.withLock { $0.deleted } }

    /// ``isDeleted`` without the lock: true once the deletion has taken the lock, possibly a moment before the caller
    /// would see it there.
    var wasDeleted: Bool { deletedFlag.load(ordering: .acquiring) }

    // MARK: Dead letters

    /// Moves messages a receive took out for the dead-letter queue `target`, found under the lock.
    func moveToDeadLetterQueue(_ messages: [StoredMessage], target: (any DeadLetterSink)?) {
        if let target, target.acceptDeadLetters(messages, sourceArn: arn) { return }
        // The dead-letter queue vanished between the receive and the move: keep the messages here.
        putBack(messages)
    }

    /// Takes messages moved from `sourceArn` (see ``QueueStateMachine/acceptDeadLetters(_:sourceArn:now:)``).
    func acceptDeadLetters(_ messages: [StoredMessage], sourceArn: String) -> Bool {
        (try? mutate { state, now, _ in
            state.acceptDeadLetters(messages, sourceArn: sourceArn, now: now)
            return true
        }) ?? false
    }

    /// Returns messages a failed move could not deliver.
    func putBack(_ messages: [StoredMessage]) {
        try? mutate { state, now, _ in state.putBack(messages, now: now) }
    }
}

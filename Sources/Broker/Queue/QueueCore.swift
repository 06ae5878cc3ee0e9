import Foundation

/// What a critical section leaves to do once the lock is released: resume waiters, move dead letters.
struct QueueEffects {
    var resumes: [(CheckedContinuation<[Delivery], any Error>, [Delivery])] = []
    var deadLetters: [StoredMessage] = []
    var deadLetterTarget: QueueCore?

    var isEmpty: Bool { resumes.isEmpty && deadLetters.isEmpty }
}

/// The shared core of one queue: its state behind one lock, and the operations on it.
///
/// Message states follow from deadlines and `now` and are settled whenever the queue is touched; the only timer is
/// one per queue, armed when a long poll waits, for the next moment a waiter can be served or must return.
final class QueueCore: Sendable {
    let name: String
    let url: String
    let arn: String
    let isFifo: Bool
    let createdAt: Date
    /// Distinguishes this queue from an earlier queue of the same name, so old receipt handles are foreign.
    let incarnation: UInt64
    let clock: any BrokerClock
    let senderId: String
    let inFlightLimit: Int
    let resolveQueue: @Sendable (String) -> QueueCore?
    let state: LockedState<QueueState>
    /// Whether a timer no waiter needs is cancelled at once (see ``rescheduleTimer(_:)``): on the manual clock,
    /// whose pending wake-ups are what a test counts and where cancelling one is an array removal.
    let cancelsIdleTimerAtOnce: Bool

    static let maximumVisibility = 43_200
    static let deduplicationWindow: TimeInterval = 300

    init(name: String, url: String, arn: String, settings: QueueSettings, tags: [String: String], seed: UInt64,
         clock: any BrokerClock, senderId: String, inFlightLimit: Int,
         resolveQueue: @escaping @Sendable (String) -> QueueCore?) {
        self.name = name
        self.url = url
        self.arn = arn
        self.isFifo = settings.fifoQueue
        self.clock = clock
        self.senderId = senderId
        self.inFlightLimit = inFlightLimit
        self.resolveQueue = resolveQueue
        self.cancelsIdleTimerAtOnce = clock is ManualClock
        let now = clock.now
        self.createdAt = now
        var ids = IDGenerator(seed: seed)
        self.incarnation = ids.next() | 1
        let firstSequence = 10_000_000_000_000_000_000 + ids.next() % 1_000_000_000_000_000
        state = LockedState(QueueState(settings: settings, tags: tags, lastModified: now, ids: ids,
                                       nextSequenceNumber: firstSequence))
    }

    /// Runs `body` on the live state, then settles waiters and the timer, then applies the effects outside the lock.
    func mutate<R>(_ body: (inout QueueState, Date, inout QueueEffects) throws(BrokerError) -> R) throws(BrokerError) -> R {
        var effects = QueueEffects()
        let result: Result<R, BrokerError> = state.withLock { state in
            guard !state.deleted else { return .failure(BrokerError.queueDoesNotExist()) }
            let now = clock.now
            settle(&state, now: now)
            do throws(BrokerError) {
                let value = try body(&state, now, &effects)
                serveWaiters(&state, now: now, effects: &effects)
                rescheduleTimer(&state)
                return .success(value)
            } catch {
                return .failure(error)
            }
        }
        apply(effects)
        return try result.get()
    }

    /// Reads the settled state.
    func read<R>(_ body: (inout QueueState, Date) throws(BrokerError) -> R) throws(BrokerError) -> R {
        try mutate { state, now, _ throws(BrokerError) in try body(&state, now) }
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

    // MARK: Settling

    /// Brings message states up to `now`: expires messages past retention, makes due delayed and in-flight
    /// messages visible. Cost is proportional to what changed, never to the queue's depth.
    func settle(_ state: inout QueueState, now: Date) {
        let retention = TimeInterval(state.settings.messageRetentionPeriod)
        while let oldest = state.retention.min {
            if oldest.state == .gone {
                _ = state.retention.popMin()
            } else if oldest.enqueuedAt.addingTimeInterval(retention) <= now {
                _ = state.retention.popMin()
                remove(oldest, from: &state)
            } else {
                break
            }
        }
        while let next = state.hidden.min, next.deadline <= now {
            _ = state.hidden.popMin()
            if next.isCurrent { makeVisible(next.message, in: &state) }
        }
        compactIfNeeded(&state)
    }

    func makeVisible(_ message: StoredMessage, in state: inout QueueState) {
        switch message.state {
        case .new: break
        case .delayed: state.delayedCount -= 1
        case .inFlight: state.inFlightCount -= 1
        case .visible, .gone: return
        }
        message.state = .visible
        message.stamp &+= 1
        state.visibleCount += 1
        if isFifo, message.groupSlot >= 0 {
            // A group becomes receivable when its head does (returned from flight, or matured).
            let slot = Int(message.groupSlot)
            if state.groups[slot].head() === message { markGroupReady(slot, in: &state) }
        } else {
            state.visible.append(message)
        }
    }

    func hide(_ message: StoredMessage, until deadline: Date, as newState: StoredMessage.State, in state: inout QueueState) {
        switch message.state {
        case .new: break
        case .visible: state.visibleCount -= 1
        case .delayed: state.delayedCount -= 1
        case .inFlight: state.inFlightCount -= 1
        case .gone: return
        }
        switch newState {
        case .delayed: state.delayedCount += 1
        case .inFlight: state.inFlightCount += 1
        case .new, .visible, .gone: break
        }
        message.state = newState
        message.visibleAt = deadline
        message.stamp &+= 1
        state.hidden.push(TimedEntry(deadline: deadline, stamp: message.stamp, message: message))
    }

    /// Removes a message for good (deleted, expired, purged or moved to a dead-letter queue).
    func remove(_ message: StoredMessage, from state: inout QueueState) {
        guard detach(message, from: &state) else { return }
        if isFifo, message.groupSlot >= 0 {
            let slot = Int(message.groupSlot)
            // In place, never `var copy = groups[slot]`: a copy would duplicate the group's ring on the first
            // mutation, making every delete cost the group's depth. An emptied group keeps its slot and its ring's
            // storage for the group's next message; `compactIfNeeded` frees empty groups in bulk.
            if state.groups[slot].head() != nil { markGroupReady(slot, in: &state) }
        }
    }

    /// Takes a message out of the counts and the key index; its group (FIFO) is the caller's business.
    @discardableResult
    func detach(_ message: StoredMessage, from state: inout QueueState) -> Bool {
        switch message.state {
        case .visible: state.visibleCount -= 1
        case .delayed: state.delayedCount -= 1
        case .inFlight: state.inFlightCount -= 1
        case .new, .gone: return false
        }
        message.state = .gone
        state.messages.remove(message)
        return true
    }

    /// Lazily removed entries are dropped once they outnumber live ones, so memory follows the live message count.
    private func compactIfNeeded(_ state: inout QueueState) {
        let live = state.liveCount
        if state.retention.count > 2 * live + 64 { state.retention.retain { $0.state != .gone } }
        if state.hidden.count > 2 * (state.inFlightCount + state.delayedCount) + 64 { state.hidden.retain { $0.isCurrent } }
        if state.visible.count > 2 * state.visibleCount + 64 {
            state.visible.retain { $0.state == .visible }
        }
        // Non-empty groups are at most the live messages, so past this bound most groups are empty: dropping them is
        // a pass over the groups that at least as many new groups paid for.
        if isFifo, state.groupSlots.count > 2 * live + 64 { state.dropEmptyGroups() }
        if state.readyGroups.count > 2 * state.groupSlots.count + 64 {
            state.readyGroups.removeAll()
            for slot in Array(state.groupSlots.values) { markGroupReady(slot, in: &state) }
        }
    }

    /// On FIFO queues a changed `DelaySeconds` applies to messages already waiting out their delay (AWS: the
    /// per-queue delay is retroactive for FIFO queues). A configuration change, so a pass over the messages is fine.
    func applyDelayRetroactively(in state: inout QueueState, now: Date) {
        let delay = TimeInterval(state.settings.delaySeconds)
        for message in state.messages.values where message.state == .delayed {
            let due = message.enqueuedAt.addingTimeInterval(delay)
            if due <= now {
                makeVisible(message, in: &state)
            } else {
                hide(message, until: due, as: .delayed, in: &state)
            }
        }
    }

    // MARK: FIFO groups

    func markGroupReady(_ group: Int, in state: inout QueueState) {
        guard let head = state.groups[group].head(), head.state == .visible, let sequence = head.sequenceNumber
        else { return }
        state.readyGroups.push((sequence, group))
    }

    // MARK: Waiters and the timer

    /// Serves waiting long polls in arrival order while messages are available, and returns those past deadline.
    func serveWaiters(_ state: inout QueueState, now: Date, effects: inout QueueEffects) {
        guard !state.waiters.isEmpty else { return }
        var index = 0
        while index < state.waiters.count {
            let waiter = state.waiters[index]
            let deliveries = select(&state, request: waiter.request, visibilityTimeout: waiter.visibilityTimeout,
                                    now: now, effects: &effects)
            if !deliveries.isEmpty || waiter.deadline <= now {
                state.waiters.remove(at: index)
                effects.resumes.append((waiter.continuation, deliveries))
                if state.waiters.isEmpty, cancelsIdleTimerAtOnce { cancelIdleTimer(&state) }
            } else {
                index += 1
            }
        }
    }

    /// Arms the queue's one timer for the next moment a waiter can be served or must return.
    ///
    /// A timer no waiter needs any more is left to fire: cancelling a Dispatch timer (and arming a new one for the
    /// next poll) sat on the path of every long poll a send satisfied and doubled its wake-up time, while the idle
    /// firing it saves costs one settle, once per wait period. A timer is cancelled only for an earlier one, when
    /// the last waiter is cancelled, when a consumer's polling ends, and when the queue is deleted. The manual
    /// clock is the exception: there ``serveWaiters(_:now:effects:)`` cancels it as it serves the last waiter, so
    /// that `pendingWakeUps` is zero whenever no long poll waits, which is what a test asserts.
    func rescheduleTimer(_ state: inout QueueState) {
        guard !state.waiters.isEmpty else { return }
        var needed = state.waiters.reduce(Date.distantFuture) { min($0, $1.deadline) }
        if let next = state.hidden.min { needed = min(needed, next.deadline) }
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
        state.withLock { state in
            state.timer = nil
            guard !state.deleted else { return }
            let now = clock.now
            settle(&state, now: now)
            serveWaiters(&state, now: now, effects: &effects)
            rescheduleTimer(&state)
        }
        apply(effects)
    }

    /// Registers a long poll; returns nil when it was registered, or what to resume with at once.
    func register(_ request: ReceiveRequest, visibilityTimeout: Int, deadline: Date, id: UInt64,
                  continuation: CheckedContinuation<[Delivery], any Error>) -> Result<[Delivery], any Error>? {
        var effects = QueueEffects()
        let outcome: Result<[Delivery], any Error>? = state.withLock { state in
            if Task.isCancelled { return .failure(CancellationError()) }
            guard !state.deleted else { return .success([]) }
            let now = clock.now
            settle(&state, now: now)
            let deliveries = select(&state, request: request, visibilityTimeout: visibilityTimeout, now: now, effects: &effects)
            if !deliveries.isEmpty || deadline <= now { return .success(deliveries) }
            state.waiters.append(Waiter(id: id, request: request, visibilityTimeout: visibilityTimeout,
                                        deadline: deadline, continuation: continuation))
            rescheduleTimer(&state)
            return nil
        }
        apply(effects)
        return outcome
    }

    /// Cancels a waiting long poll; the waiter is resumed here only if nobody resumed it before.
    func cancelWaiter(id: UInt64) {
        let waiter: Waiter? = state.withLock { state in
            guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
            let waiter = state.waiters.remove(at: index)
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

    private func cancelIdleTimer(_ state: inout QueueState) {
        guard state.waiters.isEmpty else { return }
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
        let waiters: [Waiter] = state.withLock { state in
            state.deleted = true
            // Subscriptions may still hold the core until their next delivery finds it deleted; the messages go now.
            state.removeAllMessages()
            state.timer?.wakeUp.cancel()
            state.timer = nil
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.continuation.resume(returning: []) }
    }

    var isDeleted: Bool { state.withLock { $0.deleted } }
}

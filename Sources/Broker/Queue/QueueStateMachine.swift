import Foundation

/// A FIFO message group: its messages in send order (the in-flight ones included, until deleted). The group is
/// receivable while its first live message is visible, and a receive serves it up to its first message that is not:
/// as on AWS, messages whose visibility lapsed before a later one of the group that is still in flight are served
/// again, and nothing after that one is.
struct MessageGroup {
    var messages = Ring<StoredMessage>()

    /// Drops deleted messages from the front and returns the first live one.
    mutating func head() -> StoredMessage? {
        while let first = messages.first {
            if first.state != .gone { return first }
            _ = messages.removeFirst()
        }
        return nil
    }
}

/// A long-poll receive waiting for messages.
struct Waiter {
    let id: UInt64
    let request: ReceiveRequest
    let visibilityTimeout: Int
    let deadline: Date
    let continuation: CheckedContinuation<[Delivery], any Error>
}

/// Something that can take messages moved out of a queue for good: a dead-letter queue. Found by the queue's core
/// (a registry lookup) and carried in ``QueueEffects``, so the state machine decides which messages go and the core
/// moves them once the lock is released.
protocol DeadLetterSink: AnyObject, Sendable {
    /// Takes `messages` from the queue `sourceArn`; false when this queue no longer exists.
    func acceptDeadLetters(_ messages: [StoredMessage], sourceArn: String) -> Bool
}

/// What a transition leaves to do once the lock is released: resume waiters, move dead letters.
///
/// Effects name what happened (these deliveries go to that waiter, these messages left for that queue), not how to
/// do it, and are collected in the order the transitions ran under the lock. That is the seam for a durability
/// journal: each transition already returns or records its outcome (a stored send, deliveries, dead letters), so an
/// entry per transition would be appended here, in lock order, and written after the lock like the resumes, keeping
/// I/O out of the critical section.
struct QueueEffects {
    var resumes: [(CheckedContinuation<[Delivery], any Error>, [Delivery])] = []
    /// Messages taken out of the queue for its dead-letter queue (already detached from the state).
    var deadLetters: [StoredMessage] = []
    var deadLetterTarget: (any DeadLetterSink)?

    var isEmpty: Bool { resumes.isEmpty && deadLetters.isEmpty }
}

/// One queue as a value: its messages, settings and waiting long polls, and the transitions between its states as
/// `mutating` methods. Every transition takes `now` as a plain `Date`; none reads a clock, takes a lock or resumes
/// a continuation, so each can be driven directly. ``QueueCore`` keeps one behind its lock and applies the
/// ``QueueEffects`` they leave.
///
/// Message states follow from deadlines and `now` and are brought up to date by ``settle(now:)`` whenever the queue
/// is touched.
struct QueueStateMachine {
    // Facts fixed when the queue is made.
    let isFifo: Bool
    /// Standard queues: how many messages may be in flight at once (the broker's `maximumInFlightMessages`).
    let inFlightLimit: Int

    static let maximumVisibility = 43_200
    /// How long a FIFO receive can be retried with the same `ReceiveRequestAttemptId` (AWS: five minutes).
    static let receiveAttemptWindow: TimeInterval = 300

    var settings: QueueSettings
    var tags: [String: String]
    var lastModified: Date
    var deleted = false
    var lastPurge: Date?

    var ids: IDGenerator
    /// FIFO: sequence numbers and deduplication.
    var sequencer: FifoSequencer

    /// Every live message by key, so a receipt handle finds its message in O(1).
    var messages = MessageTable()
    /// Standard queues: visible messages in the order they became visible (stale entries skipped lazily).
    var visible = Ring<StoredMessage>()
    /// Delayed and in-flight messages by the time they become visible.
    var hidden = DeadlineIndex()
    /// What compacting `hidden` dropped, for the core to release once the lock is free: its entries often hold the
    /// last reference to a deleted message, and freeing those messages and their bodies was about a sixth of a
    /// batched send's time under the lock.
    var released: [TimedEntry] = []
    /// A FIFO send on a durable queue was answered from the deduplication table since the core last looked: its
    /// original may be a message whose record failed (see `FailedRecords`).
    var answeredFromDeduplication = false
    /// Live messages by enqueue time, for retention.
    var retention = RetentionIndex()

    var visibleCount = 0
    var inFlightCount = 0
    var delayedCount = 0

    // FIFO
    /// Groups by slot. A message keeps its group's slot (`StoredMessage.groupSlot`), so only a send hashes the
    /// group's name; receives, deletes and visibility changes index the array (hashing names was a tenth of a FIFO
    /// round). Always accessed in place, `groups[slot].…`: a copy of a group would duplicate its ring.
    var groups: [MessageGroup] = []
    var groupSlots: [String: Int] = [:]
    var freeGroupSlots: [Int] = []
    /// Groups that may be receivable, by the sequence number of their head (validated when popped: sequence
    /// numbers are never reused, so an entry for a slot since given to another group does not match).
    var readyGroups = Heap<(sequence: UInt64, group: Int)>(by: { $0.sequence < $1.sequence })
    /// Always empty between receives: kept so a FIFO receive does not grow a new list of served groups each time.
    var servedGroups: [Int] = []
    var receiveAttempts: [String: (expiresAt: Date, deliveries: [Delivery])] = [:]

    var waiters: [Waiter] = []
    var nextWaiterID: UInt64 = 1
    /// `waitUntil` conditions on this queue (`Queue+WaitUntil.swift`); checked after each change while not empty.
    var watchers = ConditionWaiters<QueueStateMachine>()
    /// Standard queues: AWS's duplicates, disorder and sampling short polls, when turned on (`SQSRealism.swift`).
    var realism: RealismState?
    /// CloudWatch's cumulative message counters (`QueueCounters.swift`).
    var counters = QueueCounters()
    /// The core's one armed wake-up. Kept here because it lives under the same lock; no transition touches it.
    var timer: (deadline: Date, wakeUp: ScheduledWakeUp)?
    /// A durable queue's journal entries of the current critical section (``QueueLog``); nil in memory.
    var log: QueueLog?

    init(isFifo: Bool, inFlightLimit: Int, settings: QueueSettings, tags: [String: String], now: Date,
         ids: IDGenerator, lastSequenceNumber: UInt64) {
        self.isFifo = isFifo
        self.inFlightLimit = inFlightLimit
        self.settings = settings
        self.tags = tags
        self.lastModified = now
        self.ids = ids
        self.sequencer = FifoSequencer(lastSequenceNumber: lastSequenceNumber)
    }

    var liveCount: Int { visibleCount + inFlightCount + delayedCount }

    // MARK: Settling

    /// Brings message states up to `now`: expires messages past retention, makes due delayed and in-flight
    /// messages visible. Cost is proportional to what changed, never to the queue's depth.
    mutating func settle(now: Date) {
        let retentionPeriod = TimeInterval(settings.messageRetentionPeriod)
        while let (enqueuedAt, gone) = retention.oldest {
            if gone {
                _ = retention.popMin()
            } else if enqueuedAt.addingTimeInterval(retentionPeriod) <= now, let oldest = retention.popMin() {
                remove(oldest)
            } else {
                break
            }
        }
        while let next = hidden.popDue(by: now) {
            if next.isCurrent { makeVisible(next.message) }
        }
        compactIfNeeded()
    }

    mutating func makeVisible(_ message: StoredMessage) {
        switch message.state {
        case .new: break
        case .delayed: delayedCount -= 1
        case .inFlight: inFlightCount -= 1
        case .visible, .gone: return
        }
        message.state = .visible
        visibleCount += 1
        if isFifo, message.groupSlot >= 0 {
            // A group becomes receivable when its head does (returned from flight, or matured).
            let slot = Int(message.groupSlot)
            if groups[slot].head() === message { markGroupReady(slot) }
        } else {
            visible.append(message)
        }
    }

    mutating func hide(_ message: StoredMessage, until deadline: Date, as newState: StoredMessage.State) {
        switch message.state {
        case .new: break
        case .visible: visibleCount -= 1
        case .delayed: delayedCount -= 1
        case .inFlight: inFlightCount -= 1
        case .gone: return
        }
        switch newState {
        case .delayed: delayedCount += 1
        case .inFlight: inFlightCount += 1
        case .new, .visible, .gone: break
        }
        message.state = newState
        message.visibleAt = deadline
        hidden.push(TimedEntry(deadline: deadline, message: message))
    }

    /// Removes a message for good (deleted, expired, purged or moved to a dead-letter queue).
    mutating func remove(_ message: StoredMessage) {
        guard detach(message) else { return }
        if isFifo, message.groupSlot >= 0 {
            let slot = Int(message.groupSlot)
            // In place, never `var copy = groups[slot]`: a copy would duplicate the group's ring on the first
            // mutation, making every delete cost the group's depth. An emptied group keeps its slot and its ring's
            // storage for the group's next message; `compactIfNeeded` frees empty groups in bulk.
            if groups[slot].head() != nil { markGroupReady(slot) }
        }
    }

    /// Takes a message out of the counts and the key index; its group (FIFO) is the caller's business.
    @discardableResult
    mutating func detach(_ message: StoredMessage) -> Bool {
        switch message.state {
        case .visible: visibleCount -= 1
        case .delayed: delayedCount -= 1
        case .inFlight: inFlightCount -= 1
        case .new, .gone: return false
        }
        message.state = .gone
        messages.remove(message)
        return true
    }

    /// Lazily removed entries are dropped once they outnumber live ones, so memory follows the live message count.
    private mutating func compactIfNeeded() {
        let live = liveCount
        if retention.count > 2 * live + 64 { retention.retain { $0.state != .gone } }
        if hidden.count > 2 * (inFlightCount + delayedCount) + 64 {
            let dropped = hidden.retainReturningDropped { $0.isCurrent }
            if released.isEmpty { released = dropped } else { released += dropped }
        }
        if visible.count > 2 * visibleCount + 64 {
            visible.retain { $0.state == .visible }
        }
        // Non-empty groups are at most the live messages, so past this bound most groups are empty: dropping them is
        // a pass over the groups that at least as many new groups paid for.
        if isFifo, groupSlots.count > 2 * live + 64 { dropEmptyGroups() }
        if readyGroups.count > 2 * groupSlots.count + 64 {
            readyGroups.removeAll()
            for slot in Array(groupSlots.values) { markGroupReady(slot) }
        }
    }

    // MARK: FIFO groups

    mutating func markGroupReady(_ group: Int) {
        guard let head = groups[group].head(), head.state == .visible, let sequence = head.sequenceNumber
        else { return }
        readyGroups.push((sequence, group))
    }

    /// The slot of the group named `name`, made when the group has none.
    mutating func groupSlot(named name: String) -> Int {
        if let slot = groupSlots[name] { return slot }
        let group = MessageGroup()
        let slot: Int
        if let free = freeGroupSlots.popLast() {
            groups[free] = group
            slot = free
        } else {
            slot = groups.count
            groups.append(group)
        }
        groupSlots[name] = slot
        return slot
    }

    /// Frees the slots of groups without live messages (their rings' storage with them).
    mutating func dropEmptyGroups() {
        for (name, slot) in groupSlots where groups[slot].head() == nil {
            groupSlots[name] = nil
            groups[slot] = MessageGroup()
            freeGroupSlots.append(slot)
        }
    }

    /// Drops every message and the FIFO deduplication history (PurgeQueue, DeleteQueue).
    mutating func removeAllMessages() {
        for message in messages.values { message.state = .gone }
        messages.removeAll()
        visible.removeAll()
        hidden.removeAll()
        retention.removeAll()
        groups.removeAll()
        groupSlots.removeAll()
        freeGroupSlots.removeAll()
        readyGroups.removeAll()
        sequencer.forgetHistory()
        receiveAttempts.removeAll()
        visibleCount = 0
        inFlightCount = 0
        delayedCount = 0
    }
}

/// Messages by enqueue time, oldest first, for retention (deleted ones are dropped lazily).
///
/// Almost every message arrives in enqueue-time order (sends read a clock that does not go back), so those go on a
/// ring, O(1) at both ends; only the rest (a standard dead-letter queue keeps each message's original enqueue time,
/// and a wall clock may step back) go on a heap. A heap alone cost a logarithmic sift, with a comparison closure
/// retaining both messages, for every delete that reached the front.
struct RetentionIndex {
    private var inOrder = Ring<StoredMessage>()
    private var outOfOrder = Heap<StoredMessage>(by: { $0.enqueuedAt < $1.enqueuedAt })

    var count: Int { inOrder.count + outOfOrder.count }

    mutating func push(_ message: StoredMessage) {
        if let last = inOrder.last, message.enqueuedAt < last.enqueuedAt {
            outOfOrder.push(message)
        } else {
            inOrder.append(message)
        }
    }

    /// The earliest message's enqueue time and whether it is gone: what every critical section's `settle` asks,
    /// read in place rather than through a copy of the message (a retain and a release each time).
    var oldest: (enqueuedAt: Date, gone: Bool)? {
        let early = outOfOrder.readMin { ($0.enqueuedAt, $0.state == .gone) }
        guard let first = inOrder.readFirst({ ($0.enqueuedAt, $0.state == .gone) }) else { return early }
        guard let early, early.0 < first.0 else { return first }
        return early
    }

    @discardableResult
    mutating func popMin() -> StoredMessage? {
        guard let early = outOfOrder.min else { return inOrder.removeFirst() }
        if let first = inOrder.first, first.enqueuedAt <= early.enqueuedAt { return inOrder.removeFirst() }
        return outOfOrder.popMin()
    }

    mutating func retain(where isIncluded: (StoredMessage) -> Bool) {
        inOrder.retain(where: isIncluded)
        outOfOrder.retain(where: isIncluded)
    }

    mutating func removeAll() {
        inOrder.removeAll()
        outOfOrder.removeAll()
    }
}

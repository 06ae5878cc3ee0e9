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

/// Everything a queue owns, guarded by the queue's one lock.
struct QueueState {
    var settings: QueueSettings
    var tags: [String: String]
    var lastModified: Date
    var deleted = false
    var lastPurge: Date?

    var ids: IDGenerator
    var nextSequenceNumber: UInt64

    /// Every live message by key, so a receipt handle finds its message in O(1).
    var messages = MessageTable()
    /// Standard queues: visible messages in the order they became visible (stale entries skipped lazily).
    var visible = Ring<StoredMessage>()
    /// Delayed and in-flight messages by the time they become visible.
    var hidden = Heap<TimedEntry>(by: { $0.deadline < $1.deadline })
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
    var deduplication = DeduplicationTable()
    /// Until when records made under the other `DeduplicationScope` may still be in their window: a scope change
    /// leaves what is already recorded in the scope it was recorded in. Nil when none can be.
    var otherScopeRecordsUntil: Date?
    var receiveAttempts: [String: (expiresAt: Date, deliveries: [Delivery])] = [:]

    var waiters: [Waiter] = []
    var nextWaiterID: UInt64 = 1
    var timer: (deadline: Date, wakeUp: ScheduledWakeUp)?

    var liveCount: Int { visibleCount + inFlightCount + delayedCount }

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
        deduplication.removeAll()
        otherScopeRecordsUntil = nil
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

    var min: StoredMessage? {
        guard let early = outOfOrder.min else { return inOrder.first }
        guard let first = inOrder.first else { return early }
        return early.enqueuedAt < first.enqueuedAt ? early : first
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

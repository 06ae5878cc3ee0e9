import Foundation

/// Delayed and in-flight messages by the time they become visible: a ring of the entries that arrived in deadline
/// order, and a heap of the rest.
///
/// Most entries arrive in order: a queue's receives use its one visibility timeout and the clock only moves forward,
/// so each deadline is at or after the one before. Those take the ring, an append at the back that reads nothing
/// else; only an entry earlier than the ring's last (a shorter `VisibilityTimeout` on a receive, a delay beside
/// receives, a visibility change) takes the heap. A heap push reads its new element's parent, a line of the array
/// the other core wrote last time two threads share a queue: profiled at `7d19bcb` with two producers and two
/// consumers, that read was three quarters of the push and the push a tenth of the queue's critical sections.
///
/// Entries are removed lazily (``TimedEntry/isCurrent``), as before: the owner compacts the index once stale entries
/// outnumber the live ones.
struct DeadlineIndex {
    private var ordered = Ring<TimedEntry>()
    /// The deadline of the ring's last entry, so a push compares with it without reading the ring.
    private var orderedLast = Date.distantPast
    private var others = Heap<TimedEntry>(by: { $0.deadline < $1.deadline })

    var count: Int { ordered.count + others.count }

    /// The earliest deadline.
    var nextDeadline: Date? {
        guard let heapDeadline = others.min?.deadline else { return ordered.firstDeadline }
        return ordered.firstDeadline.map { Swift.min($0, heapDeadline) } ?? heapDeadline
    }

    mutating func push(_ entry: TimedEntry) {
        if entry.deadline >= orderedLast || ordered.isEmpty {
            ordered.append(entry)
            orderedLast = entry.deadline
        } else {
            others.push(entry)
        }
    }

    /// Takes out the entry with the earliest deadline if that deadline is at or before `now`.
    mutating func popDue(by now: Date) -> TimedEntry? {
        let ringDeadline = ordered.firstDeadline
        if let heapDeadline = others.min?.deadline, heapDeadline <= now,
           ringDeadline.map({ heapDeadline < $0 }) ?? true {
            return others.popMin()
        }
        guard let ringDeadline, ringDeadline <= now else { return nil }
        return ordered.removeFirst()
    }

    mutating func removeAll() {
        ordered.removeAll()
        others.removeAll()
        orderedLast = .distantPast
    }

    /// Keeps the entries that satisfy `isIncluded`. The dropped ones are handed back (with copies of some kept
    /// ones: the heap's previous storage), not destroyed here: they often hold the last reference to a deleted
    /// message, and the caller frees them outside its lock.
    mutating func retainReturningDropped(where isIncluded: (TimedEntry) -> Bool) -> [TimedEntry] {
        var dropped: [TimedEntry] = []
        if !others.isEmpty { dropped = others.retainReturningPrevious(where: isIncluded) }
        dropped.reserveCapacity(dropped.count + ordered.count)
        ordered.retain { entry in
            if isIncluded(entry) { return true }
            dropped.append(entry)
            return false
        }
        // A drained ring takes any next deadline; one with entries left keeps its last one's.
        if let last = ordered.last { orderedLast = last.deadline } else { orderedLast = .distantPast }
        return dropped
    }
}

private extension Ring<TimedEntry> {
    var firstDeadline: Date? { first?.deadline }
}

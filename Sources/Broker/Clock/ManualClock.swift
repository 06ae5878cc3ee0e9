import Foundation

/// A clock that moves only when a test says so.
///
/// ``advance(by:)`` and ``advance(to:)`` run every wake-up that falls due, one deadline at a time and in deadline
/// order (ties in scheduling order), on the caller's thread, before they return. Work that a wake-up schedules inside
/// the advanced span runs too. There is no yielding or sleeping: what a wake-up does under a broker lock (settling a
/// long poll, expiring a visibility timeout) has happened by the time `advance` returns.
public final class ManualClock: BrokerClock {
    private struct Entry {
        let deadline: Date
        let order: UInt64
        let action: @Sendable () -> Void
    }

    private struct State {
        var now: Date
        var nextOrder: UInt64 = 0
        /// Sorted by (deadline, order); tests hold few wake-ups, so a sorted array beats a heap in clarity.
        var entries: [Entry] = []
    }

    private let state: LockedState<State>

    /// The default start, 2026-01-01T00:00:00Z, chosen so timestamps in test output are stable and readable.
    public static let defaultStart = Date(timeIntervalSince1970: 1_767_225_600)

    /// Creates a manual clock that reads `now` until it is advanced.
    public init(now: Date = ManualClock.defaultStart) {
        state = LockedState(State(now: now))
    }

    /// The clock's current time.
    public var now: Date { state.withLock { $0.now } }

    /// Always `true`: a test counts ``pendingWakeUps``, so queues cancel a long-poll wake-up as soon as no poll
    /// needs it, and cancelling one here is an array removal.
    public var cancelsIdleWakeUpsEagerly: Bool { true }

    /// The number of wake-ups scheduled and not yet run or cancelled; a test can assert it is zero at teardown.
    public var pendingWakeUps: Int { state.withLock { $0.entries.count } }

    /// The earliest pending deadline, if any.
    public var nextDeadline: Date? { state.withLock { $0.entries.first?.deadline } }

    /// Registers `action` to run when the clock is advanced to `deadline` or beyond (a past deadline runs at the
    /// next advance, including `advance(by: .zero)`).
    public func schedule(at deadline: Date, _ action: @escaping @Sendable () -> Void) -> ScheduledWakeUp {
        let order = state.withLock { state -> UInt64 in
            let order = state.nextOrder
            state.nextOrder += 1
            let entry = Entry(deadline: deadline, order: order, action: action)
            let index = state.entries.partitioningIndex { $0.deadline > deadline }
            state.entries.insert(entry, at: index)
            return order
        }
        return ScheduledWakeUp { [state] in
            state.withLock { state in
                if let index = state.entries.firstIndex(where: { $0.order == order }) {
                    state.entries.remove(at: index)
                }
            }
        }
    }

    /// Moves the clock forward by `duration`, running every wake-up that falls due on the way.
    public func advance(by duration: Duration) {
        advance(to: now.adding(duration))
    }

    /// Moves the clock to `target` (never backwards), running every wake-up that falls due on the way.
    public func advance(to target: Date) {
        while true {
            let action = state.withLock { state -> (@Sendable () -> Void)? in
                guard let first = state.entries.first, first.deadline <= target else {
                    if target > state.now { state.now = target }
                    return nil
                }
                state.entries.removeFirst()
                if first.deadline > state.now { state.now = first.deadline }
                return first.action
            }
            guard let action else { return }
            action()
        }
    }
}

extension Array {
    /// The first index whose element satisfies `belongsInSecondPartition`, for an array partitioned by it.
    func partitioningIndex(where belongsInSecondPartition: (Element) -> Bool) -> Int {
        var low = 0
        var high = count
        while low < high {
            let mid = (low + high) / 2
            if belongsInSecondPartition(self[mid]) { high = mid } else { low = mid + 1 }
        }
        return low
    }
}

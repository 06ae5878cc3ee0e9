import Foundation

/// The one source of time for a ``Broker``: wall time for timestamps, and wake-ups for everything that waits.
///
/// Visibility timeouts, delays, retention, long-poll deadlines, the purge and re-create intervals and consumers'
/// waits all read this clock, so a test that drives a ``ManualClock`` controls every time-dependent behaviour.
public protocol BrokerClock: Sendable {
    /// The current wall-clock time.
    var now: Date { get }

    /// Runs `action` once, at or after `deadline`, unless the returned wake-up is cancelled first.
    ///
    /// `action` runs on the clock's own context (a Dispatch queue for ``SystemClock``, the caller of
    /// ``ManualClock/advance(by:)`` for the manual clock); it must be short and must not block.
    func schedule(at deadline: Date, _ action: @escaping @Sendable () -> Void) -> ScheduledWakeUp

    /// Whether a wake-up nobody needs any more is cancelled at once rather than left to fire.
    ///
    /// A queue arms one wake-up while long polls wait. When a send serves the last of them, cancelling that wake-up
    /// (and arming a new one for the next poll) costs more on a real clock than letting it fire once, idle, at the
    /// end of the wait period, so by default it is left to fire. A clock whose pending wake-ups a test counts, and
    /// where cancelling is cheap, answers `true`: queues then cancel the wake-up as the last waiter is served, and
    /// ``ManualClock/pendingWakeUps`` is zero whenever no long poll waits. `false` unless a clock says otherwise; a
    /// clock that wraps another should forward the wrapped clock's answer.
    var cancelsIdleWakeUpsEagerly: Bool { get }
}

extension BrokerClock {
    /// Idle wake-ups are left to fire (see the requirement's documentation).
    public var cancelsIdleWakeUpsEagerly: Bool { false }
}

/// A pending wake-up returned by ``BrokerClock/schedule(at:_:)``.
public struct ScheduledWakeUp: Sendable {
    private let onCancel: @Sendable () -> Void

    /// Creates a wake-up whose cancellation runs `onCancel`.
    public init(onCancel: @escaping @Sendable () -> Void) {
        self.onCancel = onCancel
    }

    /// Stops the wake-up from running if it has not run yet. Cancelling twice, or after it ran, does nothing.
    public func cancel() {
        onCancel()
    }
}

extension BrokerClock {
    /// Suspends until the clock reaches `deadline`; throws `CancellationError` as soon as the task is cancelled.
    public func sleep(until deadline: Date) async throws {
        try Task.checkCancellation()
        if deadline <= now { return }
        // One sleep is a wait whose only condition is its deadline: resumed exactly once, by the wake-up or by
        // cancellation, whichever is first.
        let sleeper = ConditionWait<Void>()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                guard sleeper.register(continuation) else {
                    // The task was cancelled before the continuation existed: the tombstone answers for it.
                    continuation.resume(throwing: CancellationError())
                    return
                }
                sleeper.attach(schedule(at: deadline) { sleeper.finish(.success(())) })
            }
        } onCancel: {
            sleeper.finish(.failure(CancellationError()))
        }
    }

    /// Suspends for `duration` of this clock's time.
    public func sleep(for duration: Duration) async throws {
        try await sleep(until: now.adding(duration))
    }
}

extension Date {
    /// `self` moved on by a `Duration`, at the attosecond precision a `Date` can hold.
    func adding(_ duration: Duration) -> Date {
        addingTimeInterval(duration.timeInterval)
    }

    /// Milliseconds since 1970, the unit of SQS's timestamp attributes.
    var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}

extension Duration {
    /// The duration in seconds, as Foundation counts time.
    var timeInterval: TimeInterval {
        let (seconds, attoseconds) = components
        return TimeInterval(seconds) + TimeInterval(attoseconds) / 1e18
    }
}

import Dispatch
import Foundation

/// The real clock: `Date()` for wall time and Dispatch timers for wake-ups.
public struct SystemClock: BrokerClock {
    /// Creates the system clock.
    public init() {}

    /// The current wall-clock time.
    public var now: Date { Date() }

    /// Schedules `action` on a global Dispatch queue at `deadline`.
    public func schedule(at deadline: Date, _ action: @escaping @Sendable () -> Void) -> ScheduledWakeUp {
        let timer = DispatchSource.makeTimerSource(queue: .global())
        let delay = max(0, deadline.timeIntervalSinceNow)
        timer.schedule(wallDeadline: .now() + delay, leeway: .milliseconds(1))
        timer.setEventHandler {
            timer.cancel()
            action()
        }
        timer.resume()
        let box = TimerBox(timer)
        return ScheduledWakeUp { box.cancel() }
    }
}

/// Lets the `@Sendable` cancellation closure hold the timer; `DispatchSourceTimer.cancel()` is thread-safe.
private final class TimerBox: @unchecked Sendable {
    private let timer: any DispatchSourceTimer
    init(_ timer: any DispatchSourceTimer) { self.timer = timer }
    func cancel() { timer.cancel() }
}

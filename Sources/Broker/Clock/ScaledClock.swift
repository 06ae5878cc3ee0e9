import Foundation

/// The system clock sped up: `speed` seconds of broker time pass per real second.
///
/// For demos and soak runs that want real concurrency but not real waiting: a 30-second visibility timeout lapses
/// in 3 real seconds at speed 10. Timestamps start at the real time of creation and run fast from there.
public struct ScaledClock: BrokerClock {
    private let base = SystemClock()
    private let origin: Date
    /// Broker seconds per real second.
    public let speed: Double

    /// Creates a clock running `speed` times faster than real time (`speed` ≤ 0 is taken as 1).
    public init(speed: Double) {
        self.speed = speed > 0 ? speed : 1
        self.origin = base.now
    }

    /// The scaled current time.
    public var now: Date { origin.addingTimeInterval(base.now.timeIntervalSince(origin) * speed) }

    /// Schedules `action` at the real moment the scaled clock reaches `deadline`.
    public func schedule(at deadline: Date, _ action: @escaping @Sendable () -> Void) -> ScheduledWakeUp {
        let realDelay = max(0, deadline.timeIntervalSince(now)) / speed
        return base.schedule(at: base.now.addingTimeInterval(realDelay), action)
    }
}

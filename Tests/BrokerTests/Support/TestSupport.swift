import Foundation
import Testing

@testable import Broker

/// Asserts that `body` throws a ``BrokerError`` with `code`; returns the error (whatever its code) so a test can
/// also check its message.
@discardableResult
func expectBrokerError(_ code: BrokerError.Code, _ body: () throws -> Void,
                       sourceLocation: SourceLocation = #_sourceLocation) -> BrokerError? {
    do {
        try body()
    } catch let error as BrokerError {
        #expect(error.code == code, "expected \(code.name), got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected BrokerError \(code.name), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
    Issue.record("expected BrokerError \(code.name), but nothing was thrown", sourceLocation: sourceLocation)
    return nil
}

/// The async form of ``expectBrokerError(_:_:sourceLocation:)``.
@discardableResult
func expectBrokerErrorAsync(_ code: BrokerError.Code, _ body: () async throws -> Void,
                            sourceLocation: SourceLocation = #_sourceLocation) async -> BrokerError? {
    do {
        try await body()
    } catch let error as BrokerError {
        #expect(error.code == code, "expected \(code.name), got \(error)", sourceLocation: sourceLocation)
        return error
    } catch {
        Issue.record("expected BrokerError \(code.name), got \(type(of: error)): \(error)", sourceLocation: sourceLocation)
        return nil
    }
    Issue.record("expected BrokerError \(code.name), but nothing was thrown", sourceLocation: sourceLocation)
    return nil
}

/// A broker with seeded identifiers on a manual clock that starts at ``ManualClock/defaultStart``.
///
/// With `forwarding`, the broker reads the manual clock through a ``ForwardingClock``, so its queues keep the
/// long-poll timer policy of every clock but the manual one.
func makeBroker(seed: UInt64 = 1, forwarding: Bool = false) -> (Broker, ManualClock) {
    let clock = ManualClock()
    let brokerClock: any BrokerClock = forwarding ? ForwardingClock(manual: clock) : clock
    return (Broker(configuration: BrokerConfiguration(seed: seed), clock: brokerClock), clock)
}

/// A clock that runs on a ``ManualClock`` but keeps the default answer of ``BrokerClock/cancelsIdleWakeUpsEagerly``,
/// `false`. Queues cancel a long-poll timer no waiter needs at once only on a clock that answers `true`, as the
/// manual clock does; on any other (``SystemClock`` above all) it is left to fire at the end of its wait period.
/// Through this clock a test moves time and counts wake-ups under that second policy.
struct ForwardingClock: BrokerClock {
    let manual: ManualClock
    var now: Date { manual.now }
    func schedule(at deadline: Date, _ action: @escaping @Sendable () -> Void) -> ScheduledWakeUp {
        manual.schedule(at: deadline, action)
    }
}

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
func makeBroker(seed: UInt64 = 1) -> (Broker, ManualClock) {
    let clock = ManualClock()
    return (Broker(configuration: BrokerConfiguration(seed: seed), clock: clock), clock)
}

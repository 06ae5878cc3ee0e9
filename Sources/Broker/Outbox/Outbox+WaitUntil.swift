import Foundation

extension Outbox {
    /// Waits until the messages matching `filter` are at least `count`, and returns them.
    func waitUntil(count: Int, matching filter: SNSOutboxFilter, timeout: Duration,
                   clock: any BrokerClock) async throws -> [SNSOutboxMessage] {
        let check: ([SNSOutboxMessage]) -> [SNSOutboxMessage]? = { messages in
            let matching = messages.filter(filter.matches)
            return matching.count >= count ? matching : nil
        }
        return try await ConditionWaiting.wait(timeout: timeout, clock: clock,
                                               describe: "\(count) outbox messages") {
            (wait: ConditionWait<[SNSOutboxMessage]>) throws(BrokerError) -> [SNSOutboxMessage]? in
            state.withLock { state in
                if let value = check(state.messages) { return value }
                state.watchers.add(wait, condition: check)
                return nil
            }
        } unregister: { [self] wait in
            _ = self.state.withLock { $0.watchers.remove(wait) }
        }
    }

    /// Conditions on the outbox still waiting, for tests.
    var watching: Int { state.withLock { $0.watchers.count } }
}

extension Broker {
    /// Suspends until this account and region's outbox holds at least `count` messages matching `filter` (text
    /// messages to a number, HTTP posts to an endpoint, pushes to a platform endpoint…), and returns them, oldest
    /// first.
    ///
    /// ```swift
    /// let texts = try await broker.waitUntilOutbox(count: 3, matching: .phoneNumber("+15555550100"))
    /// ```
    ///
    /// Checked at once and on every delivery the outbox captures; nothing polls.
    ///
    /// - Parameters:
    ///   - count: how many matching messages to wait for.
    ///   - filter: which messages count; all by default.
    ///   - timeout: how long to wait on the broker's clock; 30 seconds by default.
    /// - Throws: ``BrokerError`` `WaitTimedOut` when the timeout passes first, `CancellationError` when the task is
    ///   cancelled.
    @discardableResult
    public func waitUntilOutbox(count: Int, matching filter: SNSOutboxFilter = SNSOutboxFilter(),
                                timeout: Duration = .seconds(30)) async throws -> [SNSOutboxMessage] {
        try await snsSpace.outbox.waitUntil(count: count, matching: filter, timeout: timeout, clock: clock)
    }
}

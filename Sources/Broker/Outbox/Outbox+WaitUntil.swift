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

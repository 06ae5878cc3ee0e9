import Foundation

extension ConsumerRuntime.State {
    /// The resumes of statistics conditions that hold now; empty (and free) while none waits.
    mutating func statisticsWakes() -> [@Sendable () -> Void] {
        guard !statisticsWatchers.isEmpty else { return [] }
        var wakes: [@Sendable () -> Void] = []
        statisticsWatchers.evaluate(machine.statistics, into: &wakes)
        return wakes
    }
}

extension ConsumerRuntime {
    /// Waits until `condition` holds for the statistics; checked after every count and state change.
    func waitUntil(timeout: Duration,
                   _ condition: @escaping @Sendable (ConsumerStatistics) -> Bool) async throws -> ConsumerStatistics {
        let check: (ConsumerStatistics) -> ConsumerStatistics? = { condition($0) ? $0 : nil }
        return try await ConditionWaiting.wait(timeout: timeout, clock: clock,
                                               describe: "a condition on the consumer's statistics") {
            (wait: ConditionWait<ConsumerStatistics>) throws(BrokerError) -> ConsumerStatistics? in
            state.withLock { state in
                if let value = check(state.machine.statistics) { return value }
                state.statisticsWatchers.add(wait, condition: check)
                return nil
            }
        } unregister: { [self] wait in
            _ = self.state.withLock { $0.statisticsWatchers.remove(wait) }
        }
    }

    /// Conditions on the statistics still waiting, for tests.
    var statisticsWaiting: Int { state.withLock { $0.statisticsWatchers.count } }
}

extension QueueWorker {
    /// Suspends until `condition` holds for the worker's ``statistics``, and returns them.
    ///
    /// ```swift
    /// try await worker.waitUntil { $0.processed >= 10 }
    /// ```
    ///
    /// The condition is checked at once and after every count changes; nothing polls. It runs under the worker's
    /// lock: it must be quick and must not call the worker.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait on the broker's clock; 30 seconds by default.
    ///   - condition: tested against the statistics after each change.
    /// - Throws: ``BrokerError`` `WaitTimedOut` when the timeout passes first, `CancellationError` when the task is
    ///   cancelled.
    @discardableResult
    public func waitUntil(timeout: Duration = .seconds(30),
                          _ condition: @escaping @Sendable (ConsumerStatistics) -> Bool) async throws -> ConsumerStatistics {
        try await runtime.waitUntil(timeout: timeout, condition)
    }
}

extension EventSourceMapping {
    /// Suspends until `condition` holds for the mapping's ``statistics``, and returns them; see
    /// ``QueueWorker/waitUntil(timeout:_:)``.
    @discardableResult
    public func waitUntil(timeout: Duration = .seconds(30),
                          _ condition: @escaping @Sendable (ConsumerStatistics) -> Bool) async throws -> ConsumerStatistics {
        try await runtime.waitUntil(timeout: timeout, condition)
    }
}

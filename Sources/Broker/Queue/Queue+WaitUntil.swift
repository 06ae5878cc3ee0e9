import Foundation

extension QueueCore {
    /// Checks the waiting conditions against the settled state; those that hold leave, and their resumes are returned
    /// for the caller to run after the lock. Out of
    /// line, so that the operations that find no condition waiting keep their size.
    @inline(never)
    func checkWatchers(_ state: inout QueueStateMachine) -> [@Sendable () -> Void] {
        // The list is taken out while the conditions read the state, so that reading and changing it do not overlap.
        var watchers = state.watchers
        state.watchers = ConditionWaiters()
        var wakes: [@Sendable () -> Void] = []
        watchers.evaluate(state, into: &wakes)
        state.watchers = watchers
        if watchers.isEmpty, cancelsIdleTimerAtOnce { cancelIdleTimer(&state) }
        return wakes
    }

    /// Waits until `condition` gives a value for the queue's settled state; see ``Queue/waitUntil(timeout:_:)``.
    func waitUntil<Value: Sendable>(timeout: Duration, describe: @autoclosure () -> String,
                                    _ condition: @escaping (QueueStateMachine) -> Value?) async throws -> Value {
        try await ConditionWaiting.wait(timeout: timeout, clock: clock, describe: describe()) {
            (wait: ConditionWait<Value>) throws(BrokerError) -> Value? in
            try mutate { state, _, _ throws(BrokerError) in
                if let value = condition(state) { return value }
                state.watchers.add(wait, condition: condition)
                return nil
            }
        } unregister: { [self] wait in
            self.state.withLock { state in
                state.watchers.remove(wait)
                // A watcher may have kept the timer armed; with none left, a stopped wait leaves no wake-up behind.
                cancelIdleTimer(&state)
            }
        }
    }
}

extension Queue {
    /// Suspends until `condition` holds for the queue's message counts, and returns those counts.
    ///
    /// The condition is checked at once, then after every change to the queue (a send, receive, delete, visibility
    /// change or purge) and whenever a delay or visibility timeout ends, on the broker's clock. Nothing polls and
    /// nothing sleeps in real time: on a ``ManualClock``, a visibility timeout that lapses, and the timeout itself,
    /// happen when the test advances the clock.
    ///
    /// ```swift
    /// let counts = try await queue.waitUntil { $0.visible >= 3 }
    /// ```
    ///
    /// The condition runs under the queue's lock: it must be quick and must not call the queue.
    ///
    /// - Parameters:
    ///   - timeout: how long to wait on the broker's clock; 30 seconds by default.
    ///   - condition: tested against the counts after each change.
    /// - Throws: ``BrokerError`` `WaitTimedOut` when the timeout passes first, `QueueDoesNotExist` when the queue is
    ///   (or gets) deleted, `CancellationError` when the task is cancelled.
    @discardableResult
    public func waitUntil(timeout: Duration = .seconds(30),
                          _ condition: @escaping @Sendable (QueueCounts) -> Bool) async throws -> QueueCounts {
        try await core.waitUntil(timeout: timeout, describe: "a condition on the counts of \(name)") { state in
            let counts = state.counts
            return condition(counts) ? counts : nil
        }
    }

    /// Suspends until the queue holds at least `count` visible messages (`ApproximateNumberOfMessages`).
    @discardableResult
    public func waitUntil(approximateNumberOfMessages count: Int,
                          timeout: Duration = .seconds(30)) async throws -> QueueCounts {
        try await core.waitUntil(timeout: timeout, describe: "\(count) visible messages in \(name)") { state in
            state.visibleCount >= count ? state.counts : nil
        }
    }

    /// Suspends until the queue holds no message at all: none visible, in flight or delayed (every message
    /// deleted, expired, purged or moved to a dead-letter queue).
    public func waitUntilDrained(timeout: Duration = .seconds(30)) async throws {
        _ = try await core.waitUntil(timeout: timeout, describe: "\(name) to drain") { state in
            state.liveCount == 0 ? true : nil
        }
    }

    /// Suspends until a message in one of `states` matches `predicate`, and returns it as a peek would (nothing
    /// about the message changes).
    ///
    /// ```swift
    /// let failed = try await dlq.waitForMessage { $0.body.contains("order-17") }
    /// ```
    ///
    /// The predicate runs under the queue's lock, over its messages, after every change: it must be quick and must
    /// not call the queue.
    ///
    /// - Returns: the oldest matching message.
    public func waitForMessage(in states: Set<PeekedMessage.State> = [.visible], timeout: Duration = .seconds(30),
                               where predicate: @escaping @Sendable (PeekedMessage) -> Bool) async throws -> PeekedMessage {
        try await core.waitUntil(timeout: timeout, describe: "a matching message in \(name)") { state in
            Queue.arrange(state.peekSnapshots(states: states), limit: 1, predicate: predicate).first
        }
    }
}

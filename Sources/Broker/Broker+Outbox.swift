import Foundation

extension Broker {
    var snsSpace: SNSSpace { topicRegistry.withLock { $0.sns } }

    /// A message id for a publish with no topic (to a phone number or a platform endpoint).
    func snsMessageID() -> String { snsSpace.withIDs(seed: seedValue) { $0.messageID().string } }

    /// The SNS outbox of this account and region: every delivery that would have left the machine, oldest first.
    public func outbox(matching filter: SNSOutboxFilter = SNSOutboxFilter()) -> [SNSOutboxMessage] {
        snsSpace.outbox.messages(matching: filter)
    }

    /// Empties the SNS state that lives beside topics in every account and region: outboxes, SMS settings and
    /// opt-outs, SMS sandbox numbers, platform applications and their endpoints: part of ``reset()``.
    func resetSNSState() {
        for space in directory.allSpaces { space.topicRegistry.withLock { $0.sns }.reset() }
    }

    /// Empties this account and region's SNS outbox.
    public func clearOutbox() {
        snsSpace.outbox.clear()
    }

    /// The first outbox message matching `filter`, waiting up to `timeout` of the broker's clock for one to be
    /// recorded; nil when none came in time. Throws `CancellationError` when the task is cancelled.
    public func waitForOutboxMessage(matching filter: SNSOutboxFilter = SNSOutboxFilter(),
                                     timeout: Duration) async throws -> SNSOutboxMessage? {
        try await snsSpace.outbox.wait(matching: filter, until: clock.now.adding(timeout), clock: clock)
    }
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

import Foundation

extension QueueStateMachine {
    // MARK: Management

    /// How often PurgeQueue may run (AWS: once per 60 seconds).
    static let purgeInterval: TimeInterval = 60

    /// PurgeQueue: drops every message and the FIFO deduplication history, once per ``purgeInterval``.
    mutating func purge(now: Date, queueName: String) throws(BrokerError) {
        if let last = lastPurge, now.timeIntervalSince(last) < Self.purgeInterval {
            throw BrokerError(.purgeQueueInProgress, "Only one PurgeQueue operation on \(queueName) is allowed every 60 seconds.")
        }
        lastPurge = now
        removeAllMessages()
        log?.purged(at: now)
    }

    /// SetQueueAttributes, once the redrive policy is validated against the broker's queues: a changed
    /// deduplication scope leaves earlier ids taken in their old scope, and on a FIFO queue a changed delay applies to
    /// messages already delayed.
    mutating func setAttributes(_ attributes: QueueAttributes, now: Date) throws(BrokerError) {
        let oldDelay = settings.delaySeconds
        let oldScope = settings.deduplicationScope
        try settings.apply(attributes, creating: false)
        lastModified = now
        log?.settingsChanged = true
        if settings.deduplicationScope != oldScope {
            sequencer.scopeChanged(now: now)
        }
        if isFifo, settings.delaySeconds != oldDelay {
            applyDelayRetroactively(now: now)
        }
    }

    /// TagQueue: adds or replaces tags, refusing the lot when the queue would have more than AWS's 50.
    mutating func tag(_ added: [String: String], queueName: String) throws(BrokerError) {
        let merged = tags.merging(added) { $1 }
        try QueueTags.validateCount(merged.count, queue: queueName)
        tags = merged
        log?.settingsChanged = true
    }

    /// UntagQueue: keys without a tag are ignored.
    mutating func untag(_ keys: [String]) {
        for key in keys { tags[key] = nil }
        log?.settingsChanged = true
    }

    /// AddPermission: a statement labelled `label` added to the queue's `Policy`.
    mutating func addPermission(label: String, accounts: [String], actions: [String], queueArn: String,
                                now: Date) throws(BrokerError) {
        settings.policy = try QueuePermissions.adding(label: label, accounts: accounts, actions: actions,
                                                      queueArn: queueArn, to: settings.policy)
        lastModified = now
        log?.settingsChanged = true
    }

    /// RemovePermission: the statement labelled `label` taken out of the queue's `Policy`.
    mutating func removePermission(label: String, queueArn: String, now: Date) throws(BrokerError) {
        settings.policy = try QueuePermissions.removing(label: label, queueArn: queueArn, from: settings.policy)
        lastModified = now
        log?.settingsChanged = true
    }

    /// Exact message counts, and the age of the oldest message at `now`.
    mutating func statistics(now: Date) -> QueueStatistics {
        // Deleted messages at the front of the retention index are dropped lazily; the oldest live one is behind them.
        while let oldest = retention.oldest, oldest.gone { _ = retention.popMin() }
        return QueueStatistics(
            approximateNumberOfMessages: visibleCount,
            approximateNumberOfMessagesNotVisible: inFlightCount,
            approximateNumberOfMessagesDelayed: delayedCount,
            oldestMessageAge: retention.oldest.map { .seconds(now.timeIntervalSince($0.enqueuedAt)) },
            numberOfMessagesSent: counters.sent, numberOfMessagesReceived: counters.received,
            numberOfMessagesDeleted: counters.deleted, numberOfEmptyReceives: counters.emptyReceives)
    }
}

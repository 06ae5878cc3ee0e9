import Foundation
import Testing

@testable import Broker

/// Helpers shared by the message, long-poll and stress tests.
enum MessageTestKit {
    /// Three attributes of every transport type; their AWS digest, computed with Python's `hashlib`.
    static let mixedAttributes: [String: MessageAttributeValue] = [
        "blob": .binary(Data([0x00, 0x01, 0x02, 0xFF])),
        "baz": .string("qux"),
        "n": .number("42"),
    ]
    static let mixedAttributesMD5 = "a04126777cf32e4a83d48f7706cf0c5e"

    /// `ManualClock.defaultStart` in epoch milliseconds.
    static let startMilliseconds: Int64 = 1_767_225_600_000

    /// A short-poll receive (WaitTimeSeconds 0) of up to `max` messages.
    static func receiveNow(_ queue: Queue, max: Int = 10, visibility: Duration? = nil,
                           messageAttributeNames: [String] = [],
                           system: [MessageSystemAttributeName] = []) async throws -> [Message] {
        try await queue.receiveMessages(maxNumberOfMessages: max, visibilityTimeout: visibility, waitTimeSeconds: .zero,
                                        messageAttributeNames: messageAttributeNames,
                                        messageSystemAttributeNames: system)
    }

    /// The number of long polls waiting on `queue`.
    static func waiters(_ queue: Queue) -> Int {
        queue.core.state.withLock { $0.waiters.count }
    }

    /// Yields until `condition` holds, a bounded number of times (never sleeps); returns whether it holds.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        await ConsumerTestKit.eventually(condition)
    }

    /// Waits until `count` long polls are registered on `queue` (and so the clock has a wake-up pending).
    static func waitForWaiters(_ queue: Queue, count: Int = 1, clock: ManualClock) async -> Bool {
        await eventually { clock.pendingWakeUps > 0 && waiters(queue) >= count }
    }

    /// Pending wake-ups other than the queue's own timer (armed or left to fire idle): those of consumers' sleeps and
    /// of other queues. Zero once everything that waits on `queue` has stopped.
    static func wakeUpsBesidesQueueTimer(_ queue: Queue, _ clock: ManualClock) -> Int {
        clock.pendingWakeUps - (queue.core.state.withLock { $0.timer != nil } ? 1 : 0)
    }

    /// Every message of the queue, visible, in flight or delayed.
    static func total(_ queue: Queue) throws -> Int {
        let statistics = try queue.statistics()
        return statistics.approximateNumberOfMessages + statistics.approximateNumberOfMessagesNotVisible
            + statistics.approximateNumberOfMessagesDelayed
    }

    static func counts(_ queue: Queue) throws -> (visible: Int, inFlight: Int, delayed: Int) {
        let statistics = try queue.statistics()
        return (statistics.approximateNumberOfMessages, statistics.approximateNumberOfMessagesNotVisible,
                statistics.approximateNumberOfMessagesDelayed)
    }
}

extension StoredMessage {
    /// A standard message with only a key and a body, for tests of the queue's indexes.
    static func plain(key: UInt64, body: String, enqueuedAt: Date = Date(timeIntervalSince1970: 0)) -> StoredMessage {
        StoredMessage.make(key: key, id: MessageID(high: 0, low: key), body: body, messageAttributes: [:], systemAttributes: [:],
                             sentAt: enqueuedAt, enqueuedAt: enqueuedAt, groupId: nil, deduplicationId: nil, sequenceNumber: nil,
                             deadLetterQueueSourceArn: nil, size: body.utf8.count, receiveCount: 0, firstReceivedAt: nil)
    }
}

import Foundation

/// A message as ``Queue/peek(states:limit:where:)`` shows it: what a receive would return, plus where the message
/// stands (visible, in flight, delayed) and until when. Peeking changes nothing, so this is a picture of one moment.
public struct PeekedMessage: Sendable, Hashable {
    /// Where a message stands in its queue.
    public enum State: Sendable, Hashable, CaseIterable {
        /// Receivable now (AWS: counted in `ApproximateNumberOfMessages`).
        case visible
        /// Received and not yet deleted; visible again when its visibility timeout lapses (AWS:
        /// `ApproximateNumberOfMessagesNotVisible`).
        case inFlight
        /// Sent with a delay (or to a queue with `DelaySeconds`) that has not passed yet (AWS:
        /// `ApproximateNumberOfMessagesDelayed`).
        case delayed
    }

    /// The `MessageId` SendMessage returned.
    public let messageId: String
    /// The message body.
    public let body: String
    /// The user's message attributes.
    public let messageAttributes: [String: MessageAttributeValue]
    /// The system attributes sent with the message (`AWSTraceHeader`).
    public let messageSystemAttributes: [String: MessageAttributeValue]
    /// FIFO: the `MessageGroupId`.
    public let messageGroupId: String?
    /// FIFO: the `MessageDeduplicationId` (explicit or content-based).
    public let messageDeduplicationId: String?
    /// FIFO: the `SequenceNumber`.
    public let sequenceNumber: String?
    /// `ApproximateReceiveCount`: how many times the message has been received (peeks do not count).
    public let receiveCount: Int
    /// `SentTimestamp`.
    public let sentTimestamp: Date
    /// `ApproximateFirstReceiveTimestamp`; nil before the first receive.
    public let firstReceiveTimestamp: Date?
    /// `DeadLetterQueueSourceArn`: the queue the message was moved from, for a message in a dead-letter queue.
    public let deadLetterQueueSourceArn: String?
    /// Where the message stands.
    public let state: State
    /// When the message becomes receivable: now or earlier for a visible message, the end of its visibility timeout
    /// in flight, the end of its delay when delayed.
    public let visibleAt: Date

    /// The end of the visibility timeout, for a message in flight; nil otherwise.
    public var inFlightUntil: Date? { state == .inFlight ? visibleAt : nil }
    /// The end of the delay, for a delayed message; nil otherwise.
    public var delayedUntil: Date? { state == .delayed ? visibleAt : nil }

    init(_ snapshot: PeekSnapshot) {
        let stored = snapshot.message
        messageId = stored.messageId
        body = stored.body
        messageAttributes = stored.messageAttributes
        messageSystemAttributes = stored.systemAttributes
        messageGroupId = stored.groupId
        messageDeduplicationId = stored.deduplicationId
        sequenceNumber = stored.sequenceNumber.map(String.init)
        receiveCount = snapshot.receiveCount
        sentTimestamp = stored.sentAt
        firstReceiveTimestamp = snapshot.firstReceivedAt
        deadLetterQueueSourceArn = stored.deadLetterQueueSourceArn
        state = snapshot.state
        visibleAt = snapshot.visibleAt
    }
}

/// A queue's message counts at one moment: the numbers GetQueueAttributes reports as
/// `ApproximateNumberOfMessages`, `…NotVisible` and `…Delayed`, exact here.
public struct QueueCounts: Sendable, Hashable {
    /// Receivable messages (`ApproximateNumberOfMessages`).
    public var visible: Int
    /// Messages in flight (`ApproximateNumberOfMessagesNotVisible`).
    public var inFlight: Int
    /// Delayed messages (`ApproximateNumberOfMessagesDelayed`).
    public var delayed: Int

    /// Every message the queue holds: visible, in flight and delayed.
    public var total: Int { visible + inFlight + delayed }

    /// Creates counts.
    public init(visible: Int, inFlight: Int, delayed: Int) {
        self.visible = visible
        self.inFlight = inFlight
        self.delayed = delayed
    }
}

extension Queue {
    /// The queue's messages without receiving them: visible, in flight and delayed, each with its receive count
    /// and deadlines.
    ///
    /// Nothing changes: no receive count goes up, no visibility timeout starts or moves, and a later receive gets
    /// the same messages it would have got without the peek. Like every call, a peek first brings the queue up to
    /// the clock (expired messages go, lapsed visibility timeouts and delays end), which a receive would have done
    /// too.
    ///
    /// The messages are taken in one pass under the queue's lock; `predicate` runs afterwards, without the lock,
    /// so it may call the queue.
    ///
    /// - Parameters:
    ///   - states: the states to include; all by default.
    ///   - limit: at most this many messages (the oldest first); nil for all.
    ///   - predicate: only messages for which it returns true.
    /// - Returns: the messages in send order (FIFO: sequence-number order).
    /// - Throws: `QueueDoesNotExist` after the queue is deleted; `InvalidParameterValue` for a negative limit.
    public func peek(states: Set<PeekedMessage.State> = Set(PeekedMessage.State.allCases), limit: Int? = nil,
                     where predicate: ((PeekedMessage) -> Bool)? = nil) throws(BrokerError) -> [PeekedMessage] {
        if let limit, limit < 0 {
            throw BrokerError.invalidParameter("Limit", value: String(limit), reason: "Must be 0 or more.")
        }
        let snapshots = try core.read { state, _ in state.peekSnapshots(states: states) }
        return Self.arrange(snapshots, limit: limit, predicate: predicate)
    }

    /// The queue's message counts (exact, unlike the approximate attributes AWS reports).
    public func counts() throws(BrokerError) -> QueueCounts {
        try core.read { state, _ in state.counts }
    }

    /// Orders snapshots as they were sent and applies the filter and the limit.
    static func arrange(_ snapshots: [PeekSnapshot], limit: Int?,
                        predicate: ((PeekedMessage) -> Bool)?) -> [PeekedMessage] {
        let ordered = snapshots.sorted { lhs, rhs in
            let a = lhs.message, b = rhs.message
            if let x = a.sequenceNumber, let y = b.sequenceNumber { return x < y }
            if a.enqueuedAt != b.enqueuedAt { return a.enqueuedAt < b.enqueuedAt }
            if a.sentAt != b.sentAt { return a.sentAt < b.sentAt }
            return a.key >> 32 < b.key >> 32
        }
        var peeked: [PeekedMessage] = []
        let maximum = limit ?? Int.max
        for snapshot in ordered {
            guard peeked.count < maximum else { break }
            let message = PeekedMessage(snapshot)
            if let predicate, !predicate(message) { continue }
            peeked.append(message)
        }
        return peeked
    }
}

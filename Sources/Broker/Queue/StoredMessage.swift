import Foundation

/// A message as a queue stores it. Immutable fields are read without the lock; the `var`s belong to the owning
/// queue's lock and are touched only inside it.
final class StoredMessage: @unchecked Sendable {
    enum State: UInt8 {
        case delayed
        case visible
        case inFlight
        case gone
    }

    /// The queue-local key a receipt handle names.
    let key: UInt64
    let messageId: String
    let body: String
    let md5OfBody: String
    let messageAttributes: [String: MessageAttributeValue]
    let md5OfMessageAttributes: String?
    let systemAttributes: [String: MessageAttributeValue]
    let md5OfMessageSystemAttributes: String?
    let sentAt: Date
    /// When the retention period starts: the send, or for a FIFO dead-letter queue the move.
    let enqueuedAt: Date
    let groupId: String?
    let deduplicationId: String?
    let sequenceNumber: UInt64?
    let deadLetterQueueSourceArn: String?
    let size: Int

    var state: State
    /// When a delayed or in-flight message becomes visible.
    var visibleAt: Date
    var receiveCount: Int
    var firstReceivedAt: Date?
    /// The latest receive, from which the 12-hour visibility cap counts.
    var receivedAt: Date
    /// Identifies the latest receipt handle; 0 before the first receive.
    var receiptNonce: UInt64 = 0
    /// Bumped whenever `visibleAt` changes, so heap entries for an older deadline are recognised as stale.
    var stamp: UInt32 = 0

    init(key: UInt64, messageId: String, body: String, md5OfBody: String,
         messageAttributes: [String: MessageAttributeValue], md5OfMessageAttributes: String?,
         systemAttributes: [String: MessageAttributeValue], md5OfMessageSystemAttributes: String?,
         sentAt: Date, enqueuedAt: Date, groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
         deadLetterQueueSourceArn: String?, size: Int, receiveCount: Int, firstReceivedAt: Date?,
         state: State, visibleAt: Date) {
        self.key = key
        self.messageId = messageId
        self.body = body
        self.md5OfBody = md5OfBody
        self.messageAttributes = messageAttributes
        self.md5OfMessageAttributes = md5OfMessageAttributes
        self.systemAttributes = systemAttributes
        self.md5OfMessageSystemAttributes = md5OfMessageSystemAttributes
        self.sentAt = sentAt
        self.enqueuedAt = enqueuedAt
        self.groupId = groupId
        self.deduplicationId = deduplicationId
        self.sequenceNumber = sequenceNumber
        self.deadLetterQueueSourceArn = deadLetterQueueSourceArn
        self.size = size
        self.receiveCount = receiveCount
        self.firstReceivedAt = firstReceivedAt
        self.state = state
        self.visibleAt = visibleAt
        self.receivedAt = sentAt
    }
}

/// A heap entry: `message` becomes visible at `deadline`, if `stamp` still matches.
struct TimedEntry {
    let deadline: Date
    let stamp: UInt32
    let message: StoredMessage

    var isCurrent: Bool {
        stamp == message.stamp && (message.state == .delayed || message.state == .inFlight)
    }
}

/// A receipt handle: the queue's incarnation, the message key and the receive's nonce, base64-encoded.
struct ReceiptHandle: Equatable {
    let incarnation: UInt64
    let key: UInt64
    let nonce: UInt64

    var encoded: String {
        var bytes = [UInt8]()
        bytes.reserveCapacity(24)
        for value in [incarnation, key, nonce] {
            for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: value >> UInt64(shift))) }
        }
        return Data(bytes).base64EncodedString()
    }

    init(incarnation: UInt64, key: UInt64, nonce: UInt64) {
        self.incarnation = incarnation
        self.key = key
        self.nonce = nonce
    }

    init?(_ text: String) {
        guard text.utf8.count == 32, let data = Data(base64Encoded: text), data.count == 24 else { return nil }
        var values = [UInt64](repeating: 0, count: 3)
        for (index, byte) in data.enumerated() { values[index / 8] = values[index / 8] << 8 | UInt64(byte) }
        guard values[2] != 0 else { return nil }
        self.init(incarnation: values[0], key: values[1], nonce: values[2])
    }
}

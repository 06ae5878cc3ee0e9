import Foundation

/// A message as a queue stores it. Immutable fields are read without the lock; the `var`s belong to the owning
/// queue's lock and are touched only inside it.
///
/// Kept small, because a queue may hold millions: the id is 16 bytes, and what a plain standard message lacks
/// (system attributes, FIFO fields, a dead-letter source) sits in an optional side record.
final class StoredMessage: @unchecked Sendable {
    enum State: UInt8 {
        /// Created, not yet in the queue's indexes.
        case new
        case delayed
        case visible
        case inFlight
        case gone
    }

    /// The fields only some messages have.
    private final class Extras: Sendable {
        let systemAttributes: [String: MessageAttributeValue]
        let md5OfMessageSystemAttributes: String?
        let groupId: String?
        let deduplicationId: String?
        let sequenceNumber: UInt64?
        let deadLetterQueueSourceArn: String?

        init(systemAttributes: [String: MessageAttributeValue], md5OfMessageSystemAttributes: String?, groupId: String?,
             deduplicationId: String?, sequenceNumber: UInt64?, deadLetterQueueSourceArn: String?) {
            self.systemAttributes = systemAttributes
            self.md5OfMessageSystemAttributes = md5OfMessageSystemAttributes
            self.groupId = groupId
            self.deduplicationId = deduplicationId
            self.sequenceNumber = sequenceNumber
            self.deadLetterQueueSourceArn = deadLetterQueueSourceArn
        }
    }

    /// The queue-local key a receipt handle names.
    let key: UInt64
    let id: MessageID
    let body: String
    let messageAttributes: [String: MessageAttributeValue]
    let md5OfMessageAttributes: String?
    let sentAt: Date
    /// When the retention period starts: the send, or for a FIFO dead-letter queue the move.
    let enqueuedAt: Date
    let size: Int
    private let extras: Extras?

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

    var messageId: String { id.string }
    var systemAttributes: [String: MessageAttributeValue] { extras?.systemAttributes ?? [:] }
    var md5OfMessageSystemAttributes: String? { extras?.md5OfMessageSystemAttributes }
    var groupId: String? { extras?.groupId }
    var deduplicationId: String? { extras?.deduplicationId }
    var sequenceNumber: UInt64? { extras?.sequenceNumber }
    var deadLetterQueueSourceArn: String? { extras?.deadLetterQueueSourceArn }

    init(key: UInt64, id: MessageID, body: String,
         messageAttributes: [String: MessageAttributeValue], md5OfMessageAttributes: String?,
         systemAttributes: [String: MessageAttributeValue], md5OfMessageSystemAttributes: String?,
         sentAt: Date, enqueuedAt: Date, groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
         deadLetterQueueSourceArn: String?, size: Int, receiveCount: Int, firstReceivedAt: Date?) {
        self.key = key
        self.id = id
        self.body = body
        self.messageAttributes = messageAttributes
        self.md5OfMessageAttributes = md5OfMessageAttributes
        self.sentAt = sentAt
        self.enqueuedAt = enqueuedAt
        self.size = size
        let plain = systemAttributes.isEmpty && groupId == nil && deduplicationId == nil && sequenceNumber == nil
            && deadLetterQueueSourceArn == nil
        self.extras = plain ? nil : Extras(
            systemAttributes: systemAttributes, md5OfMessageSystemAttributes: md5OfMessageSystemAttributes,
            groupId: groupId, deduplicationId: deduplicationId, sequenceNumber: sequenceNumber,
            deadLetterQueueSourceArn: deadLetterQueueSourceArn)
        self.receiveCount = receiveCount
        self.firstReceivedAt = firstReceivedAt
        self.state = .new
        self.visibleAt = enqueuedAt
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

/// A receipt handle: the queue's incarnation, the message key and the receive's nonce, as 32 characters of
/// base64 (standard alphabet). Encoded and decoded by hand: `Data` and Foundation's base64 cost several allocations
/// per receive and per delete.
struct ReceiptHandle: Equatable {
    let incarnation: UInt64
    let key: UInt64
    let nonce: UInt64

    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let decoding: [UInt8] = {
        var table = [UInt8](repeating: 0xFF, count: 256)
        for (index, character) in alphabet.enumerated() { table[Int(character)] = UInt8(index) }
        return table
    }()

    init(incarnation: UInt64, key: UInt64, nonce: UInt64) {
        self.incarnation = incarnation
        self.key = key
        self.nonce = nonce
    }

    var encoded: String {
        let words = [incarnation, key, nonce]
        var characters = [UInt8](repeating: 0, count: 32)
        // 24 bytes = 8 groups of 3 bytes = 8 groups of 4 characters.
        for group in 0..<8 {
            var triple: UInt32 = 0
            for offset in 0..<3 {
                let byteIndex = group * 3 + offset
                let word = words[byteIndex / 8]
                let byte = UInt8(truncatingIfNeeded: word >> UInt64(56 - 8 * (byteIndex % 8)))
                triple = triple << 8 | UInt32(byte)
            }
            for offset in 0..<4 {
                characters[group * 4 + offset] = Self.alphabet[Int((triple >> UInt32(18 - 6 * offset)) & 0x3F)]
            }
        }
        return String(decoding: characters, as: UTF8.self)
    }

    init?(_ text: String) {
        let utf8 = text.utf8
        guard utf8.count == 32 else { return nil }
        var words: [UInt64] = [0, 0, 0]
        var byteIndex = 0
        var iterator = utf8.makeIterator()
        for _ in 0..<8 {
            var triple: UInt32 = 0
            for _ in 0..<4 {
                guard let character = iterator.next() else { return nil }
                let value = Self.decoding[Int(character)]
                guard value != 0xFF else { return nil }
                triple = triple << 6 | UInt32(value)
            }
            for shift in [16, 8, 0] {
                words[byteIndex / 8] = words[byteIndex / 8] << 8 | UInt64((triple >> UInt32(shift)) & 0xFF)
                byteIndex += 1
            }
        }
        guard words[2] != 0 else { return nil }
        self.init(incarnation: words[0], key: words[1], nonce: words[2])
    }
}

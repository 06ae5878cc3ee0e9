import Foundation

/// A stored message's fields, the header of its one allocation (``StoredMessage``); the body's UTF-8 bytes follow
/// them in the same block.
struct StoredMessageFields {
    /// The queue-local key a receipt handle names; 0 while the message is being prepared outside the lock (no key
    /// is 0: `MessageTable.makeKey` never makes generation 0).
    var key: UInt64
    // Set with the key, before the message is reachable from the queue (``StoredMessage/stored(key:id:sentAt:extras:)``),
    // and read-only after.
    var id: MessageID
    let messageAttributes: [String: MessageAttributeValue]
    var sentAt: Date
    var extras: StoredMessage.Extras?
    var visibleAt: Date
    var receivedAt: Date
    var receiptNonce: UInt64 = 0
    /// Seconds since the reference date of the first receive; NaN before it (a `Date?` would take 16 bytes).
    var firstReceivedSeconds: Double
    /// Bytes, as SQS counts them against the maximum message size (at most 1 MiB, so 32 bits hold it).
    let storedSize: UInt32
    /// The receive count in the low 24 bits (it stops at 16,777,215), the state's raw value in the high 8.
    var countAndState: UInt32 = 0
    /// The body's length in UTF-8 bytes.
    let bodyCount: UInt32
}

/// A message as a queue stores it: one allocation, its fields (``StoredMessageFields``) followed by the body's
/// UTF-8 bytes. Immutable fields and the body are read without the lock; the `var`s belong to the owning queue's
/// lock and are touched only inside it.
///
/// Kept small, because a queue may hold millions. The body is not a `String` of its own: a native string of 100
/// bytes is a second allocation with a 32-byte header, a terminating zero and a 16-byte reference, a 160-byte glibc
/// chunk for 100 bytes of text; in the message's own block the same body costs its bytes and a 4-byte length (one
/// 224-byte chunk for fields and body together, against 128 + 160 with a string of its own). Reading ``body`` makes a `String` each
/// time; the journal, digests and encoders read the bytes in place (``withBody(_:)``).
///
/// What a plain standard message lacks (system attributes, FIFO fields, a dead-letter source, an enqueue time other
/// than its send time) sits in an optional side record. The state shares a word with the receive count (both change
/// only under the lock; the size, which shares nothing, is read without it), a FIFO message's group slot sits in the
/// side record every FIFO message has, and a stale entry of the hidden index is recognised by its deadline rather
/// than a stamp.
///
/// A struct around the block rather than the block's class itself because `ManagedBuffer` cannot be `Sendable`;
/// the struct is one reference wide, compares by identity (`===`), and its setters write through to the block.
struct StoredMessage: @unchecked Sendable {
    /// The block: fields, then body bytes.
    final class Storage: ManagedBuffer<StoredMessageFields, UInt8> {}

    private let storage: Storage

    private init(storage: Storage) {
        self.storage = storage
    }

    /// The fields, through their address: `storage.header` is a class's stored property, so each access through it
    /// would pay a dynamic exclusivity check (about a tenth of a send+receive+delete when measured). The pointer
    /// stays valid while `storage` lives, which this struct guarantees.
    private var fields: UnsafeMutablePointer<StoredMessageFields> {
        storage.withUnsafeMutablePointerToHeader { $0 }
    }

    enum State: UInt8 {
        /// Created, not yet in the queue's indexes.
        case new
        case delayed
        case visible
        case inFlight
        case gone
    }

    /// The fields only some messages have.
    final class Extras: @unchecked Sendable {
        let systemAttributes: [String: MessageAttributeValue]
        let groupId: String?
        let deduplicationId: String?
        let sequenceNumber: UInt64?
        let deadLetterQueueSourceArn: String?
        /// Nil when the message was enqueued when it was sent.
        let enqueuedAt: Date?
        /// FIFO: the slot of its group in the queue's group table; like the message's `var`s, the queue's lock's.
        var groupSlot: Int32 = -1

        init(systemAttributes: [String: MessageAttributeValue], groupId: String?,
             deduplicationId: String?, sequenceNumber: UInt64?, deadLetterQueueSourceArn: String?, enqueuedAt: Date?) {
            self.systemAttributes = systemAttributes
            self.groupId = groupId
            self.deduplicationId = deduplicationId
            self.sequenceNumber = sequenceNumber
            self.deadLetterQueueSourceArn = deadLetterQueueSourceArn
            self.enqueuedAt = enqueuedAt
        }
    }

    /// A message holding a copy of `body`'s UTF-8 bytes; `size` is what SQS counts (body and attributes).
    static func make(key: UInt64, id: MessageID, body: String,
                     messageAttributes: [String: MessageAttributeValue], systemAttributes: [String: MessageAttributeValue],
                     sentAt: Date, enqueuedAt: Date, groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
                     deadLetterQueueSourceArn: String?, size: Int, receiveCount: Int, firstReceivedAt: Date?) -> StoredMessage {
        var body = body
        return body.withUTF8 { bytes in
            make(key: key, id: id, bodyBytes: bytes, messageAttributes: messageAttributes, systemAttributes: systemAttributes,
                 sentAt: sentAt, enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: deduplicationId,
                 sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: deadLetterQueueSourceArn, size: size,
                 receiveCount: receiveCount, firstReceivedAt: firstReceivedAt)
        }
    }

    /// A send's message before its queue names it: body, attributes and size, for `QueueCore.prepare` to make
    /// outside the queue's lock (the allocation and the copy of the body were a fifth of a batched send's critical
    /// section). ``stored(key:id:sentAt:extras:)`` gives it the rest under the lock.
    static func unnamed(body: String, messageAttributes: [String: MessageAttributeValue], size: Int) -> StoredMessage {
        make(key: 0, id: MessageID(high: 0, low: 0), body: body, messageAttributes: messageAttributes,
             systemAttributes: [:], sentAt: .distantPast, enqueuedAt: .distantPast, groupId: nil, deduplicationId: nil,
             sequenceNumber: nil, deadLetterQueueSourceArn: nil, size: size, receiveCount: 0, firstReceivedAt: nil)
    }

    /// The side record of a new message's fields beyond the plain ones; nil when it has none.
    static func extras(systemAttributes: [String: MessageAttributeValue], groupId: String?, deduplicationId: String?,
                       sequenceNumber: UInt64?, deadLetterQueueSourceArn: String?, separateEnqueue: Date?) -> Extras? {
        let plain = systemAttributes.isEmpty && groupId == nil && deduplicationId == nil && sequenceNumber == nil
            && deadLetterQueueSourceArn == nil && separateEnqueue == nil
        return plain ? nil : Extras(
            systemAttributes: systemAttributes, groupId: groupId, deduplicationId: deduplicationId, sequenceNumber: sequenceNumber,
            deadLetterQueueSourceArn: deadLetterQueueSourceArn, enqueuedAt: separateEnqueue)
    }

    /// Whether ``stored(key:id:sentAt:extras:)`` has named it (or it was made named).
    var isNamed: Bool { fields.pointee.key != 0 }

    /// Names an ``unnamed(body:messageAttributes:size:)`` message as its queue stores it, under the queue's lock and
    /// before anything else can reach it; enqueued when sent.
    func stored(key: UInt64, id: MessageID, sentAt: Date, extras: Extras?) {
        fields.pointee.key = key
        fields.pointee.id = id
        fields.pointee.sentAt = sentAt
        fields.pointee.extras = extras
        fields.pointee.visibleAt = sentAt
        fields.pointee.receivedAt = sentAt
    }

    /// A message holding a copy of `bodyBytes`, which must be valid UTF-8 (a body that came from a `String`).
    static func make(key: UInt64, id: MessageID, bodyBytes: UnsafeBufferPointer<UInt8>,
                     messageAttributes: [String: MessageAttributeValue], systemAttributes: [String: MessageAttributeValue],
                     sentAt: Date, enqueuedAt: Date, groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
                     deadLetterQueueSourceArn: String?, size: Int, receiveCount: Int, firstReceivedAt: Date?) -> StoredMessage {
        // A body is at most 1 MiB (validated before any message is made), so its length fits 32 bits.
        let count = min(bodyBytes.count, Int(UInt32.max))
        let storage = block(key: key, id: id, bodyCount: count, messageAttributes: messageAttributes,
                            systemAttributes: systemAttributes, sentAt: sentAt, enqueuedAt: enqueuedAt, groupId: groupId,
                            deduplicationId: deduplicationId, sequenceNumber: sequenceNumber,
                            deadLetterQueueSourceArn: deadLetterQueueSourceArn, size: size, receiveCount: receiveCount,
                            firstReceivedAt: firstReceivedAt)
        if let base = bodyBytes.baseAddress, count > 0 {
            storage.withUnsafeMutablePointerToElements { $0.initialize(from: base, count: count) }
        }
        return StoredMessage(storage: storage)
    }

    /// A send's message before its queue names it, whose `count` body bytes `writeBody` writes into the block
    /// (valid UTF-8, which the caller vouches for): a topic's envelope copy, made with no String in between.
    static func unnamed(bodyCount count: Int, size: Int,
                        writeBody: (UnsafeMutableBufferPointer<UInt8>) -> Void) -> StoredMessage {
        let count = min(count, Int(UInt32.max))
        let storage = block(key: 0, id: MessageID(high: 0, low: 0), bodyCount: count, messageAttributes: [:],
                            systemAttributes: [:], sentAt: .distantPast, enqueuedAt: .distantPast, groupId: nil,
                            deduplicationId: nil, sequenceNumber: nil, deadLetterQueueSourceArn: nil, size: size,
                            receiveCount: 0, firstReceivedAt: nil)
        storage.withUnsafeMutablePointerToElements { writeBody(UnsafeMutableBufferPointer(start: $0, count: count)) }
        return StoredMessage(storage: storage)
    }

    /// A block with room for `count` body bytes, which the caller initializes. Inlined into both makers: a send's
    /// body copy made through a closure here ran unbatched sends 3–6% slower.
    @inline(__always)
    private static func block(key: UInt64, id: MessageID, bodyCount count: Int,
                              messageAttributes: [String: MessageAttributeValue],
                              systemAttributes: [String: MessageAttributeValue], sentAt: Date, enqueuedAt: Date,
                              groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
                              deadLetterQueueSourceArn: String?, size: Int, receiveCount: Int,
                              firstReceivedAt: Date?) -> Storage {
        let extras = extras(systemAttributes: systemAttributes, groupId: groupId, deduplicationId: deduplicationId,
                            sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: deadLetterQueueSourceArn,
                            separateEnqueue: enqueuedAt == sentAt ? nil : enqueuedAt)
        let buffer = Storage.create(minimumCapacity: count) { _ in
            var fields = StoredMessageFields(
                key: key, id: id, messageAttributes: messageAttributes, sentAt: sentAt, extras: extras,
                visibleAt: enqueuedAt, receivedAt: sentAt,
                firstReceivedSeconds: firstReceivedAt?.timeIntervalSinceReferenceDate ?? .nan,
                storedSize: UInt32(clamping: size), bodyCount: UInt32(count))
            fields.countAndState = UInt32(clamping: min(max(receiveCount, 0), Int(countMask)))  // and the state `.new`
            return fields
        }
        return unsafeDowncast(buffer, to: Storage.self)
    }

    var key: UInt64 { fields.pointee.key }
    var id: MessageID { fields.pointee.id }
    var messageAttributes: [String: MessageAttributeValue] { fields.pointee.messageAttributes }
    var sentAt: Date { fields.pointee.sentAt }
    private var extras: Extras? { fields.pointee.extras }

    /// When a delayed or in-flight message becomes visible.
    var visibleAt: Date {
        get { fields.pointee.visibleAt }
        nonmutating set { fields.pointee.visibleAt = newValue }
    }

    /// The latest receive, from which the 12-hour visibility cap counts.
    var receivedAt: Date {
        get { fields.pointee.receivedAt }
        nonmutating set { fields.pointee.receivedAt = newValue }
    }

    /// Identifies the latest receipt handle; 0 before the first receive.
    var receiptNonce: UInt64 {
        get { fields.pointee.receiptNonce }
        nonmutating set { fields.pointee.receiptNonce = newValue }
    }

    /// The body, as a new `String` on each read.
    var body: String { withBody { String(decoding: $0, as: UTF8.self) } }

    /// The body's UTF-8 bytes, valid during `read` only.
    func withBody<R>(_ read: (UnsafeBufferPointer<UInt8>) throws -> R) rethrows -> R {
        let count = Int(fields.pointee.bodyCount)
        return try storage.withUnsafeMutablePointerToElements { try read(UnsafeBufferPointer(start: $0, count: count)) }
    }

    /// The body's length in UTF-8 bytes.
    var bodyByteCount: Int { Int(fields.pointee.bodyCount) }

    var state: State {
        get { State(rawValue: UInt8(truncatingIfNeeded: fields.pointee.countAndState >> 24)) ?? .gone }
        nonmutating set { fields.pointee.countAndState = fields.pointee.countAndState & Self.countMask | UInt32(newValue.rawValue) << 24 }
    }

    /// FIFO: the slot of its group in the queue's group table (set when it joins the queue's indexes); -1 before,
    /// and always for a message without a group.
    var groupSlot: Int32 {
        get { extras?.groupSlot ?? -1 }
        nonmutating set { extras?.groupSlot = newValue }
    }

    var messageId: String { id.string }
    var systemAttributes: [String: MessageAttributeValue] { extras?.systemAttributes ?? [:] }
    var groupId: String? { extras?.groupId }
    var deduplicationId: String? { extras?.deduplicationId }
    var sequenceNumber: UInt64? { extras?.sequenceNumber }
    var deadLetterQueueSourceArn: String? { extras?.deadLetterQueueSourceArn }
    /// When the retention period starts: the send, or for a FIFO dead-letter queue the move.
    var enqueuedAt: Date { extras?.enqueuedAt ?? sentAt }
    var size: Int { Int(fields.pointee.storedSize) }

    var receiveCount: Int {
        get { Int(fields.pointee.countAndState & Self.countMask) }
        nonmutating set {
            fields.pointee.countAndState = fields.pointee.countAndState & ~Self.countMask
                | UInt32(clamping: min(max(newValue, 0), Int(Self.countMask)))
        }
    }

    private static var countMask: UInt32 { 0x00FF_FFFF }

    /// The same message: the same block.
    static func === (lhs: StoredMessage, rhs: StoredMessage) -> Bool { lhs.storage === rhs.storage }

    /// The block itself: what identity compares, and what a test holds weakly to watch the message's lifetime.
    var object: AnyObject { storage }

    /// The block's address, for tests of its size.
    var blockAddress: UnsafeMutableRawPointer { Unmanaged.passUnretained(storage).toOpaque() }

    var firstReceivedAt: Date? {
        get { fields.pointee.firstReceivedSeconds.isNaN ? nil : Date(timeIntervalSinceReferenceDate: fields.pointee.firstReceivedSeconds) }
        nonmutating set { fields.pointee.firstReceivedSeconds = newValue?.timeIntervalSinceReferenceDate ?? .nan }
    }
}

/// The same message, or both nil.
func === (lhs: StoredMessage?, rhs: StoredMessage?) -> Bool { lhs?.object === rhs?.object }

extension StoredMessage {
    /// The same message under a new key in another queue (or again in this one).
    func copy(key: UInt64, enqueuedAt: Date, sequenceNumber: UInt64?, deadLetterQueueSourceArn: String?,
              deduplicationId: String? = nil) -> StoredMessage {
        withBody { bytes in
            StoredMessage.make(key: key, id: id, bodyBytes: bytes,
                               messageAttributes: messageAttributes, systemAttributes: systemAttributes,
                               sentAt: sentAt, enqueuedAt: enqueuedAt, groupId: groupId,
                               deduplicationId: deduplicationId ?? self.deduplicationId,
                               sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: deadLetterQueueSourceArn, size: size,
                               receiveCount: receiveCount, firstReceivedAt: firstReceivedAt)
        }
    }
}

/// A heap entry: `message` becomes visible at `deadline`, if that is still its deadline.
///
/// An entry whose message was hidden again since holds an older deadline, and one whose message became visible or
/// went is not delayed or in flight. Two entries can hold the message's current deadline (hidden until D, made
/// visible, hidden until D again): the first makes it visible, and the second then finds it visible.
struct TimedEntry {
    let deadline: Date
    let message: StoredMessage

    var isCurrent: Bool {
        message.visibleAt == deadline && (message.state == .delayed || message.state == .inFlight)
    }
}

/// A receipt handle: the queue's incarnation, the message key and the receive's nonce, as 32 characters of
/// base64 (standard alphabet). Encoded and decoded by hand through `Base64`'s tables, with no temporary arrays:
/// `Data` and Foundation's base64 cost several allocations per receive and per delete.
struct ReceiptHandle: Equatable {
    let incarnation: UInt64
    let key: UInt64
    let nonce: UInt64

    init(incarnation: UInt64, key: UInt64, nonce: UInt64) {
        self.incarnation = incarnation
        self.key = key
        self.nonce = nonce
    }

    /// The 192 bits read as one big-endian number, 6 bits per character. Taken 24 bits (four characters) at a
    /// time: each step shifts the three words as one, and eight steps cost a quarter of thirty-two.
    var encoded: String {
        String(unsafeUninitializedCapacity: 32) { buffer in
            var words = (incarnation, key, nonce)
            for group in stride(from: 28, through: 0, by: -4) {
                let chunk = words.2
                buffer[group + 3] = Self.character(chunk)
                buffer[group + 2] = Self.character(chunk >> 6)
                buffer[group + 1] = Self.character(chunk >> 12)
                buffer[group] = Self.character(chunk >> 18)
                words.2 = words.2 >> 24 | words.1 << 40
                words.1 = words.1 >> 24 | words.0 << 40
                words.0 >>= 24
            }
            return 32
        }
    }

    init?(_ text: String) {
        // Only 32-byte strings can be handles, so anything longer is refused before its bytes are touched. Native
        // strings hand out their bytes directly; anything else (a small or bridged string) is copied once.
        guard text.utf8.count == 32,
              let handle = text.utf8.withContiguousStorageIfAvailable(Self.parse)
                ?? Array(text.utf8).withUnsafeBufferPointer(Self.parse)
        else { return nil }
        self = handle
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> ReceiptHandle? {
        guard bytes.count == 32 else { return nil }
        var words: (UInt64, UInt64, UInt64) = (0, 0, 0)
        // Invalid characters decode to 0xFF; or-ing every value and checking once keeps the loop free of branches.
        var seen: UInt8 = 0
        // Four characters, 24 bits, shift in at once (see `encoded`).
        for group in stride(from: 0, to: 32, by: 4) {
            let a = Base64.decoding[Int(bytes[group])], b = Base64.decoding[Int(bytes[group + 1])]
            let c = Base64.decoding[Int(bytes[group + 2])], d = Base64.decoding[Int(bytes[group + 3])]
            seen |= a | b | c | d
            let chunk = UInt64(a & 0x3F) << 18 | UInt64(b & 0x3F) << 12 | UInt64(c & 0x3F) << 6 | UInt64(d & 0x3F)
            words.0 = words.0 << 24 | words.1 >> 40
            words.1 = words.1 << 24 | words.2 >> 40
            words.2 = words.2 << 24 | chunk
        }
        guard seen < 64, words.2 != 0 else { return nil }
        return ReceiptHandle(incarnation: words.0, key: words.1, nonce: words.2)
    }

    private static func character(_ value: UInt64) -> UInt8 {
        Base64.alphabet[Int(truncatingIfNeeded: value & 0x3F)]
    }
}

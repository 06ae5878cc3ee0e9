import Foundation

/// The journal entries of one critical section of a durable queue, collected by the state machine's transitions as
/// they change the state and written by ``QueueCore`` as one record before its lock is released (so records follow
/// the order of the changes). Nil on an in-memory queue, so the transitions pay one nil check.
///
/// Each entry states the outcome (a message as stored, its receive state and deadline, a removal), never the
/// request, so replaying an entry twice leaves the same state as once and no clock or random number is read again.
struct QueueLog {
    /// Entry kinds, one byte each; `Docs/Durability.md` lists their fields.
    enum Operation: UInt8 {
        case message = 1
        case update = 2
        case remove = 3
        case purge = 4
        case settings = 5
        case deadLettered = 6
        case receiveAttempt = 7
        /// ``message`` as a send stores it, before any receive: the receive state it implies is left out, and the
        /// enqueue time and visibility when they equal the send time (41 of 179 bytes for a 100-byte body).
        case sent = 8
        /// ``update`` as a receive leaves it: the deadline as whole seconds after the receive, the first receive
        /// as a flag when it is this one (29 of 44 bytes).
        case received = 9
    }

    /// Flags of a ``Operation/sent`` entry: which fields follow.
    struct SentFlags: OptionSet {
        let rawValue: UInt8
        static let enqueuedLater = SentFlags(rawValue: 1)
        static let groupId = SentFlags(rawValue: 2)
        static let deduplicationId = SentFlags(rawValue: 4)
        static let sequenceNumber = SentFlags(rawValue: 8)
        static let deadLetterSource = SentFlags(rawValue: 16)
        static let deduplicates = SentFlags(rawValue: 32)
        static let deduplicationGroup = SentFlags(rawValue: 64)
        static let visibleLater = SentFlags(rawValue: 128)
    }

    /// Whether sends and receives are written in their short forms; tests turn it off to replay the long ones,
    /// which older journals hold (and other changes still write).
    var shortForms = true

    var encoder = JournalEncoder(capacity: 0)
    /// Entries since the last record was written.
    var count = 0
    /// Settings or tags changed: the core writes them whole with the record.
    var settingsChanged = false

    var isEmpty: Bool { count == 0 && !settingsChanged }

    /// A message stored by a send; `deduplicationGroup` is its FIFO deduplication key's scope (nil: the queue).
    mutating func sent(_ message: StoredMessage, deduplicates: Bool, deduplicationGroup: String?) {
        count += 1
        if shortForms, message.receiveCount == 0, message.receiptNonce == 0, message.firstReceivedAt == nil,
           message.receivedAt == message.sentAt {
            return encodeSent(message, deduplicates: deduplicates, deduplicationGroup: deduplicationGroup)
        }
        encoder.write(byte: Operation.message.rawValue)
        QueueLog.encode(message, into: &encoder)
        encoder.write(bool: deduplicates)
        encoder.write(optional: deduplicationGroup) { $0.write(string: $1) }
    }

    /// A message that entered without a send (a dead-letter move, a redrive, a put-back).
    mutating func inserted(_ message: StoredMessage) {
        sent(message, deduplicates: false, deduplicationGroup: nil)
    }

    /// A message's receive state or deadline changed.
    mutating func updated(_ message: StoredMessage) {
        count += 1
        if shortForms, message.state == .inFlight, let seconds = Self.wholeSeconds(from: message.receivedAt, to: message.visibleAt) {
            encoder.write(byte: Operation.received.rawValue)
            encoder.write(fixed: message.key)
            encoder.write(fixed: message.receiptNonce)
            encoder.write(date: message.receivedAt)
            encoder.write(count: seconds)
            encoder.write(count: message.receiveCount)
            switch message.firstReceivedAt {
            case nil: encoder.write(byte: 0)
            case message.receivedAt?: encoder.write(byte: 1)
            case let first?:
                encoder.write(byte: 2)
                encoder.write(date: first)
            }
            return
        }
        encoder.write(byte: Operation.update.rawValue)
        encoder.write(fixed: message.key)
        QueueLog.encodeMutable(message, into: &encoder)
    }

    /// A message left for good (deleted, dead-lettered, moved).
    mutating func removed(_ message: StoredMessage) {
        count += 1
        encoder.write(byte: Operation.remove.rawValue)
        encoder.write(fixed: message.key)
    }

    /// A message taken out for the dead-letter queue `target`: whole, so that recovery can finish the move when the
    /// crash came before the dead-letter queue journaled its copy.
    mutating func deadLettered(_ message: StoredMessage, target: String) {
        count += 1
        encoder.write(byte: Operation.deadLettered.rawValue)
        encoder.write(string: target)
        QueueLog.encode(message, into: &encoder)
    }

    /// A FIFO receive with a `ReceiveRequestAttemptId`: what a retry within the window must get again.
    mutating func receiveAttempt(_ attempt: String, expiresAt: Date, deliveries: [Delivery]) {
        count += 1
        encoder.write(byte: Operation.receiveAttempt.rawValue)
        QueueLog.encode(ReceiveAttempt(attempt, expiresAt: expiresAt, deliveries: deliveries), into: &encoder)
    }

    /// PurgeQueue at `now`.
    mutating func purged(at now: Date) {
        count += 1
        encoder.write(byte: Operation.purge.rawValue)
        encoder.write(date: now)
    }

    mutating func reset() {
        encoder.bytes.removeAll(keepingCapacity: true)
        count = 0
        settingsChanged = false
    }

    // MARK: Encoding

    /// `end - start` when it is whole seconds (up to the 12-hour visibility limit) that give back `end` exactly.
    static func wholeSeconds(from start: Date, to end: Date) -> Int? {
        let interval = end.timeIntervalSince(start)
        guard interval >= 0, interval <= 43_200 else { return nil }
        let seconds = Int(interval.rounded())
        return start.addingTimeInterval(TimeInterval(seconds)) == end ? seconds : nil
    }

    private mutating func encodeSent(_ message: StoredMessage, deduplicates: Bool, deduplicationGroup: String?) {
        encoder.write(byte: Operation.sent.rawValue)
        QueueLog.encodeHead(message, into: &encoder)
        var flags: SentFlags = []
        if message.enqueuedAt != message.sentAt { flags.insert(.enqueuedLater) }
        if message.groupId != nil { flags.insert(.groupId) }
        if message.deduplicationId != nil { flags.insert(.deduplicationId) }
        if message.sequenceNumber != nil { flags.insert(.sequenceNumber) }
        if message.deadLetterQueueSourceArn != nil { flags.insert(.deadLetterSource) }
        if deduplicates { flags.insert(.deduplicates) }
        if deduplicationGroup != nil { flags.insert(.deduplicationGroup) }
        if message.visibleAt != message.enqueuedAt { flags.insert(.visibleLater) }
        encoder.write(byte: flags.rawValue)
        if flags.contains(.enqueuedLater) { encoder.write(date: message.enqueuedAt) }
        if let groupId = message.groupId { encoder.write(string: groupId) }
        if let deduplicationId = message.deduplicationId { encoder.write(string: deduplicationId) }
        if let sequenceNumber = message.sequenceNumber { encoder.write(fixed: sequenceNumber) }
        if let source = message.deadLetterQueueSourceArn { encoder.write(string: source) }
        if let deduplicationGroup { encoder.write(string: deduplicationGroup) }
        encoder.write(count: message.size)
        encoder.write(byte: message.state.rawValue)
        if flags.contains(.visibleLater) { encoder.write(date: message.visibleAt) }
    }

    /// Reads a ``Operation/sent`` entry: the message, and the deduplication fields a ``Operation/message`` entry
    /// carries after it.
    static func decodeSent(_ decoder: inout JournalDecoder) throws(JournalDecodingError)
        -> (message: StoredMessage, deduplicates: Bool, deduplicationGroup: String?) {
        let head = try Head(&decoder)
        let sentAt = head.sentAt
        let flags = SentFlags(rawValue: try decoder.readByte())
        let enqueuedAt = flags.contains(.enqueuedLater) ? try decoder.readDate() : sentAt
        let groupId = flags.contains(.groupId) ? try decoder.readString() : nil
        let deduplicationId = flags.contains(.deduplicationId) ? try decoder.readString() : nil
        let sequence = flags.contains(.sequenceNumber) ? try decoder.readFixed() : nil
        let source = flags.contains(.deadLetterSource) ? try decoder.readString() : nil
        let group = flags.contains(.deduplicationGroup) ? try decoder.readString() : nil
        let size = try decoder.readCount()
        let raw = try decoder.readByte()
        guard let state = StoredMessage.State(rawValue: raw) else {
            throw JournalDecodingError(reason: "unknown message state \(raw)", offset: 0)
        }
        let visibleAt = flags.contains(.visibleLater) ? try decoder.readDate() : enqueuedAt
        let message = head.message(enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: deduplicationId,
                                   sequenceNumber: sequence, deadLetterQueueSourceArn: source, size: size)
        message.state = state
        message.visibleAt = visibleAt
        message.receivedAt = sentAt
        message.receiptNonce = 0
        return (message, flags.contains(.deduplicates), group)
    }

    /// Reads a ``Operation/received`` entry after its key into `message`.
    static func decodeReceived(_ decoder: inout JournalDecoder, into message: StoredMessage) throws(JournalDecodingError) {
        message.receiptNonce = try decoder.readFixed()
        let receivedAt = try decoder.readDate()
        let seconds = try decoder.readCount()
        guard seconds <= 43_200 else { throw JournalDecodingError(reason: "visibility of \(seconds) s", offset: 0) }
        message.receiveCount = try decoder.readCount()
        switch try decoder.readByte() {
        case 0: message.firstReceivedAt = nil
        case 1: message.firstReceivedAt = receivedAt
        case 2: message.firstReceivedAt = try decoder.readDate()
        case let other: throw JournalDecodingError(reason: "unknown first-receive flag \(other)", offset: 0)
        }
        message.state = .inFlight
        message.receivedAt = receivedAt
        message.visibleAt = receivedAt.addingTimeInterval(TimeInterval(seconds))
    }

    /// A FIFO receive attempt as the journal holds it: its id, expiry, and each message's key with the receipt
    /// nonce, receive count and first receive the receive handed out.
    struct ReceiveAttempt {
        struct Picked {
            let key: UInt64
            let receiptNonce: UInt64
            let receiveCount: Int
            let firstReceivedAt: Date?
        }

        let id: String
        let expiresAt: Date
        let picked: [Picked]

        init(id: String, expiresAt: Date, picked: [Picked]) {
            self.id = id
            self.expiresAt = expiresAt
            self.picked = picked
        }

        init(_ id: String, expiresAt: Date, deliveries: [Delivery]) {
            self.init(id: id, expiresAt: expiresAt, picked: deliveries.map {
                Picked(key: $0.message.key, receiptNonce: $0.receiptNonce, receiveCount: $0.receiveCount,
                       firstReceivedAt: $0.firstReceivedAt)
            })
        }
    }

    static func encode(_ attempt: ReceiveAttempt, into encoder: inout JournalEncoder) {
        encoder.write(string: attempt.id)
        encoder.write(date: attempt.expiresAt)
        encoder.write(count: attempt.picked.count)
        for picked in attempt.picked {
            encoder.write(fixed: picked.key)
            encoder.write(fixed: picked.receiptNonce)
            encoder.write(count: picked.receiveCount)
            encoder.write(optional: picked.firstReceivedAt) { $0.write(date: $1) }
        }
    }

    static func decodeReceiveAttempt(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> ReceiveAttempt {
        let id = try decoder.readString()
        let expiresAt = try decoder.readDate()
        let count = try decoder.readCount()
        guard count <= decoder.remaining else {
            throw JournalDecodingError(reason: "\(count) messages cannot fit in \(decoder.remaining) bytes", offset: 0)
        }
        var picked: [ReceiveAttempt.Picked] = []
        picked.reserveCapacity(count)
        for _ in 0..<count {
            picked.append(.init(key: try decoder.readFixed(), receiptNonce: try decoder.readFixed(),
                                receiveCount: try decoder.readCount(),
                                firstReceivedAt: try decoder.readPresence() ? try decoder.readDate() : nil))
        }
        return ReceiveAttempt(id: id, expiresAt: expiresAt, picked: picked)
    }

    /// The fields of a message that change after it is stored (guarded by its queue's lock), copied.
    struct MessageState {
        let state: StoredMessage.State
        let visibleAt: Date
        let receiveCount: Int
        let firstReceivedAt: Date?
        let receivedAt: Date
        let receiptNonce: UInt64

        init(_ message: StoredMessage) {
            state = message.state
            visibleAt = message.visibleAt
            receiveCount = message.receiveCount
            firstReceivedAt = message.firstReceivedAt
            receivedAt = message.receivedAt
            receiptNonce = message.receiptNonce
        }
    }

    static func encode(_ message: StoredMessage, into encoder: inout JournalEncoder) {
        encode(message, state: MessageState(message), into: &encoder)
    }

    /// A message with receive state `mutable` (copied under the lock), encoded without the lock.
    static func encode(_ message: StoredMessage, state mutable: MessageState, into encoder: inout JournalEncoder) {
        encodeHead(message, into: &encoder)
        encoder.write(date: message.enqueuedAt)
        encoder.write(optional: message.groupId) { $0.write(string: $1) }
        encoder.write(optional: message.deduplicationId) { $0.write(string: $1) }
        encoder.write(optional: message.sequenceNumber) { $0.write(fixed: $1) }
        encoder.write(optional: message.deadLetterQueueSourceArn) { $0.write(string: $1) }
        encoder.write(count: message.size)
        encodeMutable(mutable, into: &encoder)
    }

    /// What both forms of a stored message begin with: key, id, body, attributes and send time.
    static func encodeHead(_ message: StoredMessage, into encoder: inout JournalEncoder) {
        encoder.write(fixed: message.key)
        encoder.write(fixed: message.id.high)
        encoder.write(fixed: message.id.low)
        message.withBody { encoder.write(bytes: $0) }
        encode(message.messageAttributes, into: &encoder)
        encode(message.systemAttributes, into: &encoder)
        encoder.write(date: message.sentAt)
    }

    /// ``encodeHead(_:into:)``'s fields, read back.
    struct Head {
        let key: UInt64
        let id: MessageID
        let body: ArraySlice<UInt8>
        let attributes: [String: MessageAttributeValue]
        let system: [String: MessageAttributeValue]
        let sentAt: Date

        init(_ decoder: inout JournalDecoder) throws(JournalDecodingError) {
            key = try decoder.readFixed()
            id = MessageID(high: try decoder.readFixed(), low: try decoder.readFixed())
            body = try decoder.readUTF8()
            attributes = try decodeAttributes(&decoder)
            system = try decodeAttributes(&decoder)
            sentAt = try decoder.readDate()
        }

        /// The message, never received yet.
        func message(enqueuedAt: Date, groupId: String?, deduplicationId: String?, sequenceNumber: UInt64?,
                     deadLetterQueueSourceArn: String?, size: Int) -> StoredMessage {
            body.withUnsafeBufferPointer { bytes in
                StoredMessage.make(
                    key: key, id: id, bodyBytes: bytes, messageAttributes: attributes, systemAttributes: system,
                    sentAt: sentAt, enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: deduplicationId,
                    sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: deadLetterQueueSourceArn, size: size,
                    receiveCount: 0, firstReceivedAt: nil)
            }
        }
    }

    /// The fields a receive or a visibility change sets.
    static func encodeMutable(_ message: StoredMessage, into encoder: inout JournalEncoder) {
        encodeMutable(MessageState(message), into: &encoder)
    }

    static func encodeMutable(_ message: MessageState, into encoder: inout JournalEncoder) {
        encoder.write(byte: message.state.rawValue)
        encoder.write(date: message.visibleAt)
        encoder.write(count: message.receiveCount)
        encoder.write(optional: message.firstReceivedAt) { $0.write(date: $1) }
        encoder.write(date: message.receivedAt)
        encoder.write(fixed: message.receiptNonce)
    }

    static func encode(_ attributes: [String: MessageAttributeValue], into encoder: inout JournalEncoder) {
        encoder.write(count: attributes.count)
        for (name, value) in attributes {
            encoder.write(string: name)
            encoder.write(string: value.dataType)
            encoder.write(optional: value.stringValue) { $0.write(string: $1) }
            encoder.write(optional: value.binaryValue) { $0.write(bytes: $1) }
        }
    }

    // MARK: Decoding

    static func decodeMessage(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> StoredMessage {
        let head = try Head(&decoder)
        let enqueuedAt = try decoder.readDate()
        let groupId = try decoder.readPresence() ? try decoder.readString() : nil
        let deduplicationId = try decoder.readPresence() ? try decoder.readString() : nil
        let sequence = try decoder.readPresence() ? try decoder.readFixed() : nil
        let source = try decoder.readPresence() ? try decoder.readString() : nil
        let size = try decoder.readCount()
        let message = head.message(enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: deduplicationId,
                                   sequenceNumber: sequence, deadLetterQueueSourceArn: source, size: size)
        try decodeMutable(&decoder, into: message)
        return message
    }

    /// Reads the fields of ``encodeMutable(_:into:)`` into `message` (kept in its `state` field; the restored
    /// queue places it from there).
    static func decodeMutable(_ decoder: inout JournalDecoder, into message: StoredMessage) throws(JournalDecodingError) {
        let raw = try decoder.readByte()
        guard let state = StoredMessage.State(rawValue: raw) else {
            throw JournalDecodingError(reason: "unknown message state \(raw)", offset: 0)
        }
        message.state = state
        message.visibleAt = try decoder.readDate()
        message.receiveCount = try decoder.readCount()
        message.firstReceivedAt = try decoder.readPresence() ? try decoder.readDate() : nil
        message.receivedAt = try decoder.readDate()
        message.receiptNonce = try decoder.readFixed()
    }

    static func decodeAttributes(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> [String: MessageAttributeValue] {
        let count = try decoder.readCount()
        guard count > 0 else { return [:] }
        var attributes: [String: MessageAttributeValue] = [:]
        for _ in 0..<count {
            let name = try decoder.readString()
            let type = try decoder.readString()
            let string = try decoder.readPresence() ? try decoder.readString() : nil
            let binary = try decoder.readPresence() ? Data(try decoder.readBytes()) : nil
            attributes[name] = MessageAttributeValue(dataType: type, stringValue: string, binaryValue: binary)
        }
        return attributes
    }
}

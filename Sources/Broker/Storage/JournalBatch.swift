/// Records framed for the journal, ready to append together: each is length · CRC-32C · payload.
///
/// The framing is done here, by the caller's thread and outside the journal's lock; an append then costs one copy
/// of these bytes under the lock. The checksum is left zero: the journal's writer fills it in
/// (``JournalFormat/seal(_:)``) just before the write, so no appender spends its time, or a lock's, on it. A batch is
/// reusable: ``removeAll()`` keeps its capacity, so a caller that appends in a loop allocates nothing per record.
package struct JournalBatch: Sendable {
    /// The framed records.
    package private(set) var bytes: [UInt8]
    /// How many records.
    package private(set) var count: Int = 0

    /// An empty batch with room for `capacity` bytes.
    package init(capacity: Int = 256) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A batch of one record.
    package init(_ payload: some Collection<UInt8>) throws(BrokerError) {
        self.init(capacity: payload.count + JournalFormat.frameHeaderSize)
        try append(payload)
    }

    /// Whether the batch holds no record.
    package var isEmpty: Bool { count == 0 }

    /// Adds a record whose payload is `payload`.
    package mutating func append(_ payload: some Collection<UInt8>) throws(BrokerError) {
        try append { $0.bytes.append(contentsOf: payload) }
    }

    /// Adds a record whose payload `body` encodes; the encoder writes straight into the batch.
    package mutating func append(_ body: (inout JournalEncoder) throws(BrokerError) -> Void) throws(BrokerError) {
        try Self.appendFrame(to: &bytes, body)
        count += 1
    }

    /// Frames one record at the end of `bytes` (length filled in, checksum left for the writer); on a throw `bytes`
    /// is as it was.
    static func appendFrame(to bytes: inout [UInt8], _ body: (inout JournalEncoder) throws(BrokerError) -> Void)
        throws(BrokerError) {
        let start = bytes.count
        var encoder = JournalEncoder(capacity: 0)
        swap(&encoder.bytes, &bytes)
        // The frame header, filled in once the payload's length is known.
        encoder.bytes.append(contentsOf: repeatElement(0, count: JournalFormat.frameHeaderSize))
        defer { swap(&encoder.bytes, &bytes) }
        do {
            try body(&encoder)
        } catch {
            encoder.bytes.removeSubrange(start...)
            throw error
        }
        let length = encoder.bytes.count - start - JournalFormat.frameHeaderSize
        guard length <= JournalFormat.maximumRecordSize else {
            encoder.bytes.removeSubrange(start...)
            throw .storageRecordTooLarge(length, limit: JournalFormat.maximumRecordSize)
        }
        encoder.bytes.withUnsafeMutableBytes { raw in
            raw.storeBytes(of: UInt32(length).littleEndian, toByteOffset: start, as: UInt32.self)
        }
    }

    /// Empties the batch, keeping its memory for the next one.
    package mutating func removeAll() {
        bytes.removeAll(keepingCapacity: true)
        count = 0
    }
}

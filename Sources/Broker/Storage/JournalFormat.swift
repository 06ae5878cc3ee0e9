/// The bytes of the journal's files, in one place: names, headers and record framing. `Docs/Durability.md`
/// describes the same layout for a reader of the files.
enum JournalFormat {
    /// The version written in every segment and snapshot header. A reader accepts every version it knows; a change
    /// to the layout bumps it and keeps reading the old one.
    static let version: UInt32 = 1

    /// `BRKRJRNL`: the first bytes of a segment.
    static let segmentMagic: [UInt8] = Array("BRKRJRNL".utf8)
    /// `BRKRSNAP`: the first bytes of a snapshot.
    static let snapshotMagic: [UInt8] = Array("BRKRSNAP".utf8)

    /// magic (8) · version (4) · flags (4) · first LSN (8) · CRC-32C of the preceding 24 bytes (4) · zero (4).
    static let segmentHeaderSize = 32
    /// magic (8) · version (4) · flags (4) · LSN (8) · payload length (8) · payload CRC-32C (4) · header CRC-32C of
    /// the preceding 36 bytes (4).
    static let snapshotHeaderSize = 40
    /// length (4, little-endian) · CRC-32C of the length bytes and the payload (4).
    static let frameHeaderSize = 8
    /// The largest record payload. Far above any message (SQS allows 1 MiB); a length beyond it in a file is damage.
    static let maximumRecordSize = 64 << 20

    static let lockName = "journal.lock"

    static func segmentName(firstLSN: UInt64) -> String { "journal-\(padded(firstLSN)).log" }
    static func snapshotName(lsn: UInt64) -> String { "snapshot-\(padded(lsn)).snap" }
    static func temporarySnapshotName(lsn: UInt64) -> String { "snapshot-\(padded(lsn)).tmp" }

    /// Twenty digits, so names sort in LSN order in a directory listing.
    private static func padded(_ value: UInt64) -> String {
        let digits = String(value)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits
    }

    /// The LSN in a name of the form `prefix<digits>suffix`, or nil if the name is not one.
    static func lsn(in name: String, prefix: String, suffix: String) -> UInt64? {
        guard name.hasPrefix(prefix), name.hasSuffix(suffix), name.count > prefix.count + suffix.count else { return nil }
        let digits = name.dropFirst(prefix.count).dropLast(suffix.count)
        guard digits.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        return UInt64(digits)
    }

    static func segmentHeader(firstLSN: UInt64) -> [UInt8] {
        var bytes = segmentMagic
        append(version, to: &bytes)
        append(UInt32(0), to: &bytes)
        append(firstLSN, to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        append(UInt32(0), to: &bytes)
        return bytes
    }

    /// The first LSN a segment header names, or why it is not a header this reader knows.
    static func parseSegmentHeader(_ bytes: ArraySlice<UInt8>) -> Result<UInt64, HeaderError> {
        guard bytes.count >= segmentHeaderSize else { return .failure(.short) }
        let start = bytes.startIndex
        guard bytes[start..<start + 8].elementsEqual(segmentMagic) else { return .failure(.damaged("not a journal segment (bad magic)")) }
        guard load32(bytes, start + 24) == CRC32C.checksum(bytes[start..<start + 24]) else {
            return .failure(.damaged("segment header checksum mismatch"))
        }
        let version = load32(bytes, start + 8)
        guard version == 1 else { return .failure(.damaged("segment format version \(version) is not one this build reads")) }
        return .success(load64(bytes, start + 16))
    }

    enum HeaderError: Error, Equatable {
        /// The file ends inside the header: a crash while the segment was being created.
        case short
        case damaged(String)
    }

    static func snapshotHeader(lsn: UInt64, payloadLength: Int, payloadChecksum: UInt32) -> [UInt8] {
        var bytes = snapshotMagic
        append(version, to: &bytes)
        append(UInt32(0), to: &bytes)
        append(lsn, to: &bytes)
        append(UInt64(payloadLength), to: &bytes)
        append(payloadChecksum, to: &bytes)
        append(CRC32C.checksum(bytes), to: &bytes)
        return bytes
    }

    /// The LSN and payload of a snapshot file, or why it is damaged.
    static func parseSnapshot(_ file: [UInt8]) -> Result<(lsn: UInt64, payload: [UInt8]), HeaderError> {
        guard file.count >= snapshotHeaderSize else { return .failure(.damaged("shorter than its header")) }
        guard file[0..<8].elementsEqual(snapshotMagic) else { return .failure(.damaged("not a snapshot (bad magic)")) }
        guard load32(file[...], 36) == CRC32C.checksum(file[0..<36]) else { return .failure(.damaged("header checksum mismatch")) }
        let version = load32(file[...], 8)
        guard version == 1 else { return .failure(.damaged("snapshot format version \(version) is not one this build reads")) }
        let lsn = load64(file[...], 16)
        let length = load64(file[...], 24)
        guard length == UInt64(file.count - snapshotHeaderSize) else {
            return .failure(.damaged("payload is \(file.count - snapshotHeaderSize) bytes, the header says \(length)"))
        }
        let payload = Array(file[snapshotHeaderSize...])
        guard CRC32C.checksum(payload) == load32(file[...], 32) else { return .failure(.damaged("payload checksum mismatch")) }
        return .success((lsn, payload))
    }

    static func append(_ value: UInt32, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func append(_ value: UInt64, to bytes: inout [UInt8]) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    static func load32(_ bytes: ArraySlice<UInt8>, _ index: Int) -> UInt32 {
        var value: UInt32 = 0
        for offset in 0..<4 { value |= UInt32(bytes[index + offset]) << (8 * UInt32(offset)) }
        return value
    }

    static func load64(_ bytes: ArraySlice<UInt8>, _ index: Int) -> UInt64 {
        var value: UInt64 = 0
        for offset in 0..<8 { value |= UInt64(bytes[index + offset]) << (8 * UInt64(offset)) }
        return value
    }

    /// Stores each frame's checksum in `frames`, a run of whole frames as ``JournalBatch`` and the journal's pending
    /// buffer hold them (length filled in, checksum not yet). The writer seals a batch just before it writes it, on
    /// its own thread and outside every lock, so an appender pays for neither. Sealing twice gives the same bytes.
    static func seal(_ frames: UnsafeMutableRawBufferPointer) {
        var offset = 0
        while frames.count - offset >= frameHeaderSize {
            let length = Int(UInt32(littleEndian: frames.loadUnaligned(fromByteOffset: offset, as: UInt32.self)))
            let end = offset + frameHeaderSize + length
            // Only the journal's own framing reaches here; a length past the end would be its bug, and is left
            // unsealed (recovery then stops at it) rather than read out of bounds.
            guard end <= frames.count else { return }
            let payload = UnsafeRawBufferPointer(rebasing: frames[(offset + frameHeaderSize)..<end])
            let checksum = frameChecksum(length: UInt32(length), payload: payload)
            frames.storeBytes(of: checksum.littleEndian, toByteOffset: offset + 4, as: UInt32.self)
            offset = end
        }
    }

    /// The checksum stored in a frame: it covers the length bytes too, so a zeroed or shifted header fails it.
    static func frameChecksum(length: UInt32, payload: UnsafeRawBufferPointer) -> UInt32 {
        var littleEndian = length.littleEndian
        let state = withUnsafeBytes(of: &littleEndian) { CRC32C.update(~0, $0) }
        return ~CRC32C.update(state, payload)
    }
}

import Foundation

/// Writes the payload of a journal record or snapshot: LEB128 varints, little-endian fixed integers, length-prefixed
/// byte strings and UTF-8 strings, optionals behind a presence byte, and `Date`s as the exact bits of their instant.
///
/// Nothing is self-describing: a record's reader knows its layout from the record's kind, which the caller writes
/// first. That keeps a send record to a few bytes beyond the body.
package struct JournalEncoder: Sendable {
    /// The bytes written so far.
    package var bytes: [UInt8]

    /// An encoder with room for `capacity` bytes before it grows.
    package init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Continues after `bytes`, so several records share one buffer.
    package init(appendingTo bytes: [UInt8]) {
        self.bytes = bytes
    }

    /// One byte.
    package mutating func write(byte: UInt8) {
        bytes.append(byte)
    }

    /// An unsigned integer in 1–10 bytes (small values are short).
    package mutating func write(varint value: UInt64) {
        var value = value
        while value >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
            value >>= 7
        }
        bytes.append(UInt8(value))
    }

    /// A signed integer, zigzag-encoded so small negative values are short too.
    package mutating func write(signed value: Int64) {
        write(varint: UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    /// A count or length as a varint. Counts are never negative; a negative value is written as 0 (use
    /// ``write(signed:)`` for values that can be).
    package mutating func write(count value: Int) {
        write(varint: UInt64(clamping: value))
    }

    /// Eight bytes, little-endian: for values that are usually large (hashes, bit patterns).
    package mutating func write(fixed value: UInt64) {
        // A byte at a time: appending the value's raw bytes goes through the generic sequence path, half as fast.
        var value = value
        for _ in 0..<8 {
            bytes.append(UInt8(truncatingIfNeeded: value))
            value >>= 8
        }
    }

    /// `true` or `false` as one byte.
    package mutating func write(bool value: Bool) {
        bytes.append(value ? 1 : 0)
    }

    /// A length-prefixed byte string.
    package mutating func write(bytes value: some Collection<UInt8>) {
        write(count: value.count)
        bytes.append(contentsOf: value)
    }

    /// A length-prefixed UTF-8 string.
    package mutating func write(string value: String) {
        var value = value
        value.withUTF8 { utf8 in
            write(count: utf8.count)
            bytes.append(contentsOf: utf8)
        }
    }

    /// An instant, exactly: the bits of its interval since the reference date, so a deadline read back compares equal
    /// to the one written (sub-microsecond precision for any date this century).
    package mutating func write(date value: Date) {
        write(fixed: value.timeIntervalSinceReferenceDate.bitPattern)
    }

    /// A presence byte, then `body`'s encoding of the value if there is one.
    package mutating func write<Value>(optional value: Value?, _ body: (inout JournalEncoder, Value) -> Void) {
        guard let value else { return bytes.append(0) }
        bytes.append(1)
        body(&self, value)
    }
}

/// Why a journal payload could not be read: it ended early, or held a value no encoder writes.
package struct JournalDecodingError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong.
    package let reason: String
    /// The offset within the payload where reading failed.
    package let offset: Int

    /// Describes the failure and where it happened.
    package var description: String { "\(reason) at byte \(offset)" }
}

/// Reads what ``JournalEncoder`` wrote. Every read is bounds-checked and throws on input no encoder produces; a
/// length is checked against the bytes that remain before anything is allocated, so hostile or corrupt input costs
/// at most the size of that input.
package struct JournalDecoder: Sendable {
    private let bytes: ArraySlice<UInt8>
    /// The index in `bytes` of the next byte to read.
    private var index: Int

    /// A decoder over one record's payload.
    package init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    /// A decoder over a whole buffer.
    package init(_ bytes: [UInt8]) {
        self.init(bytes[...])
    }

    /// Bytes not read yet.
    package var remaining: Int { bytes.endIndex - index }

    /// Whether every byte has been read; a reader that expects no more can check it to reject trailing garbage.
    package var isAtEnd: Bool { index == bytes.endIndex }

    private func failure(_ reason: String) -> JournalDecodingError {
        JournalDecodingError(reason: reason, offset: index - bytes.startIndex)
    }

    /// One byte.
    package mutating func readByte() throws(JournalDecodingError) -> UInt8 {
        guard index < bytes.endIndex else { throw failure("unexpected end of input") }
        defer { index += 1 }
        return bytes[index]
    }

    /// A varint; more than 10 bytes, or a tenth byte above 1, is not one.
    package mutating func readVarint() throws(JournalDecodingError) -> UInt64 {
        var value: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            let byte = try readByte()
            if shift == 63, byte > 1 { throw failure("varint overflows 64 bits") }
            value |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return value }
            shift += 7
            if shift > 63 { throw failure("varint longer than 10 bytes") }
        }
    }

    /// A zigzag-encoded signed integer.
    package mutating func readSigned() throws(JournalDecodingError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A count or length: a varint that fits an `Int`.
    package mutating func readCount() throws(JournalDecodingError) -> Int {
        let raw = try readVarint()
        guard raw <= UInt64(Int.max) else { throw failure("count \(raw) out of range") }
        return Int(raw)
    }

    /// Eight little-endian bytes.
    package mutating func readFixed() throws(JournalDecodingError) -> UInt64 {
        guard remaining >= 8 else { throw failure("unexpected end of input") }
        var value: UInt64 = 0
        for offset in 0..<8 { value |= UInt64(bytes[index + offset]) << (8 * UInt64(offset)) }
        index += 8
        return value
    }

    /// A byte 0 or 1.
    package mutating func readBool() throws(JournalDecodingError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other: throw failure("\(other) is not a boolean")
        }
    }

    /// A length-prefixed byte string, as a slice of the input (no copy).
    package mutating func readBytes() throws(JournalDecodingError) -> ArraySlice<UInt8> {
        let count = try readCount()
        guard count <= remaining else { throw failure("length \(count) runs past the end (\(remaining) bytes left)") }
        defer { index += count }
        return bytes[index..<index + count]
    }

    /// A length-prefixed string's UTF-8 bytes, as a slice of the input (no copy); they must be valid UTF-8. For a
    /// message body, which is copied into the message's own block: no string is made for it in between.
    package mutating func readUTF8() throws(JournalDecodingError) -> ArraySlice<UInt8> {
        let start = index
        let utf8 = try readBytes()
        let valid = utf8.withUnsafeBufferPointer { buffer in
            // Bodies are mostly ASCII: eight bytes at a time, and a string made only for the rest.
            var offset = 0
            if let base = buffer.baseAddress {
                let raw = UnsafeRawPointer(base)
                while offset + 8 <= buffer.count,
                      raw.loadUnaligned(fromByteOffset: offset, as: UInt64.self) & 0x8080_8080_8080_8080 == 0 {
                    offset += 8
                }
            }
            while offset < buffer.count, buffer[offset] < 0x80 { offset += 1 }
            return offset == buffer.count || String(validating: buffer, as: UTF8.self) != nil
        }
        guard valid else {
            index = start
            throw failure("string is not valid UTF-8")
        }
        return utf8
    }

    /// A length-prefixed string; it must be valid UTF-8.
    package mutating func readString() throws(JournalDecodingError) -> String {
        let start = index
        let utf8 = try readBytes()
        guard let string = String(validating: utf8, as: UTF8.self) else {
            index = start
            throw failure("string is not valid UTF-8")
        }
        return string
    }

    /// An instant written by ``JournalEncoder/write(date:)``; not-a-number and infinities are not instants.
    package mutating func readDate() throws(JournalDecodingError) -> Date {
        let interval = Double(bitPattern: try readFixed())
        guard interval.isFinite else {
            index -= 8
            throw failure("date is not a finite instant")
        }
        return Date(timeIntervalSinceReferenceDate: interval)
    }

    /// The presence byte ``JournalEncoder/write(optional:_:)`` wrote: whether a value follows.
    package mutating func readPresence() throws(JournalDecodingError) -> Bool {
        switch try readByte() {
        case 0: return false
        case 1: return true
        case let other:
            index -= 1
            throw failure("\(other) is not a presence marker")
        }
    }
}

import Foundation
import Testing

@testable import Broker

/// The record encoding and the checksum under the journal: exact round trips, and no crash or outsized allocation
/// on input no encoder wrote.
struct JournalEncodingTests {
    /// The ways the library computes a CRC-32C: the one it uses (the processor's instruction where there is one),
    /// and the software tables, which every processor without the instruction uses.
    enum CRCPath: String, CaseIterable, CustomTestStringConvertible {
        case inUse, software
        var testDescription: String { rawValue }

        func checksum(_ bytes: [UInt8]) -> UInt32 {
            bytes.withUnsafeBytes { ~update(~0, $0) }
        }

        func update(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
            self == .inUse ? CRC32C.update(state, bytes) : CRC32C.softwareUpdate(state, bytes)
        }
    }

    #if arch(x86_64)
    /// Every x86-64 processor made since 2008 has SSE 4.2: a detection that failed would leave the library on the
    /// tables silently, with every other checksum test still passing.
    @Test func theProcessorsCRCInstructionIsFoundOnX86() {
        #expect(CRC32C.hardwareAvailable)
    }
    #endif

    @Test(arguments: CRCPath.allCases)
    func crc32cMatchesTheStandardTestVectors(path: CRCPath) {
        // RFC 3720, appendix B.4, and the "123456789" check value of the Castagnoli polynomial.
        #expect(path.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(path.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(path.checksum([UInt8](repeating: 0xFF, count: 32)) == 0x62A8_AB43)
        #expect(path.checksum((0..<32).map { UInt8($0) }) == 0x46DD_794E)
        #expect(path.checksum((0..<32).reversed().map { UInt8($0) }) == 0x113F_DB5C)
        #expect(path.checksum([UInt8]()) == 0)
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
    }

    @Test(arguments: CRCPath.allCases)
    func crc32cIsTheSameWhateverTheAlignmentAndSplitOfTheInput(path: CRCPath) {
        var random = IDGenerator(seed: 7)
        let bytes = (0..<1_000).map { _ in UInt8(truncatingIfNeeded: random.next()) }
        // A bitwise reference: one bit at a time, no tables.
        func reference(_ input: ArraySlice<UInt8>) -> UInt32 {
            var crc: UInt32 = ~0
            for byte in input {
                crc ^= UInt32(byte)
                for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            }
            return ~crc
        }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in [0, 1, 7, 8, 9, 15, 16, 17, 100, 991 - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<start + length])
                    let expected = reference(bytes[start..<start + length])
                    #expect(~path.update(~0, slice) == expected, "start \(start), length \(length)")
                    let split = length / 3
                    let whole = ~path.update(path.update(~0, UnsafeRawBufferPointer(rebasing: slice[..<split])),
                                             UnsafeRawBufferPointer(rebasing: slice[split...]))
                    #expect(whole == expected)
                }
            }
        }
    }

    @Test func everyValueReadsBackAsWritten() throws {
        let dates = [Date(timeIntervalSince1970: 1_765_000_000.123_456), Date(timeIntervalSinceReferenceDate: -1e9), Date.distantFuture]
        let varints: [UInt64] = [0, 1, 127, 128, 16_383, 16_384, UInt64(UInt32.max), UInt64.max - 1, UInt64.max]
        let signed: [Int64] = [0, -1, 1, -64, 64, Int64.min, Int64.max]
        let strings = ["", "é", "payment-queue", "日本語 ✓ 🎉", String(repeating: "x", count: 300)]
        var encoder = JournalEncoder()
        for value in varints { encoder.write(varint: value) }
        for value in signed { encoder.write(signed: value) }
        for value in strings { encoder.write(string: value) }
        for value in dates { encoder.write(date: value) }
        encoder.write(fixed: 0x0123_4567_89AB_CDEF)
        encoder.write(bool: true)
        encoder.write(bool: false)
        encoder.write(bytes: [0, 255, 7] as [UInt8])
        encoder.write(optional: nil as String?) { $0.write(string: $1) }
        encoder.write(optional: "present") { $0.write(string: $1) }
        encoder.write(optional: dates[0]) { $0.write(date: $1) }

        var decoder = JournalDecoder(encoder.bytes)
        for value in varints { #expect(try decoder.readVarint() == value) }
        for value in signed { #expect(try decoder.readSigned() == value) }
        for value in strings { #expect(try decoder.readString() == value) }
        for value in dates { #expect(try decoder.readDate() == value) }
        #expect(try decoder.readFixed() == 0x0123_4567_89AB_CDEF)
        #expect(try decoder.readBool() == true)
        #expect(try decoder.readBool() == false)
        #expect(Array(try decoder.readBytes()) == [0, 255, 7])
        #expect(try decoder.readPresence() == false)
        #expect(try decoder.readPresence() == true)
        #expect(try decoder.readString() == "present")
        #expect(try decoder.readPresence() == true)
        #expect(try decoder.readDate() == dates[0])
        #expect(decoder.isAtEnd)
    }

    @Test func aDeadlineKeepsSubMillisecondPrecision() throws {
        let deadline = Date(timeIntervalSince1970: 1_765_000_000).addingTimeInterval(0.000_250)
        var encoder = JournalEncoder()
        encoder.write(date: deadline)
        var decoder = JournalDecoder(encoder.bytes)
        let read = try decoder.readDate()
        #expect(read == deadline)
        #expect(read.timeIntervalSince(Date(timeIntervalSince1970: 1_765_000_000)) > 0.000_2)
    }

    /// A body's bytes are read as they lie and checked as UTF-8 eight bytes at a time while they are ASCII: a
    /// string of any length, with its first non-ASCII byte anywhere, is accepted exactly when it is valid UTF-8,
    /// and a refused one leaves the decoder where it was.
    @Test(arguments: [0, 1, 7, 8, 9, 15, 16, 17, 100])
    func utf8BytesAreAcceptedExactlyWhenValidWhereverTheFirstNonASCIIByteFalls(prefix: Int) throws {
        let ascii = Array(repeating: UInt8(ascii: "a"), count: prefix)
        let cases: [(bytes: [UInt8], valid: Bool)] = [
            (ascii, true),
            (ascii + Array("é✓🚀".utf8), true),
            (ascii + [0xC3, 0x28], false),      // a lead byte without its continuation
            (ascii + [0xFF], false),            // never in UTF-8
            (ascii + [0xE2, 0x9C], false),      // cut short
            (ascii + [0xED, 0xA0, 0x80], false), // a surrogate
            (ascii + [0xC0, 0xAF], false),      // overlong
        ]
        for (bytes, valid) in cases {
            var encoder = JournalEncoder()
            encoder.write(bytes: bytes)
            encoder.write(byte: 7)
            var decoder = JournalDecoder(encoder.bytes)
            if valid {
                #expect(Array(try decoder.readUTF8()) == bytes)
                #expect(try decoder.readByte() == 7)
            } else {
                #expect(throws: JournalDecodingError.self) { _ = try decoder.readUTF8() }
                #expect(try decoder.readCount() == bytes.count, "a refused string leaves the decoder at its length")
            }
        }
    }

    @Test func malformedInputThrowsInsteadOfCrashing() {
        func fails(_ bytes: [UInt8], _ read: (inout JournalDecoder) throws -> Void) -> Bool {
            var decoder = JournalDecoder(bytes)
            do { try read(&decoder); return false } catch { return error is JournalDecodingError }
        }
        #expect(fails([]) { _ = try $0.readByte() })
        #expect(fails([0x80, 0x80]) { _ = try $0.readVarint() })
        #expect(fails([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02]) { _ = try $0.readVarint() })
        #expect(fails(Array(repeating: 0x80, count: 11) + [0]) { _ = try $0.readVarint() })
        #expect(fails([1, 2, 3]) { _ = try $0.readFixed() })
        #expect(fails([2]) { _ = try $0.readBool() })
        #expect(fails([5, 1, 2]) { _ = try $0.readBytes() })
        #expect(fails([2, 0xC3, 0x28]) { _ = try $0.readString() })
        #expect(fails([3]) { _ = try $0.readPresence() })
        var nan = JournalEncoder()
        nan.write(fixed: Double.nan.bitPattern)
        #expect(fails(nan.bytes) { _ = try $0.readDate() })
        // A length claiming an exabyte must fail before anything of that size is allocated.
        var huge = JournalEncoder()
        huge.write(varint: 1 << 60)
        #expect(fails(huge.bytes) { _ = try $0.readBytes() })
        #expect(fails(huge.bytes) { _ = try $0.readString() })
    }

    @Test(arguments: [1, 2, 3, 4] as [UInt64])
    func randomBytesNeverCrashTheDecoder(seed: UInt64) {
        var random = IDGenerator(seed: seed)
        var failures = 0
        for _ in 0..<2_000 {
            let bytes = (0..<Int(random.next() % 40)).map { _ in UInt8(truncatingIfNeeded: random.next()) }
            var decoder = JournalDecoder(bytes)
            do throws(JournalDecodingError) {
                while !decoder.isAtEnd {
                    switch random.next() % 7 {
                    case 0: _ = try decoder.readVarint()
                    case 1: _ = try decoder.readString()
                    case 2: _ = try decoder.readBytes()
                    case 3: _ = try decoder.readDate()
                    case 4: if try decoder.readPresence() { _ = try decoder.readSigned() }
                    case 5: _ = try decoder.readBool()
                    default: _ = try decoder.readFixed()
                    }
                }
            } catch {
                failures += 1
                #expect(error.offset >= 0 && error.offset <= bytes.count)
            }
        }
        // Random input is mostly not a valid encoding; a decoder that never threw would be accepting garbage.
        #expect(failures > 500)
    }

    @Test func aBatchFramesEachRecordWithItsLengthAndLeavesTheChecksumToTheWriter() throws {
        var batch = JournalBatch()
        try batch.append([1, 2, 3] as [UInt8])
        try batch.append { $0.write(string: "hi") }
        #expect(batch.count == 2)
        #expect(batch.bytes.count == 8 + 3 + 8 + 3)
        #expect(Array(batch.bytes[0..<4]) == [3, 0, 0, 0])
        #expect(JournalFormat.load32(batch.bytes[...], 4) == 0)
        #expect(Array(batch.bytes[19...]) == [2, UInt8(ascii: "h"), UInt8(ascii: "i")])

        // Sealing stores each frame's checksum, over its length bytes and payload, and changes nothing else.
        var sealed = batch.bytes
        sealed.withUnsafeMutableBytes { JournalFormat.seal($0) }
        let first = [UInt8]([1, 2, 3]).withUnsafeBytes { JournalFormat.frameChecksum(length: 3, payload: $0) }
        let second = [UInt8]([2, UInt8(ascii: "h"), UInt8(ascii: "i")]).withUnsafeBytes {
            JournalFormat.frameChecksum(length: 3, payload: $0)
        }
        #expect(JournalFormat.load32(sealed[...], 4) == first)
        #expect(JournalFormat.load32(sealed[...], 15) == second)
        #expect(Array(sealed[0..<4]) == Array(batch.bytes[0..<4]) && Array(sealed[8..<15]) == Array(batch.bytes[8..<15]))
        var again = sealed
        again.withUnsafeMutableBytes { JournalFormat.seal($0) }
        #expect(again == sealed)

        batch.removeAll()
        #expect(batch.isEmpty && batch.bytes.isEmpty)
    }

    @Test func sealingStopsAtAFrameWhoseLengthRunsPastTheEnd() {
        // [length 3][checksum][1 2 3] then a header that claims 100 bytes with 2 present.
        var bytes: [UInt8] = [3, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 100, 0, 0, 0, 0, 0, 0, 0, 9, 9]
        bytes.withUnsafeMutableBytes { JournalFormat.seal($0) }
        #expect(JournalFormat.load32(bytes[...], 4) != 0)
        #expect(Array(bytes[11...]) == [100, 0, 0, 0, 0, 0, 0, 0, 9, 9])
    }
}

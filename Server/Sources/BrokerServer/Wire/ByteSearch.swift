import NIOConcurrencyHelpers
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension Substring {
    /// The first occurrence of an ASCII `needle`, compared byte for byte. Foundation's `range(of:)` goes through
    /// NSString and was a tenth of a SendMessage's time on the wire; header values and URLs need no Unicode rules.
    func byteRange(of needle: StaticString) -> Range<String.Index>? {
        let target = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
        guard let first = target.first else { return nil }
        let bytes = utf8
        var start = bytes.startIndex
        while let candidate = bytes[start...].firstIndex(of: first) {
            var index = candidate
            var matched = 0
            while matched < target.count, index != bytes.endIndex, bytes[index] == target[matched] {
                bytes.formIndex(after: &index)
                matched += 1
            }
            if matched == target.count { return candidate..<index }
            if index == bytes.endIndex { return nil }
            start = bytes.index(after: candidate)
        }
        return nil
    }

    /// Whether the two hold the same bytes: what a cache keyed by a header's text needs, without the Unicode rules of
    /// `==`.
    func hasSameBytes(as other: String) -> Bool {
        var other = other
        return other.withUTF8 { theirs in
            utf8.withContiguousStorageIfAvailable { ours in
                guard ours.count == theirs.count else { return false }
                guard let mine = ours.baseAddress, let others = theirs.baseAddress else { return true }
                return memcmp(mine, others, ours.count) == 0
            } ?? utf8.elementsEqual(theirs)
        }
    }

    /// The part before the first of `bytes` (ASCII), or all of it.
    func prefix(beforeAnyOf bytes: UInt8...) -> Substring {
        self[..<(utf8.firstIndex { bytes.contains($0) } ?? endIndex)]
    }
}

/// Request ids: random version-4 UUIDs in AWS's lower case, from a SplitMix64 sequence seeded by the system once.
/// Foundation's `UUID()` opened `/dev/urandom` and formatted with `sprintf` on every request; a request id needs to
/// be unique, not secret.
final class RequestIDs: Sendable {
    private let state = NIOLockedValueBox(UInt64(0))

    init() {
        var system = SystemRandomNumberGenerator()
        let seed = system.next()
        state.withLockedValue { $0 = seed }
    }

    func next() -> String {
        let (first, second) = state.withLockedValue { state -> (UInt64, UInt64) in
            state &+= 0x9E37_79B9_7F4A_7C15
            let first = state
            state &+= 0x9E37_79B9_7F4A_7C15
            return (first, state)
        }
        let high = (Self.mix(first) & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000
        let low = (Self.mix(second) & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        return String(unsafeUninitializedCapacity: 36) { buffer in
            var position = 0
            // 8-4-4-4-12 hex digits: the dashes fall after the 8th, 12th, 16th and 20th digit.
            for digit in 0..<32 {
                if digit == 8 || digit == 12 || digit == 16 || digit == 20 {
                    buffer[position] = UInt8(ascii: "-")
                    position += 1
                }
                let word = digit < 16 ? high : low
                let nibble = UInt8(truncatingIfNeeded: word >> UInt64(60 - 4 * (digit % 16))) & 0xF
                buffer[position] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
                position += 1
            }
            return position
        }
    }

    private static func mix(_ value: UInt64) -> UInt64 {
        var z = value
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension StringProtocol {
    /// `hasPrefix(prefix)`, decided from the bytes. `hasPrefix` compares `Character`s (grapheme breaking and
    /// canonical equivalence), several times on every request. For a prefix of ASCII characters that no other
    /// scalar is canonically equivalent to (not `K`, `;` or a backquote, which have singleton equivalents) bytes
    /// that differ mean no prefix, and equal bytes followed by an ASCII byte or nothing mean a prefix; only equal
    /// bytes followed by a non-ASCII one (which may combine with the prefix's last character) are left to `hasPrefix`.
    func hasPlainPrefix(_ prefix: StaticString) -> Bool {
        let bytes = utf8
        var index = bytes.startIndex
        let matched = prefix.withUTF8Buffer { expected -> Bool in
            for byte in expected {
                guard index != bytes.endIndex, bytes[index] == byte else { return false }
                bytes.formIndex(after: &index)
            }
            return true
        }
        guard matched else { return false }
        if index == bytes.endIndex || bytes[index] < 0x80 { return true }
        return hasPrefix(prefix.description)
    }
}

extension String {
    /// ``Substring/hasSameBytes(as:)`` for a whole string.
    func hasSameBytes(as other: String) -> Bool { Substring(self).hasSameBytes(as: other) }
}

extension Collection<UInt8> {
    /// Whether these bytes are `name`'s, ASCII letters compared without case (`name` is lower-case ASCII).
    func hasCaseInsensitiveBytes(_ name: StaticString) -> Bool {
        guard count == name.utf8CodeUnitCount else { return false }
        return name.withUTF8Buffer { expected in
            zip(self, expected).allSatisfy { actual, wanted in
                actual == wanted || (actual | 0x20 == wanted && wanted >= UInt8(ascii: "a") && wanted <= UInt8(ascii: "z"))
            }
        }
    }
}

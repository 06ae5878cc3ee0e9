/// One compiled entry of a policy's value list (`"key": [entry, entry, …]`); a field matches when any entry does.
///
/// Patterns test one scalar at a time: a `String.Array` attribute or a JSON array in a body offers each element in
/// turn. The typing follows AWS: strings match only string patterns, numbers only numeric ones (`"100"` is not
/// `100`), and `true`/`false`/`null` only themselves.
enum FilterPattern: Sendable {
    /// A string value, compared byte for byte (case-sensitive, no Unicode normalisation, as AWS compares).
    case exactString(String)
    /// A number value, equal after rounding to five decimals.
    case exactNumber(JSONNumber)
    /// `true` or `false`.
    case exactBool(Bool)
    /// `null`.
    case exactNull
    /// `{"prefix": "…"}`.
    case prefix(String)
    /// `{"suffix": "…"}`.
    case suffix(String)
    /// `{"equals-ignore-case": "…"}`.
    case equalsIgnoreCase(String)
    /// `{"wildcard": "…"}`.
    case wildcard(FilterWildcard)
    /// `{"numeric": [...]}`.
    case numeric(FilterNumericRange)
    /// `{"cidr": "…"}`.
    case cidr(FilterCIDR)
    /// `{"exists": true}`; `exists: false` is not a per-value test and is kept on the field instead.
    case exists
    /// `{"anything-but": …}`.
    case anythingBut(FilterAnythingBut)

    /// Whether the scalar `value` satisfies this pattern.
    func matches(_ value: JSONValue) -> Bool {
        switch self {
        case .exactString(let expected):
            guard case .string(let actual) = value else { return false }
            return FilterText.equal(actual, expected)
        case .exactNumber(let expected):
            guard case .number(let actual) = value else { return false }
            return actual.numericallyEquals(expected)
        case .exactBool(let expected):
            guard case .bool(let actual) = value else { return false }
            return actual == expected
        case .exactNull:
            guard case .null = value else { return false }
            return true
        case .prefix(let prefix):
            guard case .string(let actual) = value else { return false }
            return FilterText.hasPrefix(actual, prefix)
        case .suffix(let suffix):
            guard case .string(let actual) = value else { return false }
            return FilterText.hasSuffix(actual, suffix)
        case .equalsIgnoreCase(let expected):
            guard case .string(let actual) = value else { return false }
            return FilterText.equalIgnoringCase(actual, expected)
        case .wildcard(let pattern):
            guard case .string(let actual) = value else { return false }
            return pattern.matches(actual)
        case .numeric(let range):
            guard case .number(let actual) = value else { return false }
            return range.contains(actual)
        case .cidr(let block):
            guard case .string(let actual) = value, let address = FilterIPAddress(actual) else { return false }
            return block.contains(address)
        case .exists:
            return FilterPattern.isPresentValue(value)
        case .anythingBut(let excluded):
            return excluded.matches(value)
        }
    }

    /// What `exists` counts as a value: AWS documents that "the key must have a non-null and non-empty value".
    static func isPresentValue(_ value: JSONValue) -> Bool {
        switch value {
        case .null: false
        case .string(let string): !string.isEmpty
        case .bool, .number: true
        case .array, .object: false
        }
    }
}

/// The forms of `anything-but`. Like every pattern it tests one value: on an array, it matches when some element is
/// not excluded (AWS's examples: `["rugby", "baseball"]` matches `anything-but ["rugby", "tennis"]`).
enum FilterAnythingBut: Sendable {
    /// `["a", "b"]` or `"a"`: any value that is not one of these strings (numbers, booleans and null included).
    case strings([String])
    /// `[1, 2]` or `1`: any value that is not one of these numbers (strings included).
    case numbers([JSONNumber])
    /// `{"prefix": "…"}`: strings that do not start with it, and every non-string.
    case prefix(String)
    /// `{"suffix": "…"}`: strings that do not end with it, and every non-string.
    case suffix(String)
    /// `{"wildcard": "…"}`: strings the pattern does not match, and every non-string.
    case wildcard(FilterWildcard)

    func matches(_ value: JSONValue) -> Bool {
        switch self {
        case .strings(let excluded):
            guard case .string(let actual) = value else { return true }
            return !excluded.contains { FilterText.equal(actual, $0) }
        case .numbers(let excluded):
            guard case .number(let actual) = value else { return true }
            return !excluded.contains { actual.numericallyEquals($0) }
        case .prefix(let prefix):
            guard case .string(let actual) = value else { return true }
            return !FilterText.hasPrefix(actual, prefix)
        case .suffix(let suffix):
            guard case .string(let actual) = value else { return true }
            return !FilterText.hasSuffix(actual, suffix)
        case .wildcard(let pattern):
            guard case .string(let actual) = value else { return true }
            return !pattern.matches(actual)
        }
    }
}

/// A numeric condition: `=`, one bound, or a lower and an upper bound, in scaled units (see ``JSONNumber``).
struct FilterNumericRange: Sendable {
    struct Bound: Sendable {
        var value: Int64
        var inclusive: Bool
    }

    var lower: Bound?
    var upper: Bound?

    /// Only numbers inside AWS's documented range (±10⁹) take part in numeric comparisons.
    func contains(_ number: JSONNumber) -> Bool {
        guard number.isWithinMatchingRange, let value = number.scaled else { return false }
        if let lower {
            if lower.inclusive ? value < lower.value : value <= lower.value { return false }
        }
        if let upper {
            if upper.inclusive ? value > upper.value : value >= upper.value { return false }
        }
        return true
    }
}

/// A compiled `wildcard` pattern: literal pieces separated by `*`, matched on UTF-8 bytes. `\*` is a literal star and
/// `\\` a literal backslash, as in AWS's wildcard syntax.
struct FilterWildcard: Sendable {
    /// The literal pieces between stars (the first and last may be empty).
    let pieces: [[UInt8]]
    /// The pattern as written, for error messages.
    let source: String

    /// How many `*` the pattern has (its complexity weight).
    var starCount: Int { pieces.count - 1 }

    enum ParseError: Error {
        case consecutiveStars(at: Int)
        case invalidEscape(at: Int)

        var message: String {
            switch self {
            case .consecutiveStars(let position): "Consecutive wildcard characters at pos \(position)"
            case .invalidEscape(let position): "Invalid escape character at pos \(position)"
            }
        }
    }

    init(_ source: String) throws(ParseError) {
        let bytes = Array(source.utf8)
        var pieces: [[UInt8]] = []
        var current: [UInt8] = []
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "*") {
                // Positions are reported as AWS does, counting the opening quote of the JSON string.
                if index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "*") { throw .consecutiveStars(at: index + 1) }
                pieces.append(current)
                current = []
            } else if byte == UInt8(ascii: "\\") {
                guard index + 1 < bytes.count,
                      bytes[index + 1] == UInt8(ascii: "*") || bytes[index + 1] == UInt8(ascii: "\\") else {
                    throw .invalidEscape(at: index + 1)
                }
                current.append(bytes[index + 1])
                index += 1
            } else {
                current.append(byte)
            }
            index += 1
        }
        pieces.append(current)
        self.pieces = pieces
        self.source = source
    }

    func matches(_ string: String) -> Bool {
        var copy = string
        return copy.withUTF8 { matches(bytes: $0) }
    }

    /// Classic star-only glob: the first piece anchors the start, the last the end, and each middle piece is taken at
    /// its earliest occurrence (which is optimal when the only wildcard is `*`). Linear in practice, no backtracking.
    func matches(bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        guard let first = pieces.first, let last = pieces.last else { return false }
        if pieces.count == 1 { return bytes.elementsEqual(first) }
        guard bytes.count >= first.count + last.count else { return false }
        guard bytes.starts(with: first) else { return false }
        guard bytes[(bytes.count - last.count)...].elementsEqual(last) else { return false }
        var position = first.count
        let end = bytes.count - last.count
        for piece in pieces.dropFirst().dropLast() where !piece.isEmpty {
            guard let found = Self.find(piece, in: bytes, from: position, end: end) else { return false }
            position = found + piece.count
        }
        return true
    }

    private static func find(_ needle: [UInt8], in haystack: UnsafeBufferPointer<UInt8>, from start: Int, end: Int) -> Int? {
        guard end - start >= needle.count else { return nil }
        var candidate = start
        while candidate + needle.count <= end {
            var matched = true
            for offset in 0..<needle.count where haystack[candidate + offset] != needle[offset] {
                matched = false
                break
            }
            if matched { return candidate }
            candidate += 1
        }
        return nil
    }
}

/// An IPv4 or IPv6 address as a 128-bit number (IPv4 in the low 32 bits) plus its family.
struct FilterIPAddress: Sendable, Equatable {
    var isIPv6: Bool
    var high: UInt64
    var low: UInt64

    /// Parses dotted-quad IPv4 (`10.0.0.1`) or IPv6 with optional `::` compression (`2001:db8::1`). Like AWS, a value
    /// with letters such as a host name is simply not an address.
    init?(_ text: String) {
        var copy = text
        guard let parsed = copy.withUTF8({ Self.parse($0) }) else { return nil }
        self = parsed
    }

    private init(isIPv6: Bool, high: UInt64, low: UInt64) {
        self.isIPv6 = isIPv6
        self.high = high
        self.low = low
    }

    /// Whether the text has the shape of an address (digits and dots, or hex digits and colons) — the test AWS uses
    /// to decide between "Nonstandard IP address" and a malformed value.
    static func looksLikeAddress(_ text: String) -> Bool {
        var dots = 0
        var colons = 0
        var hexLetters = false
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): continue
            case UInt8(ascii: "."): dots += 1
            case UInt8(ascii: ":"): colons += 1
            case UInt8(ascii: "a")...UInt8(ascii: "f"), UInt8(ascii: "A")...UInt8(ascii: "F"): hexLetters = true
            default: return false
            }
        }
        if colons > 0 { return dots == 0 }
        return dots == 3 && !hexLetters
    }

    private static func parse(_ bytes: UnsafeBufferPointer<UInt8>) -> FilterIPAddress? {
        if bytes.contains(UInt8(ascii: ":")) { return parseIPv6(bytes) }
        return parseIPv4(bytes)
    }

    private static func parseIPv4(_ bytes: UnsafeBufferPointer<UInt8>) -> FilterIPAddress? {
        var value: UInt32 = 0
        var octets = 0
        var current: UInt32 = 0
        var digits = 0
        for byte in bytes {
            if JSONNumber.isDigit(byte) {
                current = current * 10 + UInt32(byte - UInt8(ascii: "0"))
                digits += 1
                guard digits <= 3, current <= 255 else { return nil }
            } else if byte == UInt8(ascii: ".") {
                guard digits > 0, octets < 3 else { return nil }
                value = value << 8 | current
                octets += 1
                current = 0
                digits = 0
            } else {
                return nil
            }
        }
        guard digits > 0, octets == 3 else { return nil }
        value = value << 8 | current
        return FilterIPAddress(isIPv6: false, high: 0, low: UInt64(value))
    }

    private static func parseIPv6(_ bytes: UnsafeBufferPointer<UInt8>) -> FilterIPAddress? {
        // Split on ':'; one empty run (from "::") marks where the zero groups go.
        var groups: [UInt16] = []
        var gapAt: Int?
        var index = 0
        let count = bytes.count
        guard count >= 2 else { return nil }
        if bytes[0] == UInt8(ascii: ":") {
            guard bytes[1] == UInt8(ascii: ":") else { return nil }
            gapAt = 0
            index = 2
            if index == count { return FilterIPAddress(isIPv6: true, high: 0, low: 0) }
        }
        while index < count {
            var value: UInt32 = 0
            var digits = 0
            while index < count, let digit = hexValue(bytes[index]) {
                value = value << 4 | digit
                digits += 1
                guard digits <= 4 else { return nil }
                index += 1
            }
            guard digits > 0, groups.count < 8 else { return nil }
            groups.append(UInt16(truncatingIfNeeded: value))
            if index == count { break }
            guard bytes[index] == UInt8(ascii: ":") else { return nil }
            index += 1
            if index < count, bytes[index] == UInt8(ascii: ":") {
                guard gapAt == nil else { return nil }
                gapAt = groups.count
                index += 1
                if index == count { break }
            } else if index == count {
                return nil // a single trailing ':'
            }
        }
        var full: [UInt16]
        if let gapAt {
            guard groups.count < 8 else { return nil }
            full = Array(groups[..<gapAt])
            full.append(contentsOf: repeatElement(0, count: 8 - groups.count))
            full.append(contentsOf: groups[gapAt...])
        } else {
            guard groups.count == 8 else { return nil }
            full = groups
        }
        var high: UInt64 = 0
        var low: UInt64 = 0
        for group in full[0..<4] { high = high << 16 | UInt64(group) }
        for group in full[4..<8] { low = low << 16 | UInt64(group) }
        return FilterIPAddress(isIPv6: true, high: high, low: low)
    }

    private static func hexValue(_ byte: UInt8) -> UInt32? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): UInt32(byte - UInt8(ascii: "0"))
        case UInt8(ascii: "a")...UInt8(ascii: "f"): UInt32(byte - UInt8(ascii: "a") + 10)
        case UInt8(ascii: "A")...UInt8(ascii: "F"): UInt32(byte - UInt8(ascii: "A") + 10)
        default: nil
        }
    }
}

/// A compiled `cidr` block: the network's first address and its prefix length.
struct FilterCIDR: Sendable {
    let network: FilterIPAddress
    let prefixLength: Int

    enum ParseError: Error {
        case message(String)
    }

    /// Parses `address/bits` with AWS's checks and messages. Like AWS (whose checks reject it), a mask of 32 bits for
    /// IPv4 or 128 for IPv6 is refused: a single address is written as an exact value.
    init(_ text: String) throws(ParseError) {
        let parts = text.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2 else { throw .message("Malformed CIDR, one '/' required") }
        let addressText = String(parts[0])
        guard let bits = Int(parts[1]) else { throw .message("Malformed CIDR, mask bits must be an integer") }
        guard bits >= 0 else { throw .message("Malformed CIDR, mask bits must not be negative") }
        guard FilterIPAddress.looksLikeAddress(addressText) else {
            throw .message("Nonstandard IP address: \(addressText)")
        }
        guard let address = FilterIPAddress(addressText) else { throw .message("Invalid IP address: \(addressText)") }
        if address.isIPv6 {
            guard bits <= 127 else { throw .message("IPv6 mask bits must be < 128") }
        } else {
            guard bits <= 31 else { throw .message("IPv4 mask bits must be < 32") }
        }
        self.prefixLength = address.isIPv6 ? bits : bits + 96
        self.network = Self.masked(address, prefixLength: self.prefixLength)
    }

    func contains(_ address: FilterIPAddress) -> Bool {
        guard address.isIPv6 == network.isIPv6 else { return false }
        let masked = Self.masked(address, prefixLength: prefixLength)
        return masked.high == network.high && masked.low == network.low
    }

    /// Keeps the first `prefixLength` of the 128 bits (IPv4 prefixes are offset by 96, its bits being the low 32).
    private static func masked(_ address: FilterIPAddress, prefixLength: Int) -> FilterIPAddress {
        var result = address
        if prefixLength <= 0 {
            result.high = 0
            result.low = 0
        } else if prefixLength < 64 {
            result.high &= ~(UInt64.max >> UInt64(prefixLength))
            result.low = 0
        } else if prefixLength < 128 {
            let lowBits = prefixLength - 64
            result.low &= lowBits == 0 ? 0 : ~(UInt64.max >> UInt64(lowBits))
        }
        return result
    }
}

/// Byte-wise string comparisons: AWS compares UTF-8 bytes, where Swift's `==` and `hasPrefix` would treat canonically
/// equivalent strings (`é` precomposed or not) as equal.
enum FilterText {
    static func equal(_ lhs: String, _ rhs: String) -> Bool {
        let fast = lhs.utf8.withContiguousStorageIfAvailable { left in
            rhs.utf8.withContiguousStorageIfAvailable { right in
                left.count == right.count && same(left, 0, right)
            }
        }
        if let fast, let result = fast { return result }
        return lhs.utf8.elementsEqual(rhs.utf8)
    }

    static func hasPrefix(_ string: String, _ prefix: String) -> Bool {
        let fast = string.utf8.withContiguousStorageIfAvailable { whole in
            prefix.utf8.withContiguousStorageIfAvailable { part in
                whole.count >= part.count && same(whole, 0, part)
            }
        }
        if let fast, let result = fast { return result }
        return string.utf8.starts(with: prefix.utf8)
    }

    static func hasSuffix(_ string: String, _ suffix: String) -> Bool {
        let fast = string.utf8.withContiguousStorageIfAvailable { whole in
            suffix.utf8.withContiguousStorageIfAvailable { part in
                whole.count >= part.count && same(whole, whole.count - part.count, part)
            }
        }
        if let fast, let result = fast { return result }
        let utf8 = string.utf8
        let suffixUTF8 = suffix.utf8
        guard utf8.count >= suffixUTF8.count else { return false }
        return utf8.suffix(suffixUTF8.count).elementsEqual(suffixUTF8)
    }

    /// Whether `haystack[offset...]` starts with `needle`; the caller guarantees the length.
    @inline(__always)
    private static func same(_ haystack: UnsafeBufferPointer<UInt8>, _ offset: Int, _ needle: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        while index < needle.count {
            if haystack[offset + index] != needle[index] { return false }
            index += 1
        }
        return true
    }

    /// Case-insensitive equality: ASCII is folded byte by byte without allocating; other text is compared lowercased.
    static func equalIgnoringCase(_ lhs: String, _ rhs: String) -> Bool {
        var ascii = true
        var equal = true
        var left = lhs.utf8.makeIterator()
        var right = rhs.utf8.makeIterator()
        while true {
            let a = left.next()
            let b = right.next()
            guard let a, let b else {
                if a != nil || b != nil { equal = false }
                break
            }
            if a >= 0x80 || b >= 0x80 {
                ascii = false
                break
            }
            if lowerASCII(a) != lowerASCII(b) {
                equal = false
                break
            }
        }
        if ascii { return equal }
        return lhs.lowercased().utf8.elementsEqual(rhs.lowercased().utf8)
    }

    @inline(__always)
    private static func lowerASCII(_ byte: UInt8) -> UInt8 {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z") ? byte + 32 : byte
    }
}

/// A JSON value, as the library reads every JSON document it is given (filter policies, message bodies, access,
/// redrive and delivery policies, `MessageStructure`) and as the wire server reads requests.
///
/// Objects keep their members in document order, duplicates included: a message body is matched the way AWS
/// flattens it (every member is a field), a policy is validated in the order AWS reports errors, and a document
/// written back keeps its order. Numbers keep their text, so an error message can quote them as written, an integer
/// is checked exactly, and matching never loses digits.
@_spi(BrokerServer) public enum JSONValue: Sendable, Equatable {
    /// `null`.
    case null
    /// `true` or `false`.
    case bool(Bool)
    /// A number, as written.
    case number(JSONNumber)
    /// A string, escapes decoded.
    case string(String)
    /// An array.
    case array([JSONValue])
    /// An object's members, in document order, repeated keys kept.
    case object([Member])

    /// One `"key": value` member of an object. A labelled pair rather than a struct so that a document can be
    /// written as a literal, `.object([("Id", .string(id))])`.
    public typealias Member = (key: String, value: JSONValue)

    /// Structural equality; members compare in order.
    public static func == (lhs: JSONValue, rhs: JSONValue) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): true
        case let (.bool(a), .bool(b)): a == b
        case let (.number(a), .number(b)): a == b
        case let (.string(a), .string(b)): a == b
        case let (.array(a), .array(b)): a == b
        case let (.object(a), .object(b)):
            a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: false
        }
    }

    /// The member named `key` of an object: the last one when the key repeats, as most readers (and Foundation's)
    /// resolve it. Nil for a missing key or a value that is not an object.
    public subscript(key: String) -> JSONValue? {
        guard case .object(let members) = self else { return nil }
        return members.last { $0.key == key }?.value
    }

    /// Whether the value is a string, number, boolean or null.
    var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }
}

/// A JSON number: its text as written, and its value rounded to five decimal places.
///
/// The rounded value is what AWS compares in filter policies ("five digits of accuracy after the decimal point", so
/// `301.5`, `301.500` and `3.015e2` are one value). It is computed once, when the number is read, because the
/// filter matcher compares it for every message; kept as an integer count of 10⁻⁵ units it is exact, cheap to
/// compare, and free of binary floating-point surprises such as `0.1 + 0.2`. Numbers too large for that (beyond
/// about ±9·10¹²) have none. The filter's own rules over it are in `FilterPolicy/FilterNumber.swift`.
@_spi(BrokerServer) public struct JSONNumber: Sendable, Equatable, CustomStringConvertible {
    /// The number as written.
    public let text: String
    /// The value × 10⁵, rounded half away from zero; nil when it does not fit.
    let scaled: Int64?

    /// Creates a number from text already known to be a number (JSON syntax, or the lenient attribute syntax).
    init(validatedText text: String) {
        self.text = text
        var copy = text
        self.scaled = copy.withUTF8 { Self.scaledValue(of: $0) }
    }

    /// An integer, written in decimal.
    public init(_ integer: Int) {
        self.init(validatedText: String(integer))
    }

    /// The number as written.
    public var description: String { text }

    /// The value as a `Double` (infinite beyond its range, as Swift's parser rounds).
    var doubleValue: Double { Double(text) ?? .nan }

    // MARK: Parsing digits

    @inline(__always)
    static func isDigit(_ byte: UInt8) -> Bool { byte >= UInt8(ascii: "0") && byte <= UInt8(ascii: "9") }

    /// The value of a syntactically valid number × 10⁵, rounded half away from zero, computed from its decimal digits
    /// (never through `Double`); nil when the result has more than 18 digits.
    static func scaledValue(of bytes: UnsafeBufferPointer<UInt8>) -> Int64? {
        var index = 0
        let count = bytes.count
        var negative = false
        if index < count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
            negative = bytes[index] == UInt8(ascii: "-")
            index += 1
        }
        let integerStart = index
        while index < count, isDigit(bytes[index]) { index += 1 }
        let integerEnd = index
        var fractionStart = index
        var fractionEnd = index
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            fractionStart = index
            while index < count, isDigit(bytes[index]) { index += 1 }
            fractionEnd = index
        }
        var exponent = 0
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            var exponentNegative = false
            if index < count, bytes[index] == UInt8(ascii: "-") || bytes[index] == UInt8(ascii: "+") {
                exponentNegative = bytes[index] == UInt8(ascii: "-")
                index += 1
            }
            while index < count, isDigit(bytes[index]) {
                // Saturate: a huge exponent only needs to be known to be huge.
                if exponent < 1_000_000 { exponent = exponent * 10 + Int(bytes[index] - UInt8(ascii: "0")) }
                index += 1
            }
            if exponentNegative { exponent = -exponent }
        }

        // The significant digits are the integer digits then the fraction digits, leading zeros dropped. With n of
        // them, value × 10⁵ = digits × 10^k, whose integer part has n + k digits.
        var significant = 0
        var seenNonZero = false
        func forEachDigit(_ body: (UInt8) -> Void) {
            for position in integerStart..<integerEnd { body(bytes[position]) }
            for position in fractionStart..<fractionEnd { body(bytes[position]) }
        }
        forEachDigit { digit in
            if digit != UInt8(ascii: "0") { seenNonZero = true }
            if seenNonZero { significant += 1 }
        }
        guard significant > 0 else { return 0 }
        let k = exponent - (fractionEnd - fractionStart) + 5
        let integerDigits = significant + k
        guard integerDigits <= 18 else { return nil }
        if integerDigits < 0 { return 0 }

        var accumulator: Int64 = 0
        var taken = 0
        var roundUp = false
        seenNonZero = false
        forEachDigit { digit in
            if digit != UInt8(ascii: "0") { seenNonZero = true }
            guard seenNonZero else { return }
            if taken < integerDigits {
                accumulator = accumulator * 10 + Int64(digit - UInt8(ascii: "0"))
            } else if taken == integerDigits {
                roundUp = digit >= UInt8(ascii: "5")
            }
            taken += 1
        }
        // Fewer digits than places: pad with zeros (at most 18 digits in all, so no overflow).
        while taken < integerDigits {
            accumulator *= 10
            taken += 1
        }
        if roundUp { accumulator += 1 }
        return negative ? -accumulator : accumulator
    }
}

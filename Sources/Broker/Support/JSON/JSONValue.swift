/// A JSON value as the filter-policy engine sees it: policies and message bodies are both read into this model.
///
/// Objects keep their members in document order, duplicates included, because a message body is matched the way
/// AWS flattens it (every member is a field) and a policy is validated in the order AWS reports errors.
/// Numbers keep their text, so an error message can quote them as written and exact matching never loses digits.
enum FilterJSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(FilterNumber)
    case string(String)
    case array([FilterJSONValue])
    case object([Member])

    /// One `"key": value` member of an object.
    struct Member: Sendable, Equatable {
        var key: String
        var value: FilterJSONValue
    }

    /// Whether the value is a string, number, boolean or null.
    var isScalar: Bool {
        switch self {
        case .array, .object: false
        default: true
        }
    }

    /// The value as compact JSON text (numbers as written). Used by tests and error messages, never while matching.
    var jsonText: String {
        var out = ""
        write(to: &out)
        return out
    }

    private func write(to out: inout String) {
        switch self {
        case .null: out += "null"
        case .bool(let value): out += value ? "true" : "false"
        case .number(let number): out += number.text
        case .string(let string): Self.writeString(string, to: &out)
        case .array(let elements):
            out += "["
            for (index, element) in elements.enumerated() {
                if index > 0 { out += "," }
                element.write(to: &out)
            }
            out += "]"
        case .object(let members):
            out += "{"
            for (index, member) in members.enumerated() {
                if index > 0 { out += "," }
                Self.writeString(member.key, to: &out)
                out += ":"
                member.value.write(to: &out)
            }
            out += "}"
        }
    }

    private static func writeString(_ string: String, to out: inout String) {
        out += "\""
        for scalar in string.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            default:
                if scalar.value < 0x20 {
                    let hex = String(scalar.value, radix: 16)
                    out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        out += "\""
    }
}

/// A decimal number with AWS's filter semantics: values compare after rounding to five decimal places (AWS documents
/// "five digits of accuracy after the decimal point"), so `301.5`, `301.500` and `3.015e2` are one value.
///
/// The rounded value is kept as an integer count of 10⁻⁵ units — exact, cheap to compare, no binary floating point
/// surprises such as `0.1 + 0.2`. Numbers too large for that (beyond about ±9·10¹²) fall back to `Double`.
struct FilterNumber: Sendable, Equatable, CustomStringConvertible {
    /// The number as written.
    let text: String
    /// The value × 10⁵, rounded half away from zero; nil when it does not fit.
    let scaled: Int64?

    /// The largest magnitude AWS allows in numeric matching, 10⁹, in scaled units.
    static let limitScaled: Int64 = 1_000_000_000 * 100_000

    /// Creates a number from text already known to be a number (JSON syntax, or the lenient attribute syntax).
    init(validatedText text: String) {
        self.text = text
        var copy = text
        self.scaled = copy.withUTF8 { Self.scaledValue(of: $0) }
    }

    /// Parses a `Number` message attribute value: an optional sign, digits with an optional decimal point, and an
    /// optional exponent (`-1`, `+2.50`, `.5`, `6.`, `3.015e2`). Returns nil for anything else.
    static func parseAttribute(_ text: String) -> FilterNumber? {
        var copy = text
        let valid = copy.withUTF8 { isLenientNumber($0) }
        return valid ? FilterNumber(validatedText: text) : nil
    }

    var description: String { text }

    /// The value as a `Double`, for numbers outside the scaled range.
    var doubleValue: Double { Double(text) ?? .nan }

    /// Whether the number lies within AWS's documented numeric-matching range, −10⁹…10⁹.
    var isWithinMatchingRange: Bool {
        guard let scaled else { return false }
        return scaled >= -Self.limitScaled && scaled <= Self.limitScaled
    }

    /// Equality after rounding to five decimals (or as `Double` when either side is out of the scaled range).
    func numericallyEquals(_ other: FilterNumber) -> Bool {
        if let lhs = scaled, let rhs = other.scaled { return lhs == rhs }
        if scaled != nil || other.scaled != nil { return false }
        return doubleValue == other.doubleValue
    }

    // MARK: Parsing digits

    /// Whether `bytes` is `[+-]? (digits [. digits?] | . digits) ([eE] [+-]? digits)?`.
    static func isLenientNumber(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
        var index = 0
        let count = bytes.count
        if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
        var mantissaDigits = 0
        while index < count, isDigit(bytes[index]) { index += 1; mantissaDigits += 1 }
        if index < count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            while index < count, isDigit(bytes[index]) { index += 1; mantissaDigits += 1 }
        }
        guard mantissaDigits > 0 else { return false }
        if index < count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            var exponentDigits = 0
            while index < count, isDigit(bytes[index]) { index += 1; exponentDigits += 1 }
            guard exponentDigits > 0 else { return false }
        }
        return index == count
    }

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

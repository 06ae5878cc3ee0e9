/// AWS's filter semantics for numbers: values compare after rounding to five decimal places, which ``JSONNumber``
/// computes when it reads one, and lie within ±10⁹.
extension JSONNumber {
    /// The largest magnitude AWS allows in numeric matching, 10⁹, in scaled units.
    static let limitScaled: Int64 = 1_000_000_000 * 100_000

    /// Parses a `Number` message attribute value: an optional sign, digits with an optional decimal point, and an
    /// optional exponent (`-1`, `+2.50`, `.5`, `6.`, `3.015e2`). Returns nil for anything else.
    static func parseAttribute(_ text: String) -> JSONNumber? {
        var copy = text
        let valid = copy.withUTF8 { isLenientNumber($0) }
        return valid ? JSONNumber(validatedText: text) : nil
    }

    /// Whether the number lies within AWS's documented numeric-matching range, −10⁹…10⁹.
    var isWithinMatchingRange: Bool {
        guard let scaled else { return false }
        return scaled >= -Self.limitScaled && scaled <= Self.limitScaled
    }

    /// Equality after rounding to five decimals (or as `Double` when either side is out of the scaled range).
    func numericallyEquals(_ other: JSONNumber) -> Bool {
        if let lhs = scaled, let rhs = other.scaled { return lhs == rhs }
        if scaled != nil || other.scaled != nil { return false }
        return doubleValue == other.doubleValue
    }

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
}

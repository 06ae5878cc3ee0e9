/// Why a text is not JSON (or is JSON nested deeper than the parser allows).
@_spi(BrokerServer) public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What was wrong. The wire server quotes it in its answer, so the wording is part of its behaviour.
    public let reason: String
    /// The UTF-8 offset where it was found.
    public let offset: Int

    /// The reason and where it was found.
    public var description: String { "\(reason) at offset \(offset)" }
}

/// A strict RFC 8259 JSON parser over UTF-8, the one reader of the library and of the wire server.
///
/// Hand-written rather than `JSONSerialization` because its readers need what Foundation throws away: member order
/// and duplicates, numbers as written (AWS compares them in decimal; the wire checks integers exactly), booleans apart
/// from numbers, and invalid UTF-8 or lone surrogates reported rather than repaired when the caller asks. It is also
/// several times faster, which matters because a body-scope subscription parses every published body and the wire
/// server every request.
///
/// Hostile input is expected (bodies come from publishers, requests from the network): nesting is limited so
/// recursion cannot exhaust the stack, every index is bounds-checked, and malformed text is an error, never a trap.
@_spi(BrokerServer) public struct JSONParser {
    /// What a document may hold beyond RFC 8259's grammar, and how deep.
    public struct Options: Sendable {
        /// The deepest nesting accepted.
        public var maximumDepth: Int
        /// Whether a `\uXXXX` surrogate without its partner is an error (true) or reads as U+FFFD (false).
        public var rejectsLoneSurrogates: Bool
        /// Whether one comma may follow the last element of an array or member of an object.
        var allowsTrailingCommas = false
        /// Whether one UTF-8 byte-order mark may open the document.
        var skipsByteOrderMark = false
        /// Whether a number whose magnitude overflows a `Double` is an error.
        var requiresFiniteNumbers = false

        /// Options for strict reading: nesting up to `maximumDepth`, lone surrogates as chosen.
        public init(maximumDepth: Int = JSONParser.maximumDepth, rejectsLoneSurrogates: Bool = false) {
            self.maximumDepth = maximumDepth
            self.rejectsLoneSurrogates = rejectsLoneSurrogates
        }
    }

    /// The deepest nesting accepted by default. Far beyond any real policy or message; small enough that recursion
    /// (and the recursive release of the resulting tree) stays well inside a secondary thread's stack, even in debug
    /// builds.
    public static let maximumDepth = 256

    /// Parses one JSON value; only whitespace may surround it. The text is valid UTF-8, being a `String`.
    public static func parse(_ text: String, options: Options = Options()) throws(JSONParseError) -> JSONValue {
        var copy = text
        let result: Result<JSONValue, JSONParseError> = copy.withUTF8 { buffer in
            parse(buffer, options: options, validatesUTF8: false)
        }
        return try result.get()
    }

    /// Parses one JSON value from bytes that may not be UTF-8: a string holding invalid UTF-8 is an error.
    public static func parse(_ bytes: [UInt8], options: Options = Options()) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError> = bytes.withUnsafeBufferPointer { buffer in
            parse(buffer, options: options, validatesUTF8: true)
        }
        return try result.get()
    }

    /// Parses one JSON value from bytes the caller lends (a network buffer), checked as the `[UInt8]` overload checks
    /// them: a request body is read where it arrived instead of being copied into an array first.
    @_spi(BrokerServer)
    public static func parse(_ bytes: UnsafeRawBufferPointer, options: Options = Options()) throws(JSONParseError) -> JSONValue {
        try parse(bytes.assumingMemoryBound(to: UInt8.self), options: options, validatesUTF8: true).get()
    }

    private static func parse(_ buffer: UnsafeBufferPointer<UInt8>, options: Options,
                              validatesUTF8: Bool) -> Result<JSONValue, JSONParseError> {
        var parser = JSONParser(bytes: buffer, options: options, validatesUTF8: validatesUTF8)
        do throws(JSONParseError) {
            return .success(try parser.parseDocument())
        } catch {
            return .failure(error)
        }
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private let options: Options
    private let validatesUTF8: Bool
    private var index = 0
    /// Reused for strings with escapes, so only the final `String` is allocated.
    private var scratch: [UInt8] = []

    private init(bytes: UnsafeBufferPointer<UInt8>, options: Options, validatesUTF8: Bool) {
        self.bytes = bytes
        self.options = options
        self.validatesUTF8 = validatesUTF8
    }

    private mutating func parseDocument() throws(JSONParseError) -> JSONValue {
        if options.skipsByteOrderMark, bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF {
            index = 3
        }
        skipWhitespace()
        let value = try parseValue(depth: 0)
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected text after the document") }
        return value
    }

    private func fail(_ reason: String) -> JSONParseError {
        JSONParseError(reason: reason, offset: index)
    }

    @inline(__always)
    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private mutating func parseValue(depth: Int) throws(JSONParseError) -> JSONValue {
        guard index < bytes.count else { throw fail("unexpected end of input") }
        switch bytes[index] {
        case UInt8(ascii: "{"): return try parseObject(depth: depth + 1)
        case UInt8(ascii: "["): return try parseArray(depth: depth + 1)
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try expectLiteral("true"); return .bool(true)
        case UInt8(ascii: "f"): try expectLiteral("false"); return .bool(false)
        case UInt8(ascii: "n"): try expectLiteral("null"); return .null
        default: return .number(try parseNumber())
        }
    }

    private mutating func expectLiteral(_ literal: StaticString) throws(JSONParseError) {
        let count = literal.utf8CodeUnitCount
        guard bytes.count - index >= count else { throw fail("invalid literal") }
        let matches = literal.withUTF8Buffer { expected in
            for offset in 0..<count where bytes[index + offset] != expected[offset] { return false }
            return true
        }
        guard matches else { throw fail("invalid literal") }
        index += count
    }

    /// After a comma: whether `closing` follows at once, which ends the container when trailing commas are allowed.
    private mutating func closesAfterComma(_ closing: UInt8) -> Bool {
        guard options.allowsTrailingCommas else { return false }
        skipWhitespace()
        guard index < bytes.count, bytes[index] == closing else { return false }
        index += 1
        return true
    }

    private mutating func parseObject(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= options.maximumDepth else { throw fail("nested too deeply") }
        index += 1 // {
        var members: [JSONValue.Member] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "}") {
            index += 1
            return .object(members)
        }
        while true {
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw fail("expected a member name") }
            let key = try parseString()
            skipWhitespace()
            guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            let value = try parseValue(depth: depth)
            members.append((key, value))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated object") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                if closesAfterComma(UInt8(ascii: "}")) { return .object(members) }
            } else if bytes[index] == UInt8(ascii: "}") {
                index += 1
                return .object(members)
            } else {
                throw fail("expected ',' or '}'")
            }
        }
    }

    private mutating func parseArray(depth: Int) throws(JSONParseError) -> JSONValue {
        guard depth <= options.maximumDepth else { throw fail("nested too deeply") }
        index += 1 // [
        var elements: [JSONValue] = []
        skipWhitespace()
        if index < bytes.count, bytes[index] == UInt8(ascii: "]") {
            index += 1
            return .array(elements)
        }
        while true {
            skipWhitespace()
            elements.append(try parseValue(depth: depth))
            skipWhitespace()
            guard index < bytes.count else { throw fail("unterminated array") }
            if bytes[index] == UInt8(ascii: ",") {
                index += 1
                if closesAfterComma(UInt8(ascii: "]")) { return .array(elements) }
            } else if bytes[index] == UInt8(ascii: "]") {
                index += 1
                return .array(elements)
            } else {
                throw fail("expected ',' or ']'")
            }
        }
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`. Every integer digit is read before a leading zero is
    /// refused, so the error's offset is the one the wire server has always reported.
    private mutating func parseNumber() throws(JSONParseError) -> JSONNumber {
        let start = index
        if bytes[index] == UInt8(ascii: "-") { index += 1 }
        let integerStart = index
        while index < bytes.count, JSONNumber.isDigit(bytes[index]) { index += 1 }
        let integerDigits = index - integerStart
        guard integerDigits > 0, !(integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0")) else {
            throw fail("invalid number")
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard index < bytes.count, JSONNumber.isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, JSONNumber.isDigit(bytes[index]) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard index < bytes.count, JSONNumber.isDigit(bytes[index]) else { throw fail("invalid number") }
            while index < bytes.count, JSONNumber.isDigit(bytes[index]) { index += 1 }
        }
        let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
        let number = JSONNumber(validatedText: String(decoding: slice, as: UTF8.self))
        if options.requiresFiniteNumbers, !number.doubleValue.isFinite { throw fail("number out of range") }
        return number
    }

    /// Reads a string starting at its opening quote. Unescaped runs are copied in one piece; escapes, including
    /// `\uXXXX` surrogate pairs, are decoded.
    private mutating func parseString() throws(JSONParseError) -> String {
        index += 1 // opening quote
        let start = index
        // Fast path: no escapes.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let slice = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return try makeString(slice)
            }
            if byte == UInt8(ascii: "\\") { break }
            guard byte >= 0x20 else { throw fail("unescaped control character in a string") }
            index += 1
        }
        guard index < bytes.count else { throw fail("unterminated string") }

        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                guard validatesUTF8 else { return String(decoding: scratch, as: UTF8.self) }
                guard let text = String(validating: scratch, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
                return text
            case UInt8(ascii: "\\"):
                index += 1
                guard index < bytes.count else { throw fail("unterminated escape") }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                case UInt8(ascii: "u"): appendScalar(try parseUnicodeEscape())
                default: throw fail("invalid escape")
                }
            default:
                guard byte >= 0x20 else { throw fail("unescaped control character in a string") }
                scratch.append(byte)
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    /// The string of a literal's bytes; the offset of an invalid one is just past its closing quote.
    private func makeString(_ utf8: UnsafeBufferPointer<UInt8>) throws(JSONParseError) -> String {
        guard validatesUTF8 else { return String(decoding: utf8, as: UTF8.self) }
        guard let text = String(validating: utf8, as: UTF8.self) else { throw fail("invalid UTF-8 in a string") }
        return text
    }

    /// Decodes the `XXXX` after `\u`, joining a surrogate pair written as two escapes. A lone surrogate (legal JSON,
    /// not a Unicode scalar) is an error or U+FFFD, as the options say.
    private mutating func parseUnicodeEscape() throws(JSONParseError) -> Unicode.Scalar {
        let first = try parseHex4()
        if options.rejectsLoneSurrogates {
            // Reported rather than replaced: a message body must reach the queue (and its MD5) exactly as sent.
            if (0xD800...0xDBFF).contains(first) {
                guard bytes.count - index >= 2, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                    throw fail("lone surrogate")
                }
                index += 2
                let second = try parseHex4()
                guard (0xDC00...0xDFFF).contains(second) else { throw fail("lone surrogate") }
                return Unicode.Scalar(0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)) ?? "\u{FFFD}"
            }
            guard let scalar = Unicode.Scalar(first) else { throw fail("lone surrogate") }
            return scalar
        }
        if (0xD800...0xDBFF).contains(first) {
            // A high surrogate: a low one must follow as `\uXXXX` to make a scalar.
            if bytes.count - index >= 6, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") {
                let saved = index
                index += 2
                let second = try parseHex4()
                if (0xDC00...0xDFFF).contains(second) {
                    let value = 0x10000 + ((first - 0xD800) << 10) + (second - 0xDC00)
                    return Unicode.Scalar(value) ?? "\u{FFFD}"
                }
                index = saved // not a pair: the next escape is read on its own
            }
            return "\u{FFFD}"
        }
        return Unicode.Scalar(first) ?? "\u{FFFD}" // a lone low surrogate
    }

    /// Four hex digits; an error's offset is the first of them.
    private mutating func parseHex4() throws(JSONParseError) -> UInt32 {
        guard bytes.count - index >= 4 else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for offset in 0..<4 {
            let byte = bytes[index + offset]
            let digit: UInt32
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(byte - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(byte - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(byte - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | digit
        }
        index += 4
        return value
    }

    /// Appends the UTF-8 encoding of a scalar (hand-rolled: the standard encoders return optionals or need a newer OS).
    private mutating func appendScalar(_ scalar: Unicode.Scalar) {
        let value = scalar.value
        switch value {
        case 0..<0x80:
            scratch.append(UInt8(truncatingIfNeeded: value))
        case 0x80..<0x800:
            scratch.append(0xC0 | UInt8(truncatingIfNeeded: value >> 6))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        case 0x800..<0x10000:
            scratch.append(0xE0 | UInt8(truncatingIfNeeded: value >> 12))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        default:
            scratch.append(0xF0 | UInt8(truncatingIfNeeded: value >> 18))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 12) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: (value >> 6) & 0x3F))
            scratch.append(0x80 | UInt8(truncatingIfNeeded: value & 0x3F))
        }
    }
}

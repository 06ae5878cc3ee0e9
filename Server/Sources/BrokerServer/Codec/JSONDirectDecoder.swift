import Foundation

/// AWS JSON 1.0 input read straight from a request's bytes into its fields, without the JSON tree and its member
/// lists in between: the tree cost every request an allocation per value and a second walk.
///
/// It takes the forms SDKs send: an object of members the shape declares, values of the declared types, strings
/// whose escapes are the one-letter ones, integers without fraction or exponent. Anything else (a syntax error, an
/// unknown member, `null`, a `\u` escape, a mismatched type, a list or map beyond the element limit) makes it give
/// up with nil, and the caller decodes the body the general way, which accepts or refuses it and words any error
/// exactly as before. So whatever it accepts, the general way accepts too, to the same fields; it only has to be
/// right about what it takes, never about how to refuse.
struct JSONDirectDecoder {
    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    /// Reused by strings with escapes, the only ones not copied from the body in one piece.
    private var scratch: [UInt8] = []

    init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    /// The fields of a request body of the shape `structure`, or nil when the general decoder must read it.
    static func decode(_ body: UnsafeRawBufferPointer, as structure: Structure) -> [String: WireValue]? {
        var decoder = JSONDirectDecoder(bytes: body.assumingMemoryBound(to: UInt8.self))
        decoder.skipWhitespace()
        guard let fields = decoder.structure(structure) else { return nil }
        decoder.skipWhitespace()
        guard decoder.index == decoder.bytes.count else { return nil }
        return fields
    }

    @inline(__always)
    mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    @inline(__always)
    mutating func consume(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    /// After a value in a container: true for `,` (another follows), false for `closing`, nil for anything else.
    @inline(__always)
    mutating func separator(closing: UInt8) -> Bool? {
        skipWhitespace()
        if consume(UInt8(ascii: ",")) {
            skipWhitespace()
            return true
        }
        return consume(closing) ? false : nil
    }

    private mutating func value(_ shape: Shape) -> WireValue? {
        switch shape {
        case .string: return string().map(WireValue.string)
        case .integer: return integer().map(WireValue.integer)
        case .boolean:
            if literal("true") { return .boolean(true) }
            if literal("false") { return .boolean(false) }
            return nil
        case .blob:
            guard let text = string(), let data = Data(base64Encoded: text) else { return nil }
            return .blob(data)
        case .list(let element): return list(element)
        case .map(let valueShape, _, _): return map(valueShape)
        case .structure(let nested): return structure(nested).map(WireValue.structure)
        }
    }

    private mutating func structure(_ structure: Structure) -> [String: WireValue]? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        var fields: [String: WireValue] = [:]
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return fields }
        while true {
            // Only a member the shape declares is taken; its name, not the key's bytes, becomes the field's key.
            guard let member = member(of: structure) else { return nil }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            guard let value = value(member.shape) else { return nil }
            // A repeated member replaces the earlier one, as in the general decoder.
            fields[member.name] = value
            switch separator(closing: UInt8(ascii: "}")) {
            case true?: continue
            case false?: return fields
            case nil: return nil
            }
        }
    }

    /// The declared member a key without escapes names, its closing quote consumed.
    private mutating func member(of structure: Structure) -> Member? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
            // Escapes and control characters are left to the general decoder; no declared name holds either.
            guard bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 else { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        let key = UnsafeBufferPointer(rebasing: bytes[start..<index])
        index += 1
        return structure.members.first { $0.name.utf8.elementsEqual(key) }
    }

    private mutating func list(_ element: Shape) -> WireValue? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var values: [WireValue] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return .list(values) }
        while true {
            guard values.count < QueryCodec.maximumElements, let value = value(element) else { return nil }
            values.append(value)
            switch separator(closing: UInt8(ascii: "]")) {
            case true?: continue
            case false?: return .list(values)
            case nil: return nil
            }
        }
    }

    private mutating func map(_ valueShape: Shape) -> WireValue? {
        guard consume(UInt8(ascii: "{")) else { return nil }
        var entries: [WireValue.MapEntry] = []
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return .map(entries) }
        while true {
            guard entries.count < QueryCodec.maximumElements, let key = string() else { return nil }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            guard let value = value(valueShape) else { return nil }
            entries.append(.init(key: key, value: value))
            switch separator(closing: UInt8(ascii: "}")) {
            case true?: continue
            case false?: return .map(entries)
            case nil: return nil
            }
        }
    }

    mutating func literal(_ text: StaticString) -> Bool {
        let count = text.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let matches = text.withUTF8Buffer { expected in
            for offset in 0..<count where bytes[index + offset] != expected[offset] { return false }
            return true
        }
        if matches { index += count }
        return matches
    }

    /// `-?(0|[1-9][0-9]*)` that fits an `Int`; a fraction, an exponent or an overflow is left to the general decoder.
    mutating func integer() -> Int? {
        let negative = consume(UInt8(ascii: "-"))
        let digitsStart = index
        var value = 0
        while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
            let digit = Int(bytes[index] - UInt8(ascii: "0"))
            let (shifted, overflowShift) = value.multipliedReportingOverflow(by: 10)
            let (next, overflowDigit) = negative ? shifted.subtractingReportingOverflow(digit)
                                                 : shifted.addingReportingOverflow(digit)
            guard !overflowShift, !overflowDigit else { return nil }
            value = next
            index += 1
        }
        let digits = index - digitsStart
        guard digits > 0, !(digits > 1 && bytes[digitsStart] == UInt8(ascii: "0")) else { return nil }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") || bytes[index] == UInt8(ascii: "e")
            || bytes[index] == UInt8(ascii: "E") {
            return nil
        }
        return value
    }

    /// A string starting at its opening quote: copied in one piece when it has no escape, checked as UTF-8 when it
    /// is not ASCII (as the general decoder checks it).
    mutating func string() -> String? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        var bits: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let text = UnsafeBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return bits < 0x80 ? String(decoding: text, as: UTF8.self) : String(validating: text, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { return escapedString(from: start) }
            guard byte >= 0x20 else { return nil }
            bits |= byte
            index += 1
        }
        return nil
    }

    /// The rest of a string that holds an escape, from its first character at `start`; `index` is at a backslash.
    private mutating func escapedString(from start: Int) -> String? {
        scratch.removeAll(keepingCapacity: true)
        scratch.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            index += 1
            switch byte {
            case UInt8(ascii: "\""):
                return String(validating: scratch, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard index < bytes.count else { return nil }
                let escape = bytes[index]
                index += 1
                switch escape {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): scratch.append(escape)
                case UInt8(ascii: "b"): scratch.append(0x08)
                case UInt8(ascii: "f"): scratch.append(0x0C)
                case UInt8(ascii: "n"): scratch.append(0x0A)
                case UInt8(ascii: "r"): scratch.append(0x0D)
                case UInt8(ascii: "t"): scratch.append(0x09)
                // `\u` (and its surrogate rules) is left to the general decoder.
                default: return nil
                }
            default:
                guard byte >= 0x20 else { return nil }
                scratch.append(byte)
            }
        }
        return nil
    }
}

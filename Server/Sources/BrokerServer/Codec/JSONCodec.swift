@_spi(BrokerServer) import Broker
import Foundation
import NIOCore

extension JSONParser.Options {
    /// How the wire reads a request body: Broker's strict parser, with lone surrogates reported rather than
    /// replaced (a message body must reach the queue, and its MD5, exactly as sent), invalid UTF-8 reported, and
    /// nesting limited to 64 levels, far beyond any AWS request shape.
    static let wire = JSONParser.Options(maximumDepth: 64, rejectsLoneSurrogates: true)
}

/// Why input did not fit its shape: the member path (`Entries[2].MessageAttributes.color.DataType`) and what was
/// wrong. Each protocol turns it into its own error code.
struct ShapeMismatch: Error, Sendable {
    let path: String
    let reason: String
}

/// AWS JSON 1.0: a request body decoded against an operation's input shape, and output encoded from its output shape.
enum JSONCodec {
    static func decode(_ json: JSONValue, as structure: Structure, path: String = "") throws(ShapeMismatch) -> [String: WireValue] {
        guard case .object(let members) = json else {
            throw ShapeMismatch(path: path.isEmpty ? "request" : path, reason: "expected an object")
        }
        var fields: [String: WireValue] = [:]
        for (key, value) in members {
            // Members the model does not know are ignored, as AWS ignores them; null reads as absent.
            guard let member = structure.member(named: key), value != .null else { continue }
            fields[key] = try decode(value, as: member.shape, path: join(path, key))
        }
        return fields
    }

    private static func decode(_ json: JSONValue, as shape: Shape, path: String) throws(ShapeMismatch) -> WireValue {
        switch (shape, json) {
        case (.string, .string(let text)):
            return .string(text)
        case (.integer, .number(let number)):
            guard let value = Int(number.text) else { throw ShapeMismatch(path: path, reason: "expected an integer, found \(number.text)") }
            return .integer(value)
        case (.boolean, .bool(let value)):
            return .boolean(value)
        case (.blob, .string(let text)):
            guard let data = Data(base64Encoded: text) else { throw ShapeMismatch(path: path, reason: "expected base64") }
            return .blob(data)
        case (.list(let element), .array(let items)):
            try checkCount(items.count, path: path)
            var values: [WireValue] = []
            for (offset, item) in items.enumerated() {
                values.append(try decode(item, as: element, path: "\(path)[\(offset)]"))
            }
            return .list(values)
        case (.map(let valueShape, _, _), .object(let members)):
            try checkCount(members.count, path: path)
            var entries: [WireValue.MapEntry] = []
            for (key, value) in members {
                entries.append(.init(key: key, value: try decode(value, as: valueShape, path: join(path, key))))
            }
            return .map(entries)
        case (.structure(let structure), .object):
            return .structure(try decode(json, as: structure, path: path))
        default:
            throw ShapeMismatch(path: path, reason: "expected \(shape.typeName), found \(json.typeName)")
        }
    }

    static func encode(_ fields: [String: WireValue], as structure: Structure) -> JSONValue {
        .object(structure.members.compactMap { member in fields[member.name].map { (member.name, encode($0, as: member.shape)) } })
    }

    private static func encode(_ value: WireValue, as shape: Shape) -> JSONValue {
        switch (value, shape) {
        case (.string(let text), _): .string(text)
        case (.integer(let number), _): .number(JSONNumber(number))
        case (.boolean(let flag), _): .bool(flag)
        case (.blob(let data), _): .string(data.base64EncodedString())
        case (.list(let items), .list(let element)): .array(items.map { encode($0, as: element) })
        case (.map(let entries), .map(let valueShape, _, _)): .object(entries.map { ($0.key, encode($0.value, as: valueShape)) })
        case (.structure(let fields), .structure(let structure)): encode(fields, as: structure)
        // Output is built by the operations against the same table, so a mismatch is a bug; write nothing for it.
        default: .null
        }
    }

    /// Output as compact JSON, written straight into the buffer the answer is sent in: byte for byte what
    /// `encode(_:as:).jsonBytes` gives, without the JSON tree and the array in between.
    static func write(_ fields: [String: WireValue], as structure: Structure, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "{"))
        var first = true
        for member in structure.members {
            guard let value = fields[member.name] else { continue }
            if !first { buffer.writeInteger(UInt8(ascii: ",")) }
            first = false
            writeQuoted(member.name, into: &buffer)
            buffer.writeInteger(UInt8(ascii: ":"))
            write(value, as: member.shape, into: &buffer)
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// One value as compact JSON, as ``write(_:as:into:)`` writes a member's value.
    static func write(_ value: WireValue, as shape: Shape, into buffer: inout ByteBuffer) {
        switch (value, shape) {
        case (.string(let text), _): writeQuoted(text, into: &buffer)
        case (.integer(let number), _): buffer.writeString(String(number))
        case (.boolean(let flag), _): buffer.writeStaticString(flag ? "true" : "false")
        case (.blob(let data), _): writeQuoted(data.base64EncodedString(), into: &buffer)
        case (.list(let items), .list(let element)):
            buffer.writeInteger(UInt8(ascii: "["))
            for (index, item) in items.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                write(item, as: element, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        case (.map(let entries), .map(let valueShape, _, _)):
            buffer.writeInteger(UInt8(ascii: "{"))
            for (index, entry) in entries.enumerated() {
                if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
                writeQuoted(entry.key, into: &buffer)
                buffer.writeInteger(UInt8(ascii: ":"))
                write(entry.value, as: valueShape, into: &buffer)
            }
            buffer.writeInteger(UInt8(ascii: "}"))
        case (.structure(let fields), .structure(let structure)): write(fields, as: structure, into: &buffer)
        // As in `encode`: a mismatch is a bug in an operation; write nothing for it.
        default: buffer.writeStaticString("null")
        }
    }

    /// `text` as a JSON string literal, escaped as Broker's JSON writer escapes it: a quote and a backslash get a
    /// backslash, control characters their letter escape or `\u00xx`. Most strings on the wire (ids, handles, digests,
    /// URLs) need no escape and are copied whole.
    static func writeQuoted(_ text: String, into buffer: inout ByteBuffer) {
        var text = text  // `withUTF8` is mutating; a native string is not copied by it
        text.withUTF8 { utf8 in
            buffer.writeInteger(UInt8(ascii: "\""))
            guard utf8.contains(where: { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) else {
                buffer.writeBytes(utf8)
                buffer.writeInteger(UInt8(ascii: "\""))
                return
            }
            var run = 0
            for (index, byte) in utf8.enumerated() where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
                buffer.writeBytes(UnsafeBufferPointer(rebasing: utf8[run..<index]))
                run = index + 1
                buffer.writeInteger(UInt8(ascii: "\\"))
                switch byte {
                case 0x08: buffer.writeInteger(UInt8(ascii: "b"))
                case 0x09: buffer.writeInteger(UInt8(ascii: "t"))
                case 0x0A: buffer.writeInteger(UInt8(ascii: "n"))
                case 0x0C: buffer.writeInteger(UInt8(ascii: "f"))
                case 0x0D: buffer.writeInteger(UInt8(ascii: "r"))
                case 0x20...: buffer.writeInteger(byte)
                default:
                    buffer.writeStaticString("u00")
                    buffer.writeInteger(hexDigit(byte >> 4))
                    buffer.writeInteger(hexDigit(byte & 0xF))
                }
            }
            buffer.writeBytes(UnsafeBufferPointer(rebasing: utf8[run...]))
            buffer.writeInteger(UInt8(ascii: "\""))
        }
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }

    /// Lists and maps far beyond AWS's limits are refused before their elements are decoded, as in Query.
    private static func checkCount(_ count: Int, path: String) throws(ShapeMismatch) {
        guard count <= QueryCodec.maximumElements else {
            throw ShapeMismatch(path: path, reason: "\(count) elements, more than the \(QueryCodec.maximumElements) accepted")
        }
    }

    private static func join(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }
}

extension Shape {
    var typeName: String {
        switch self {
        case .string: "a string"
        case .integer: "an integer"
        case .boolean: "a boolean"
        case .blob: "base64 text"
        case .list: "a list"
        case .map: "a map"
        case .structure: "an object"
        }
    }
}

extension JSONValue {
    var typeName: String {
        switch self {
        case .object: "an object"
        case .array: "an array"
        case .string: "a string"
        case .number: "a number"
        case .bool: "a boolean"
        case .null: "null"
        }
    }
}

@_spi(BrokerServer) import Broker
import Foundation

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

import Foundation

/// The type of a request or response member, after the botocore models: enough for the codecs to decode JSON and
/// Query input into one ``WireValue`` and to encode output as JSON or XML, so no operation is written per protocol.
indirect enum Shape: Sendable {
    case string
    /// `integer` and `long` alike: JSON numbers, decimal text in forms and XML.
    case integer
    case boolean
    /// Base64 in JSON, forms and XML.
    case blob
    case list(Shape)
    /// A map with string keys. `key`/`value` name the parts of an entry in SQS's flattened Query form (`Name`/`Value`,
    /// `Key`/`Value`); SNS names them in its own way per map, given here too.
    case map(Shape, key: String, value: String)
    case structure(Structure)
}

extension Shape {
    /// Whether a value of this shape can hold structures, whose required members are checked in turn.
    var nestsStructures: Bool {
        switch self {
        case .structure, .list(.structure), .map(.structure, _, _): true
        default: false
        }
    }
}

/// A structure's members, in the model's order (which is the order of XML elements).
struct Structure: Sendable {
    let members: [Member]

    init(_ members: [Member]) { self.members = members }

    func member(named name: String) -> Member? { members.first { $0.name == name } }
}

/// One member of a structure.
struct Member: Sendable {
    /// The JSON name, which is also the SNS Query name and the XML element name unless ``queryName`` says otherwise.
    let name: String
    let shape: Shape
    let required: Bool
    /// SQS Query's `locationName`: the key prefix of a flattened list or map (`AttributeName.1`, `Attribute.1.Name`)
    /// and the name of its repeated XML element (`<QueueUrl>`, `<Message>`).
    let queryName: String?

    init(_ name: String, _ shape: Shape, required: Bool = false, query: String? = nil) {
        self.name = name
        self.shape = shape
        self.required = required
        self.queryName = query
    }
}

/// A decoded request or an operation's output, independent of the protocol it came in or goes out in.
indirect enum WireValue: Sendable, Equatable {
    case string(String)
    case integer(Int)
    case boolean(Bool)
    case blob(Data)
    case list([WireValue])
    /// Entries in the order they are written.
    case map([MapEntry])
    /// Members by JSON name; the shape gives their order on output.
    case structure([String: WireValue])

    struct MapEntry: Sendable, Equatable {
        let key: String
        let value: WireValue
    }

    /// A map from a dictionary, sorted by key so output is deterministic.
    static func entries(_ dictionary: [String: WireValue]) -> WireValue {
        .map(dictionary.sorted { $0.key < $1.key }.map { MapEntry(key: $0.key, value: $0.value) })
    }

    static func stringMap(_ dictionary: [String: String]) -> WireValue {
        .entries(dictionary.mapValues { .string($0) })
    }
}

/// The protocol-independent input of an operation, with typed accessors. Types were checked against the shape by
/// the codec, so a mismatch here can only mean a member the shape does not declare, which reads as absent.
struct Input: Sendable {
    let fields: [String: WireValue]

    init(_ fields: [String: WireValue]) { self.fields = fields }

    func string(_ name: String) -> String? {
        if case .string(let value) = fields[name] { return value }
        return nil
    }

    func integer(_ name: String) -> Int? {
        if case .integer(let value) = fields[name] { return value }
        return nil
    }

    func boolean(_ name: String) -> Bool? {
        if case .boolean(let value) = fields[name] { return value }
        return nil
    }

    func list(_ name: String) -> [WireValue]? {
        if case .list(let value) = fields[name] { return value }
        return nil
    }

    func strings(_ name: String) -> [String] {
        (list(name) ?? []).compactMap { if case .string(let value) = $0 { value } else { nil } }
    }

    func structures(_ name: String) -> [Input] {
        (list(name) ?? []).compactMap { if case .structure(let value) = $0 { Input(value) } else { nil } }
    }

    func map(_ name: String) -> [WireValue.MapEntry]? {
        if case .map(let value) = fields[name] { return value }
        return nil
    }

    func stringMap(_ name: String) -> [String: String] {
        var result: [String: String] = [:]
        for entry in map(name) ?? [] {
            if case .string(let value) = entry.value { result[entry.key] = value }
        }
        return result
    }
}

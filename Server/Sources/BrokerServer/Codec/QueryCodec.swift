import Foundation

/// AWS Query: `application/x-www-form-urlencoded` parameters in, XML out.
///
/// SQS's Query model flattens lists and maps (`AttributeName.1`, `Attribute.1.Name`, repeated `<QueueUrl>`), naming
/// them by the member's ``Member/queryName``; SNS's wraps them (`TagKeys.member.1`, `Attributes.entry.1.key`,
/// `<Topics><member>`). One flag per service covers every operation of both.
struct QueryCodec: Sendable {
    /// True for SQS, false for SNS.
    let flattened: Bool

    // MARK: Form parameters

    /// Parses `a=1&b=x%20y`; `+` is a space. Invalid percent escapes or UTF-8 are errors, never repaired, since a
    /// repaired message body would no longer match the MD5 the client computes.
    static func parseForm(_ bytes: some Collection<UInt8>) -> [String: String]? {
        var parameters: [String: String] = [:]
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = percentDecode(parts[0]) else { return nil }
            guard let value = parts.count > 1 ? percentDecode(parts[1]) : "" else { return nil }
            parameters[name] = value
        }
        return parameters
    }

    private static func percentDecode(_ bytes: some Collection<UInt8>) -> String? {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var iterator = bytes.makeIterator()
        while let byte = iterator.next() {
            switch byte {
            case UInt8(ascii: "+"): out.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                guard let high = iterator.next().flatMap(hexDigit), let low = iterator.next().flatMap(hexDigit) else { return nil }
                out.append(high << 4 | low)
            default: out.append(byte)
            }
        }
        return String(validating: out, as: UTF8.self)
    }

    // MARK: Decoding

    func decode(_ parameters: [String: String], as structure: Structure) throws(ShapeMismatch) -> [String: WireValue] {
        try decode(parameters, as: structure, prefix: "")
    }

    private func decode(_ parameters: [String: String], as structure: Structure, prefix: String) throws(ShapeMismatch) -> [String: WireValue] {
        var fields: [String: WireValue] = [:]
        for member in structure.members {
            let key = prefix + name(of: member)
            if let value = try decode(parameters, as: member.shape, key: key) { fields[member.name] = value }
        }
        return fields
    }

    private func decode(_ parameters: [String: String], as shape: Shape, key: String) throws(ShapeMismatch) -> WireValue? {
        switch shape {
        case .string:
            return parameters[key].map(WireValue.string)
        case .integer:
            guard let text = parameters[key] else { return nil }
            guard let value = Int(text) else { throw ShapeMismatch(path: key, reason: "Value \(text) for parameter \(key) is invalid. Reason: Must be an integer.") }
            return .integer(value)
        case .boolean:
            guard let text = parameters[key] else { return nil }
            switch text.lowercased() {
            case "true": return .boolean(true)
            case "false": return .boolean(false)
            default: throw ShapeMismatch(path: key, reason: "Value \(text) for parameter \(key) is invalid. Reason: Must be true or false.")
            }
        case .blob:
            guard let text = parameters[key] else { return nil }
            guard let data = Data(base64Encoded: text) else { throw ShapeMismatch(path: key, reason: "Value for parameter \(key) is not valid base64.") }
            return .blob(data)
        case .list(let element):
            let listPrefix = flattened ? key : key + ".member"
            var items: [WireValue] = []
            // Some old clients send one un-numbered `AttributeName=All`.
            if case .string = element, let single = parameters[key] { items.append(.string(single)) }
            for index in indices(in: parameters, under: listPrefix) {
                if let item = try decode(parameters, as: element, key: "\(listPrefix).\(index)") { items.append(item) }
            }
            return items.isEmpty ? nil : .list(items)
        case .map(let valueShape, let keyName, let valueName):
            let mapPrefix = flattened ? key : key + ".entry"
            var entries: [WireValue.MapEntry] = []
            for index in indices(in: parameters, under: mapPrefix) {
                let entryPrefix = "\(mapPrefix).\(index)."
                guard let name = parameters[entryPrefix + keyName] else {
                    throw ShapeMismatch(path: entryPrefix + keyName, reason: "The request must contain the parameter \(entryPrefix + keyName).")
                }
                guard let value = try decode(parameters, as: valueShape, key: entryPrefix + valueName) else {
                    throw ShapeMismatch(path: entryPrefix + valueName, reason: "The request must contain the parameter \(entryPrefix + valueName).")
                }
                entries.append(.init(key: name, value: value))
            }
            return entries.isEmpty ? nil : .map(entries)
        case .structure(let structure):
            let fields = try decode(parameters, as: structure, prefix: key + ".")
            return fields.isEmpty ? nil : .structure(fields)
        }
    }

    /// The element numbers under `prefix` (`Attribute.1.Name`, `Attribute.2.Value` → 1, 2), ascending, so the order
    /// of the form does not matter.
    private func indices(in parameters: [String: String], under prefix: String) -> [Int] {
        let start = prefix + "."
        var found = Set<Int>()
        for key in parameters.keys where key.hasPrefix(start) {
            let rest = key.dropFirst(start.count)
            if let index = Int(rest.prefix { $0 != "." }), index > 0 { found.insert(index) }
        }
        return found.sorted()
    }

    private func name(of member: Member) -> String { flattened ? member.queryName ?? member.name : member.name }

    // MARK: Encoding

    /// The members of `fields` as XML elements, in the shape's order.
    func encode(_ fields: [String: WireValue], as structure: Structure, into xml: inout XMLWriter) {
        for member in structure.members {
            guard let value = fields[member.name] else { continue }
            encode(value, as: member.shape, named: name(of: member), into: &xml)
        }
    }

    private func encode(_ value: WireValue, as shape: Shape, named name: String, into xml: inout XMLWriter) {
        switch (value, shape) {
        case (.list(let items), .list(let element)):
            if flattened {
                for item in items { encode(item, as: element, named: name, into: &xml) }
            } else {
                xml.element(name) { xml in
                    for item in items { encode(item, as: element, named: "member", into: &xml) }
                }
            }
        case (.map(let entries), .map(let valueShape, let keyName, let valueName)):
            func entry(_ entry: WireValue.MapEntry, named element: String, into xml: inout XMLWriter) {
                xml.element(element) { xml in
                    xml.element(keyName, text: entry.key)
                    encode(entry.value, as: valueShape, named: valueName, into: &xml)
                }
            }
            if flattened {
                for item in entries { entry(item, named: name, into: &xml) }
            } else {
                xml.element(name) { xml in
                    for item in entries { entry(item, named: "entry", into: &xml) }
                }
            }
        case (.structure(let fields), .structure(let structure)):
            xml.element(name) { xml in encode(fields, as: structure, into: &xml) }
        case (.string(let text), _): xml.element(name, text: text)
        case (.integer(let number), _): xml.element(name, text: String(number))
        case (.boolean(let flag), _): xml.element(name, text: flag ? "true" : "false")
        case (.blob(let data), _): xml.element(name, text: data.base64EncodedString())
        default: break
        }
    }
}

/// Builds an XML document; elements with no content are written self-closed, as AWS writes `<ReceiveMessageResult/>`.
struct XMLWriter {
    private(set) var text = ""

    mutating func raw(_ fragment: String) { text += fragment }

    mutating func element(_ name: String, attributes: String = "", _ content: (inout XMLWriter) -> Void) {
        text += "<\(name)\(attributes)>"
        let mark = text.utf8.count
        content(&self)
        if text.utf8.count == mark {
            text.removeLast()
            text += "/>"
        } else {
            text += "</\(name)>"
        }
    }

    mutating func element(_ name: String, text value: String) {
        text += value.isEmpty ? "<\(name)/>" : "<\(name)>\(Self.escape(value))</\(name)>"
    }

    /// Escapes markup and, as AWS does, `\r` as `&#xD;`: a parser folds a raw CR LF into LF, which would change the
    /// body and break its MD5.
    static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for scalar in value.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "\r": out += "&#xD;"
            default: out.unicodeScalars.append(scalar)
            }
        }
        return out
    }
}

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

    /// Parameters one form may have: a full batch of ten entries with ten attributes each is about 500, so a form
    /// past this is refused on a count of its `&`s, before any of it is decoded.
    static let maximumParameters = 5_000

    /// Parses `a=1&b=x%20y`; `+` is a space. Invalid percent escapes or UTF-8 are errors, never repaired, since a
    /// repaired message body would no longer match the MD5 the client computes; so is a form of more than
    /// ``maximumParameters`` parameters.
    static func parseForm(_ bytes: some Collection<UInt8>) -> [String: String]? {
        guard bytes.lazy.filter({ $0 == UInt8(ascii: "&") }).count < maximumParameters else { return nil }
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

    /// The most elements one list or map of a form may have: far beyond any of AWS's limits (10 batch entries,
    /// 10 message attributes, 50 tags), so an over-long list gets the operation's own AWS error, while a form of a
    /// hundred thousand entries is refused before any of them is decoded.
    static let maximumElements = 1_000

    func decode(_ parameters: [String: String], as structure: Structure) throws(ShapeMismatch) -> [String: WireValue] {
        try decode(QueryForm(parameters), as: structure, prefix: "")
    }

    private func decode(_ form: QueryForm, as structure: Structure, prefix: String) throws(ShapeMismatch) -> [String: WireValue] {
        var fields: [String: WireValue] = [:]
        for member in structure.members {
            let key = prefix + name(of: member)
            if let value = try decode(form, as: member.shape, key: key) { fields[member.name] = value }
        }
        return fields
    }

    private func decode(_ form: QueryForm, as shape: Shape, key: String) throws(ShapeMismatch) -> WireValue? {
        let parameters = form.parameters
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
            for index in try elements(of: form, under: listPrefix) {
                if let item = try decode(form, as: element, key: "\(listPrefix).\(index)") { items.append(item) }
            }
            return items.isEmpty ? nil : .list(items)
        case .map(let valueShape, let keyName, let valueName):
            let mapPrefix = flattened ? key : key + ".entry"
            var entries: [WireValue.MapEntry] = []
            for index in try elements(of: form, under: mapPrefix) {
                let entryPrefix = "\(mapPrefix).\(index)."
                guard let name = parameters[entryPrefix + keyName] else {
                    throw ShapeMismatch(path: entryPrefix + keyName, reason: "The request must contain the parameter \(entryPrefix + keyName).")
                }
                guard let value = try decode(form, as: valueShape, key: entryPrefix + valueName) else {
                    throw ShapeMismatch(path: entryPrefix + valueName, reason: "The request must contain the parameter \(entryPrefix + valueName).")
                }
                entries.append(.init(key: name, value: value))
            }
            return entries.isEmpty ? nil : .map(entries)
        case .structure(let structure):
            let fields = try decode(form, as: structure, prefix: key + ".")
            return fields.isEmpty ? nil : .structure(fields)
        }
    }

    /// The element numbers of the list or map at `prefix`, ascending, refused past ``maximumElements``.
    private func elements(of form: QueryForm, under prefix: String) throws(ShapeMismatch) -> [Int] {
        let found = form.elements(under: prefix)
        guard found.count <= Self.maximumElements else {
            throw ShapeMismatch(path: prefix, reason:
                "Value for parameter \(prefix) is invalid. Reason: \(found.count) elements, more than the \(Self.maximumElements) accepted.")
        }
        return found
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

/// A form's parameters, with the element numbers of every list and map found in one pass over the keys
/// (`Attribute.1.Name`, `Attribute.2.Value` → `Attribute`: 1, 2). Looking them up per list instead, by scanning
/// every key, made a form of n entries cost n² (a 20,000-entry batch took 50 s of CPU).
struct QueryForm {
    let parameters: [String: String]
    private var numbers: [Substring: Set<Int>] = [:]

    /// Numbered levels read per key: the models nest three (a batch entry's attribute's list values); a key with
    /// more can match no member, and reading only this many keeps the pass linear in the key's length.
    private static let levels = 4

    init(_ parameters: [String: String]) {
        self.parameters = parameters
        for key in parameters.keys {
            var found = 0
            var dot = key.utf8.firstIndex(of: UInt8(ascii: "."))
            while let current = dot, found < Self.levels {
                let segmentStart = key.utf8.index(after: current)
                let next = key.utf8[segmentStart...].firstIndex(of: UInt8(ascii: "."))
                let segment = key.utf8[segmentStart..<(next ?? key.utf8.endIndex)]
                // At most 9 digits: an element number fits an Int and no hostile key costs more than its length.
                if (1...9).contains(segment.count), segment.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
                   let number = Int(Substring(segment)), number > 0 {
                    numbers[key[..<current], default: []].insert(number)
                    found += 1
                }
                dot = next
            }
        }
    }

    /// The element numbers under `prefix`, ascending, whatever the order of the form.
    func elements(under prefix: String) -> [Int] {
        numbers[Substring(prefix)].map { $0.sorted() } ?? []
    }
}

/// The value of one hexadecimal digit, either case.
func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
    default: nil
    }
}

extension JSONParser.Options {
    /// What the library's policy readers (redrive, allow, delivery and access policies, `MessageStructure`, a
    /// subscription's redrive policy, a Lambda batch response) accept. They were read with Foundation's
    /// `JSONSerialization`, and accept what it accepted, no more and no less: beyond RFC 8259, one comma after the
    /// last element or member and one byte-order mark before the document; within it, no lone surrogates, no number
    /// beyond a `Double`'s range, and at most 512 levels. Pinned by `PolicyJSONCharacterisationTests`.
    static let policy: Self = {
        var options = JSONParser.Options(maximumDepth: 512, rejectsLoneSurrogates: true)
        options.allowsTrailingCommas = true
        options.skipsByteOrderMark = true
        options.requiresFiniteNumbers = true
        return options
    }()
}

/// Reading policy documents. The conversions give each value the meaning Foundation's bridging gave it when these
/// documents were read into `[String: Any]`, so that what a policy means has not changed: a number is an integer when
/// its `Double` is whole, `true` and `false` are the numbers 1 and 0, and 0 and 1 are booleans.
extension JSONValue {
    /// `text` read as a policy document: a JSON object, or nil for anything else.
    static func policyObject(_ text: String) -> JSONValue? {
        guard let value = try? JSONParser.parse(text, options: .policy), case .object = value else { return nil }
        return value
    }

    /// Whether `text` is one JSON value (of any kind) by the policy readers' rules.
    static func isPolicyJSON(_ text: String) -> Bool {
        (try? JSONParser.parse(text, options: .policy)) != nil
    }

    /// The value when it is an object, else nil.
    var objectValue: JSONValue? {
        guard case .object = self else { return nil }
        return self
    }

    /// The members of an object, else nil.
    var members: [Member]? {
        guard case .object(let members) = self else { return nil }
        return members
    }

    /// The elements of an array, else nil.
    var elements: [JSONValue]? {
        guard case .array(let elements) = self else { return nil }
        return elements
    }

    /// The text of a string, else nil.
    var stringValue: String? {
        guard case .string(let text) = self else { return nil }
        return text
    }

    /// A number whose `Double` value is whole and fits an `Int` (`5`, `5.0`, `5e0`), or a boolean as 0 or 1.
    var wholeNumber: Int? {
        switch self {
        case .number(let number): Int(exactly: number.doubleValue)
        case .bool(let flag): flag ? 1 : 0
        default: nil
        }
    }

    /// A boolean, or a number whose `Double` value is exactly 0 or 1.
    var booleanValue: Bool? {
        switch self {
        case .bool(let flag): flag
        case .number(let number):
            switch number.doubleValue {
            case 0: false
            case 1: true
            default: nil
            }
        default: nil
        }
    }
}

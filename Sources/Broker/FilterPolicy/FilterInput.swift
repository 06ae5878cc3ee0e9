/// One published message as filter policies see it, built once per publish and passed `inout` to every
/// subscription's ``FilterPolicy/matches(_:)``.
///
/// Everything expensive is done lazily and at most once, then shared by all subscriptions (design principle 5):
/// the body is parsed as JSON only when the first body-scope policy asks for it, and each `String.Array` attribute is
/// decoded only when the first policy that names it does. A publish with no body-scope subscription never parses its
/// body. The cache lives in the value itself, so no lock is needed: one publish owns its input.
///
/// ```swift
/// var input = FilterInput(attributes: request.messageAttributes, body: request.message)
/// for subscription in subscriptions {
///     if let policy = subscription.filterPolicy, !policy.matches(&input) { continue }
///     deliver(message, to: subscription)
/// }
/// ```
struct FilterInput {
    /// The message attributes as published.
    let attributes: [String: MessageAttributeValue]
    /// The message body as published.
    let body: String

    private var bodyState: BodyState = .unparsed
    private var arrayCache: [String: AttributeView] = [:]
    private var eligibleCount: Int?

    private enum BodyState {
        case unparsed
        /// The body is a JSON object; `hasLeaves` tells whether it holds any scalar at all.
        case object([JSONValue.Member], hasLeaves: Bool)
        /// Not JSON, or JSON that is not an object: AWS's body filtering "assumes … a well-formed JSON object", so
        /// such a body matches no (non-empty) body-scope policy.
        case unusable
    }

    init(attributes: [String: MessageAttributeValue] = [:], body: String = "") {
        self.attributes = attributes
        self.body = body
    }

    // MARK: Body

    /// The body's top-level members, parsed on first use; nil when the body is not a JSON object.
    mutating func bodyObject() -> (members: [JSONValue.Member], hasLeaves: Bool)? {
        if case .unparsed = bodyState {
            if let parsed = try? JSONParser.parse(body), case .object(let members) = parsed {
                bodyState = .object(members, hasLeaves: Self.hasScalar(in: members))
            } else {
                bodyState = .unusable
            }
        }
        guard case .object(let members, let hasLeaves) = bodyState else { return nil }
        return (members, hasLeaves)
    }

    /// Whether the body has been parsed (by a body-scope policy); lets tests see that attribute scope never parses.
    var hasParsedBody: Bool {
        if case .unparsed = bodyState { return false }
        return true
    }

    private static func hasScalar(in members: [JSONValue.Member]) -> Bool {
        members.contains { hasScalar($0.value) }
    }

    private static func hasScalar(_ value: JSONValue) -> Bool {
        switch value {
        case .array(let elements): elements.contains(where: hasScalar)
        case .object(let members): hasScalar(in: members)
        default: true
        }
    }

    // MARK: Attributes

    /// What a policy can see of one attribute.
    enum AttributeView {
        /// Missing, or of a type SNS does not filter on (`Binary`).
        case absent
        /// A `String` or `Number` value.
        case value(JSONValue)
        /// A `String.Array`'s scalar elements (nested arrays flattened, objects ignored).
        case elements([JSONValue])
        /// Present, but not usable by value: a `Number` that is not a number, a `String.Array` that is not JSON.
        /// Only `exists` can match it.
        case opaque
    }

    /// The kinds of attribute SNS filters on: "String, String.Array, and Number"; Binary is ignored.
    private enum Kind {
        case string, number, stringArray, ignored

        /// `String`, `String.Array`, `Number`, each optionally followed by `.` and a custom label; byte-wise, since
        /// this runs for every attribute a policy names on every publish.
        init(dataType: String) {
            if Self.isType(dataType, "String.Array") {
                self = .stringArray
            } else if Self.isType(dataType, "String") {
                self = .string
            } else if Self.isType(dataType, "Number") {
                self = .number
            } else {
                self = .ignored
            }
        }

        /// Whether `dataType` is `base`, or `base` followed by `.` and more.
        private static func isType(_ dataType: String, _ base: StaticString) -> Bool {
            let fast = dataType.utf8.withContiguousStorageIfAvailable { bytes in
                base.withUTF8Buffer { expected in
                    guard bytes.count >= expected.count else { return false }
                    for index in 0..<expected.count where bytes[index] != expected[index] { return false }
                    return bytes.count == expected.count || bytes[expected.count] == UInt8(ascii: ".")
                }
            }
            if let fast { return fast }
            let name = "\(base)"
            return dataType == name || dataType.hasPrefix(name + ".")
        }
    }

    /// How many attributes SNS would look at. AWS: "An empty set of attributes results in the filter not matching".
    mutating func eligibleAttributeCount() -> Int {
        if let eligibleCount { return eligibleCount }
        let count = attributes.values.count { Kind(dataType: $0.dataType) != .ignored }
        eligibleCount = count
        return count
    }

    /// The attribute `name` as a policy sees it; `String.Array` values are decoded once and cached.
    mutating func attribute(_ name: String) -> AttributeView {
        guard let attribute = attributes[name] else { return .absent }
        switch Kind(dataType: attribute.dataType) {
        case .ignored:
            return .absent
        case .string:
            return .value(.string(attribute.stringValue ?? ""))
        case .number:
            guard let number = JSONNumber.parseAttribute(attribute.stringValue ?? "") else {
                return (attribute.stringValue ?? "").isEmpty ? .value(.string("")) : .opaque
            }
            return .value(.number(number))
        case .stringArray:
            if let cached = arrayCache[name] { return cached }
            let view = Self.decodeArray(attribute.stringValue ?? "")
            arrayCache[name] = view
            return view
        }
    }

    /// A `String.Array` value is a JSON array of strings, numbers, booleans and nulls; a bare JSON scalar is taken as
    /// a one-element array.
    private static func decodeArray(_ text: String) -> AttributeView {
        guard let parsed = try? JSONParser.parse(text) else { return .opaque }
        var scalars: [JSONValue] = []
        collectScalars(parsed, into: &scalars)
        return .elements(scalars)
    }

    private static func collectScalars(_ value: JSONValue, into scalars: inout [JSONValue]) {
        switch value {
        case .array(let elements): for element in elements { collectScalars(element, into: &scalars) }
        case .object: return
        default: scalars.append(value)
        }
    }
}

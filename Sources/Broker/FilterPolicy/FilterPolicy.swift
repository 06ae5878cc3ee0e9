/// An SNS subscription filter policy, validated and compiled once when it is set.
///
/// Creating a policy checks it with AWS's rules and returns AWS's error text (`InvalidParameter`,
/// `Invalid parameter: FilterPolicy: …`), so a policy Broker accepts is one SNS accepts, and the reverse. Publishing
/// never re-reads the JSON: ``matches(attributes:body:)`` runs the compiled form.
///
/// Supported, as documented by AWS: exact strings, numbers, `true`/`false`/`null`; `prefix`, `suffix`,
/// `equals-ignore-case`, `wildcard`; `anything-but` (a value, a list, `prefix`, `suffix`, `wildcard`); `numeric`
/// (`=`, `<`, `<=`, `>`, `>=` and ranges, −10⁹…10⁹, five decimals); `exists`; `cidr` (IPv4 and IPv6); `$or`; and, in
/// body scope, nested keys. Limits: five keys, 150 value combinations, 256 KB.
///
/// ```swift
/// let policy = try FilterPolicy(json: #"{"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}]}"#)
/// policy.matches(attributes: ["store": .string("example_corp"), "price_usd": .number(120)]) // true
/// ```
public struct FilterPolicy: Sendable, Hashable {
    /// `FilterPolicyScope`: what the policy is matched against.
    public enum Scope: String, Sendable {
        /// The message attributes (AWS's default). Only `String`, `String.Array` and `Number` attributes are seen.
        case messageAttributes = "MessageAttributes"
        /// The message body, which must be a JSON object for any (non-empty) policy to match.
        case messageBody = "MessageBody"

        /// Parses a `FilterPolicyScope` attribute value, failing with AWS's error for anything else.
        public init(validating value: String) throws(BrokerError) {
            guard let scope = Scope(rawValue: value) else {
                throw BrokerError(.invalidParameter,
                                  "Invalid parameter: FilterPolicyScope: Invalid value [\(value)]. Please use either MessageBody or MessageAttributes")
            }
            self = scope
        }
    }

    /// The policy as given.
    public let json: String
    /// What the policy is matched against.
    public let scope: Scope
    let compiled: CompiledFilterPolicy

    /// Validates and compiles a policy.
    ///
    /// `""` and `{}` are accepted and match every message: AWS treats `{}` as "no filter policy" (its documented way
    /// of removing one) and accepts an empty `FilterPolicy` on Subscribe; ``isEmpty`` tells a caller which it has.
    ///
    /// - Throws: ``BrokerError`` with code ``BrokerError/Code/invalidParameter`` and AWS's message when the policy is
    ///   not JSON, breaks an operator's syntax, nests keys in attribute scope, or exceeds a limit.
    public init(json: String, scope: Scope = .messageAttributes) throws(BrokerError) {
        self.json = json
        self.scope = scope
        guard json.utf8.count <= FilterPolicyCompiler.maximumPolicyBytes else {
            throw FilterPolicyCompiler.error("Filter policy is too long")
        }
        if json.isEmpty {
            compiled = CompiledFilterPolicy(branches: [])
            return
        }
        let root: JSONValue
        do throws(JSONParseError) {
            root = try JSONParser.parse(json)
        } catch {
            throw FilterPolicyCompiler.error("failed to parse JSON.")
        }
        compiled = try FilterPolicyCompiler(scope: scope).compile(root)
    }

    /// Whether the policy has no conditions (`""` or `{}`) and so accepts every message.
    public var isEmpty: Bool { compiled.branches.isEmpty }

    /// Whether a message with these attributes and this body passes the policy, in the policy's scope.
    ///
    /// A publish inside the library matches all its subscriptions against one shared `FilterInput` instead, which
    /// parses the body at most once for all of them.
    public func matches(attributes: [String: MessageAttributeValue] = [:], body: String = "") -> Bool {
        var input = FilterInput(attributes: attributes, body: body)
        return matches(&input)
    }

    /// Matches a publish's shared ``FilterInput``, filling its caches (the parsed body, decoded `String.Array`s) for
    /// the subscriptions that follow.
    func matches(_ input: inout FilterInput) -> Bool {
        switch scope {
        case .messageAttributes: compiled.matchesAttributes(&input)
        case .messageBody: compiled.matchesBody(&input)
        }
    }

    /// Policies are equal when their JSON text and scope are; the compiled form follows from those.
    public static func == (lhs: FilterPolicy, rhs: FilterPolicy) -> Bool {
        lhs.json == rhs.json && lhs.scope == rhs.scope
    }

    /// Hashes the JSON text and scope, consistently with `==`.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(json)
        hasher.combine(scope)
    }
}

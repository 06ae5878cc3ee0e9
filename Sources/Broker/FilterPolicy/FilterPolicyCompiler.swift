/// One field of a compiled branch: where to look, and the patterns a value there must satisfy (any one of them).
struct FilterField: Sendable {
    /// The attribute name (attribute scope), or the body path with nested keys joined by `.` (body scope).
    let name: String
    /// `name` as UTF-8, walked against body keys.
    let pathBytes: [UInt8]
    /// The byte offset where each `.`-separated segment of `pathBytes` starts. A cursor into the path is a segment
    /// index; `segmentStarts.count` means the whole path has been consumed.
    let segmentStarts: [Int]
    /// The value patterns, `exists: false` excluded.
    let patterns: [FilterPattern]
    /// Whether the list holds `{"exists": false}`: the field also matches when it is absent.
    let allowsAbsence: Bool

    init(name: String, patterns: [FilterPattern], allowsAbsence: Bool) {
        self.name = name
        self.pathBytes = Array(name.utf8)
        var starts = [0]
        for (offset, byte) in pathBytes.enumerated() where byte == UInt8(ascii: ".") {
            starts.append(offset + 1)
        }
        self.segmentStarts = starts
        self.patterns = patterns
        self.allowsAbsence = allowsAbsence
    }

    /// The cursor value meaning "the whole path has been consumed".
    var consumed: Int { segmentStarts.count }

    /// Where the path continues after a body member named `key`, read at `cursor`: a dotted key (`"a.b"`) may take
    /// several segments at once, which is how `{"a": {"b": …}}` and `{"a.b": …}` become the same field.
    func advance(_ cursor: Int, over key: String) -> Int? {
        guard cursor >= 0, cursor < segmentStarts.count else { return nil }
        var position = segmentStarts[cursor]
        for byte in key.utf8 {
            guard position < pathBytes.count, pathBytes[position] == byte else { return nil }
            position += 1
        }
        if position == pathBytes.count { return consumed }
        guard pathBytes[position] == UInt8(ascii: ".") else { return nil }
        // The next segment starts right after this dot; find its index (segment starts are sorted).
        let next = position + 1
        var low = 0
        var high = segmentStarts.count - 1
        while low <= high {
            let middle = (low + high) / 2
            if segmentStarts[middle] == next { return middle }
            if segmentStarts[middle] < next { low = middle + 1 } else { high = middle - 1 }
        }
        return nil
    }
}

/// One alternative of a policy once `$or` is expanded: every field must match.
struct FilterBranch: Sendable {
    let fields: [FilterField]
}

/// A policy in matchable form: its `$or` alternatives expanded into branches (AWS counts complexity the same way,
/// so there are at most 150). No branches means the empty policy `{}`, which accepts everything.
struct CompiledFilterPolicy: Sendable {
    let branches: [FilterBranch]

    /// The most fields a branch may have. AWS allows five keys; the matcher tracks branch fields in bit masks.
    static let maximumFieldsPerBranch = 6
}

/// Validates a parsed policy with AWS's rules and words, then compiles it.
///
/// The checks run in AWS's order as far as it can be observed: first the syntax of every operator, in document order
/// (the messages are the ones AWS returns, which come from its rule compiler), then the scope's nesting rule, then the
/// number of keys, then complexity.
struct FilterPolicyCompiler {
    /// AWS's documented limits.
    static let maximumKeys = 5
    static let maximumCombinations = 150
    static let maximumWildcardComplexity = 100
    static let maximumWildcardsPerPattern = 3
    static let maximumPolicyBytes = 256 * 1024

    let scope: FilterPolicy.Scope

    // MARK: Intermediate form

    /// A validated policy object before `$or` expansion.
    private struct PolicyObject {
        var entries: [Entry] = []
    }

    private enum Entry {
        case field(key: String, values: ValueList)
        case nested(key: String, object: PolicyObject)
        case or([PolicyObject])
    }

    /// A validated value list.
    private struct ValueList {
        var patterns: [FilterPattern] = []
        var allowsAbsence = false
        /// How many entries the array has (each counts as one value toward the 150 combinations).
        var count = 0
        var wildcards: [FilterWildcard] = []
    }

    // MARK: Entry point

    func compile(_ root: JSONValue) throws(BrokerError) -> CompiledFilterPolicy {
        guard case .object(let members) = root else { throw Self.error("Filter is not an object") }
        if members.isEmpty { return CompiledFilterPolicy(branches: []) }
        let policy = try validateObject(members)

        if scope == .messageAttributes, Self.hasNesting(policy) {
            throw BrokerError(.invalidParameter,
                              "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy")
        }
        var keys = Set<String>()
        collectKeys(policy, prefix: "", into: &keys)
        guard keys.count <= Self.maximumKeys else {
            throw Self.error("Filter policy can not have more than \(Self.maximumKeys) keys")
        }
        guard Self.combinations(policy) <= Self.maximumCombinations else {
            throw Self.error("Filter policy is too complex")
        }
        try Self.checkWildcardComplexity(policy)

        let branches = expand(policy, prefix: "").map { fields in
            FilterBranch(fields: Self.lastDefinitionWins(fields))
        }
        for branch in branches where branch.fields.count > CompiledFilterPolicy.maximumFieldsPerBranch {
            // Unreachable with the five-key limit; kept so the matcher's bit masks can never overflow.
            throw Self.error("Filter policy is too complex")
        }
        return CompiledFilterPolicy(branches: branches)
    }

    /// AWS's message shape for filter policy errors.
    static func error(_ reason: String) -> BrokerError {
        BrokerError(.invalidParameter, "Invalid parameter: FilterPolicy: \(reason)")
    }

    // MARK: Structure

    private func validateObject(_ members: [JSONValue.Member]) throws(BrokerError) -> PolicyObject {
        guard !members.isEmpty else { throw Self.error("Empty objects are not allowed") }
        var object = PolicyObject()
        for member in members {
            if member.key == "$or" {
                object.entries.append(.or(try validateOr(member.value)))
                continue
            }
            switch member.value {
            case .object(let nested):
                object.entries.append(.nested(key: member.key, object: try validateObject(nested)))
            case .array(let elements):
                object.entries.append(.field(key: member.key, values: try validateValues(elements)))
            default:
                throw Self.error("\"\(member.key)\" must be an object or an array")
            }
        }
        return object
    }

    private func validateOr(_ value: JSONValue) throws(BrokerError) -> [PolicyObject] {
        guard case .array(let elements) = value else { throw Self.error("It must be an Array followed with $or.") }
        var alternatives: [PolicyObject] = []
        for element in elements {
            guard case .object(let members) = element else {
                throw Self.error("Only JSON object is allowed in array of $or relationship.")
            }
            alternatives.append(try validateObject(members))
        }
        guard alternatives.count >= 2 else { throw Self.error("There must have at least 2 Objects in $or relationship.") }
        return alternatives
    }

    private func validateValues(_ elements: [JSONValue]) throws(BrokerError) -> ValueList {
        var list = ValueList()
        for element in elements {
            switch element {
            case .string(let string): list.patterns.append(.exactString(string))
            case .number(let number):
                // AWS documents numeric matching for −10⁹…10⁹, exact values included, and refuses a policy past it.
                guard number.isWithinMatchingRange else { throw Self.error("Value must be between -1.0E9 and 1.0E9, inclusive") }
                list.patterns.append(.exactNumber(number))
            case .bool(let bool): list.patterns.append(.exactBool(bool))
            case .null: list.patterns.append(.exactNull)
            case .array: throw Self.error("Match value must be String, number, true, false, or null")
            case .object(let members): try validateMatchExpression(members, into: &list)
            }
            list.count += 1
        }
        guard list.count > 0 else { throw Self.error("Empty arrays are not allowed") }
        return list
    }

    // MARK: Operators

    private func validateMatchExpression(_ members: [JSONValue.Member], into list: inout ValueList) throws(BrokerError) {
        guard let first = members.first else { throw Self.error("Match expression name not found") }
        var extraKeyMessage = "Only one key allowed in match expression"
        switch first.key {
        case "prefix":
            list.patterns.append(.prefix(try Self.string(first.value, for: "prefix")))
        case "suffix":
            list.patterns.append(.suffix(try Self.string(first.value, for: "suffix")))
        case "equals-ignore-case":
            list.patterns.append(.equalsIgnoreCase(try Self.string(first.value, for: "equals-ignore-case")))
        case "wildcard":
            let pattern = try Self.wildcard(try Self.string(first.value, for: "wildcard"))
            list.wildcards.append(pattern)
            list.patterns.append(.wildcard(pattern))
        case "cidr":
            // Sic: AWS names `prefix` when a cidr value is not a string.
            let text = try Self.string(first.value, for: "prefix")
            do throws(FilterCIDR.ParseError) {
                list.patterns.append(.cidr(try FilterCIDR(text)))
            } catch {
                switch error {
                case .message(let message): throw Self.error(message)
                }
            }
        case "exists":
            guard case .bool(let exists) = first.value else {
                throw Self.error("exists match pattern must be either true or false.")
            }
            if exists { list.patterns.append(.exists) } else { list.allowsAbsence = true }
        case "numeric":
            extraKeyMessage = "Too many elements in numeric expression"
            guard case .array(let terms) = first.value else { throw Self.error("Value of numeric must be an array.") }
            list.patterns.append(.numeric(try Self.numericRange(terms)))
        case "anything-but":
            extraKeyMessage = "Too many elements in numeric expression" // sic: AWS's message for a second key here
            let excluded = try Self.anythingBut(first.value)
            if case .wildcard(let pattern) = excluded { list.wildcards.append(pattern) }
            list.patterns.append(.anythingBut(excluded))
        default:
            throw Self.error("Unrecognized match type \(first.key)")
        }
        guard members.count == 1 else { throw Self.error(extraKeyMessage) }
    }

    private static func string(_ value: JSONValue, for operatorName: String) throws(BrokerError) -> String {
        guard case .string(let string) = value else { throw error("\(operatorName) match pattern must be a string") }
        return string
    }

    private static func wildcard(_ text: String) throws(BrokerError) -> FilterWildcard {
        let pattern: FilterWildcard
        do throws(FilterWildcard.ParseError) {
            pattern = try FilterWildcard(text)
        } catch {
            throw Self.error(error.message)
        }
        guard pattern.starCount <= maximumWildcardsPerPattern else {
            throw Self.error("A wildcard pattern can have at most \(maximumWildcardsPerPattern) wildcard characters")
        }
        return pattern
    }

    /// How AWS's messages quote a token: strings without quotes, numbers as written, `]` for the end of the array.
    private static func tokenText(_ terms: [JSONValue], _ index: Int) -> String {
        guard index < terms.count else { return "]" }
        switch terms[index] {
        case .string(let string): return string
        case .number(let number): return number.text
        case .bool(let bool): return bool ? "true" : "false"
        case .null: return "null"
        case .array: return "["
        case .object: return "{"
        }
    }

    /// The text AWS uses for an operator in "Value of … must be numeric".
    private static func operatorWord(_ symbol: String) -> String { symbol == "=" ? "equals" : symbol }

    private static func numericRange(_ terms: [JSONValue]) throws(BrokerError) -> FilterNumericRange {
        guard let first = terms.first, case .string(let op) = first else {
            throw error("Invalid member in numeric match: \(tokenText(terms, 0))")
        }
        guard ["=", "<", "<=", ">", ">="].contains(op) else {
            throw error("Unrecognized numeric range operator: \(op)")
        }
        guard terms.count > 1, case .number(let value) = terms[1] else {
            throw error("Value of \(operatorWord(op)) must be numeric")
        }
        switch op {
        case "=":
            guard terms.count == 2 else { throw error("Too many elements in numeric expression") }
            let scaled = try inRange(value)
            return FilterNumericRange(lower: .init(value: scaled, inclusive: true), upper: .init(value: scaled, inclusive: true))
        case "<", "<=":
            guard terms.count == 2 else { throw error("Too many elements in numeric expression") }
            return FilterNumericRange(lower: nil, upper: .init(value: try inRange(value), inclusive: op == "<="))
        default: // ">", ">=", optionally followed by "<" or "<=" and an upper bound
            let lowerInclusive = op == ">="
            if terms.count == 2 {
                return FilterNumericRange(lower: .init(value: try inRange(value), inclusive: lowerInclusive), upper: nil)
            }
            guard case .string(let upperOp) = terms[2] else {
                throw error("Bad value in numeric range: \(tokenText(terms, 2))")
            }
            guard upperOp == "<" || upperOp == "<=" else { throw error("Bad numeric range operator: \(upperOp)") }
            guard terms.count > 3, case .number(let upperValue) = terms[3] else {
                throw error("Value of \(upperOp) must be numeric")
            }
            guard terms.count == 4 else { throw error("Too many terms in numeric range expression") }
            let bottom = try inRange(value)
            let top = try inRange(upperValue)
            guard bottom < top else { throw error("Bottom must be less than top") }
            return FilterNumericRange(lower: .init(value: bottom, inclusive: lowerInclusive),
                                      upper: .init(value: top, inclusive: upperOp == "<="))
        }
    }

    /// AWS documents numeric matching for −10⁹…10⁹; an operand outside is refused.
    private static func inRange(_ number: JSONNumber) throws(BrokerError) -> Int64 {
        guard number.isWithinMatchingRange, let scaled = number.scaled else {
            throw error("Value must be between -1.0E9 and 1.0E9, inclusive")
        }
        return scaled
    }

    private static func anythingBut(_ value: JSONValue) throws(BrokerError) -> FilterAnythingBut {
        switch value {
        case .object(let members):
            guard let first = members.first else { throw error("Anything-But expression name not found") }
            let result: FilterAnythingBut
            switch first.key {
            case "prefix", "suffix":
                let text = try string(first.value, for: first.key)
                guard !text.isEmpty else { throw error("Null prefix/suffix not allowed") }
                result = first.key == "prefix" ? .prefix(text) : .suffix(text)
            case "wildcard":
                result = .wildcard(try wildcard(try string(first.value, for: "wildcard")))
            default:
                throw error("Unsupported anything-but pattern: \(first.key)")
            }
            guard members.count == 1 else { throw error("Too many elements in numeric expression") }
            return result
        case .array(let elements):
            var strings: [String] = []
            var numbers: [JSONNumber] = []
            for element in elements {
                switch element {
                case .string(let string): strings.append(string)
                case .number(let number):
                    _ = try inRange(number)
                    numbers.append(number)
                default: throw error("Inside anything but list, start|null|boolean is not supported.")
                }
            }
            guard strings.isEmpty != numbers.isEmpty else {
                throw error("Inside anything but list, either all values are number or string, mixed type is not supported")
            }
            return strings.isEmpty ? .numbers(numbers) : .strings(strings)
        case .string(let string):
            return .strings([string])
        case .number(let number):
            _ = try inRange(number)
            return .numbers([number])
        default:
            throw error("Value of anything-but must be an array or single string/number value.")
        }
    }

    // MARK: Limits

    private static func hasNesting(_ object: PolicyObject) -> Bool {
        for entry in object.entries {
            switch entry {
            case .field: continue
            case .nested: return true
            case .or(let alternatives): if alternatives.contains(where: hasNesting) { return true }
            }
        }
        return false
    }

    /// Every leaf key, by its full path. AWS's current documentation counts leaf keys only (`{"a": {"b": […]}}` has
    /// one key, `b`); a key that appears in several `$or` branches counts once.
    private func collectKeys(_ object: PolicyObject, prefix: String, into keys: inout Set<String>) {
        for entry in object.entries {
            switch entry {
            case .field(let key, _): keys.insert(prefix + key)
            case .nested(let key, let nested): collectKeys(nested, prefix: prefix + key + ".", into: &keys)
            case .or(let alternatives):
                for alternative in alternatives { collectKeys(alternative, prefix: prefix, into: &keys) }
            }
        }
    }

    /// AWS's combination count: the product of the value counts of an object's keys, each count multiplied by the
    /// depth of its key (1 at the top; AWS's example: four values three levels down and three values two levels
    /// down count 4×3 · 3×2 = 72), where each `$or` contributes the sum of its alternatives, at the depth of the
    /// object it sits in (`(3×6)+(3×4×4)+(3×4×7)=150` at the top). Attribute-scope policies have no nesting, so
    /// every depth is 1 there. Saturates, since hostile nesting could overflow.
    private static func combinations(_ object: PolicyObject, depth: Int = 1) -> Int {
        let cap = 1 << 40
        var product = 1
        for entry in object.entries {
            let factor: Int
            switch entry {
            case .field(_, let values): factor = min(cap, values.count * depth)
            case .nested(_, let nested): factor = combinations(nested, depth: depth + 1)
            case .or(let alternatives):
                var sum = 0
                for alternative in alternatives { sum = min(cap, sum + combinations(alternative, depth: depth)) }
                factor = sum
            }
            product = min(cap, product.multipliedReportingOverflow(by: factor).overflow ? cap : product * factor)
        }
        return product
    }

    /// AWS limits wildcard use per field: (sum of the patterns' points) × (number of patterns) must not exceed 100,
    /// a pattern scoring one point per `*`.
    private static func checkWildcardComplexity(_ object: PolicyObject) throws(BrokerError) {
        for entry in object.entries {
            switch entry {
            case .field(_, let values):
                guard !values.wildcards.isEmpty else { continue }
                var points = 0
                for pattern in values.wildcards { points += max(1, pattern.starCount) }
                if points * values.wildcards.count > maximumWildcardComplexity {
                    throw error("Filter policy is too complex")
                }
            case .nested(_, let nested): try checkWildcardComplexity(nested)
            case .or(let alternatives): for alternative in alternatives { try checkWildcardComplexity(alternative) }
            }
        }
    }

    // MARK: Expansion

    /// The policy's branches: an object is the cross product of its entries, an `$or` the union of its alternatives.
    /// Bounded by the combination limit, which was checked first.
    private func expand(_ object: PolicyObject, prefix: String) -> [[FilterField]] {
        var branches: [[FilterField]] = [[]]
        for entry in object.entries {
            let options: [[FilterField]]
            switch entry {
            case .field(let key, let values):
                options = [[FilterField(name: prefix + key, patterns: values.patterns, allowsAbsence: values.allowsAbsence)]]
            case .nested(let key, let nested):
                options = expand(nested, prefix: prefix + key + ".")
            case .or(let alternatives):
                options = alternatives.flatMap { expand($0, prefix: prefix) }
            }
            var next: [[FilterField]] = []
            next.reserveCapacity(branches.count * options.count)
            for branch in branches {
                for option in options { next.append(branch + option) }
            }
            branches = next
        }
        return branches
    }

    /// A path named twice in one branch (`{"a.b": […], "a": {"b": […]}}`) keeps its last definition, as AWS's rule
    /// compiler does.
    private static func lastDefinitionWins(_ fields: [FilterField]) -> [FilterField] {
        var result: [FilterField] = []
        for field in fields {
            if let existing = result.firstIndex(where: { FilterText.equal($0.name, field.name) }) {
                result.remove(at: existing)
            }
            result.append(field)
        }
        return result
    }
}

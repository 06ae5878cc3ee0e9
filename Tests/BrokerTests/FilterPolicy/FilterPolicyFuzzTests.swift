import Foundation
import Testing

@testable import Broker

/// Random policies against random messages, checked against a deliberately naive reference evaluator written here
/// from AWS's documented semantics: it expands `$or`, flattens bodies into (dotted path, value, array positions)
/// leaves and tries every combination of leaves, where the engine walks the body tree once. Seeded, so a failure
/// reproduces; small alphabets, so matches and near-misses are both frequent.
@Suite("FilterPolicy fuzzing")
struct FilterPolicyFuzzTests {
    @Test("compiled matcher agrees with the reference evaluator", arguments: [UInt64(1), 2, 3, 4])
    func agreesWithReference(seed: UInt64) throws {
        var random = IDGenerator(seed: seed)
        var compared = 0
        var matched = 0
        var rejectedAsTooLarge = 0
        for iteration in 0..<1_500 {
            let scope: FilterPolicy.Scope = random.chance(0.5) ? .messageAttributes : .messageBody
            var generator = PolicyGenerator(random: random, nested: scope == .messageBody)
            let entries = generator.object(depth: 0)
            random = generator.random
            let json = RefPolicy.render(entries)
            let reference = RefPolicy(entries: entries)

            let policy: FilterPolicy
            do {
                policy = try FilterPolicy(json: json, scope: scope)
            } catch {
                // The generator stays within the operator rules; only AWS's size limits may reject a policy.
                #expect(!reference.withinLimits, "seed \(seed) #\(iteration): rejected \(json): \(error.message)")
                rejectedAsTooLarge += 1
                continue
            }
            #expect(reference.withinLimits, "seed \(seed) #\(iteration): accepted over-limit \(json)")

            for _ in 0..<6 {
                let expected: Bool
                var input: FilterInput
                let description: String
                if scope == .messageAttributes {
                    let attributes = MessageGenerator.attributes(&random)
                    expected = reference.matches(attributes: attributes)
                    input = FilterInput(attributes: attributes.mapValues(\.messageAttribute))
                    description = "\(attributes)"
                } else {
                    let body = MessageGenerator.body(&random)
                    expected = reference.matches(body: body)
                    input = FilterInput(body: body.text)
                    description = body.text
                }
                let actual = policy.matches(&input)
                #expect(actual == expected, "seed \(seed) #\(iteration) \(scope): policy \(json) message \(description)")
                compared += 1
                if actual { matched += 1 }
            }
        }
        // The generator is only useful if both outcomes are common.
        #expect(matched > compared / 20 && matched < compared * 19 / 20, "matched \(matched) of \(compared)")
        #expect(rejectedAsTooLarge < 1_500 / 2)
    }
}

// MARK: - Random numbers

// MARK: - Reference model

/// A scalar value; numbers are exact hundredths (`1250` is 12.5), well inside AWS's five-decimal precision.
enum RefValue: Equatable, CustomStringConvertible {
    case string(String)
    case number(Int)
    case bool(Bool)
    case null

    var json: String {
        switch self {
        case .string(let string): "\"\(string)\""
        case .number(let hundredths): RefNumber.text(hundredths, style: 0)
        case .bool(let bool): bool ? "true" : "false"
        case .null: "null"
        }
    }

    var description: String { json }

    /// AWS: `exists` needs "a non-null and non-empty value".
    var isPresent: Bool {
        switch self {
        case .null: false
        case .string(let string): !string.isEmpty
        default: true
        }
    }
}

enum RefNumber {
    /// Renders hundredths in one of several equivalent spellings (`12.5`, `12.50`, `1.25e1`, `1250e-2`).
    static func text(_ hundredths: Int, style: Int) -> String {
        let sign = hundredths < 0 ? "-" : ""
        let magnitude = abs(hundredths)
        let whole = magnitude / 100
        let cents = magnitude % 100
        switch style % 4 {
        case 1: return "\(sign)\(whole).\(cents < 10 ? "0" : "")\(cents)"
        case 2: return "\(sign)\(magnitude)e-2"
        case 3:
            guard magnitude != 0 else { return "0.0e5" }
            let digits = String(magnitude)
            // d.ddd × 10^(n-1) / 100
            let mantissa = digits.count > 1 ? "\(digits.prefix(1)).\(digits.dropFirst())" : digits
            return "\(sign)\(mantissa)e\(digits.count - 3)"
        default:
            if cents == 0 { return "\(sign)\(whole)" }
            let fraction = cents % 10 == 0 ? "\(cents / 10)" : (cents < 10 ? "0\(cents)" : "\(cents)")
            return "\(sign)\(whole).\(fraction)"
        }
    }
}

enum RefPattern {
    case exact(RefValue, style: Int)
    case prefix(String)
    case suffix(String)
    case equalsIgnoreCase(String)
    case wildcard(String)
    case anythingButStrings([String], single: Bool)
    case anythingButNumbers([Int], single: Bool)
    case anythingButPrefix(String)
    case anythingButSuffix(String)
    case anythingButWildcard(String)
    case numeric(lower: (value: Int, inclusive: Bool)?, upper: (value: Int, inclusive: Bool)?, equals: Int?)
    case exists(Bool)

    var json: String {
        switch self {
        case .exact(let value, let style):
            if case .number(let hundredths) = value { return RefNumber.text(hundredths, style: style) }
            return value.json
        case .prefix(let text): return #"{"prefix": "\#(text)"}"#
        case .suffix(let text): return #"{"suffix": "\#(text)"}"#
        case .equalsIgnoreCase(let text): return #"{"equals-ignore-case": "\#(text)"}"#
        case .wildcard(let text): return #"{"wildcard": "\#(text)"}"#
        case .anythingButStrings(let values, let single):
            if single, let value = values.first { return #"{"anything-but": "\#(value)"}"# }
            return #"{"anything-but": [\#(values.map { "\"\($0)\"" }.joined(separator: ", "))]}"#
        case .anythingButNumbers(let values, let single):
            if single, let value = values.first { return #"{"anything-but": \#(RefNumber.text(value, style: 0))}"# }
            return #"{"anything-but": [\#(values.map { RefNumber.text($0, style: 1) }.joined(separator: ", "))]}"#
        case .anythingButPrefix(let text): return #"{"anything-but": {"prefix": "\#(text)"}}"#
        case .anythingButSuffix(let text): return #"{"anything-but": {"suffix": "\#(text)"}}"#
        case .anythingButWildcard(let text): return #"{"anything-but": {"wildcard": "\#(text)"}}"#
        case .numeric(let lower, let upper, let equals):
            if let equals { return #"{"numeric": ["=", \#(RefNumber.text(equals, style: 2))]}"# }
            var terms: [String] = []
            if let lower { terms += ["\"\(lower.inclusive ? ">=" : ">")\"", RefNumber.text(lower.value, style: 0)] }
            if let upper { terms += ["\"\(upper.inclusive ? "<=" : "<")\"", RefNumber.text(upper.value, style: 3)] }
            return #"{"numeric": [\#(terms.joined(separator: ", "))]}"#
        case .exists(let exists): return #"{"exists": \#(exists)}"#
        }
    }

    /// The documented semantics, one value at a time.
    func matches(_ value: RefValue) -> Bool {
        switch self {
        case .exact(let expected, _): return expected == value
        case .prefix(let text):
            guard case .string(let string) = value else { return false }
            return string.hasPrefix(text)
        case .suffix(let text):
            guard case .string(let string) = value else { return false }
            return string.hasSuffix(text)
        case .equalsIgnoreCase(let text):
            guard case .string(let string) = value else { return false }
            return string.lowercased() == text.lowercased()
        case .wildcard(let pattern):
            guard case .string(let string) = value else { return false }
            return Self.glob(Array(pattern), Array(string))
        case .anythingButStrings(let excluded, _):
            guard case .string(let string) = value else { return true }
            return !excluded.contains(string)
        case .anythingButNumbers(let excluded, _):
            guard case .number(let number) = value else { return true }
            return !excluded.contains(number)
        case .anythingButPrefix(let text):
            guard case .string(let string) = value else { return true }
            return !string.hasPrefix(text)
        case .anythingButSuffix(let text):
            guard case .string(let string) = value else { return true }
            return !string.hasSuffix(text)
        case .anythingButWildcard(let pattern):
            guard case .string(let string) = value else { return true }
            return !Self.glob(Array(pattern), Array(string))
        case .numeric(let lower, let upper, let equals):
            guard case .number(let number) = value else { return false }
            if let equals { return number == equals }
            if let lower, lower.inclusive ? number < lower.value : number <= lower.value { return false }
            if let upper, upper.inclusive ? number > upper.value : number >= upper.value { return false }
            return true
        case .exists(let exists): return exists && value.isPresent
        }
    }

    /// Textbook recursive glob with `*` only.
    static func glob(_ pattern: [Character], _ text: [Character]) -> Bool {
        guard let first = pattern.first else { return text.isEmpty }
        if first == "*" {
            let rest = Array(pattern.dropFirst())
            for split in 0...text.count where glob(rest, Array(text[split...])) { return true }
            return false
        }
        guard let head = text.first, head == first else { return false }
        return glob(Array(pattern.dropFirst()), Array(text.dropFirst()))
    }

    var isExistsFalse: Bool {
        if case .exists(false) = self { return true }
        return false
    }

    var wildcardStars: Int? {
        switch self {
        case .wildcard(let text), .anythingButWildcard(let text): text.filter { $0 == "*" }.count
        default: nil
        }
    }
}

indirect enum RefEntry {
    case field(String, [RefPattern])
    case nested(String, [RefEntry])
    case or([[RefEntry]])
}

/// A reference policy: `$or` expanded into branches of (path, patterns), later definitions of a path overriding
/// earlier ones as AWS's compiler does.
struct RefPolicy {
    typealias Field = (path: String, patterns: [RefPattern])
    let branches: [[Field]]
    let withinLimits: Bool

    init(entries: [RefEntry]) {
        let expanded = Self.expand(entries, prefix: "")
        branches = expanded.map { fields in
            var result: [Field] = []
            for field in fields {
                result.removeAll { $0.path == field.path }
                result.append(field)
            }
            return result
        }
        var keys = Set<String>()
        Self.collectKeys(entries, prefix: "", into: &keys)
        // Each value count is multiplied by its key's depth (the generator's keys have no dots, so the depth is
        // the number of path segments).
        let combinations = expanded.reduce(0) { total, fields in
            total + fields.reduce(1) { $0 * $1.patterns.count * $1.path.split(separator: ".").count }
        }
        let starsOK = expanded.allSatisfy { fields in
            fields.allSatisfy { field in field.patterns.compactMap(\.wildcardStars).allSatisfy { $0 <= 3 } }
        }
        let wildcardsOK = expanded.allSatisfy { fields in
            fields.allSatisfy { field in
                let stars = field.patterns.compactMap(\.wildcardStars)
                return stars.reduce(0) { $0 + max(1, $1) } * stars.count <= 100
            }
        }
        withinLimits = keys.count <= 5 && combinations <= 150 && wildcardsOK && starsOK
    }

    static func expand(_ entries: [RefEntry], prefix: String) -> [[Field]] {
        var branches: [[Field]] = [[]]
        for entry in entries {
            let options: [[Field]]
            switch entry {
            case .field(let key, let patterns): options = [[(prefix + key, patterns)]]
            case .nested(let key, let nested): options = expand(nested, prefix: prefix + key + ".")
            case .or(let alternatives): options = alternatives.flatMap { expand($0, prefix: prefix) }
            }
            branches = branches.flatMap { branch in options.map { branch + $0 } }
        }
        return branches
    }

    static func collectKeys(_ entries: [RefEntry], prefix: String, into keys: inout Set<String>) {
        for entry in entries {
            switch entry {
            case .field(let key, _): keys.insert(prefix + key)
            case .nested(let key, let nested): collectKeys(nested, prefix: prefix + key + ".", into: &keys)
            case .or(let alternatives): for alternative in alternatives { collectKeys(alternative, prefix: prefix, into: &keys) }
            }
        }
    }

    static func render(_ entries: [RefEntry]) -> String {
        "{" + entries.map { entry in
            switch entry {
            case .field(let key, let patterns): "\"\(key)\": [" + patterns.map(\.json).joined(separator: ", ") + "]"
            case .nested(let key, let nested): "\"\(key)\": " + render(nested)
            case .or(let alternatives): "\"$or\": [" + alternatives.map(render).joined(separator: ", ") + "]"
            }
        }.joined(separator: ", ") + "}"
    }

    // MARK: Attributes

    func matches(attributes: [String: RefAttribute]) -> Bool {
        guard attributes.values.contains(where: { !$0.isBinary }) else { return false }
        return branches.contains { branch in
            branch.allSatisfy { field in
                let values: [RefValue]
                switch attributes[field.path] {
                case nil, .binary?: return field.patterns.contains(where: \.isExistsFalse)
                case .string(let string)?: values = [.string(string)]
                case .number(let number, _)?: values = [.number(number)]
                case .array(let elements)?: values = elements
                }
                if field.patterns.contains(where: \.isExistsFalse), !values.contains(where: \.isPresent) { return true }
                return values.contains { value in field.patterns.contains { $0.matches(value) } }
            }
        }
    }

    // MARK: Body

    /// One scalar of a body: its dotted path and, for every array above it, which array and which element.
    struct Leaf {
        let path: String
        let value: RefValue
        let arrays: [Int: Int]
    }

    func matches(body: RefBody) -> Bool {
        guard case .object(let members) = body.root, body.isValidJSON else { return false }
        var leaves: [Leaf] = []
        var nextArray = 0
        Self.flatten(.object(members), path: nil, arrays: [:], nextArray: &nextArray, into: &leaves)
        guard !leaves.isEmpty else { return false }
        return branches.contains { branch in
            var candidates: [[Leaf]] = []
            for field in branch {
                let atPath = leaves.filter { $0.path == field.path }
                if field.patterns.contains(where: \.isExistsFalse), !atPath.contains(where: { $0.value.isPresent }) {
                    continue // absent: satisfied whatever else is chosen
                }
                let matching = atPath.filter { leaf in field.patterns.contains { $0.matches(leaf.value) } }
                if matching.isEmpty { return false }
                candidates.append(matching)
            }
            return Self.consistentChoice(candidates, chosen: [])
        }
    }

    /// Tries every combination: two leaves are compatible unless they take different elements of one array.
    static func consistentChoice(_ candidates: [[Leaf]], chosen: [Leaf]) -> Bool {
        guard let first = candidates.first else { return true }
        let rest = Array(candidates.dropFirst())
        for leaf in first {
            let compatible = chosen.allSatisfy { other in
                leaf.arrays.allSatisfy { array, element in other.arrays[array].map { $0 == element } ?? true }
            }
            if compatible, consistentChoice(rest, chosen: chosen + [leaf]) { return true }
        }
        return false
    }

    static func flatten(_ value: RefJSON, path: String?, arrays: [Int: Int], nextArray: inout Int, into leaves: inout [Leaf]) {
        switch value {
        case .scalar(let scalar):
            if let path { leaves.append(Leaf(path: path, value: scalar, arrays: arrays)) }
        case .object(let members):
            for (key, child) in members {
                flatten(child, path: path.map { $0 + "." + key } ?? key, arrays: arrays, nextArray: &nextArray, into: &leaves)
            }
        case .array(let elements):
            let id = nextArray
            nextArray += 1
            for (index, element) in elements.enumerated() {
                var inner = arrays
                inner[id] = index
                flatten(element, path: path, arrays: inner, nextArray: &nextArray, into: &leaves)
            }
        }
    }
}

// MARK: - Messages

enum RefAttribute: CustomStringConvertible {
    case string(String)
    case number(Int, style: Int)
    case array([RefValue])
    case binary

    var isBinary: Bool {
        if case .binary = self { return true }
        return false
    }

    var messageAttribute: MessageAttributeValue {
        switch self {
        case .string(let string): .string(string)
        case .number(let hundredths, let style): .number(RefNumber.text(hundredths, style: style))
        case .array(let elements): MessageAttributeValue(dataType: "String.Array", stringValue: "[" + elements.map(\.json).joined(separator: ",") + "]")
        case .binary: .binary(.init([1, 2, 3]))
        }
    }

    var description: String {
        switch self {
        case .string(let string): "String(\(string))"
        case .number(let hundredths, let style): "Number(\(RefNumber.text(hundredths, style: style)))"
        case .array(let elements): "String.Array(\(elements))"
        case .binary: "Binary"
        }
    }
}

indirect enum RefJSON {
    case scalar(RefValue)
    case object([(String, RefJSON)])
    case array([RefJSON])

    var text: String {
        switch self {
        case .scalar(let value): value.json
        case .object(let members): "{" + members.map { "\"\($0.0)\": \($0.1.text)" }.joined(separator: ", ") + "}"
        case .array(let elements): "[" + elements.map(\.text).joined(separator: ", ") + "]"
        }
    }
}

struct RefBody {
    let root: RefJSON
    /// False for the occasional truncated body, which is not JSON at all.
    let isValidJSON: Bool
    let text: String
}

/// Small alphabets shared by policies and messages, so values collide often.
enum Alphabet {
    static let strings = ["", "a", "ab", "abc", "b", "ba", "Ab", "AB", "x", "a*b"]
    static let numbers = [-150, -100, 0, 50, 100, 101, 150, 1250, 30150]
    static let keys = ["k1", "k2", "k3", "n"]
    static let parents = ["p", "q"]
    static let prefixes = ["a", "ab", "A", "x"]
    static let suffixes = ["b", "c", "ab"]
    static let wildcards = ["a*", "*b", "a*b", "*", "*a*", "x*"]

    static func value(_ random: inout IDGenerator) -> RefValue {
        switch random.int(0...9) {
        case 0...4: .string(random.pick(strings))
        case 5...7: .number(random.pick(numbers))
        case 8: .bool(random.chance(0.5))
        default: .null
        }
    }
}

struct PolicyGenerator {
    var random: IDGenerator
    let nested: Bool

    mutating func object(depth: Int) -> [RefEntry] {
        var entries: [RefEntry] = []
        var used = Set<String>()
        let count = random.int(1...3)
        for _ in 0..<count {
            let roll = random.int(0...9)
            if roll == 0, depth < 2 {
                entries.append(.or((0..<random.int(2...3)).map { _ in object(depth: depth + 1) }))
                continue
            }
            if nested, roll <= 3, depth < 2 {
                let key = random.pick(Alphabet.parents)
                guard used.insert(key).inserted else { continue }
                entries.append(.nested(key, object(depth: depth + 1)))
                continue
            }
            let key = random.pick(Alphabet.keys)
            guard used.insert(key).inserted else { continue }
            entries.append(.field(key, (0..<random.int(1...3)).map { _ in pattern() }))
        }
        if entries.isEmpty { entries.append(.field(random.pick(Alphabet.keys), [pattern()])) }
        return entries
    }

    mutating func pattern() -> RefPattern {
        switch random.int(0...17) {
        case 0...3: return .exact(Alphabet.value(&random), style: random.int(0...3))
        case 4: return .prefix(random.pick(Alphabet.prefixes))
        case 5: return .suffix(random.pick(Alphabet.suffixes))
        case 6: return .equalsIgnoreCase(random.pick(["ab", "AB", "Ab", "x"]))
        case 7: return .wildcard(random.pick(Alphabet.wildcards))
        case 8:
            let values = (0..<random.int(1...3)).map { _ in random.pick(Alphabet.strings) }
            return .anythingButStrings(values, single: values.count == 1 && random.chance(0.5))
        case 9:
            let values = (0..<random.int(1...3)).map { _ in random.pick(Alphabet.numbers) }
            return .anythingButNumbers(values, single: values.count == 1 && random.chance(0.5))
        case 10: return .anythingButPrefix(random.pick(Alphabet.prefixes))
        case 11: return .anythingButSuffix(random.pick(Alphabet.suffixes))
        case 12: return .anythingButWildcard(random.pick(Alphabet.wildcards))
        case 13, 14:
            let a = random.pick(Alphabet.numbers)
            let b = random.pick(Alphabet.numbers)
            switch random.int(0...3) {
            case 0: return .numeric(lower: nil, upper: nil, equals: a)
            case 1: return .numeric(lower: (a, random.chance(0.5)), upper: nil, equals: nil)
            case 2: return .numeric(lower: nil, upper: (a, random.chance(0.5)), equals: nil)
            default:
                guard a != b else { return .numeric(lower: (a, true), upper: nil, equals: nil) }
                return .numeric(lower: (min(a, b), random.chance(0.5)), upper: (max(a, b), random.chance(0.5)), equals: nil)
            }
        default: return .exists(random.chance(0.5))
        }
    }
}

enum MessageGenerator {
    static func attributes(_ random: inout IDGenerator) -> [String: RefAttribute] {
        var attributes: [String: RefAttribute] = [:]
        for key in Alphabet.keys where random.chance(0.55) {
            switch random.int(0...9) {
            case 0...3: attributes[key] = .string(random.pick(Alphabet.strings))
            case 4...6: attributes[key] = .number(random.pick(Alphabet.numbers), style: random.int(0...3))
            case 7, 8: attributes[key] = .array((0..<random.int(0...3)).map { _ in Alphabet.value(&random) })
            default: attributes[key] = .binary
            }
        }
        return attributes
    }

    static func body(_ random: inout IDGenerator) -> RefBody {
        let root: RefJSON
        if random.chance(0.04) {
            root = random.chance(0.5) ? .array([.scalar(.string("a"))]) : .scalar(Alphabet.value(&random))
        } else {
            root = object(&random, depth: 0)
        }
        let text = root.text
        if random.chance(0.03), text.count > 2 {
            return RefBody(root: root, isValidJSON: false, text: String(text.dropLast()))
        }
        return RefBody(root: root, isValidJSON: true, text: text)
    }

    private static func object(_ random: inout IDGenerator, depth: Int) -> RefJSON {
        var members: [(String, RefJSON)] = []
        for _ in 0..<random.int(0...4) {
            var key = random.pick(Alphabet.keys + Alphabet.parents)
            // Dotted keys stand for nesting, and duplicates are legal JSON that AWS reads as two fields.
            if random.chance(0.1) { key = random.pick(Alphabet.parents) + "." + random.pick(Alphabet.keys) }
            members.append((key, value(&random, depth: depth + 1, parent: Alphabet.parents.contains(key))))
        }
        return .object(members)
    }

    private static func value(_ random: inout IDGenerator, depth: Int, parent: Bool) -> RefJSON {
        if parent, depth < 3, random.chance(0.7) {
            return random.chance(0.6)
                ? object(&random, depth: depth)
                : .array((0..<random.int(0...3)).map { _ in object(&random, depth: depth + 1) })
        }
        if random.chance(0.25), depth < 4 {
            return .array((0..<random.int(0...3)).map { _ in
                random.chance(0.15) ? .array([.scalar(Alphabet.value(&random))]) : .scalar(Alphabet.value(&random))
            })
        }
        return .scalar(Alphabet.value(&random))
    }
}

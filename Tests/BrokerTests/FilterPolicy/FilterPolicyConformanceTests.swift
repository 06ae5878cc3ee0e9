import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

/// The shared conformance data (copied from `shared/conformance/`), one parameterised test per case so a failure
/// names its case.
///
/// The files are read with the engine's own JSON parser because it keeps numbers as written (`100.123456789` must
/// reach the policy unchanged); ``FilterPolicyConformanceTests/parserAgreesWithFoundation()`` cross-checks that reading
/// against `JSONSerialization`.
enum FilterPolicyConformance {
    struct MatchCase: Sendable {
        let id: String
        let scope: FilterPolicy.Scope
        let policy: String
        let attributes: [String: MessageAttributeValue]
        let body: String
        let expected: Bool
    }

    struct ValidationCase: Sendable {
        let id: String
        /// The `FilterPolicyScope` as given (one case uses an invalid one).
        let scope: String
        /// The policy text; nil when the case has no policy at all.
        let policy: String?
        let valid: Bool
        let errorContains: String?
    }

    static let matchCases: [String: MatchCase] = {
        var cases: [String: MatchCase] = [:]
        for object in objects("filter-policy-matches") {
            guard let id = object.string("id"), let scopeName = object.string("scope"),
                  let scope = FilterPolicy.Scope(rawValue: scopeName), let policy = object["policy"],
                  let expected = object.bool("match") else { continue }
            var attributes: [String: MessageAttributeValue] = [:]
            if case .object(let members)? = object["attributes"] {
                for member in members {
                    guard case .object(let fields) = member.value,
                          let type = fields.string("Type"), let value = fields.string("Value") else { continue }
                    attributes[member.key] = type.hasPrefix("Binary")
                        ? MessageAttributeValue(dataType: type, binaryValue: Data(value.utf8))
                        : MessageAttributeValue(dataType: type, stringValue: value)
                }
            }
            cases[id] = MatchCase(id: id, scope: scope, policy: policy.jsonText, attributes: attributes,
                                  body: object.string("body") ?? "", expected: expected)
        }
        return cases
    }()

    static let validationCases: [String: ValidationCase] = {
        var cases: [String: ValidationCase] = [:]
        for object in objects("filter-policy-validation") {
            guard let id = object.string("id"), let scope = object.string("scope"), let valid = object.bool("valid") else {
                continue
            }
            var policy: String?
            if let raw = object.string("policy_raw") {
                policy = raw
            } else if let value = object["policy"], value != .null {
                policy = value.jsonText
            }
            cases[id] = ValidationCase(id: id, scope: scope, policy: policy, valid: valid,
                                       errorContains: object.string("error_contains"))
        }
        return cases
    }()

    static var matchCaseIDs: [String] { matchCases.keys.sorted() }
    static var validationCaseIDs: [String] { validationCases.keys.sorted() }

    static func resourceText(_ name: String) -> String? {
        guard let url = Bundle.module.url(forResource: name, withExtension: "json", subdirectory: "Resources"),
              let data = try? Data(contentsOf: url) else { return nil }
        return String(decoding: data, as: UTF8.self)
    }

    private static func objects(_ name: String) -> [[JSONValue.Member]] {
        guard let text = resourceText(name), case .array(let elements)? = try? JSONParser.parse(text) else {
            return []
        }
        return elements.compactMap { element in
            guard case .object(let members) = element else { return nil }
            return members
        }
    }
}

private extension [JSONValue.Member] {
    subscript(key: String) -> JSONValue? { first { $0.key == key }?.value }

    func string(_ key: String) -> String? {
        guard case .string(let value)? = self[key] else { return nil }
        return value
    }

    func bool(_ key: String) -> Bool? {
        guard case .bool(let value)? = self[key] else { return nil }
        return value
    }
}

@Suite("FilterPolicy conformance")
struct FilterPolicyConformanceTests {
    /// Cases whose expected value this engine deliberately does not reproduce, with the reason. A case listed here is
    /// run with its expectation inverted, so a change in behaviour is noticed.
    ///
    /// Empty: the low-confidence cases were checked against AWS's current documentation and kept as they are —
    /// - `doc-anything-but-attr-array-rugby-baseball` (disputed): string-value-matching.html says both that a
    ///   `String.Array` matches "if none of the array elements are listed" and, in its example list, that
    ///   `["rugby", "baseball"]` matches because it "contains a value that isn't rugby or tennis". The example is kept:
    ///   it is the concrete statement, and it is how every other pattern treats arrays (one element at a time).
    /// - `inv-doc-leaf-keys-over-5` (disputed): subscription-filter-policy-constraints.html counts leaf keys only and
    ///   lists six for this very policy, so it is over the five-key limit.
    /// - `{}` cases: sns-message-filtering (removing a policy) documents `{}` as "no filter policy", accepting all.
    /// - `moto-string-array-with-number-no-array-match-1`, `ls-attr-can-not-match-on-values-that-are-not-valid-json-strings`:
    ///   the documentation is silent; a bare JSON scalar is read as a one-element array, invalid JSON matches nothing.
    static let knownDifferences: [String: String] = [:]

    @Test("every case file is present and complete")
    func filesLoad() {
        #expect(FilterPolicyConformance.matchCases.count == 192)
        #expect(FilterPolicyConformance.validationCases.count == 40)
    }

    @Test("match case", arguments: FilterPolicyConformance.matchCaseIDs)
    func matchCase(_ id: String) throws {
        let testCase = try #require(FilterPolicyConformance.matchCases[id])
        let policy = try FilterPolicy(json: testCase.policy, scope: testCase.scope)
        var input = FilterInput(attributes: testCase.attributes, body: testCase.body)
        let matched = policy.matches(&input)
        if let reason = Self.knownDifferences[id] {
            #expect(matched == !testCase.expected, "known difference no longer differs: \(reason)")
        } else {
            #expect(matched == testCase.expected, "policy \(testCase.policy)")
        }
        // The one-shot convenience must agree with the shared-input path.
        #expect(policy.matches(attributes: testCase.attributes, body: testCase.body) == matched)
    }

    @Test("validation case", arguments: FilterPolicyConformance.validationCaseIDs)
    func validationCase(_ id: String) throws {
        let testCase = try #require(FilterPolicyConformance.validationCases[id])
        var failure: BrokerError?
        do throws(BrokerError) {
            let scope = try FilterPolicy.Scope(validating: testCase.scope)
            if let json = testCase.policy {
                _ = try FilterPolicy(json: json, scope: scope)
            }
        } catch {
            #expect(error.code == .invalidParameter)
            #expect(error.message.hasPrefix("Invalid parameter: "), "\(error.message)")
            if let fragment = testCase.errorContains {
                #expect(error.message.contains(fragment), "message: \(error.message)")
            }
            failure = error
        }
        if testCase.valid {
            #expect(failure == nil, "rejected: \(failure?.message ?? "")")
        } else {
            #expect(failure != nil, "accepted an invalid policy")
        }
    }

    @Test("the engine's JSON parser reads the case files as Foundation does")
    func parserAgreesWithFoundation() throws {
        for name in ["filter-policy-matches", "filter-policy-validation"] {
            let text = try #require(FilterPolicyConformance.resourceText(name))
            let ours = try JSONParser.parse(text)
            let foundation = try JSONSerialization.jsonObject(with: Data(text.utf8), options: [.fragmentsAllowed])
            #expect(Self.same(ours, foundation), "\(name)")
        }
    }

    /// Structural equality with Foundation's reading (numbers compared as `Double`).
    static func same(_ ours: JSONValue, _ theirs: Any) -> Bool {
        switch ours {
        case .null: return theirs is NSNull
        case .bool(let value):
            guard let number = theirs as? NSNumber else { return false }
            return number.boolValue == value
        case .number(let value):
            guard let number = theirs as? NSNumber else { return false }
            return abs(number.doubleValue - value.doubleValue) <= abs(value.doubleValue) * 1e-12
        case .string(let value): return (theirs as? String) == value
        case .array(let elements):
            guard let array = theirs as? [Any], array.count == elements.count else { return false }
            return zip(elements, array).allSatisfy { same($0, $1) }
        case .object(let members):
            guard let dictionary = theirs as? [String: Any], dictionary.count == members.count else { return false }
            return members.allSatisfy { member in dictionary[member.key].map { same(member.value, $0) } ?? false }
        }
    }
}

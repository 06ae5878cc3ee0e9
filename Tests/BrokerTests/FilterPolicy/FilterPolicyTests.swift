import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

/// Behaviour beyond the shared conformance data: AWS's error texts, the documented edge cases of each operator, and
/// the engine's own guarantees (one body parse per publish, bounded work on hostile bodies).
@Suite("FilterPolicy")
struct FilterPolicyTests {
    private func attributes(_ pairs: KeyValuePairs<String, MessageAttributeValue>) -> [String: MessageAttributeValue] {
        Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) })
    }

    private func stringArray(_ json: String) -> MessageAttributeValue {
        MessageAttributeValue(dataType: "String.Array", stringValue: json)
    }

    /// The message of the error a policy is rejected with.
    private func rejection(_ json: String, scope: FilterPolicy.Scope = .messageAttributes,
                           sourceLocation: SourceLocation = #_sourceLocation) -> String? {
        expectBrokerError(.invalidParameter, { _ = try FilterPolicy(json: json, scope: scope) },
                          sourceLocation: sourceLocation)?.message
    }

    // MARK: Validation messages

    @Test("AWS's error text for each rule", arguments: [
        (#"{invalid"#, "Invalid parameter: FilterPolicy: failed to parse JSON."),
        (#"[1]"#, "Invalid parameter: FilterPolicy: Filter is not an object"),
        (#"{"a": "b"}"#, #"Invalid parameter: FilterPolicy: "a" must be an object or an array"#),
        (#"{"a": {}}"#, "Invalid parameter: FilterPolicy: Empty objects are not allowed"),
        (#"{"a": [["b"]]}"#, "Invalid parameter: FilterPolicy: Match value must be String, number, true, false, or null"),
        (#"{"a": [{}]}"#, "Invalid parameter: FilterPolicy: Match expression name not found"),
        (#"{"a": [{"prefix": "x", "suffix": "y"}]}"#, "Invalid parameter: FilterPolicy: Only one key allowed in match expression"),
        (#"{"a": [{"prefix": {"equals-ignore-case": "x"}}]}"#, "Invalid parameter: FilterPolicy: prefix match pattern must be a string"),
        (#"{"a": [{"equals-ignore-case": 1}]}"#, "Invalid parameter: FilterPolicy: equals-ignore-case match pattern must be a string"),
        (#"{"a": [{"wildcard": "a**"}]}"#, "Invalid parameter: FilterPolicy: Consecutive wildcard characters at pos 2"),
        (#"{"a": [{"wildcard": "a\\b"}]}"#, "Invalid parameter: FilterPolicy: Invalid escape character at pos 2"),
        (#"{"a": [{"cidr": "10.0.0.0"}]}"#, "Invalid parameter: FilterPolicy: Malformed CIDR, one '/' required"),
        (#"{"a": [{"cidr": "10.0.0.0/x"}]}"#, "Invalid parameter: FilterPolicy: Malformed CIDR, mask bits must be an integer"),
        (#"{"a": [{"cidr": "10.0.0.0/32"}]}"#, "Invalid parameter: FilterPolicy: IPv4 mask bits must be < 32"),
        (#"{"a": [{"cidr": "10.0.0.256/8"}]}"#, "Invalid parameter: FilterPolicy: Invalid IP address: 10.0.0.256"),
        (#"{"a": [{"cidr": "xxxx:db8:1234:1a00::/64"}]}"#, "Invalid parameter: FilterPolicy: Nonstandard IP address: xxxx:db8:1234:1a00::"),
        (#"{"a": [{"exists": "no"}]}"#, "Invalid parameter: FilterPolicy: exists match pattern must be either true or false."),
        (#"{"a": [{"numeric": 5}]}"#, "Invalid parameter: FilterPolicy: Value of numeric must be an array."),
        (#"{"a": [{"numeric": ["operator"]}]}"#, "Invalid parameter: FilterPolicy: Unrecognized numeric range operator: operator"),
        (#"{"a": [{"numeric": ["=", "000"]}]}"#, "Invalid parameter: FilterPolicy: Value of equals must be numeric"),
        (#"{"a": [{"numeric": ["<", 100, ">", 10]}]}"#, "Invalid parameter: FilterPolicy: Too many elements in numeric expression"),
        (#"{"a": [{"numeric": [">", 3, "<", 1]}]}"#, "Invalid parameter: FilterPolicy: Bottom must be less than top"),
        (#"{"a": [{"numeric": [">", 20, 30]}]}"#, "Invalid parameter: FilterPolicy: Bad value in numeric range: 30"),
        (#"{"a": [{"numeric": [">", 20, "<", 30, "<", 50]}]}"#, "Invalid parameter: FilterPolicy: Too many terms in numeric range expression"),
        (#"{"a": [{"numeric": [">", 1000000001]}]}"#, "Invalid parameter: FilterPolicy: Value must be between -1.0E9 and 1.0E9, inclusive"),
        (#"{"a": [{"numeric": ["=", 1], "x": 1}]}"#, "Invalid parameter: FilterPolicy: Too many elements in numeric expression"),
        (#"{"a": [{"anything-but": {"exists": false}}]}"#, "Invalid parameter: FilterPolicy: Unsupported anything-but pattern: exists"),
        (#"{"a": [{"anything-but": {"equals-ignore-case": "x"}}]}"#, "Invalid parameter: FilterPolicy: Unsupported anything-but pattern: equals-ignore-case"),
        (#"{"a": [{"anything-but": {"prefix": ""}}]}"#, "Invalid parameter: FilterPolicy: Null prefix/suffix not allowed"),
        (#"{"a": [{"anything-but": {"suffix": ["x"]}}]}"#, "Invalid parameter: FilterPolicy: suffix match pattern must be a string"),
        (#"{"a": [{"anything-but": ["x", 1]}]}"#, "Invalid parameter: FilterPolicy: Inside anything but list, either all values are number or string, mixed type is not supported"),
        (#"{"a": [{"anything-but": []}]}"#, "Invalid parameter: FilterPolicy: Inside anything but list, either all values are number or string, mixed type is not supported"),
        (#"{"a": [{"anything-but": [null]}]}"#, "Invalid parameter: FilterPolicy: Inside anything but list, start|null|boolean is not supported."),
        (#"{"a": [{"anything-but": true}]}"#, "Invalid parameter: FilterPolicy: Value of anything-but must be an array or single string/number value."),
        (#"{"a": [{"anything-but": [2000000000]}]}"#, "Invalid parameter: FilterPolicy: Value must be between -1.0E9 and 1.0E9, inclusive"),
        (#"{"$or": {"a": ["b"]}}"#, "Invalid parameter: FilterPolicy: It must be an Array followed with $or."),
        (#"{"$or": [{"a": ["b"]}, "c"]}"#, "Invalid parameter: FilterPolicy: Only JSON object is allowed in array of $or relationship."),
        (#"{"$or": [{"a": ["b"]}]}"#, "Invalid parameter: FilterPolicy: There must have at least 2 Objects in $or relationship."),
        (#"{"a": {"b": ["c"]}}"#, "Invalid parameter: Filter policy scope MessageAttributes does not support nested filter policy"),
        (#"{"a": ["1"], "b": ["1"], "c": ["1"], "$or": [{"d": ["1"]}, {"e": ["1"], "f": ["1"]}]}"#,
         "Invalid parameter: FilterPolicy: Filter policy can not have more than 5 keys"),
    ])
    func validationMessages(_ json: String, _ message: String) {
        #expect(rejection(json) == message)
    }

    @Test("a policy over 256 KB is refused; one at the limit is read")
    func sizeLimit() throws {
        let padding = String(repeating: " ", count: 256 * 1024 - 12)
        _ = try FilterPolicy(json: #"{"a": ["b"]}"# + padding) // 12 + padding = exactly 256 KB
        #expect(rejection(#"{"a": ["b"]}"# + padding + " ") == "Invalid parameter: FilterPolicy: Filter policy is too long")
    }

    @Test("complexity counts products of value lists, and sums over $or alternatives")
    func complexity() throws {
        let ten = (0..<10).map { "\"v\($0)\"" }.joined(separator: ",")
        let fifteen = (0..<15).map { "\"v\($0)\"" }.joined(separator: ",")
        _ = try FilterPolicy(json: "{\"a\": [\(ten)], \"b\": [\(fifteen)]}") // 150
        #expect(rejection("{\"a\": [\(ten)], \"b\": [\(fifteen), \"x\"]}") == "Invalid parameter: FilterPolicy: Filter policy is too complex")
        // Body scope: each key's value count is multiplied by its depth.
        #expect(rejection("{\"p\": {\"a\": [\(ten)]}, \"b\": [\(fifteen)]}", scope: .messageBody)
                == "Invalid parameter: FilterPolicy: Filter policy is too complex") // 10×2 · 15×1 = 300
        // Hostile $or nesting is counted without being expanded.
        let or = #""$or": [{"k": ["x"]}, {"k": ["y"]}]"#
        let json = "{" + Array(repeating: or, count: 64).joined(separator: ", ") + "}" // 2⁶⁴ branches
        #expect(rejection(json) == "Invalid parameter: FilterPolicy: Filter policy is too complex")
    }

    @Test("body-scope complexity multiplies each value count by its key's depth", arguments: [
        // AWS's documented example: four values three levels down, three values two levels down: 4×3 · 3×2 = 72.
        (#"{"a": {"b": {"c": ["1", "2", "3", "4"]}}, "d": {"e": ["1", "2", "3"]}}"#, true),
        // 4×3 · 3×2 · 3×1 = 216.
        (#"{"a": {"b": {"c": ["1", "2", "3", "4"]}}, "d": {"e": ["1", "2", "3"]}, "f": ["1", "2", "3"]}"#, false),
        // 5×2 · 5×2 = 100 (flat, the same lists would be 25).
        (#"{"a": {"b": ["1", "2", "3", "4", "5"], "c": ["1", "2", "3", "4", "5"]}}"#, true),
        // $or inside a nested key: every branch counts, at that key's depth: (7×2 + 7×2) · 6×1 = 168.
        (#"{"a": {"$or": [{"b": ["1", "2", "3", "4", "5", "6", "7"]}, {"c": ["1", "2", "3", "4", "5", "6", "7"]}]}, "d": ["1", "2", "3", "4", "5", "6"]}"#, false),
        // (7×2 + 7×2) · 5×1 = 140.
        (#"{"a": {"$or": [{"b": ["1", "2", "3", "4", "5", "6", "7"]}, {"c": ["1", "2", "3", "4", "5", "6", "7"]}]}, "d": ["1", "2", "3", "4", "5"]}"#, true),
    ])
    func nestedComplexityCountsDepth(json: String, accepted: Bool) throws {
        if accepted {
            _ = try FilterPolicy(json: json, scope: .messageBody)
        } else {
            #expect(rejection(json, scope: .messageBody) == "Invalid parameter: FilterPolicy: Filter policy is too complex")
        }
    }

    @Test("a wildcard pattern has at most three wildcard characters", arguments: [
        ("a*b*c*", true), ("*a*b*c*", false), ("a*b*c*d*e", false),
    ])
    func wildcardsPerPattern(pattern: String, accepted: Bool) throws {
        let json = #"{"k": [{"wildcard": "\#(pattern)"}]}"#
        let excluded = #"{"k": [{"anything-but": {"wildcard": "\#(pattern)"}}]}"#
        if accepted {
            _ = try FilterPolicy(json: json)
            _ = try FilterPolicy(json: excluded)
        } else {
            #expect(rejection(json) == "Invalid parameter: FilterPolicy: A wildcard pattern can have at most 3 wildcard characters")
            #expect(rejection(excluded) == "Invalid parameter: FilterPolicy: A wildcard pattern can have at most 3 wildcard characters")
        }
    }

    @Test("scope names are AWS's")
    func scopes() throws {
        #expect(try FilterPolicy.Scope(validating: "MessageBody") == .messageBody)
        #expect(try FilterPolicy.Scope(validating: "MessageAttributes") == .messageAttributes)
        let error = expectBrokerError(.invalidParameter) { _ = try FilterPolicy.Scope(validating: "messagebody") }
        #expect(error?.message == "Invalid parameter: FilterPolicyScope: Invalid value [messagebody]. Please use either MessageBody or MessageAttributes")
    }

    @Test("empty policies accept every message; equality is by text and scope")
    func emptyAndEquality() throws {
        for json in ["", "{}", " { } "] {
            let policy = try FilterPolicy(json: json)
            #expect(policy.isEmpty)
            #expect(policy.matches(attributes: [:]))
            #expect(try FilterPolicy(json: json, scope: .messageBody).matches(body: "not json"))
        }
        let a = try FilterPolicy(json: #"{"a": ["b"]}"#)
        #expect(!a.isEmpty)
        #expect(a == (try FilterPolicy(json: #"{"a": ["b"]}"#)))
        #expect(a != (try FilterPolicy(json: #"{"a": ["b"]}"#, scope: .messageBody)))
        #expect(Set([a, try FilterPolicy(json: #"{"a": ["b"]}"#)]).count == 1)
    }

    // MARK: Attribute scope

    @Test("only String, String.Array and Number attributes are seen")
    func attributeTypes() throws {
        let exists = try FilterPolicy(json: #"{"a": [{"exists": true}]}"#)
        let absent = try FilterPolicy(json: #"{"a": [{"exists": false}]}"#)
        let binary = attributes(["a": .binary(Data([1, 2]))])
        #expect(!exists.matches(attributes: binary))
        // A Binary attribute is ignored, so this message has no attributes at all, and exists:false needs one.
        #expect(!absent.matches(attributes: binary))
        #expect(absent.matches(attributes: attributes(["a": .binary(Data([1])), "b": .string("x")])))
        #expect(exists.matches(attributes: attributes(["a": MessageAttributeValue(dataType: "String.custom", stringValue: "x")])))
        #expect(exists.matches(attributes: attributes(["a": MessageAttributeValue(dataType: "Number.float", stringValue: "1.5")])))
        #expect(try FilterPolicy(json: #"{"a": [1.5]}"#).matches(attributes: attributes(["a": MessageAttributeValue(dataType: "Number.float", stringValue: "1.50")])))
    }

    @Test("exists needs a non-null, non-empty value")
    func existsValues() throws {
        let exists = try FilterPolicy(json: #"{"a": [{"exists": true}]}"#)
        let absent = try FilterPolicy(json: #"{"a": [{"exists": false}]}"#)
        let other = ("z", MessageAttributeValue.string("other"))
        for value in [MessageAttributeValue.string(""), stringArray("[]"), stringArray("[null, \"\"]")] {
            let message = attributes(["a": value, other.0: other.1])
            #expect(!exists.matches(attributes: message), "\(value)")
            #expect(absent.matches(attributes: message), "\(value)")
        }
        #expect(exists.matches(attributes: attributes(["a": stringArray("[null, 0]")])))
        let bodyExists = try FilterPolicy(json: #"{"a": [{"exists": true}]}"#, scope: .messageBody)
        let bodyAbsent = try FilterPolicy(json: #"{"a": [{"exists": false}]}"#, scope: .messageBody)
        #expect(!bodyExists.matches(body: #"{"a": null}"#))
        #expect(!bodyExists.matches(body: #"{"a": ""}"#))
        #expect(!bodyExists.matches(body: #"{"a": []}"#))
        #expect(!bodyExists.matches(body: #"{"a": {"b": 1}}"#), "exists applies to leaves only")
        #expect(bodyExists.matches(body: #"{"a": [null, 0]}"#))
        #expect(bodyAbsent.matches(body: #"{"a": null, "b": 1}"#))
        #expect(bodyAbsent.matches(body: #"{"a": {"b": 1}}"#))
        #expect(!bodyAbsent.matches(body: #"{"a": "x"}"#))
        #expect(!bodyAbsent.matches(body: #"{}"#), "no value at all, like an empty attribute set")
        #expect(!bodyAbsent.matches(body: #"{"b": []}"#))
        // exists:false next to other patterns: absent, or one of them.
        let either = try FilterPolicy(json: #"{"a": [{"exists": false}, "x"]}"#, scope: .messageBody)
        #expect(either.matches(body: #"{"b": 1}"#) && either.matches(body: #"{"a": "x"}"#) && !either.matches(body: #"{"a": "y"}"#))
    }

    @Test("strings and numbers are different types")
    func typing() throws {
        let number = try FilterPolicy(json: #"{"a": [100]}"#)
        #expect(number.matches(attributes: ["a": .number("1e2")]))
        #expect(number.matches(attributes: ["a": .number("100.000001")]), "five decimals of accuracy")
        #expect(!number.matches(attributes: ["a": .number("100.00001")]))
        #expect(!number.matches(attributes: ["a": .string("100")]))
        #expect(number.matches(attributes: ["a": stringArray("[1, 100]")]))
        #expect(!number.matches(attributes: ["a": stringArray(#"["100"]"#)]))
        let string = try FilterPolicy(json: #"{"a": ["100"]}"#)
        #expect(!string.matches(attributes: ["a": .number("100")]))
        let range = try FilterPolicy(json: #"{"a": [{"numeric": [">", 0]}]}"#)
        #expect(!range.matches(attributes: ["a": .string("5")]))
        #expect(range.matches(attributes: ["a": .number("5")]))
        #expect(!range.matches(attributes: ["a": .number("5e9")]), "outside AWS's numeric range")
        // Exact numeric values share the documented range: a policy with one past it is refused.
        #expect(throws: BrokerError.self) { try FilterPolicy(json: #"{"a": [1000000001]}"#) }
        #expect(try FilterPolicy(json: #"{"a": [1000000000, -1000000000]}"#).matches(attributes: ["a": .number("1e9")]))
        #expect(!range.matches(attributes: ["a": .number("five")]))
        #expect(try FilterPolicy(json: #"{"a": [{"exists": true}]}"#).matches(attributes: ["a": .number("five")]))
        let keywords = try FilterPolicy(json: #"{"a": [true, null]}"#)
        #expect(keywords.matches(attributes: ["a": stringArray("[false, null]")]))
        #expect(!keywords.matches(attributes: ["a": .string("true")]))
        #expect(try FilterPolicy(json: #"{"a": [true]}"#, scope: .messageBody).matches(body: #"{"a": true}"#))
    }

    @Test("anything-but tests each value of an array")
    func anythingBut() throws {
        let policy = try FilterPolicy(json: #"{"a": [{"anything-but": ["x", "y"]}]}"#)
        #expect(policy.matches(attributes: ["a": stringArray(#"["x", "z"]"#)]))
        #expect(!policy.matches(attributes: ["a": stringArray(#"["x", "y"]"#)]))
        #expect(policy.matches(attributes: ["a": .number("1")]), "a number is not one of the strings")
        #expect(!policy.matches(attributes: ["b": .string("z")]), "a missing attribute matches nothing")
        let numbers = try FilterPolicy(json: #"{"a": [{"anything-but": [100, 500]}]}"#)
        #expect(!numbers.matches(attributes: ["a": .number("1e2")]))
        #expect(numbers.matches(attributes: ["a": .string("100")]))
        let suffix = try FilterPolicy(json: #"{"a": [{"anything-but": {"suffix": "ball"}}]}"#)
        #expect(suffix.matches(attributes: ["a": .string("ballet")]) && !suffix.matches(attributes: ["a": .string("football")]))
        let wildcard = try FilterPolicy(json: #"{"a": [{"anything-but": {"wildcard": "*ball"}}]}"#)
        #expect(wildcard.matches(attributes: ["a": .string("ballet")]) && !wildcard.matches(attributes: ["a": .string("football")]))
    }

    @Test("strings compare as bytes; equals-ignore-case folds case")
    func strings() throws {
        let precomposed = try FilterPolicy(json: "{\"a\": [\"caf\u{E9}\"]}")
        #expect(precomposed.matches(attributes: ["a": .string("caf\u{E9}")]))
        #expect(!precomposed.matches(attributes: ["a": .string("cafe\u{301}")]), "AWS does not normalise Unicode")
        #expect(!precomposed.matches(attributes: ["a": .string("CAF\u{C9}")]))
        let folded = try FilterPolicy(json: #"{"a": [{"equals-ignore-case": "Été"}]}"#)
        #expect(folded.matches(attributes: ["a": .string("éTÉ")]))
        #expect(!folded.matches(attributes: ["a": .string("ete")]))
        let prefix = try FilterPolicy(json: #"{"a": [{"prefix": "é"}]}"#)
        #expect(prefix.matches(attributes: ["a": .string("élan")]) && !prefix.matches(attributes: ["a": .string("e\u{301}lan")]))
        #expect(try FilterPolicy(json: #"{"a": [{"prefix": ""}]}"#).matches(attributes: ["a": .string("")]))
    }

    @Test("wildcards: stars, escapes, anchoring")
    func wildcards() throws {
        func matches(_ pattern: String, _ value: String) throws -> Bool {
            let json = "{\"a\": [{\"wildcard\": \(JSONValue.string(pattern).jsonText)}]}"
            return try FilterPolicy(json: json).matches(attributes: ["a": .string(value)])
        }
        #expect(try matches("*", ""))
        #expect(try matches("a*b*c", "abc") && matches("a*b*c", "a-b-b-c") && !matches("a*b*c", "a-c-b"))
        #expect(try matches("*.png", "x.png") && !matches("*.png", "x.png.gz"))
        #expect(try matches("a*a", "aa") && !matches("a*a", "a"))
        #expect(try matches(#"a\*b"#, "a*b") && !matches(#"a\*b"#, "axb"))
        #expect(try matches(#"a\\*"#, #"a\bc"#))
        #expect(try matches("日*本", "日本") && matches("日*本", "日x本"))
        #expect(try !FilterPolicy(json: #"{"a": [{"wildcard": "*"}]}"#).matches(attributes: ["a": .number("1")]))
    }

    @Test("cidr blocks, IPv4 and IPv6")
    func cidr() throws {
        let v4 = try FilterPolicy(json: #"{"ip": [{"cidr": "10.0.0.0/24"}]}"#)
        #expect(v4.matches(attributes: ["ip": .string("10.0.0.7")]))
        #expect(!v4.matches(attributes: ["ip": .string("10.0.1.7")]))
        #expect(!v4.matches(attributes: ["ip": .string("10.0.0.7.1")]) && !v4.matches(attributes: ["ip": .string("host")]))
        #expect(!v4.matches(attributes: ["ip": .string("::ffff")]))
        let wide = try FilterPolicy(json: #"{"ip": [{"cidr": "0.0.0.0/0"}]}"#)
        #expect(wide.matches(attributes: ["ip": .string("255.255.255.255")]))
        let v6 = try FilterPolicy(json: #"{"ip": [{"cidr": "2001:db8:1234:1a00::/64"}]}"#)
        #expect(v6.matches(attributes: ["ip": .string("2001:db8:1234:1a00:ffff::1")]))
        #expect(v6.matches(attributes: ["ip": .string("2001:0DB8:1234:1A00:0:0:0:0")]))
        #expect(!v6.matches(attributes: ["ip": .string("2001:db8:1234:1a01::")]))
        #expect(!v6.matches(attributes: ["ip": .string("10.0.0.1")]) && !v6.matches(attributes: ["ip": .string("2001:db8::1::2")]))
        let odd = try FilterPolicy(json: #"{"ip": [{"cidr": "192.168.1.77/26"}]}"#)
        #expect(odd.matches(attributes: ["ip": .string("192.168.1.64")]) && odd.matches(attributes: ["ip": .string("192.168.1.127")]))
        #expect(!odd.matches(attributes: ["ip": .string("192.168.1.128")]))
    }

    // MARK: Body scope

    @Test("nested keys and dotted keys are the same field")
    func dottedKeys() throws {
        let nested = try FilterPolicy(json: #"{"a": {"b": {"c": ["x"]}}}"#, scope: .messageBody)
        let dotted = try FilterPolicy(json: #"{"a.b.c": ["x"]}"#, scope: .messageBody)
        let mixed = try FilterPolicy(json: #"{"a": {"b.c": ["x"]}}"#, scope: .messageBody)
        for body in [#"{"a": {"b": {"c": "x"}}}"#, #"{"a.b.c": "x"}"#, #"{"a.b": {"c": "x"}}"#, #"{"a": {"b.c": "x"}}"#,
                     #"{"a": [{"b": [{"c": ["y", "x"]}]}]}"#] {
            #expect(nested.matches(body: body) && dotted.matches(body: body) && mixed.matches(body: body), "\(body)")
        }
        for body in [#"{"a": {"b": {"c": "y"}}}"#, #"{"a.b": "x"}"#, #"{"a": {"bc": "x"}}"#, #"{"ab": {"c": "x"}}"#] {
            #expect(!nested.matches(body: body) && !dotted.matches(body: body), "\(body)")
        }
    }

    @Test("fields reaching into one array must be satisfied by one element")
    func arrayConsistency() throws {
        let policy = try FilterPolicy(json: #"{"Records": {"name": ["a"], "size": [2]}}"#, scope: .messageBody)
        #expect(policy.matches(body: #"{"Records": [{"name": "b", "size": 1}, {"name": "a", "size": 2}]}"#))
        #expect(!policy.matches(body: #"{"Records": [{"name": "a", "size": 1}, {"name": "b", "size": 2}]}"#))
        // Different arrays are independent.
        let two = try FilterPolicy(json: #"{"x": {"v": ["a"]}, "y": {"v": ["b"]}}"#, scope: .messageBody)
        #expect(two.matches(body: #"{"x": [{"v": "z"}, {"v": "a"}], "y": [{"v": "b"}, {"v": "z"}]}"#))
        // A field reachable through two spellings may use either.
        let choice = try FilterPolicy(json: #"{"r": {"a": ["1"], "b": ["2"]}}"#, scope: .messageBody)
        #expect(choice.matches(body: #"{"r": [{"a": "1"}], "r.b": "2"}"#))
        #expect(choice.matches(body: #"{"r": {"a": "0"}, "r": {"a": "1", "b": "2"}}"#))
        #expect(!choice.matches(body: #"{"r": [{"a": "1"}, {"b": "2"}]}"#))
    }

    @Test("a body that is not a JSON object matches no policy but the empty one")
    func nonObjectBodies() throws {
        let policy = try FilterPolicy(json: #"{"a": [{"exists": false}]}"#, scope: .messageBody)
        for body in ["", "hello", "[{\"b\": 1}]", "\"x\"", "42", "{\"b\": 1", "null"] {
            #expect(!policy.matches(body: body), "\(body)")
        }
        #expect(policy.matches(body: #"{"b": 1}"#))
        let deep = String(repeating: #"{"b":"#, count: 1_000) + "1" + String(repeating: "}", count: 1_000)
        #expect(!policy.matches(body: deep), "beyond the nesting limit the body is not read")
    }

    @Test("$or alternatives, in both scopes")
    func orAlternatives() throws {
        let json = #"{"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPUUtilization"]}, {"namespace": [{"prefix": "AWS/"}]}]}"#
        let attributePolicy = try FilterPolicy(json: json)
        #expect(attributePolicy.matches(attributes: ["source": .string("aws.cloudwatch"), "namespace": .string("AWS/EC2")]))
        #expect(!attributePolicy.matches(attributes: ["source": .string("aws.events"), "namespace": .string("AWS/EC2")]))
        #expect(!attributePolicy.matches(attributes: ["source": .string("aws.cloudwatch"), "namespace": .string("Custom")]))
        let bodyPolicy = try FilterPolicy(json: #"{"detail": {"$or": [{"a": [1]}, {"b": {"c": [2]}}]}}"#, scope: .messageBody)
        #expect(bodyPolicy.matches(body: #"{"detail": {"b": {"c": 2}}}"#))
        #expect(!bodyPolicy.matches(body: #"{"detail": {"b": 2}}"#))
    }

    // MARK: Sharing and robustness

    @Test("one input serves every subscription; the body is parsed only for body scope")
    func sharedInput() throws {
        let attributePolicy = try FilterPolicy(json: #"{"a": ["x"]}"#)
        let bodyPolicies = try (0..<3).map { try FilterPolicy(json: #"{"n": [{"numeric": [">", \#($0)]}]}"#, scope: .messageBody) }
        var input = FilterInput(attributes: ["a": .string("x")], body: #"{"n": 1.5}"#)
        #expect(attributePolicy.matches(&input))
        #expect(!input.hasParsedBody)
        #expect(bodyPolicies.map { $0.matches(&input) } == [true, true, false])
        #expect(input.hasParsedBody)
    }

    @Test("policies are shared across threads")
    func concurrentUse() async throws {
        let policy = try FilterPolicy(json: #"{"Records": {"size": [{"numeric": [">", 10]}]}}"#, scope: .messageBody)
        let matched = await withTaskGroup(of: Int.self) { group in
            for task in 0..<8 {
                group.addTask {
                    (0..<500).reduce(0) { count, index in
                        count + (policy.matches(body: #"{"Records": [{"size": \#(task * 1000 + index)}]}"#) ? 1 : 0)
                    }
                }
            }
            return await group.reduce(0, +)
        }
        #expect(matched == 8 * 500 - 11)
    }

    @Test("hostile bodies finish quickly")
    func hostileBodies() throws {
        // Duplicate keys and dotted spellings give every field many routes; the walk must stay bounded.
        let policy = try FilterPolicy(
            json: #"{"a": {"b": {"c": ["1"], "d": ["2"], "e": ["3"], "g": ["5"]}}}"#, scope: .messageBody)
        let member = #""a": {"b": [{"c": "1", "d": "2", "e": "3", "f": "4"}], "b.g": "0"}, "a.b": {"g": "0"}"#
        let body = "{" + Array(repeating: member, count: 200).joined(separator: ", ") + "}"
        let clock = ContinuousClock()
        let elapsed = clock.measure { #expect(!policy.matches(body: body)) }
        // Unbounded, this search is exponential; bounded, it takes milliseconds (the margin is for sanitizers).
        #expect(elapsed < .seconds(30), "took \(elapsed)")

        var random = IDGenerator(seed: 99)
        let alphabet = Array(#"{}[]":,abc.0123 "#)
        let scoped = try FilterPolicy(json: #"{"a": {"b": [{"exists": false}, "c"]}, "c": [{"anything-but": 1}]}"#, scope: .messageBody)
        var input = FilterInput()
        for _ in 0..<5_000 {
            let text = String((0..<random.int(0...60)).map { _ in random.pick(alphabet) })
            input = FilterInput(attributes: ["a.b": stringArray(text)], body: text)
            _ = scoped.matches(&input)
            _ = try FilterPolicy(json: #"{"a.b": [{"exists": true}]}"#).matches(&input)
        }
    }
}

import Testing

@_spi(BrokerServer) @testable import Broker

@Suite("JSON parser")
struct JSONParserTests {
    @Test("reads every kind of value, keeping member order, duplicates and number text")
    func values() throws {
        let value = try JSONParser.parse(#" {"b": [1, -0.5e+3, 2E-2], "a": {"x": null, "x": true}, "s": "", "f": false} "#)
        let expected = JSONValue.object([
            ("b", .array([.number(.init(validatedText: "1")), .number(.init(validatedText: "-0.5e+3")),
                                          .number(.init(validatedText: "2E-2"))])),
            ("a", .object([("x", .null), ("x", .bool(true))])),
            ("s", .string("")),
            ("f", .bool(false)),
        ])
        #expect(value == expected)
        #expect(value.jsonText == #"{"b":[1,-0.5e+3,2E-2],"a":{"x":null,"x":true},"s":"","f":false}"#)
    }

    @Test("decodes escapes, surrogate pairs and replaces lone surrogates")
    func escapes() throws {
        #expect(try JSONParser.parse(#""a\"b\\c\/d\b\f\n\r\t""#) == .string("a\"b\\c/d\u{8}\u{C}\n\r\t"))
        #expect(try JSONParser.parse(#""caf\u00e9 \u20AC""#) == .string("café €"))
        #expect(try JSONParser.parse(#""\ud83d\ude00!""#) == .string("😀!"))
        #expect(try JSONParser.parse(#""x\ud83dy""#) == .string("x\u{FFFD}y"))
        #expect(try JSONParser.parse(#""\ude00\ud83d\u0041""#) == .string("\u{FFFD}\u{FFFD}A"))
        #expect(try JSONParser.parse("\"naïve 日本\"") == .string("naïve 日本"))
    }

    @Test("rejects what RFC 8259 rejects, by default and with the wire's options", arguments: [
        "", " ", "{", "}", "[1,]", "{\"a\":1,}", "{\"a\" 1}", "{a:1}", "['a']", "01", "1.", ".5", "-", "+1", "1e", "1e+",
        "NaN", "Infinity", "tru", "nulls", "\"abc", "\"a\u{1}b\"", "\"\\x\"", "\"\\u12\"", "\"\\u12G4\"", "[1 2]", "1 2",
        "{\"a\":1}}", "[", "\u{FEFF}{}",
    ])
    func rejects(_ text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(text.utf8), options: Self.wire) }
    }

    static let wire = JSONParser.Options(maximumDepth: 64, rejectsLoneSurrogates: true)

    /// The wire server quotes reason and offset in its answer (`The request body is not valid JSON: … at byte …`).
    @Test("errors name what was wrong and the byte offset where it was found", arguments: [
        ("", "unexpected end of input", 0), ("{", "expected a member name", 1), (#"{"a" 1}"#, "expected ':'", 5),
        (#"{"a":1 "b":2}"#, "expected ',' or '}'", 7), ("[1 2]", "expected ',' or ']'", 3), ("[1,", "unexpected end of input", 3),
        (#"{"a":1"#, "unterminated object", 6), ("[1", "unterminated array", 2), ("tru", "invalid literal", 0),
        ("01", "invalid number", 2), ("-", "invalid number", 1), ("1.", "invalid number", 2), ("1e+", "invalid number", 3),
        ("x", "invalid number", 0), (#""abc"#, "unterminated string", 4), (#""a\"#, "unterminated escape", 3),
        (#""\x""#, "invalid escape", 3), (#""\u12""#, "truncated \\u escape", 3), (#""\u12G4""#, "invalid \\u escape", 3),
        ("\"a\u{1}\"", "unescaped control character in a string", 2), ("1 2", "unexpected text after the document", 2),
        (#""\ud800""#, "lone surrogate", 7), (#""\ud800\u0041""#, "lone surrogate", 13), (#""\udc00""#, "lone surrogate", 7),
        ("[1,]", "invalid number", 3), ("\u{FEFF}{}", "invalid number", 0),
        (String(repeating: "[", count: 65), "nested too deeply", 64),
    ])
    func errorWording(_ text: String, _ reason: String, _ offset: Int) {
        #expect(throws: JSONParseError(reason: reason, offset: offset)) { try JSONParser.parse(text, options: Self.wire) }
        #expect(throws: JSONParseError(reason: reason, offset: offset)) { try JSONParser.parse(Array(text.utf8), options: Self.wire) }
    }

    @Test("bytes that are not UTF-8 in a string are reported, not repaired")
    func invalidUTF8() throws {
        for bytes: [UInt8] in [[0x22, 0xC3, 0x28, 0x22], [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22],
                               [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22]] {
            #expect(throws: JSONParseError(reason: "invalid UTF-8 in a string", offset: bytes.count)) { try JSONParser.parse(bytes) }
        }
        #expect(throws: JSONParseError(reason: "invalid number", offset: 1)) { try JSONParser.parse([0x5B, 0xFF, 0x5D]) }
        #expect(try JSONParser.parse(Array("\"é😀\"".utf8)) == .string("é😀"))
    }

    @Test("lone surrogates are replaced by default and refused when asked; pairs are joined either way")
    func loneSurrogates() throws {
        let strict = JSONParser.Options(rejectsLoneSurrogates: true)
        #expect(try JSONParser.parse(#""\ud83d\ude00""#, options: strict) == .string("😀"))
        #expect(try JSONParser.parse(#""\udbff\udfff""#, options: strict) == .string("\u{10FFFF}"))
        for text in [#""\ud800""#, #""\ud800x""#, #""\udc00""#, #""\ud800\u0041""#, #""\ud800\ud800""#] {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(text, options: strict) }
            #expect(try JSONParser.parse(text) != .null)
        }
    }

    @Test("the policy options add only Foundation's leniencies and limits")
    func policyOptions() throws {
        #expect(try JSONParser.parse(#"{"a":[1,],}"#, options: .policy) == .object([("a", .array([.number(JSONNumber(1))]))]))
        #expect(try JSONParser.parse("\u{FEFF} {}", options: .policy) == .object([]))
        for text in ["[,]", "{,}", "[1,,]", " \u{FEFF}{}", "\u{FEFF}\u{FEFF}{}", "[1e400]", #"["\ud800"]"#] {
            #expect(throws: JSONParseError.self, "\(text)") { try JSONParser.parse(text, options: .policy) }
        }
        let deepest = String(repeating: "[", count: 512) + String(repeating: "]", count: 512)
        _ = try JSONParser.parse(deepest, options: .policy)
        #expect(throws: JSONParseError.self) { try JSONParser.parse("[" + deepest + "]", options: .policy) }
    }

    @Test("nesting is limited, and hostile depth fails cleanly")
    func depth() throws {
        let limit = JSONParser.maximumDepth
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        _ = try JSONParser.parse(deepest)
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(tooDeep) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: "[", count: 200_000)) }
        #expect(throws: JSONParseError.self) { try JSONParser.parse(String(repeating: #"{"a":"#, count: 100_000)) }
        let wireDeepest = String(repeating: "[", count: 64) + String(repeating: "]", count: 64)
        _ = try JSONParser.parse(Array(wireDeepest.utf8), options: Self.wire)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(Array(("[" + wireDeepest + "]").utf8), options: Self.wire) }
        let deepObject = String(repeating: #"{"a":"#, count: limit) + "1" + String(repeating: "}", count: limit)
        _ = try JSONParser.parse(deepObject)
    }

    @Test("random bytes and truncations never crash")
    func survivesGarbage() throws {
        var random = IDGenerator(seed: 42)
        let alphabet = Array(#"{}[]",:\/"0123456789.-+eEtrufalsn \u00abcdef"#.utf8) + [0x00, 0x1F, 0x7F]
        for _ in 0..<20_000 {
            let count = random.int(0...40)
            let bytes = (0..<count).map { _ in random.pick(alphabet) }
            _ = try? JSONParser.parse(String(decoding: bytes, as: UTF8.self))
        }
        for _ in 0..<300 {
            let text = Self.randomJSON(&random, depth: 0).jsonText
            for end in text.indices {
                _ = try? JSONParser.parse(String(text[..<end]))
            }
        }
    }

    @Test("round trip of random documents")
    func roundTrip() throws {
        var random = IDGenerator(seed: 7)
        for _ in 0..<2_000 {
            let value = Self.randomJSON(&random, depth: 0)
            let parsed = try JSONParser.parse(value.jsonText)
            #expect(parsed == value)
        }
    }

    @Test("numbers compare in decimal after rounding to five places")
    func numbers() {
        func scaled(_ text: String) -> Int64? { JSONNumber(validatedText: text).scaled }
        #expect(scaled("301.5") == 30_150_000)
        #expect(scaled("301.500") == 30_150_000)
        #expect(scaled("3.015e2") == 30_150_000)
        #expect(scaled("30150000e-5") == 30_150_000)
        #expect(scaled("0.000005") == 1)
        #expect(scaled("-0.000005") == -1)
        #expect(scaled("0.0000049") == 0)
        #expect(scaled("-0") == 0)
        #expect(scaled("0e99999999999") == 0)
        #expect(scaled("1e-99999999") == 0)
        #expect(scaled("1e99999999") == nil)
        #expect(scaled("9999999999999") == 999_999_999_999_900_000)
        #expect(scaled("10000000000000") == nil)
        #expect(scaled("100.123456789") == scaled("100.1234567"))
        #expect(scaled("0.1") == 10_000 && scaled("0.2") == 20_000)
        #expect(JSONNumber(validatedText: "1e300").numericallyEquals(JSONNumber(validatedText: "10e299")))
        #expect(!JSONNumber(validatedText: "1e300").numericallyEquals(JSONNumber(validatedText: "1")))
        #expect(JSONNumber(validatedText: "1000000000").isWithinMatchingRange)
        #expect(!JSONNumber(validatedText: "1000000000.00001").isWithinMatchingRange)

        #expect(JSONNumber.parseAttribute("+2.50")?.scaled == 250_000)
        #expect(JSONNumber.parseAttribute(".5")?.scaled == 50_000)
        #expect(JSONNumber.parseAttribute("6.")?.scaled == 600_000)
        for invalid in ["", "-", ".", "1e", "e5", "1.2.3", "0x10", " 1", "1 ", "nan", "∞"] {
            #expect(JSONNumber.parseAttribute(invalid) == nil, "\(invalid)")
        }
    }

    static func randomJSON(_ random: inout IDGenerator, depth: Int) -> JSONValue {
        switch random.int(0...(depth < 4 ? 7 : 5)) {
        case 0: return .null
        case 1: return .bool(random.chance(0.5))
        case 2:
            let text = random.pick(["0", "-1", "3.25", "1e5", "-0.5E-3", "123456789012345678901234567890", "2.50"])
            return .number(JSONNumber(validatedText: text))
        case 3, 4, 5:
            let pieces = ["a", "é", "\"", "\\", "/", "\n", "\u{1}", "😀", " ", "\u{7F}", "日本"]
            return .string((0..<random.int(0...4)).map { _ in random.pick(pieces) }.joined())
        case 6:
            return .array((0..<random.int(0...3)).map { _ in randomJSON(&random, depth: depth + 1) })
        default:
            return .object((0..<random.int(0...3)).map { _ -> JSONValue.Member in
                (key: random.pick(["a", "b", "", "a.b", "ü"]), value: randomJSON(&random, depth: depth + 1))
            })
        }
    }
}

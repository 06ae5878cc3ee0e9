import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

@Suite("JSON writer")
struct JSONWriterTests {
    @Test("a string literal escapes quotes, backslashes and control characters, letters where JSON has them", arguments: [
        ("", "\"\""),
        ("plain", "\"plain\""),
        ("say \"hi\"", "\"say \\\"hi\\\"\""),
        ("back\\slash", "\"back\\\\slash\""),
        ("line\nfeed\ttab\r\u{8}\u{c}", "\"line\\nfeed\\ttab\\r\\b\\f\""),
        ("\u{0}\u{1f}", "\"\\u0000\\u001f\""),
        ("exactly8\"", "\"exactly8\\\"\""),
        ("é — ✓ 😀 \"", "\"é — ✓ 😀 \\\"\""),
    ])
    func quotedEscapesWhatJSONRequires(_ text: String, _ expected: String) {
        #expect(JSONText.quoted(text) == expected)
    }

    @Test("a quoted random text parses back to the original")
    func quotedTextParsesBackToTheOriginalForRandomText() throws {
        // Quotes, backslashes and control characters at every offset of the 8-byte words, with multibyte characters.
        let alphabet: [Character] = ["a", "Z", "0", " ", "\"", "\\", "\n", "\u{1}", "\u{1f}", "\u{7f}", "é", "✓", "😀", "/"]
        var random = IDGenerator(seed: 3)
        for _ in 0..<2_000 {
            let length = Int(random.next() % 40)
            let text = String((0..<length).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] })
            var bytes: [UInt8] = [UInt8(ascii: "[")]
            JSONText.appendQuoted(text, to: &bytes)
            bytes.append(UInt8(ascii: "]"))
            let parsed = try JSONSerialization.jsonObject(with: Data(bytes)) as? [String]
            #expect(parsed == [text])
        }
    }

    @Test("a document is written compactly, members in order and repeated, numbers as written")
    func documents() throws {
        let value = JSONValue.object([
            ("b", .array([.number(JSONNumber(1)), .number(JSONNumber(validatedText: "-0.5e+3")), .null, .bool(true), .bool(false)])),
            ("a", .object([("x", .null), ("x", .string(""))])),
            ("say \"hi\"", .string("tab\tquote\"slash\\ctl\u{1}\u{8}\u{C}\u{7F}é😀/")),
            ("", .object([])),
            ("e", .array([])),
        ])
        let expected = #"{"b":[1,-0.5e+3,null,true,false],"a":{"x":null,"x":""},"say \"hi\"":"tab\tquote\"slash\\ctl\u0001\b\f"# + "\u{7F}é😀/\"," + #""":{},"e":[]}"#
        #expect(value.jsonText == expected)
        #expect(value.jsonBytes == Array(expected.utf8))
        var bytes: [UInt8] = [0xAA]
        value.write(to: &bytes)
        #expect(bytes == [0xAA] + Array(expected.utf8))
    }

    @Test("a string value is written exactly as an envelope quotes it")
    func stringsAsEnvelopes() {
        var random = IDGenerator(seed: 11)
        let pieces = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) } + ["a", "xxxxxxxx", "\"", "\\", "é", "🎉", "\u{7F}", "/"]
        for _ in 0..<500 {
            let text = (0..<Int(random.next() % 30)).map { _ in pieces[Int(random.next() % UInt64(pieces.count))] }.joined()
            #expect(JSONValue.string(text).jsonText == JSONText.quoted(text))
            #expect(JSONValue.object([(text, .null)]).jsonText == "{" + JSONText.quoted(text) + ":null}")
        }
    }

    @Test("what the writer writes, the parser reads back as the same value")
    func roundTrips() throws {
        var random = IDGenerator(seed: 5)
        for _ in 0..<2_000 {
            let value = JSONParserTests.randomJSON(&random, depth: 0)
            #expect(try JSONParser.parse(value.jsonText) == value)
            #expect(try JSONParser.parse(value.jsonBytes, options: .init(rejectsLoneSurrogates: true)) == value)
        }
    }
}

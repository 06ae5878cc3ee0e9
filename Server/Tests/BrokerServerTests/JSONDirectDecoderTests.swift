@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Testing

/// The direct JSON decoder against the general one (parser, tree, shape): it must take what SDKs send, to the very
/// same fields, and give up on everything else so that the general decoder accepts or refuses it as before.
@Suite("Direct JSON decoding")
struct JSONDirectDecoderTests {
    /// A shape of every kind, beside the operations' own.
    static let everyKind = Structure([
        Member("Text", .string), Member("Count", .integer), Member("Flag", .boolean), Member("Bytes", .blob),
        Member("Names", .list(.string)), Member("Tags", .map(.string, key: "Key", value: "Value")),
        Member("Nested", .structure(Structure([Member("Inner", .integer, required: true)]))),
        Member("Entries", .list(.structure(Structure([Member("Id", .string)])))),
    ])

    /// The wire's parser options, as `WireService` reads a body.
    static let wireOptions = JSONParser.Options(maximumDepth: 64, rejectsLoneSurrogates: true)

    static func shape(_ name: String) -> Structure {
        if let operation = SQSOperations.all[name] { return operation.input }
        return everyKind
    }

    static func direct(_ body: String, _ shape: Structure) -> [String: WireValue]? {
        Array(body.utf8).withUnsafeBytes { JSONDirectDecoder.decode($0, as: shape) }
    }

    static func general(_ body: String, _ shape: Structure) throws -> [String: WireValue] {
        try JSONCodec.decode(JSONParser.parse(Array(body.utf8), options: Self.wireOptions), as: shape)
    }

    @Test("The direct decoder reads what SDKs send to the same fields as the general decoder", arguments: [
        ("SendMessage", #"{"QueueUrl":"http://localhost:4566/000000000000/q","MessageBody":"hello"}"#),
        ("SendMessage", #"{"QueueUrl": "q", "MessageBody": "line\nbreak \"quoted\" back\\slash \/ é 😀\t", "DelaySeconds": 5}"#),
        ("SendMessage", #" { "MessageBody" : "x" , "MessageAttributes" : { "color" : { "DataType" : "String", "StringValue" : "red" }, "bin" : { "DataType" : "Binary", "BinaryValue" : "AAEC" } } } "#),
        ("SendMessage", #"{"QueueUrl":"q","MessageBody":"first","MessageBody":"second"}"#),
        ("SendMessageBatch", #"{"QueueUrl":"q","Entries":[{"Id":"0","MessageBody":"a"},{"Id":"1","MessageBody":"b","DelaySeconds":0}]}"#),
        ("ReceiveMessage", #"{"QueueUrl":"q","MaxNumberOfMessages":10,"WaitTimeSeconds":0,"MessageAttributeNames":["All"],"AttributeNames":[]}"#),
        ("DeleteMessageBatch", #"{"QueueUrl":"q","Entries":[{"Id":"a","ReceiptHandle":"h1"},{"Id":"b","ReceiptHandle":"h2"}]}"#),
        ("ChangeMessageVisibility", #"{"QueueUrl":"q","ReceiptHandle":"h","VisibilityTimeout":-9223372036854775808}"#),
        ("GetQueueUrl", "{}"),
        ("Kinds", #"{"Text":"","Count":0,"Flag":true,"Bytes":"","Names":["a","b"],"Tags":{},"Nested":{"Inner":-12},"Entries":[]}"#),
        ("Kinds", #"{"Flag":false,"Count":9223372036854775807,"Tags":{"k\"ey":"v","k\"ey":"w"}}"#),
    ])
    func takesWhatSDKsSend(_ operation: String, _ body: String) throws {
        let shape = Self.shape(operation)
        let fields = try #require(Self.direct(body, shape))
        #expect(fields == (try Self.general(body, shape)))
    }

    @Test("The direct decoder leaves to the general decoder every body it does not take", arguments: [
        "", " ", "[]", "\"text\"", "{", "{}x", "{} {}", #"{"Text":"a",}"#, #"{"Text":"a""Count":1}"#, #"{"Text" "a"}"#,
        #"{"Unknown":1}"#, #"{"Text":null}"#, #"{"Text":"\u0041"}"#, #"{"Text":"\ud800"}"#, #"{"Te\u0078t":"a"}"#,
        #"{"Text":"bad \q escape"}"#, "{\"Text\":\"raw\ttab\"}", #"{"Text":"unterminated}"#, #"{"Text":1}"#,
        #"{"Count":1.0}"#, #"{"Count":1e2}"#, #"{"Count":01}"#, #"{"Count":-}"#, #"{"Count":9223372036854775808}"#,
        #"{"Count":"1"}"#, #"{"Flag":tru}"#, #"{"Flag":1}"#, #"{"Bytes":"not base64!"}"#, #"{"Names":"a"}"#,
        #"{"Names":["a",]}"#, #"{"Names":[1]}"#, #"{"Tags":{"k":1}}"#, #"{"Tags":{"k":null}}"#, #"{"Nested":[]}"#,
        #"{"Entries":[{"Id":"a"},{"Other":"b"}]}"#,
    ])
    func givesUpOnTheRest(_ body: String) {
        #expect(Self.direct(body, Self.everyKind) == nil)
    }

    @Test("The direct decoder gives up on invalid UTF-8 in a string, escaped or not")
    func givesUpOnInvalidUTF8() {
        for prefix in [#"{"Text":"a"#, #"{"Text":"\n"#] {
            let body = Array(prefix.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8)
            #expect(body.withUnsafeBytes { JSONDirectDecoder.decode($0, as: Self.everyKind) } == nil)
            #expect(throws: JSONParseError.self) { try JSONParser.parse(body, options: Self.wireOptions) }
        }
    }

    @Test("The direct decoder gives up on a list or map beyond the element limit, which the general decoder refuses")
    func givesUpBeyondTheElementLimit() throws {
        let limit = QueryCodec.maximumElements
        let full = #"{"Names":["# + Array(repeating: #""n""#, count: limit).joined(separator: ",") + "]}"
        #expect(Self.direct(full, Self.everyKind) == (try Self.general(full, Self.everyKind)))
        let over = #"{"Names":["# + Array(repeating: #""n""#, count: limit + 1).joined(separator: ",") + "]}"
        #expect(Self.direct(over, Self.everyKind) == nil)
        #expect(throws: ShapeMismatch.self) { try Self.general(over, Self.everyKind) }
        let map = #"{"Tags":{"# + (0...limit).map { #""k\#($0)":"v""# }.joined(separator: ",") + "}}"
        #expect(Self.direct(map, Self.everyKind) == nil)
        #expect(throws: ShapeMismatch.self) { try Self.general(map, Self.everyKind) }
    }
}

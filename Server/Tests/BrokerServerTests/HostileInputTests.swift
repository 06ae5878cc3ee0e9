import Broker
@testable import BrokerServer
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import Testing

/// Requests a hostile client sends: each costs bounded work and gets a well-formed AWS answer.
@Suite("Hostile input")
struct HostileInputTests {
    static func form(_ text: String) -> WireRequest {
        WireRequest(headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(text.utf8))
    }

    /// Whether `text` is a well-formed XML document, as a client's parser reads it.
    static func isWellFormedXML(_ text: String) -> Bool {
        XMLParser(data: Data(text.utf8)).parse()
    }

    struct Huge: CustomTestStringConvertible, Sendable {
        let name: String
        let form: String
        var testDescription: String { name }
    }

    static let queueUrl = "http://127.0.0.1/000000000000/orders"
    static let huge: [Huge] = [
        Huge(name: "SendMessageBatch with 20,000 entries", form: "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=\(queueUrl)"
            + (1...20_000).map { "&SendMessageBatchRequestEntry.\($0).Id=e\($0)&SendMessageBatchRequestEntry.\($0).MessageBody=b" }.joined()),
        Huge(name: "SendMessage with 20,000 message attributes", form: "Action=SendMessage&Version=2012-11-05&QueueUrl=\(queueUrl)&MessageBody=b"
            + (1...20_000).map { "&MessageAttribute.\($0).Name=n\($0)&MessageAttribute.\($0).Value.DataType=String&MessageAttribute.\($0).Value.StringValue=v" }.joined()),
        Huge(name: "PublishBatch with 20,000 entries", form: "Action=PublishBatch&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:000000000000:t"
            + (1...20_000).map { "&PublishBatchRequestEntries.member.\($0).Id=e\($0)&PublishBatchRequestEntries.member.\($0).Message=m" }.joined()),
    ]

    @Test("A form far beyond AWS's limits is refused on a count of its parameters", arguments: huge)
    func hugeFormIsRefusedUpFront(_ input: Huge) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        let response = await WireService(broker: broker).respond(to: Self.form(input.form))
        #expect(response.status == 400)
        #expect(response.text.contains("<Code>InvalidQueryParameter</Code>"), "\(response.text.prefix(300))")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("A list past 1,000 elements in a form within the parameter limit is refused before it is decoded")
    func longListIsRefusedBeforeDecoding() async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        let form = "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=\(Self.queueUrl)"
            + (1...2_000).map { "&SendMessageBatchRequestEntry.\($0).Id=e\($0)&SendMessageBatchRequestEntry.\($0).MessageBody=b" }.joined()
        let response = await WireService(broker: broker).respond(to: Self.form(form))
        #expect(response.status == 400)
        #expect(response.text.contains("2000 elements, more than the 1000 accepted"), "\(response.text.prefix(300))")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("A JSON list or map past 1,000 elements is refused before it is decoded", arguments: [
        #"{"QueueUrl": "\#(queueUrl)", "Entries": [\#((1...1_001).map { #"{"Id": "e\#($0)", "MessageBody": "b"}"# }.joined(separator: ","))]}"#,
        #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "b", "MessageAttributes": {\#((1...1_001).map { #""n\#($0)": {"DataType": "String", "StringValue": "v"}"# }.joined(separator: ","))}}"#,
    ])
    func longJSONListIsRefused(body: String) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        let operation = body.contains("Entries") ? "SendMessageBatch" : "SendMessage"
        let response = await WireService(broker: broker).respond(to: WireRequest(
            headers: [("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0")], body: Array(body.utf8)))
        #expect(response.status == 400)
        #expect(response.text.contains("1001 elements, more than the 1000 accepted"), "\(response.text.prefix(300))")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("The form index finds every list's element numbers in one pass, in order, however the form is ordered")
    func formIndexFindsElements() {
        let form = QueryForm([
            "Entry.10.Id": "j", "Entry.2.Id": "b", "Entry.2.Attribute.3.Name": "x", "Entry.2.Attribute.1.Name": "y",
            "Entry.0.Id": "zero is no element", "Entry.x.Id": "nor is a name", "Entry.12345678901.Id": "nor ten digits",
        ])
        #expect(form.elements(under: "Entry") == [2, 10])
        #expect(form.elements(under: "Entry.2.Attribute") == [1, 3])
        #expect(form.elements(under: "Entry.10.Attribute") == [])
        #expect(form.elements(under: "Nothing") == [])
    }

    @Test("A list of exactly the cap reaches the operation and gets AWS's own error")
    func listAtTheCapGetsTheOperationsError() async throws {
        let broker = Broker()
        _ = try broker.createQueue(named: "orders")
        let form = "Action=SendMessageBatch&Version=2012-11-05&QueueUrl=\(Self.queueUrl)"
            + (1...QueryCodec.maximumElements).map { "&SendMessageBatchRequestEntry.\($0).Id=e\($0)&SendMessageBatchRequestEntry.\($0).MessageBody=b" }.joined()
        let response = await WireService(broker: broker).respond(to: Self.form(form))
        #expect(response.text.contains("<Code>AWS.SimpleQueueService.TooManyEntriesInBatchRequest</Code>"))
    }

    static let echoes: [String] = [
        "Action=SendMessage&Version=2012-11-05&QueueUrl=\(queueUrl)&MessageBody=m&DelaySeconds=%01",
        "Action=%01%02&Version=2012-11-05",
        "Action=GetQueueAttributes&Version=2012-11-05&QueueUrl=\(queueUrl)&AttributeName.1=%01%0B%1F",
        "Action=Subscribe&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:000000000000:t&Protocol=%01&Endpoint=x",
        "Action=CreateQueue&Version=2012-11-05&QueueName=%EF%BF%BE%EF%BF%BF",
    ]

    @Test("Control characters echoed in an error never make the XML ill-formed", arguments: echoes)
    func echoedControlCharactersStayWellFormed(_ form: String) async throws {
        let broker = Broker()
        _ = try broker.createQueue(named: "orders")
        _ = try broker.createTopic(named: "t")
        let response = await WireService(broker: broker).respond(to: Self.form(form))
        #expect(response.status == 400)
        #expect(Self.isWellFormedXML(response.text), "\(response.text)")
    }

    @Test("The XML writer replaces what XML 1.0 forbids and keeps tab, LF and an escaped CR")
    func xmlWriterNeverWritesForbiddenCharacters() {
        let escaped = XMLWriter.escape("a\u{0}b\u{1}c\u{1F}d\u{FFFE}e\u{FFFF}f\tg\nh\ri<&>\"")
        #expect(escaped == "a\u{FFFD}b\u{FFFD}c\u{FFFD}d\u{FFFD}e\u{FFFD}f\tg\nh&#xD;i&lt;&amp;&gt;&quot;")
        var xml = XMLWriter()
        xml.element("Value", text: String((0...0x1F).map { Character(Unicode.Scalar(UInt8($0))) }))
        #expect(Self.isWellFormedXML(xml.text))
    }

    @Test("An error that echoes a huge value is cut to a bounded length")
    func echoedValuesAreTruncated() async throws {
        let deep = String(repeating: "[", count: 100_000)
        let error = BrokerError.Code.invalidAttributeValue
        let message = BrokerError(error, "Value \(deep) for parameter RedrivePolicy is invalid.").message
        #expect(message.utf8.count <= BrokerError.maximumMessageLength)
        #expect(message.hasSuffix("…"))
        #expect(message.hasPrefix("Value [[["))
        let short = BrokerError(error, "Invalid value for the parameter VisibilityTimeout.").message
        #expect(short == "Invalid value for the parameter VisibilityTimeout.")

        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        let response = await WireService(broker: broker).respond(to: Self.form(
            "Action=SetQueueAttributes&Version=2012-11-05&QueueUrl=\(Self.queueUrl)&Attribute.1.Name=RedrivePolicy&Attribute.1.Value=\(deep)"))
        #expect(response.status == 400)
        #expect(response.body.count < 4_096)
        #expect(try queue.configuration().redrivePolicy == nil)
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import NIOCore
import Testing

/// The typed path of the hot SQS operations against the general path: for valid and invalid bodies alike, the same
/// status, headers and body (ids and receipt handles aside, which differ per broker), and the same queue afterwards.
@Suite("Typed operations")
struct TypedOperationTests {
    /// A request to answer both ways. `{q}` is the standard queue's URL, `{f}` the FIFO queue's, `{h1}` and `{h2}`
    /// the receipt handles of the two messages received in the set-up; `typed` says whether the typed reader takes
    /// the body (else the general path answers both times).
    struct Case: CustomTestStringConvertible, Sendable {
        let operation: String
        let body: String
        let typed: Bool
        var signed = true
        var testDescription: String { "\(operation) \(body)" }
    }

    static let cases: [Case] = [
        // SendMessage
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"hello"}"#, typed: true),
        Case(operation: "SendMessage", body: #" { "QueueUrl" : "{q}" , "MessageBody" : "a\"b\\c\n\t/" , "DelaySeconds" : 5 } "#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"h\u00e9"}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"héllo ☃"}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","DelaySeconds":901}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","DelaySeconds":-1}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","DelaySeconds":1.5}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","DelaySeconds":"1"}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":""}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}"}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"MessageBody":"x"}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":null}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","Unknown":1}"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x""#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x"} x"#, typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"http://h:1/000000000000/missing","MessageBody":"x"}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","MessageGroupId":"g"}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x","MessageAttributes":{"a":{"DataType":"String","StringValue":"v"}}}"#,
             typed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{f}","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"d"}"#,
             typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{f}","MessageBody":"x"}"#, typed: true),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","MessageBody":"x"}"#, typed: true, signed: false),
        Case(operation: "SendMessage", body: #"{"QueueUrl":"{q}","QueueUrl":"{f}","MessageBody":"x","MessageGroupId":"g","MessageDeduplicationId":"d"}"#,
             typed: true),
        // ReceiveMessage
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","MaxNumberOfMessages":10}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","MaxNumberOfMessages":10,"WaitTimeSeconds":0,"VisibilityTimeout":0}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","MaxNumberOfMessages":10,"AttributeNames":["All"],"MessageAttributeNames":["All"]}"#,
             typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","MessageSystemAttributeNames":["SentTimestamp","ApproximateReceiveCount"],"MaxNumberOfMessages":3}"#,
             typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","MaxNumberOfMessages":11}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","WaitTimeSeconds":21}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","VisibilityTimeout":43201}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","AttributeNames":"All"}"#, typed: false),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}","AttributeNames":[1]}"#, typed: false),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{f}","ReceiveRequestAttemptId":"a b"}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{f}","ReceiveRequestAttemptId":"attempt-1","MaxNumberOfMessages":2}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"MaxNumberOfMessages":1}"#, typed: false),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"missing"}"#, typed: true),
        Case(operation: "ReceiveMessage", body: #"{"QueueUrl":"{q}"}"#, typed: true, signed: false),
        // DeleteMessageBatch
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","ReceiptHandle":"{h1}"},{"Id":"b","ReceiptHandle":"{h2}"}]}"#,
             typed: true),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","ReceiptHandle":"{h1}"},{"Id":"b","ReceiptHandle":"bogus"}]}"#,
             typed: true),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","ReceiptHandle":"{h1}"},{"Id":"a","ReceiptHandle":"{h2}"}]}"#,
             typed: true),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[]}"#, typed: true),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a"}]}"#, typed: false),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a b","ReceiptHandle":"{h1}"}]}"#, typed: true),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","ReceiptHandle":"{h1}","Extra":true}]}"#, typed: false),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}","Entries":{"Id":"a"}}"#, typed: false),
        Case(operation: "DeleteMessageBatch", body: #"{"QueueUrl":"{q}"}"#, typed: false),
        Case(operation: "DeleteMessageBatch",
             body: #"{"QueueUrl":"{q}","Entries":["# + (1...11).map { #"{"Id":"\#($0)","ReceiptHandle":"{h1}"}"# }.joined(separator: ",") + "]}",
             typed: true),
        // SendMessageBatch
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"two","DelaySeconds":3}]}"#,
             typed: true),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","MessageBody":"one"},{"Id":"b","MessageBody":"x","DelaySeconds":901}]}"#,
             typed: true),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a","MessageBody":"one"},{"Id":"a","MessageBody":"two"}]}"#,
             typed: true),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{f}","Entries":[{"Id":"a","MessageBody":"one","MessageGroupId":"g","MessageDeduplicationId":"1"}]}"#,
             typed: true),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{f}","Entries":[{"Id":"a","MessageBody":"one"}]}"#, typed: true),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[{"Id":"a"}]}"#, typed: false),
        Case(operation: "SendMessageBatch", body: #"{"QueueUrl":"{q}","Entries":[]}"#, typed: true),
        // DeleteMessage
        Case(operation: "DeleteMessage", body: #"{"QueueUrl":"{q}","ReceiptHandle":"{h1}"}"#, typed: true),
        Case(operation: "DeleteMessage", body: #"{"QueueUrl":"{q}","ReceiptHandle":"bogus"}"#, typed: true),
        Case(operation: "DeleteMessage", body: #"{"QueueUrl":"{q}"}"#, typed: false),
    ]

    @Test("The typed path and the general path give the same answer and leave the same queues", arguments: cases)
    func typedAndGeneralPathsAgree(_ testCase: Case) throws {
        let typed = try Self.answer(testCase, typedOperations: true)
        let general = try Self.answer(testCase, typedOperations: false)
        #expect(typed.status == general.status)
        #expect(typed.headers == general.headers)
        #expect(typed.body == general.body)
        #expect(typed.queues == general.queues)
    }

    @Test("The typed readers take the plain bodies SDKs send and leave every other body to the general path",
          arguments: cases)
    func typedReadersTakeOnlyPlainBodies(_ testCase: Case) throws {
        let body = ByteBuffer(string: testCase.body.replacing("{q}", with: "http://h:1/000000000000/q")
            .replacing("{f}", with: "http://h:1/000000000000/f.fifo").replacing("{h1}", with: "h1").replacing("{h2}", with: "h2"))
        let taken: Bool = switch testCase.operation {
        case "SendMessage": TypedInput.sendMessage(body) != nil
        case "ReceiveMessage": TypedInput.receiveMessage(body) != nil
        case "DeleteMessageBatch": TypedInput.deleteMessageBatch(body) != nil
        case "SendMessageBatch": TypedInput.sendMessageBatch(body) != nil
        case "DeleteMessage": TypedInput.deleteMessage(body) != nil
        default: false
        }
        #expect(taken == testCase.typed)
    }

    @Test("A typed reader gives the values the body holds, the last of a repeated member winning")
    func typedReaderGivesTheBodysValues() throws {
        let send = try #require(TypedInput.sendMessage(ByteBuffer(string:
            #"{"QueueUrl":"a","MessageBody":"x\ty","DelaySeconds":-0,"QueueUrl":"b","MessageGroupId":"g"}"#)))
        #expect(send == TypedInput.SendMessage(queueUrl: "b", message: .init(body: "x\ty", delaySeconds: 0, messageGroupId: "g")))
        let receive = try #require(TypedInput.receiveMessage(ByteBuffer(string:
            #"{"QueueUrl":"q","AttributeNames":[],"MessageAttributeNames":["a","b"],"WaitTimeSeconds":20}"#)))
        #expect(receive == TypedInput.ReceiveMessage(queueUrl: "q", messageAttributeNames: ["a", "b"], waitTimeSeconds: 20))
        let delete = try #require(TypedInput.deleteMessageBatch(ByteBuffer(string:
            #"{"Entries":[{"ReceiptHandle":"r","Id":"1"}],"QueueUrl":"q"}"#)))
        #expect(delete == TypedInput.DeleteMessageBatch(queueUrl: "q", entries: [("1", "r")]))
        let many = #"{"QueueUrl":"q","Entries":["# + Array(repeating: #"{"Id":"1","ReceiptHandle":"r"}"#,
                                                            count: QueryCodec.maximumElements + 1).joined(separator: ",") + "]}"
        #expect(TypedInput.deleteMessageBatch(ByteBuffer(string: many)) == nil)
    }

    // MARK: Answering both ways

    private struct Outcome: Equatable {
        let status: Int
        let headers: [String]
        let body: String
        /// Visible, in flight and delayed, per queue.
        let queues: [String]
    }

    /// The answer of a broker with two queues, `q` holding four messages (two received, one with an attribute) and
    /// `f.fifo` one, with ids, handles and sequence numbers (which differ per broker) replaced by placeholders.
    private static func answer(_ testCase: Case, typedOperations: Bool) throws -> Outcome {
        let broker = Broker(clock: ManualClock())
        let queue = try broker.createQueue(named: "q")
        let fifo = try broker.createQueue(named: "f.fifo", awsAttributes: ["FifoQueue": "true"])
        try fifo.sendMessage("first", messageGroupId: "g", messageDeduplicationId: "d0")
        try queue.sendMessage("one")
        try queue.sendMessage("two")
        let received = try #require(try queue.receiveMessagesWithoutWaiting(maxNumberOfMessages: 2, visibilityTimeout: .seconds(0)))
        try #require(received.count == 2)
        try queue.sendMessage("three <&>", messageAttributes: ["color": .string("red")])
        try queue.sendMessage("four")
        var service = WireService(broker: broker)
        service.typedOperations = typedOperations
        if !testCase.signed { service.access = AccessPolicy(loopbackOnly: false, requireSignature: true) }
        let body = testCase.body.replacing("{q}", with: queue.url).replacing("{f}", with: fifo.url)
            .replacing("{h1}", with: received[0].receiptHandle).replacing("{h2}", with: received[1].receiptHandle)
        var headers = [("X-Amz-Target", "AmazonSQS.\(testCase.operation)"), ("Content-Type", "application/x-amz-json-1.0"),
                       ("Host", "localhost:4566")]
        if testCase.signed {
            headers.append(("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20261206/us-east-1/sqs/aws4_request, Signature=0"))
        }
        guard case .now(let response) = service.answer(WireRequest(headers: headers, body: Array(body.utf8))) else {
            Issue.record("\(testCase.operation) was left to wait")
            return Outcome(status: 0, headers: [], body: "", queues: [])
        }
        var text = response.text.replacing(received[0].receiptHandle, with: "{h1}").replacing(received[1].receiptHandle, with: "{h2}")
        text = text.replacing(#/"(MessageId|ReceiptHandle|SequenceNumber)":"[^"]*"/#) { "\"\($0.output.1)\":\"*\"" }
        let names = response.headers.map { "\($0.name): \($0.name == "x-amzn-RequestId" ? "*" : $0.value)" }
        let queues = try [queue, fifo].map { queue in
            let statistics = try queue.statistics()
            return "\(queue.name) \(statistics.approximateNumberOfMessages) \(statistics.approximateNumberOfMessagesNotVisible) "
                + "\(statistics.approximateNumberOfMessagesDelayed)"
        }
        return Outcome(status: response.status, headers: names, body: text, queues: queues)
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Testing

/// A malformed request and the AWS-shaped answer it must get.
struct BadInput: CustomTestStringConvertible, Sendable {
    let name: String
    let request: WireRequest
    let status: Int
    /// JSON: the `__type`; Query: the `<Code>`.
    let code: String
    /// JSON only: the `x-amzn-query-error` header.
    let queryError: String?

    var testDescription: String { name }

    static let queueUrl = "http://127.0.0.1/000000000000/orders"

    static func json(_ name: String, _ body: [UInt8], target: String = "AmazonSQS.SendMessage", status: Int = 400,
                     type: String, queryError: String) -> BadInput {
        BadInput(name: name, request: WireRequest(headers: [("X-Amz-Target", target), ("Content-Type", "application/x-amz-json-1.0")],
                                                  body: body),
                 status: status, code: type, queryError: queryError)
    }

    static func json(_ name: String, _ body: String, target: String = "AmazonSQS.SendMessage", status: Int = 400,
                     type: String, queryError: String) -> BadInput {
        json(name, Array(body.utf8), target: target, status: status, type: type, queryError: queryError)
    }

    static func query(_ name: String, _ form: String, status: Int = 400, code: String) -> BadInput {
        BadInput(name: name, request: WireRequest(headers: [("Content-Type", "application/x-www-form-urlencoded")], body: Array(form.utf8)),
                 status: status, code: code, queryError: nil)
    }

    static let serialization = "com.amazon.coral.service#SerializationException"
    static let cases: [BadInput] = [
        json("truncated JSON", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "#, type: serialization, queryError: "MalformedInput;Sender"),
        json("JSON that is not an object", "[1, 2]", type: serialization, queryError: "MalformedInput;Sender"),
        json("trailing garbage after the JSON", #"{"QueueUrl": "x"} {"#, type: serialization, queryError: "MalformedInput;Sender"),
        json("a string where an integer belongs", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "DelaySeconds": "5"}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("a fraction where an integer belongs", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "DelaySeconds": 1.5}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("an integer beyond 64 bits", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "DelaySeconds": 99999999999999999999999}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("a list where a map belongs", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "MessageAttributes": []}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("a number where a string belongs", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": 42}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("binary that is not base64",
             #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "MessageAttributes": {"b": {"DataType": "Binary", "BinaryValue": "%%%"}}}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("invalid UTF-8 in a string", Array(#"{"QueueUrl": "\#(queueUrl)", "MessageBody": ""#.utf8) + [0xC3, 0x28] + Array(#""}"#.utf8),
             type: serialization, queryError: "MalformedInput;Sender"),
        json("a lone surrogate escape", #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "\uD800"}"#,
             type: serialization, queryError: "MalformedInput;Sender"),
        json("nesting ten thousand deep", String(repeating: "[", count: 10_000),
             type: serialization, queryError: "MalformedInput;Sender"),
        json("a missing required member", #"{"QueueUrl": "\#(queueUrl)"}"#,
             type: "com.amazon.coral.service#MissingRequiredParameterException", queryError: "MissingParameter;Sender"),
        json("a missing required member of a batch entry", #"{"QueueUrl": "\#(queueUrl)", "Entries": [{"MessageBody": "m"}]}"#,
             target: "AmazonSQS.SendMessageBatch",
             type: "com.amazon.coral.service#MissingRequiredParameterException", queryError: "MissingParameter;Sender"),
        json("no QueueUrl", #"{"MessageBody": "m"}"#,
             type: "com.amazonaws.sqs#QueueDoesNotExist", queryError: "AWS.SimpleQueueService.NonExistentQueue;Sender"),
        json("a QueueUrl of another account", #"{"QueueUrl": "http://127.0.0.1/111111111111/orders", "MessageBody": "m"}"#,
             type: "com.amazonaws.sqs#QueueDoesNotExist", queryError: "AWS.SimpleQueueService.NonExistentQueue;Sender"),
        json("an out-of-range value", #"{"QueueUrl": "\#(queueUrl)", "WaitTimeSeconds": 21}"#, target: "AmazonSQS.ReceiveMessage",
             type: "com.amazon.coral.service#InvalidParameterValueException", queryError: "InvalidParameterValue;Sender"),
        json("an unknown SQS operation", "{}", target: "AmazonSQS.Frobnicate",
             type: "com.amazon.coral.service#UnknownOperationException", queryError: "InvalidAction;Sender"),
        json("another service's target", "{}", target: "DynamoDB_20120810.ListTables",
             type: "com.amazon.coral.service#UnknownOperationException", queryError: "InvalidAction;Sender"),
        json("list-valued message attributes",
             #"{"QueueUrl": "\#(queueUrl)", "MessageBody": "m", "MessageAttributes": {"t": {"DataType": "String.list", "StringListValues": ["a"]}}}"#,
             type: "com.amazonaws.sqs#UnsupportedOperation", queryError: "AWS.SimpleQueueService.UnsupportedOperation;Sender"),
        query("an unknown SQS action", "Action=Frobnicate&Version=2012-11-05", code: "InvalidAction"),
        query("no Action", "Version=2012-11-05&QueueName=orders", code: "UnknownOperationException"),
        query("an empty form", "", code: "UnknownOperationException"),
        query("a non-numeric integer", "Action=ReceiveMessage&Version=2012-11-05&QueueUrl=\(queueUrl)&MaxNumberOfMessages=ten",
              code: "InvalidParameterValue"),
        query("a broken percent escape", "Action=SendMessage&Version=2012-11-05&MessageBody=%ZZ", code: "InvalidQueryParameter"),
        query("invalid UTF-8 in a form", "Action=SendMessage&Version=2012-11-05&MessageBody=%C3%28", code: "InvalidQueryParameter"),
        query("a map entry without its name", "Action=SetQueueAttributes&Version=2012-11-05&QueueUrl=\(queueUrl)&Attribute.1.Value=5",
              code: "InvalidParameterValue"),
        query("a missing required SQS parameter", "Action=SendMessage&Version=2012-11-05&QueueUrl=\(queueUrl)", code: "MissingParameter"),
        query("an out-of-range SQS value", "Action=ReceiveMessage&Version=2012-11-05&QueueUrl=\(queueUrl)&MaxNumberOfMessages=11",
              code: "InvalidParameterValue"),
        query("an unknown SNS action", "Action=Frobnicate&Version=2010-03-31", code: "InvalidAction"),
        query("an SQS action sent to SNS", "Action=SendMessage&Version=2010-03-31", code: "InvalidAction"),
        query("a missing required SNS parameter", "Action=CreateTopic&Version=2010-03-31", code: "ValidationError"),
        query("a boolean that is not one", "Action=Subscribe&Version=2010-03-31&TopicArn=t&Protocol=sqs&ReturnSubscriptionArn=maybe",
              code: "InvalidParameter"),
        query("a missing topic", "Action=Publish&Version=2010-03-31&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Anope&Message=m",
              status: 404, code: "NotFound"),
    ]

    /// An entry for the suite's own checks.
    static func `case`(_ name: String) -> BadInput? { cases.first { $0.name == name } }
}

@Suite("Bad input gets AWS's error, never a crash")
struct BadInputTests {
    @Test("Malformed requests are refused with AWS's code and lose no stored message", arguments: BadInput.cases)
    func malformedRequestIsRefused(_ input: BadInput) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("kept")
        let response = await WireService(broker: broker).respond(to: input.request)

        #expect(response.status == input.status)
        #expect(response.header("x-amzn-RequestId")?.isEmpty == false)
        if let queryError = input.queryError {
            #expect(response.header("Content-Type") == "application/x-amz-json-1.0")
            #expect(response.header("x-amzn-query-error") == queryError)
            let body = try JSONParser.parse(response.body)
            #expect(body["__type"] == .string(input.code))
            if case .string(let message)? = body["message"] { #expect(!message.isEmpty) } else { Issue.record("no message") }
        } else {
            #expect(response.header("Content-Type") == "text/xml")
            #expect(response.text.contains("<Code>\(input.code)</Code>"), "\(response.text)")
            #expect(response.text.contains("<Type>Sender</Type>"))
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test("An SNS error names SNS's namespace and an SQS error SQS's")
    func errorNamespaceFollowsTheService() async throws {
        let service = WireService(broker: Broker())
        let sns = await service.respond(to: try #require(BadInput.case("an unknown SNS action")).request)
        let sqs = await service.respond(to: try #require(BadInput.case("an unknown SQS action")).request)
        #expect(sns.text.contains(#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">"#))
        #expect(!sns.text.contains("<Detail/>"))
        #expect(sqs.text.contains(#"<ErrorResponse xmlns="http://queue.amazonaws.com/doc/2012-11-05/">"#))
        #expect(sqs.text.contains("<Detail/>"))
    }
}

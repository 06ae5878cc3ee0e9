@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Testing

/// The codecs without sockets.
@Suite("Codecs")
struct CodecTests {
    @Test("The JSON parser keeps numbers as written and tells booleans from numbers")
    func jsonParserKeepsTypes() throws {
        let value = try JSONParser.parse(Array(#"{"a": 10, "b": true, "c": "x\u00e9\ud83d\ude00\n", "d": [null, -1.5e3]}"#.utf8))
        #expect(value["a"] == .number(JSONNumber(10)))
        #expect(value["b"] == .bool(true))
        #expect(value["c"] == .string("xé😀\n"))
        #expect(value["d"]?.jsonText == "[null,-1.5e3]")
    }

    @Test("JSON text round-trips through the writer", arguments: [
        #"{"s":"tab\tquote\"slash\\ctl\u0001é"}"#, #"[1,true,false,null,{}]"#, #"{"nested":{"list":["a","b"]}}"#,
    ])
    func jsonRoundTrips(_ text: String) throws {
        let value = try JSONParser.parse(Array(text.utf8))
        #expect(try JSONParser.parse(value.jsonBytes) == value)
    }

    @Test("XML text escapes markup, quotes and carriage returns as AWS does")
    func xmlEscaping() {
        #expect(XMLWriter.escape("a\r\n<b>&\"c\"'") == "a&#xD;\n&lt;b&gt;&amp;&quot;c&quot;'")
    }

    @Test("Forms decode + as space and percent escapes as UTF-8")
    func formDecoding() throws {
        let form = try #require(QueryCodec.parseForm(Array("a=x+y%20z&b=%C3%A9&c&d=".utf8)))
        #expect(form == ["a": "x y z", "b": "é", "c": "", "d": ""])
    }

    @Test("SQS Query reads flattened lists and maps in index order, un-numbered names too")
    func sqsQueryFlattening() throws {
        let operation = try #require(SQSOperations.all["ReceiveMessage"])
        let fields = try QueryCodec(flattened: true).decode(
            ["QueueUrl": "u", "AttributeName.2": "SentTimestamp", "AttributeName.1": "SenderId", "MessageAttributeName": "All"],
            as: operation.input)
        #expect(fields["AttributeNames"] == .list([.string("SenderId"), .string("SentTimestamp")]))
        #expect(fields["MessageAttributeNames"] == .list([.string("All")]))

        let send = try #require(SQSOperations.all["SendMessage"])
        let message = try QueryCodec(flattened: true).decode(
            ["QueueUrl": "u", "MessageBody": "b", "MessageAttribute.1.Name": "n", "MessageAttribute.1.Value.DataType": "Number",
             "MessageAttribute.1.Value.StringValue": "1", "DelaySeconds": "3"], as: send.input)
        #expect(message["DelaySeconds"] == .integer(3))
        #expect(message["MessageAttributes"] == .map([.init(key: "n", value: .structure(["DataType": .string("Number"), "StringValue": .string("1")]))]))
    }

    @Test("SNS Query reads wrapped lists and entries")
    func snsQueryWrapping() throws {
        let operation = try #require(SNSOperations.all["CreateTopic"])
        let fields = try QueryCodec(flattened: false).decode(
            ["Name": "t", "Attributes.entry.1.key": "DisplayName", "Attributes.entry.1.value": "Shop",
             "Tags.member.1.Key": "k", "Tags.member.1.Value": "v"], as: operation.input)
        #expect(fields["Attributes"] == .map([.init(key: "DisplayName", value: .string("Shop"))]))
        #expect(fields["Tags"] == .list([.structure(["Key": .string("k"), "Value": .string("v")])]))
    }

    @Test("JSON output writes integers as numbers, booleans as booleans and binary as base64")
    func jsonOutputTypes() throws {
        let operation = try #require(SQSOperations.all["ReceiveMessage"])
        let output = JSONCodec.encode(["Messages": .list([.structure([
            "Body": .string("b"),
            "MessageAttributes": .map([.init(key: "x", value: .structure(["DataType": .string("Binary"), "BinaryValue": .blob(Data([1, 2]))]))]),
        ])])], as: try #require(operation.output))
        #expect(output.jsonText == #"{"Messages":[{"Body":"b","MessageAttributes":{"x":{"BinaryValue":"AQI=","DataType":"Binary"}}}]}"#)
        let moves = try #require(SQSOperations.all["CancelMessageMoveTask"])
        #expect(JSONCodec.encode(["ApproximateNumberOfMessagesMoved": .integer(7)], as: try #require(moves.output)).jsonText
                == #"{"ApproximateNumberOfMessagesMoved":7}"#)
    }

    @Test("Every operation of wire.md §5.2 is routed", arguments: [
        ("sqs", ["CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue", "GetQueueAttributes", "SetQueueAttributes", "PurgeQueue",
                 "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch", "ChangeMessageVisibility",
                 "ChangeMessageVisibilityBatch", "TagQueue", "UntagQueue", "ListQueueTags", "ListDeadLetterSourceQueues",
                 "StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask", "AddPermission", "RemovePermission"]),
        ("sns", ["CreateTopic", "DeleteTopic", "ListTopics", "GetTopicAttributes", "SetTopicAttributes", "Subscribe", "Unsubscribe",
                 "ConfirmSubscription", "ListSubscriptions", "ListSubscriptionsByTopic", "GetSubscriptionAttributes",
                 "SetSubscriptionAttributes", "Publish", "PublishBatch", "TagResource", "UntagResource", "ListTagsForResource",
                 "AddPermission", "RemovePermission", "PutDataProtectionPolicy", "GetDataProtectionPolicy",
                 "SetSMSAttributes", "GetSMSAttributes", "CheckIfPhoneNumberIsOptedOut", "ListPhoneNumbersOptedOut",
                 "OptInPhoneNumber", "CreateSMSSandboxPhoneNumber", "VerifySMSSandboxPhoneNumber", "ListSMSSandboxPhoneNumbers",
                 "DeleteSMSSandboxPhoneNumber", "GetSMSSandboxAccountStatus", "ListOriginationNumbers",
                 "CreatePlatformApplication", "GetPlatformApplicationAttributes", "SetPlatformApplicationAttributes",
                 "ListPlatformApplications", "DeletePlatformApplication", "CreatePlatformEndpoint", "GetEndpointAttributes",
                 "SetEndpointAttributes", "ListEndpointsByPlatformApplication", "DeleteEndpoint"]),
    ])
    func everyOperationIsRouted(_ service: String, _ names: [String]) {
        let table = service == "sqs" ? SQSOperations.all : SNSOperations.all
        #expect(Set(table.keys) == Set(names))
    }

    @Test("The operations work end to end through the service", .timeLimit(.minutes(1)))
    func operationsWorkThroughTheService() async throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        func sqs(_ operation: String, _ body: String) async -> WireResponse {
            await service.respond(to: WireRequest(headers: [("X-Amz-Target", "AmazonSQS.\(operation)"), ("Host", "h:1")], body: Array(body.utf8)))
        }
        #expect(await sqs("CreateQueue", #"{"QueueName": "dlq"}"#).status == 200)
        #expect(await sqs("CreateQueue", #"{"QueueName": "src", "Attributes": {"VisibilityTimeout": "0"}}"#).status == 200)
        let dlqArn = try broker.queue(named: "dlq").arn
        #expect(await sqs("SetQueueAttributes", #"""
            {"QueueUrl": "/000000000000/src", "Attributes": {"RedrivePolicy": "{\"deadLetterTargetArn\":\"\#(dlqArn)\",\"maxReceiveCount\":1}"}}
            """#).status == 200)
        #expect(await sqs("SendMessage", #"{"QueueUrl": "/000000000000/src", "MessageBody": "m"}"#).status == 200)
        // Two receives with visibility 0: the second finds the count exceeded and moves the message to the DLQ.
        _ = await sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/src"}"#)
        _ = await sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/src"}"#)
        #expect(try broker.queue(named: "dlq").statistics().approximateNumberOfMessages == 1)

        let started = await sqs("StartMessageMoveTask", #"{"SourceArn": "\#(dlqArn)"}"#)
        #expect(started.status == 200, "\(started.text)")
        let listed = await sqs("ListMessageMoveTasks", #"{"SourceArn": "\#(dlqArn)"}"#)
        let tasks = try JSONParser.parse(listed.body)
        guard case .array(let results)? = tasks["Results"] else { Issue.record("\(listed.text)"); return }
        #expect(results.first?["SourceArn"] == .string(dlqArn))
        if case .number? = results.first?["StartedTimestamp"] {} else { Issue.record("StartedTimestamp is not a number") }

        #expect(await sqs("TagQueue", #"{"QueueUrl": "/000000000000/src", "Tags": {"a": "1", "b": "2"}}"#).status == 200)
        #expect(await sqs("UntagQueue", #"{"QueueUrl": "/000000000000/src", "TagKeys": ["a"]}"#).status == 200)
        #expect(try JSONParser.parse(await sqs("ListQueueTags", #"{"QueueUrl": "/000000000000/src"}"#).body)["Tags"]
                == .object([("b", .string("2"))]))
        #expect(await sqs("PurgeQueue", #"{"QueueUrl": "/000000000000/src"}"#).status == 200)
        #expect(await sqs("PurgeQueue", #"{"QueueUrl": "/000000000000/src"}"#).status == 403)
        #expect(await sqs("DeleteQueue", #"{"QueueUrl": "/000000000000/src"}"#).status == 200)
        #expect(await sqs("GetQueueUrl", #"{"QueueName": "src"}"#).status == 400)
    }
}

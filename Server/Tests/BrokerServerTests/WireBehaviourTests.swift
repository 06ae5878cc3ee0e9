@_spi(BrokerServer) @testable import Broker
@testable import BrokerServer
import Foundation
import Testing

/// Behaviour over a real loopback socket: routing, queue URLs, digests, long polling, topics, limits.
@Suite("Wire behaviour")
struct WireBehaviourTests {
    // MARK: Digests

    struct DigestVector: Sendable, CustomTestStringConvertible {
        let body: String
        let attributes: String
        let md5OfBody: String
        let md5OfAttributes: String?
        var testDescription: String { "\(body) \(attributes)" }
    }

    /// wire.md §2.3: the first two were returned by real SQS, the rest by the reference function and moto.
    static let digests: [DigestVector] = [
        .init(body: "hello", attributes: #"{"baz": {"DataType": "String", "StringValue": "qux"}}"#,
              md5OfBody: "5d41402abc4b2a76b9719d911017c592", md5OfAttributes: "16bd0283a5b4962721ccd3efe4bc6257"),
        .init(body: #"{\"foo\":20}"#, attributes: "{}", md5OfBody: "d6cf0f93237ada70daf9b6e75cfff2e6", md5OfAttributes: nil),
        .init(body: "hello", attributes: #"{"color": {"DataType": "String", "StringValue": "red"}, "blob": {"DataType": "Binary", "BinaryValue": "AQI="}}"#,
              md5OfBody: "5d41402abc4b2a76b9719d911017c592", md5OfAttributes: "91f9ac87a8bc861db56c4990eee729a5"),
        .init(body: "hello", attributes: #"{"k": {"DataType": "String", "StringValue": "v"}}"#,
              md5OfBody: "5d41402abc4b2a76b9719d911017c592", md5OfAttributes: "0a77b0642718c3d9dd47090567d11e0d"),
        .init(body: "hello", attributes: #"{"n": {"DataType": "Number", "StringValue": "42"}}"#,
              md5OfBody: "5d41402abc4b2a76b9719d911017c592", md5OfAttributes: "30e7543857de47826ea2a48bbec32fd7"),
        .init(body: "hello", attributes: #"{"img": {"DataType": "Binary.png", "BinaryValue": "iVBORw=="}}"#,
              md5OfBody: "5d41402abc4b2a76b9719d911017c592", md5OfAttributes: "f9924c8d10e71ae4da6cf44b2286a5f5"),
    ]

    @Test("SendMessage and ReceiveMessage answer AWS's digests", arguments: digests)
    func digestsMatchAWS(_ vector: DigestVector) async throws {
        // The PNG vector's bytes are 89 50 4E 47; "iVBORw==" is their base64.
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "digests"}"#)
            let url = "http://127.0.0.1/000000000000/digests"
            let sent = try await client.sqs("SendMessage",
                #"{"QueueUrl": "\#(url)", "MessageBody": "\#(vector.body)", "MessageAttributes": \#(vector.attributes)}"#)
            #expect(sent.status == 200)
            #expect(sent.json?["MD5OfMessageBody"] == .string(vector.md5OfBody))
            #expect(sent.json?["MD5OfMessageAttributes"] == vector.md5OfAttributes.map(JSONValue.string))

            let received = try await client.sqs("ReceiveMessage", #"{"QueueUrl": "\#(url)", "MessageAttributeNames": ["All"]}"#)
            guard case .array(let messages)? = received.json?["Messages"], let message = messages.first else {
                Issue.record("no message: \(received.text)")
                return
            }
            #expect(message["MD5OfBody"] == .string(vector.md5OfBody))
            #expect(message["MD5OfMessageAttributes"] == vector.md5OfAttributes.map(JSONValue.string))
            #expect((message["MessageAttributes"] != nil) == (vector.md5OfAttributes != nil))
        }
    }

    @Test("A carriage return survives the Query round trip and keeps its digest")
    func carriageReturnSurvivesQuery() async throws {
        try await withServer { _, client in
            _ = try await client.query("Action=CreateQueue&Version=2012-11-05&QueueName=cr")
            let sent = try await client.query("Action=SendMessage&Version=2012-11-05&QueueUrl=%2F000000000000%2Fcr&MessageBody=a%0D%0Ab")
            #expect(sent.text.contains("<MD5OfMessageBody>\(md5("a\r\nb"))</MD5OfMessageBody>"))
            let received = try await client.query("Action=ReceiveMessage&Version=2012-11-05&QueueUrl=%2F000000000000%2Fcr")
            #expect(received.text.contains("<Body>a&#xD;\nb</Body>"))
        }
    }

    // MARK: Queue URLs

    @Test("Queue URLs answer with the Host the client used")
    func queueURLsEchoTheHost() async throws {
        try await withServer(allowedHosts: ["sqs.example"]) { _, client in
            let created = try await client.send(
                headers: [("Host", "localhost:4566"), ("X-Amz-Target", "AmazonSQS.CreateQueue"), ("Content-Type", "application/x-amz-json-1.0"),
                          ("Authorization", TestClient.sqsAuthorization)],
                body: Array(#"{"QueueName": "orders"}"#.utf8))
            #expect(created.json?["QueueUrl"] == .string("http://localhost:4566/000000000000/orders"))
            let listed = try await client.send(
                headers: [("Host", "sqs.example:80"), ("X-Amz-Target", "AmazonSQS.ListQueues"), ("Content-Type", "application/x-amz-json-1.0")],
                body: Array("{}".utf8))
            #expect(listed.json?["QueueUrls"] == .array([.string("http://sqs.example:80/000000000000/orders")]))
        }
    }

    @Test("A queue is found by account and name whatever the URL's scheme, host and form",
          arguments: ["https://elsewhere.invalid:1/000000000000/orders", "http://localhost:4566/queue/orders",
                      "http://localhost:4566/queue/us-east-1/000000000000/orders", "/000000000000/orders",
                      "https://sqs.us-east-1.amazonaws.com/000000000000/orders?x=1"])
    func queueResolvesByAccountAndName(_ url: String) async throws {
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "orders"}"#)
            let response = try await client.sqs("SendMessage", #"{"QueueUrl": "\#(url)", "MessageBody": "m"}"#)
            #expect(response.status == 200, "\(response.text)")
        }
    }

    @Test("SQS Query posted to the queue's path needs no QueueUrl")
    func queryPostedToQueuePath() async throws {
        try await withServer { server, client in
            let queue = try server.broker.createQueue(named: "orders")
            let sent = try await client.query("Action=SendMessage&Version=2012-11-05&MessageBody=hi", uri: "/000000000000/orders")
            #expect(sent.status == 200)
            #expect(try queue.statistics().approximateNumberOfMessages == 1)
        }
    }

    @Test("Query actions also arrive as a GET query string, routed by the credential scope without Version")
    func queryByGetAndCredentialScope() async throws {
        try await withServer { server, client in
            try server.broker.createTopic(named: "events")
            let topics = try await client.send(method: .GET, uri: "/?Action=ListTopics", headers: [
                ("Authorization", "AWS4-HMAC-SHA256 Credential=k/20261123/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=0"),
            ])
            #expect(topics.status == 200)
            #expect(topics.text.contains("<TopicArn>arn:aws:sns:us-east-1:000000000000:events</TopicArn>"))
            let queues = try await client.send(method: .GET, uri: "/?Action=ListQueues&Version=2012-11-05", headers: [])
            #expect(queues.text.contains("<ListQueuesResult/>"), "\(queues.text)")
        }
    }

    // MARK: Output shapes

    @Test("Query output: SQS lists are flattened, SNS lists and maps are wrapped")
    func queryListStyles() async throws {
        try await withServer { server, client in
            try server.broker.createQueue(named: "a", tags: ["team": "shop"])
            try server.broker.createQueue(named: "b")
            let topic = try server.broker.createTopic(named: "t", tags: ["k": "v"])
            let queues = try await client.query("Action=ListQueues&Version=2012-11-05")
            #expect(queues.text.contains("<ListQueuesResult><QueueUrl>http://127.0.0.1:\(server.port ?? 0)/000000000000/a</QueueUrl><QueueUrl>"))
            let tags = try await client.query("Action=ListQueueTags&Version=2012-11-05&QueueUrl=%2F000000000000%2Fa")
            #expect(tags.text.contains("<ListQueueTagsResult><Tag><Key>team</Key><Value>shop</Value></Tag></ListQueueTagsResult>"))
            let attributes = try await client.query("Action=GetTopicAttributes&Version=2010-03-31&TopicArn=\(topic.arn)")
            #expect(attributes.text.contains("<Attributes><entry><key>"))
            let topicTags = try await client.query("Action=ListTagsForResource&Version=2010-03-31&ResourceArn=\(topic.arn)")
            #expect(topicTags.text.contains("<Tags><member><Key>k</Key><Value>v</Value></member></Tags>"))
            let untag = try await client.query("Action=UntagResource&Version=2010-03-31&ResourceArn=\(topic.arn)&TagKeys.member.1=k")
            #expect(untag.text.contains("<UntagResourceResult/>"))
            let none = try await client.query("Action=ListTagsForResource&Version=2010-03-31&ResourceArn=\(topic.arn)")
            #expect(none.text.contains("<Tags/>"))
        }
    }

    @Test("Batch failures carry SenderFault as a JSON boolean; both lists are always present")
    func batchFailuresAreBooleans() async throws {
        try await withServer { server, client in
            try server.broker.createQueue(named: "orders")
            let response = try await client.sqs("SendMessageBatch", #"""
                {"QueueUrl": "/000000000000/orders", "Entries": [{"Id": "ok", "MessageBody": "m"},
                 {"Id": "late", "MessageBody": "m", "DelaySeconds": 901}]}
                """#)
            guard case .array(let failed)? = response.json?["Failed"], let failure = failed.first else {
                Issue.record("no failure: \(response.text)")
                return
            }
            #expect(failure["SenderFault"] == .bool(true))
            #expect(failure["Code"] == .string("InvalidParameterValue"))
            let deleted = try await client.sqs("DeleteMessageBatch",
                #"{"QueueUrl": "/000000000000/orders", "Entries": [{"Id": "x", "ReceiptHandle": "bogus"}]}"#)
            #expect(deleted.json?["Successful"] == .array([]))
        }
    }

    @Test("The lower-case JSON names: CreateQueue's tags and ListDeadLetterSourceQueues' required queueUrls")
    func lowerCaseJSONNames() async throws {
        try await withServer { server, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "dlq", "tags": {"team": "shop"}}"#)
            #expect(try server.broker.queue(named: "dlq").tags() == ["team": "shop"])
            let arn = try server.broker.queue(named: "dlq").arn
            _ = try await client.sqs("CreateQueue", #"""
                {"QueueName": "src", "Attributes": {"RedrivePolicy": "{\"deadLetterTargetArn\":\"\#(arn)\",\"maxReceiveCount\":\"3\"}"}}
                """#)
            let sources = try await client.sqs("ListDeadLetterSourceQueues", #"{"QueueUrl": "/000000000000/dlq"}"#)
            #expect(sources.json?["queueUrls"] == .array([.string("http://127.0.0.1:\(server.port ?? 0)/000000000000/src")]))
            // A required member: present, and empty, when nothing redrives to the queue.
            let none = try await client.sqs("ListDeadLetterSourceQueues", #"{"QueueUrl": "/000000000000/src"}"#)
            #expect(none.json?["queueUrls"] == .array([]))
        }
    }

    @Test("AddPermission and RemovePermission edit the queue's Policy")
    func permissionsEditThePolicy() async throws {
        try await withServer { server, client in
            let queue = try server.broker.createQueue(named: "orders")
            let added = try await client.query("Action=AddPermission&Version=2012-11-05&QueueUrl=%2F000000000000%2Forders"
                + "&Label=shop&AWSAccountId.1=111122223333&ActionName.1=SendMessage")
            #expect(added.status == 200)
            #expect(try queue.attributes(["Policy"])["Policy"]?.contains(#""Sid":"shop""#) == true)
            let again = try await client.sqs("AddPermission",
                #"{"QueueUrl": "/000000000000/orders", "Label": "shop", "AWSAccountIds": ["111122223333"], "Actions": ["SendMessage"]}"#)
            #expect(again.status == 400)
            let removed = try await client.sqs("RemovePermission", #"{"QueueUrl": "/000000000000/orders", "Label": "shop"}"#)
            #expect(removed.status == 200)
            // The last statement gone, the Policy attribute goes with it.
            #expect(try queue.attributes(["Policy"])["Policy"] == nil)
            let missing = try await client.sqs("RemovePermission", #"{"QueueUrl": "/000000000000/orders", "Label": "shop"}"#)
            #expect(missing.header("x-amzn-query-error") == "InvalidParameterValue;Sender")
            #expect(missing.json?["message"] == .string("Value shop for parameter Label is invalid. Reason: can't find label."))
        }
    }

    @Test("AddPermission writes AWS's policy document: one principal or action as a string, several as a list")
    func addPermissionWritesAWSPolicyDocument() async throws {
        try await withServer { server, client in
            let queue = try server.broker.createQueue(named: "orders")
            _ = try await client.sqs("AddPermission",
                #"{"QueueUrl": "/000000000000/orders", "Label": "one", "AWSAccountIds": ["111111111111"], "Actions": ["*"]}"#)
            _ = try await client.sqs("AddPermission", #"{"QueueUrl": "/000000000000/orders", "Label": "two", "#
                + #""AWSAccountIds": ["111111111111", "222222222222"], "Actions": ["SendMessage", "ReceiveMessage"]}"#)
            let text = try #require(try queue.attributes(["Policy"])["Policy"])
            let policy = try JSONParser.parse(Array(text.utf8))
            #expect(policy["Version"] == .string("2008-10-17"))
            #expect(policy["Id"] == .string("\(queue.arn)/SQSDefaultPolicy"))
            guard case .array(let statements)? = policy["Statement"], statements.count == 2 else {
                Issue.record("statements: \(text)")
                return
            }
            #expect(statements[0]["Sid"] == .string("one"))
            #expect(statements[0]["Effect"] == .string("Allow"))
            #expect(statements[0]["Principal"]?["AWS"] == .string("arn:aws:iam::111111111111:root"))
            #expect(statements[0]["Action"] == .string("SQS:*"))
            #expect(statements[0]["Resource"] == .string(queue.arn))
            #expect(statements[1]["Principal"]?["AWS"]
                == .array([.string("arn:aws:iam::111111111111:root"), .string("arn:aws:iam::222222222222:root")]))
            #expect(statements[1]["Action"] == .array([.string("SQS:SendMessage"), .string("SQS:ReceiveMessage")]))
        }
    }

    struct PermissionError: Sendable, CustomTestStringConvertible {
        let body: String
        let status: Int
        let code: String
        let message: String
        var testDescription: String { message }
    }

    static let permissionErrors: [PermissionError] = [
        .init(body: #""AWSAccountIds": ["111111111111"], "Actions": ["RemovePermission"]"#, status: 400, code: "InvalidParameterValue",
              message: "Value SQS:RemovePermission for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."),
        .init(body: #""AWSAccountIds": ["111111111111"], "Actions": []"#, status: 400, code: "MissingParameter",
              message: "The request must contain the parameter Actions."),
        .init(body: #""AWSAccountIds": [], "Actions": ["SendMessage"]"#, status: 400, code: "InvalidParameterValue",
              message: "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify."),
        .init(body: #""AWSAccountIds": ["111111111111"], "Actions": ["ChangeMessageVisibility", "DeleteMessage", "#
                + #""GetQueueAttributes", "GetQueueUrl", "ListDeadLetterSourceQueues", "PurgeQueue", "ReceiveMessage", "SendMessage"]"#,
              status: 403, code: "OverLimit", message: "8 Actions were found, maximum allowed is 7."),
    ]

    @Test("AddPermission answers AWS's errors", arguments: permissionErrors)
    func addPermissionErrors(_ error: PermissionError) async throws {
        try await withServer { server, client in
            let queue = try server.broker.createQueue(named: "orders")
            let response = try await client.sqs("AddPermission",
                #"{"QueueUrl": "/000000000000/orders", "Label": "label", "# + error.body + "}")
            #expect(response.status == error.status)
            #expect(response.header("x-amzn-query-error") == "\(error.code);Sender")
            #expect(response.json?["message"] == .string(error.message))
            #expect(try queue.attributes(["Policy"])["Policy"] == nil)
        }
    }

    @Test("A SendMessageBatch JSON reply leaves Failed out when nothing failed, and lists it when something did")
    func sendMessageBatchOmitsAnEmptyFailed() async throws {
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "batch"}"#)
            let sent = try await client.sqs("SendMessageBatch",
                #"{"QueueUrl": "/000000000000/batch", "Entries": [{"Id": "a", "MessageBody": "one"}]}"#)
            #expect(sent.status == 200)
            #expect(sent.json?["Failed"] == nil)
            guard case .array(let successful)? = sent.json?["Successful"] else { Issue.record("\(sent.text)"); return }
            #expect(successful.count == 1)
            let mixed = try await client.sqs("SendMessageBatch",
                #"{"QueueUrl": "/000000000000/batch", "Entries": [{"Id": "a", "MessageBody": "one"}, {"Id": "b", "MessageBody": ""}]}"#)
            guard case .array(let failed)? = mixed.json?["Failed"] else { Issue.record("\(mixed.text)"); return }
            #expect(failed.count == 1)
        }
    }

    // MARK: Topics

    @Test("A message published over SNS Query is received over SQS JSON, raw and enveloped")
    func topicToQueueOverTheWire() async throws {
        try await withServer { server, client in
            let topic = try await client.query("Action=CreateTopic&Version=2010-03-31&Name=order-events")
            let topicArn = "arn:aws:sns:us-east-1:000000000000:order-events"
            #expect(topic.text.contains("<TopicArn>\(topicArn)</TopicArn>"))
            for name in ["raw", "wrapped"] {
                _ = try await client.sqs("CreateQueue", #"{"QueueName": "\#(name)"}"#)
                let raw = name == "raw" ? "&Attributes.entry.1.key=RawMessageDelivery&Attributes.entry.1.value=true" : ""
                let subscribed = try await client.query("Action=Subscribe&Version=2010-03-31&TopicArn=\(topicArn)&Protocol=sqs"
                    + "&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3A\(name)" + raw
                    + "&Attributes.entry.2.key=FilterPolicy&Attributes.entry.2.value=%7B%22eventType%22%3A%5B%22order.created%22%5D%7D")
                #expect(subscribed.text.contains("<SubscriptionArn>\(topicArn):"), "\(subscribed.text)")
            }
            let skipped = try await client.query("Action=Publish&Version=2010-03-31&TopicArn=\(topicArn)&Message=no"
                + "&MessageAttributes.entry.1.Name=eventType&MessageAttributes.entry.1.Value.DataType=String"
                + "&MessageAttributes.entry.1.Value.StringValue=order.cancelled")
            #expect(skipped.status == 200)
            let published = try await client.query("Action=Publish&Version=2010-03-31&TopicArn=\(topicArn)&Message=order+1001"
                + "&MessageAttributes.entry.1.Name=eventType&MessageAttributes.entry.1.Value.DataType=String"
                + "&MessageAttributes.entry.1.Value.StringValue=order.created")
            #expect(published.text.contains("<PublishResult><MessageId>"))

            let raw = try await client.sqs("ReceiveMessage",
                #"{"QueueUrl": "/000000000000/raw", "MessageAttributeNames": ["All"], "MaxNumberOfMessages": 10}"#)
            guard case .array(let rawMessages)? = raw.json?["Messages"] else { Issue.record("nothing raw: \(raw.text)"); return }
            #expect(rawMessages.count == 1)
            #expect(rawMessages.first?["Body"] == .string("order 1001"))
            #expect(rawMessages.first?["MessageAttributes"]?["eventType"]?["StringValue"] == .string("order.created"))

            let wrapped = try await client.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/wrapped", "MaxNumberOfMessages": 10}"#)
            guard case .array(let wrappedMessages)? = wrapped.json?["Messages"], case .string(let envelope)? = wrappedMessages.first?["Body"]
            else { Issue.record("nothing wrapped: \(wrapped.text)"); return }
            #expect(wrappedMessages.count == 1)
            let notification = try JSONParser.parse(Array(envelope.utf8))
            #expect(notification["Type"] == .string("Notification"))
            #expect(notification["Message"] == .string("order 1001"))
            #expect(notification["TopicArn"] == .string(topicArn))
        }
    }

    // MARK: Long polling and connections

    @Test("A long poll is woken by a send on another connection")
    func longPollWokenBySend() async throws {
        try await withServer { server, client in
            try server.broker.createQueue(named: "orders")
            let sender = try await TestClient.connect(port: server.port ?? 0)
            let started = ContinuousClock.now
            async let received = client.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/orders", "WaitTimeSeconds": 20}"#)
            let sent = try await sender.sqs("SendMessage", #"{"QueueUrl": "/000000000000/orders", "MessageBody": "wake"}"#)
            #expect(sent.status == 200)
            let response = try await received
            #expect(ContinuousClock.now - started < .seconds(10))
            guard case .array(let messages)? = response.json?["Messages"] else { Issue.record("\(response.text)"); return }
            #expect(messages.first?["Body"] == .string("wake"))
            await sender.close()
        }
    }

    @Test("Many long polls on different connections are served at once")
    func concurrentLongPolls() async throws {
        try await withServer { server, client in
            let count = 12
            for index in 0..<count { try server.broker.createQueue(named: "q\(index)") }
            var pollers: [TestClient] = []
            for _ in 0..<count { pollers.append(try await TestClient.connect(port: server.port ?? 0)) }
            let bodies = try await withThrowingTaskGroup(of: String?.self) { group in
                for (index, poller) in pollers.enumerated() {
                    group.addTask {
                        let response = try await poller.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/q\#(index)", "WaitTimeSeconds": 20}"#)
                        guard case .array(let messages)? = response.json?["Messages"], case .string(let body)? = messages.first?["Body"]
                        else { return nil }
                        return body
                    }
                }
                // Sends go over the main connection while every poller waits on its own.
                for index in 0..<count {
                    _ = try await client.sqs("SendMessage", #"{"QueueUrl": "/000000000000/q\#(index)", "MessageBody": "m\#(index)"}"#)
                }
                var bodies: Set<String> = []
                for try await body in group { if let body { bodies.insert(body) } }
                return bodies
            }
            #expect(bodies == Set((0..<count).map { "m\($0)" }))
            for poller in pollers { await poller.close() }
        }
    }

    @Test("A client that hangs up during a long poll takes no message with it")
    func disconnectCancelsLongPoll() async throws {
        try await withServer { server, client in
            try server.broker.createQueue(named: "orders")
            let leaver = try await TestClient.connect(port: server.port ?? 0)
            let abandoned = Task { try await leaver.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/orders", "WaitTimeSeconds": 20}"#) }
            // Let the request reach the server before hanging up (this is not waiting for a timeout).
            try await Task.sleep(for: .milliseconds(200))
            await leaver.close()
            _ = await abandoned.result
            // The server sees the hang-up on its own loop, a moment after the client has closed: the poll is gone
            // once it has (a poll that outlived the hang-up would stay registered for its 20 seconds).
            let queue = try server.broker.queue(named: "orders")
            let deadline = ContinuousClock.now + .seconds(10)
            while try queue.core.read({ state, _ in state.waiters.count }) > 0, ContinuousClock.now < deadline {
                try await Task.sleep(for: .milliseconds(5))
            }
            #expect(try queue.core.read { state, _ in state.waiters.count } == 0)
            // Had the abandoned receive survived, it would take this message and hide it for 30 seconds.
            _ = try await client.sqs("SendMessage", #"{"QueueUrl": "/000000000000/orders", "MessageBody": "kept"}"#)
            let response = try await client.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/orders"}"#)
            guard case .array(let messages)? = response.json?["Messages"] else { Issue.record("message lost: \(response.text)"); return }
            #expect(messages.first?["Body"] == .string("kept"))
        }
    }

    @Test("Requests on one keep-alive connection, chunked bodies included, are answered in order")
    func keepAliveAndChunkedBodies() async throws {
        try await withServer { server, client in
            try server.broker.createQueue(named: "orders")
            let body = Array(#"{"QueueUrl": "/000000000000/orders", "MessageBody": "hello"}"#.utf8)
            let chunked = try await client.send(headers: [("X-Amz-Target", "AmazonSQS.SendMessage"),
                                                          ("Content-Type", "application/x-amz-json-1.0"),
                                                          ("Authorization", TestClient.sqsAuthorization)], body: body, chunks: 5)
            #expect(chunked.json?["MD5OfMessageBody"] == .string("5d41402abc4b2a76b9719d911017c592"))
            #expect(chunked.header("Connection") == "keep-alive")
            let second = try await client.sqs("GetQueueUrl", #"{"QueueName": "orders"}"#)
            #expect(second.status == 200)
        }
    }

    @Test("A body over the limit gets 413 and an AWS-shaped error; the server keeps serving")
    func oversizedBodyIsRefused() async throws {
        try await withServer { server, client in
            let huge = Array(#"{"QueueUrl": "/000000000000/orders", "MessageBody": ""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 3_300_000)
                + Array(#""}"#.utf8)
            let refused = try await client.send(headers: [("X-Amz-Target", "AmazonSQS.SendMessage"),
                                                          ("Content-Type", "application/x-amz-json-1.0")], body: huge, chunks: 4)
            #expect(refused.status == 413)
            #expect(refused.json?["__type"] == .string("com.amazon.coral.service#RequestEntityTooLarge"))
            #expect(refused.header("x-amzn-query-error") == "RequestEntityTooLarge;Sender")
            let fresh = try await TestClient.connect(port: server.port ?? 0)
            let listed = try await fresh.sqs("ListQueues", "{}")
            #expect(listed.status == 200)
            await fresh.close()
        }
    }
}

func md5(_ text: String) -> String {
    // Broker computes the digest; a send through its API yields it without a second MD5 implementation here.
    let broker = Broker()
    let queue = try? broker.createQueue(named: "digest")
    return (try? queue?.sendMessage(text).md5OfMessageBody) ?? ""
}

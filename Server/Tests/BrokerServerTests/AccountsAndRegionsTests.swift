@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Testing

/// One server serves every account and region, as AWS's endpoints do for a client: the region from the SigV4
/// credential scope, the account from a 12-digit access key id.
@Suite("Accounts and regions over the wire")
struct AccountsAndRegionsTests {
    /// An SQS JSON call signed with `key` for `region`.
    static func sqs(_ client: TestClient, _ operation: String, _ body: String, key: String = "test",
                    region: String = "us-east-1") async throws -> TestResponse {
        try await client.send(headers: [
            ("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=\(key)/20261206/\(region)/sqs/aws4_request, SignedHeaders=host, Signature=00"),
        ], body: Array(body.utf8))
    }

    /// A Query call signed with `key` for `region` and `service`.
    static func query(_ client: TestClient, _ form: String, key: String = "test", region: String = "us-east-1",
                      service: String) async throws -> TestResponse {
        try await client.send(headers: [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=\(key)/20261206/\(region)/\(service)/aws4_request, SignedHeaders=host, Signature=00"),
        ], body: Array(form.utf8))
    }

    static func urls(_ response: TestResponse) -> [String] {
        guard case .array(let urls)? = response.json?["QueueUrls"] else { return [] }
        return urls.compactMap { if case .string(let url) = $0 { url } else { nil } }
    }

    @Test("Queues are listed per region: a queue made in one region is not in another's list")
    func queuesArePerRegion() async throws {
        try await withServer { server, client in
            _ = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "west"}"#, region: "us-west-2")
            _ = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "east"}"#, region: "us-east-1")
            let west = Self.urls(try await Self.sqs(client, "ListQueues", "{}", region: "us-west-2"))
            let east = Self.urls(try await Self.sqs(client, "ListQueues", "{}", region: "us-east-1"))
            #expect(west.map { $0.split(separator: "/").last.map(String.init) } == ["west"])
            #expect(east.map { $0.split(separator: "/").last.map(String.init) } == ["east"])
            let arn = try server.broker.scoped(region: "us-west-2").queue(named: "west").arn
            #expect(arn == "arn:aws:sqs:us-west-2:000000000000:west")
        }
    }

    @Test("A 12-digit access key id is the caller's account; any other key is the server's default account")
    func accessKeyPicksTheAccount() async throws {
        try await withServer { _, client in
            let created = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "mine"}"#, key: "111122223333")
            #expect(created.json?["QueueUrl"]?.stringValue?.hasSuffix("/111122223333/mine") == true)
            #expect(Self.urls(try await Self.sqs(client, "ListQueues", "{}", key: "AKIAEXAMPLE")).isEmpty)
            #expect(Self.urls(try await Self.sqs(client, "ListQueues", "{}", key: "111122223333")).count == 1)
        }
    }

    @Test("A queue of another account is reachable by its URL: cross-account sends arrive")
    func crossAccountSendByURL() async throws {
        try await withServer { _, client in
            let created = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "shared"}"#, key: "111122223333")
            let url = try #require(created.json?["QueueUrl"]?.stringValue)
            let sent = try await Self.sqs(client, "SendMessage", #"{"QueueUrl": "\#(url)", "MessageBody": "from afar"}"#)
            #expect(sent.status == 200)
            let received = try await Self.sqs(client, "ReceiveMessage", #"{"QueueUrl": "\#(url)"}"#, key: "111122223333")
            #expect(received.text.contains("from afar"))
            let owner = try await Self.sqs(client, "GetQueueUrl",
                #"{"QueueName": "shared", "QueueOwnerAWSAccountId": "111122223333"}"#)
            #expect(owner.json?["QueueUrl"]?.stringValue == url)
        }
    }

    @Test("A bare queue name in QueueUrl is resolved in the caller's account")
    func bareQueueName() async throws {
        try await withServer { _, client in
            _ = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "plain"}"#)
            let sent = try await Self.sqs(client, "SendMessage", #"{"QueueUrl": "plain", "MessageBody": "by name"}"#)
            #expect(sent.status == 200)
            let attributes = try await Self.sqs(client, "GetQueueAttributes",
                #"{"QueueUrl": "plain", "AttributeNames": ["ApproximateNumberOfMessages"]}"#)
            #expect(attributes.json?["Attributes"]?["ApproximateNumberOfMessages"] == .string("1"))
            let elsewhere = try await Self.sqs(client, "SendMessage", #"{"QueueUrl": "plain", "MessageBody": "x"}"#,
                                               key: "111122223333")
            #expect(elsewhere.status == 400)
            #expect(elsewhere.json?["__type"] == .string("com.amazonaws.sqs#QueueDoesNotExist"))
        }
    }

    @Test("SNS delivers to a queue in another region and account, named by its ARN")
    func snsDeliversAcrossRegionsAndAccounts() async throws {
        try await withServer { server, client in
            let queue = try server.broker.scoped(accountId: "111122223333", region: "eu-west-1").createQueue(named: "far")
            let topic = try await Self.query(client, "Action=CreateTopic&Version=2010-03-31&Name=near", service: "sns")
            let topicArn = "arn:aws:sns:us-east-1:000000000000:near"
            #expect(topic.text.contains(topicArn))
            let subscribed = try await Self.query(client,
                "Action=Subscribe&Version=2010-03-31&TopicArn=\(topicArn)&Protocol=sqs&Endpoint=\(queue.arn)", service: "sns")
            #expect(subscribed.status == 200)
            _ = try await Self.query(client, "Action=Publish&Version=2010-03-31&TopicArn=\(topicArn)&Message=hello", service: "sns")
            #expect(try queue.attributes(["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"] == "1")
        }
    }

    @Test("POST /_broker/reset and /moto-api/reset empty every account and region", arguments: ["/_broker/reset", "/moto-api/reset"])
    func resetEmptiesEverything(path: String) async throws {
        try await withServer { server, client in
            _ = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "a"}"#)
            _ = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "b"}"#, key: "111122223333", region: "ap-south-1")
            _ = try await Self.query(client, "Action=CreateTopic&Version=2010-03-31&Name=t", service: "sns")
            _ = try await Self.query(client, "Action=Subscribe&Version=2010-03-31&TopicArn=arn:aws:sns:us-east-1:000000000000:t&Protocol=email&Endpoint=ops@example.com",
                                     service: "sns")
            let captured = try await client.send(method: .GET, uri: "/_broker/sns/outbox", headers: [])
            #expect(captured.status == 200 && captured.text.contains("ops@example.com"))
            let reset = try await client.send(uri: path, headers: [])
            #expect(reset.status == 200)
            let emptied = try await client.send(method: .GET, uri: "/_broker/sns/outbox", headers: [])
            #expect(!emptied.text.contains("ops@example.com"))
            #expect(Self.urls(try await Self.sqs(client, "ListQueues", "{}")).isEmpty)
            #expect(Self.urls(try await Self.sqs(client, "ListQueues", "{}", key: "111122223333", region: "ap-south-1")).isEmpty)
            #expect(try server.broker.listTopics().topicArns.isEmpty)
            // A name can be made again at once: no 60-second wait after a reset.
            let again = try await Self.sqs(client, "CreateQueue", #"{"QueueName": "a"}"#)
            #expect(again.status == 200)
        }
    }

    @Test("STS GetCallerIdentity names the caller's account")
    func getCallerIdentity() async throws {
        try await withServer(accountId: "123456789012") { _, client in
            let plain = try await Self.query(client, "Action=GetCallerIdentity&Version=2011-06-15", service: "sts")
            #expect(plain.status == 200)
            #expect(plain.text.contains("<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\">"))
            #expect(plain.text.contains("<Account>123456789012</Account>"))
            let other = try await Self.query(client, "Action=GetCallerIdentity&Version=2011-06-15", key: "111122223333", service: "sts")
            #expect(other.text.contains("<Account>111122223333</Account>"))
        }
    }

    @Test("STS AssumeRole into another account gives credentials that act in that account")
    func assumeRoleActsInTheRoleAccount() async throws {
        try await withServer { _, client in
            let assumed = try await Self.query(client,
                "Action=AssumeRole&Version=2011-06-15&RoleArn=arn:aws:iam::111111111111:role/r&RoleSessionName=s1", service: "sts")
            #expect(assumed.status == 200)
            #expect(assumed.text.contains("<AccessKeyId>111111111111</AccessKeyId>"))
            #expect(assumed.text.contains("<Arn>arn:aws:sts::111111111111:assumed-role/r/s1</Arn>"))
            let bad = try await Self.query(client,
                "Action=AssumeRole&Version=2011-06-15&RoleArn=nope&RoleSessionName=s1", service: "sts")
            #expect(bad.status == 400)
            #expect(bad.text.contains("<Code>ValidationError</Code>"))
        }
    }

    @Test("A Query GET that accepts JSON is answered in JSON, errors too")
    func queryAnswersJSONWhenAsked() async throws {
        try await withServer { _, client in
            _ = try await client.query("Action=CreateQueue&Version=2012-11-05&QueueName=json-please")
            let listed = try await client.send(method: .GET, uri: "/?Action=ListQueues&Version=2012-11-05",
                                               headers: [("Accept", "application/json")])
            #expect(listed.status == 200)
            #expect(listed.header("content-type") == "application/json")
            let result = listed.json?["ListQueuesResponse"]?["ListQueuesResult"]
            #expect(result?["QueueUrls"] == .array([.string("http://127.0.0.1:\(listed.port)/000000000000/json-please")]))
            #expect(listed.json?["ListQueuesResponse"]?["ResponseMetadata"]?["RequestId"] != nil)
            let failed = try await client.send(method: .GET, uri: "/?Action=GetQueueUrl&Version=2012-11-05&QueueName=nope",
                                               headers: [("Accept", "application/json")])
            #expect(failed.status == 400)
            #expect(failed.json?["Error"]?["Code"] == .string("AWS.SimpleQueueService.NonExistentQueue"))
        }
    }

    @Test("SQS Query routing answers as SQS does: no Action, unknown actions, service actions on a queue's URL")
    func queryRoutingErrors() async throws {
        try await withServer { _, client in
            _ = try await client.query("Action=CreateQueue&Version=2012-11-05&QueueName=routed")
            let unknown = try await client.query("Action=Frobnicate&Version=2012-11-05")
            #expect(unknown.text.contains("<Code>InvalidAction</Code>"))
            #expect(unknown.text.contains("The action Frobnicate is not valid for this endpoint."))
            let missing = try await client.query("Version=2012-11-05&QueueName=x")
            #expect(missing.text.contains("<Code>UnknownOperationException</Code>"))
            for action in ["CreateQueue", "ListQueues"] {
                let onQueue = try await client.query("Action=\(action)&Version=2012-11-05&QueueName=x", uri: "/000000000000/routed")
                #expect(onQueue.status == 400)
                #expect(onQueue.text.contains("The action \(action) is not valid for this endpoint."))
            }
        }
    }
}

extension TestResponse {
    /// The port of the Host the test client sends, read back from a queue URL it was answered with.
    var port: String {
        text.range(of: "127.0.0.1:").map { String(text[$0.upperBound...].prefix { $0.isNumber }) } ?? ""
    }
}

extension JSONValue {
    /// The text of a string value.
    var stringValue: String? { if case .string(let text) = self { text } else { nil } }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Testing

/// A connection remembers the caller and queue its last request resolved; what it remembers must never answer a
/// request differently from a lookup made afresh.
@Suite("A connection's memo")
struct ConnectionMemoTests {
    private static func request(_ operation: String, _ body: String, accessKey: String = "test",
                                region: String = "us-east-1", host: String = "h:1") -> WireRequest {
        WireRequest(headers: [
            ("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0"), ("Host", host),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=\(accessKey)/20261207/\(region)/sqs/aws4_request, "
                + "SignedHeaders=host, Signature=0"),
        ], body: Array(body.utf8))
    }

    private static func status(_ answer: WireService.Answer) -> Int? {
        if case .now(let response) = answer { return response.status }
        return nil
    }

    private static func send(_ service: WireService, _ memo: ConnectionMemo, to url: String, _ body: String,
                             accessKey: String = "test", region: String = "us-east-1") -> Int? {
        status(service.answer(request("SendMessage", #"{"QueueUrl": "\#(url)", "MessageBody": "\#(body)"}"#,
                                      accessKey: accessKey, region: region), memo: memo))
    }

    @Test("A queue deleted and made again under its name is the one the connection's next request reaches")
    func recreatedQueueIsFoundAgain() throws {
        let clock = ManualClock()
        let broker = Broker(clock: clock)
        let service = WireService(broker: broker)
        let memo = ConnectionMemo()
        let url = "/000000000000/q"
        #expect(Self.status(service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#), memo: memo)) == 200)
        #expect(Self.send(service, memo, to: url, "first") == 200)
        #expect(Self.status(service.answer(Self.request("DeleteQueue", #"{"QueueUrl": "\#(url)"}"#), memo: memo)) == 200)
        // Deleted and not made again: the remembered queue is not used.
        #expect(Self.send(service, memo, to: url, "lost") == 400)
        // AWS makes a name wait 60 seconds after its queue's deletion.
        clock.advance(by: .seconds(61))
        #expect(Self.status(service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#), memo: memo)) == 200)
        #expect(Self.send(service, memo, to: url, "second") == 200)
        let queue = try broker.queue(named: "q")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        #expect(try queue.peek().map(\.body) == ["second"])
    }

    @Test("After a reset the connection reaches the queue made since, not the one it used before")
    func resetForgetsQueues() throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        let memo = ConnectionMemo()
        _ = service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#), memo: memo)
        #expect(Self.send(service, memo, to: "q", "before") == 200)
        broker.reset()
        #expect(Self.send(service, memo, to: "q", "gone") == 400)
        #expect(Self.status(service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#), memo: memo)) == 200)
        #expect(Self.send(service, memo, to: "q", "after") == 200)
        #expect(try broker.queue(named: "q").peek().map(\.body) == ["after"])
    }

    @Test("Each request's credential scope names its caller, whatever the connection's last request named")
    func callerFollowsEachRequest() throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        let memo = ConnectionMemo()
        let first = "111111111111", second = "222222222222"
        for account in [first, second] {
            _ = service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#, accessKey: account), memo: memo)
        }
        // A name without an account is the caller's own queue.
        #expect(Self.send(service, memo, to: "q", "a1", accessKey: first) == 200)
        #expect(Self.send(service, memo, to: "q", "b1", accessKey: second) == 200)
        #expect(Self.send(service, memo, to: "q", "a2", accessKey: first) == 200)
        // The same key in another region is another caller, with no queue named q.
        #expect(Self.send(service, memo, to: "q", "nowhere", accessKey: first, region: "eu-west-1") == 400)
        #expect(Self.send(service, memo, to: "q", "a3", accessKey: first) == 200)
        #expect(try broker.scoped(accountId: first).queue(named: "q").peek().map(\.body) == ["a1", "a2", "a3"])
        #expect(try broker.scoped(accountId: second).queue(named: "q").peek().map(\.body) == ["b1"])
    }

    @Test("Texts are the same only when their bytes are", arguments: [
        ("AKID/20261207/us-east-1/sqs/aws4_request", "AKID/20261207/us-east-1/sqs/aws4_request", true),
        ("AKID/20261207/us-east-1/sqs/aws4_request", "AKID/20261207/us-east-2/sqs/aws4_request", false),
        ("h:1", "h:10", false), ("", "", true), ("", "x", false),
        // Canonically equivalent, so `==` holds, but other bytes: a header's text is compared as sent.
        ("caf\u{E9}", "cafe\u{301}", false),
    ])
    func sameBytes(left: String, right: String, same: Bool) {
        #expect(Substring(left).hasSameBytes(as: right) == same)
        #expect(left.hasSameBytes(as: right) == same)
        #expect(Substring(left + "/tail").dropLast(5).hasSameBytes(as: right) == same)
    }
}

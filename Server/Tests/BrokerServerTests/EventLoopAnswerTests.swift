@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import NIOCore
import Testing

/// What the event loop answers itself and what it leaves to a task, and the buffers it reads and writes in place.
@Suite("Answers on the event loop")
struct EventLoopAnswerTests {
    private static func request(_ operation: String, _ body: String) -> WireRequest {
        WireRequest(headers: [("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0"),
                              ("Host", "h:1")], body: Array(body.utf8))
    }

    private static func answered(_ answer: WireService.Answer) -> WireResponse? {
        if case .now(let response) = answer { return response }
        return nil
    }

    @Test("A send, a receive that finds messages and a batch delete are answered without waiting")
    func nonBlockingOperationsAnswerNow() throws {
        let service = WireService(broker: Broker())
        #expect(service.answersOnEventLoop)
        #expect(Self.answered(service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#)))?.status == 200)
        let sent = try #require(Self.answered(service.answer(Self.request("SendMessage",
            #"{"QueueUrl": "/000000000000/q", "MessageBody": "hello"}"#))))
        #expect(sent.status == 200)
        #expect(sent.text.contains(#""MD5OfMessageBody":"5d41402abc4b2a76b9719d911017c592""#))
        // A long poll that finds a message returns it at once, as AWS does.
        let received = try #require(Self.answered(service.answer(Self.request("ReceiveMessage",
            #"{"QueueUrl": "/000000000000/q", "WaitTimeSeconds": 20, "MaxNumberOfMessages": 10}"#))))
        let messages = try JSONParser.parse(received.body)["Messages"]
        guard case .array(let list) = try #require(messages), case .string(let handle) = try #require(list.first?["ReceiptHandle"]) else {
            Issue.record("no message in \(received.text)")
            return
        }
        #expect(list.count == 1)
        let deleted = try #require(Self.answered(service.answer(Self.request("DeleteMessageBatch",
            #"{"QueueUrl": "/000000000000/q", "Entries": [{"Id": "a", "ReceiptHandle": "\#(handle)"}]}"#))))
        #expect(deleted.text == #"{"Successful":[{"Id":"a"}],"Failed":[]}"#)
    }

    @Test("A short poll of an empty queue is answered at once, with no Messages member")
    func shortPollAnswersNow() throws {
        let service = WireService(broker: Broker())
        _ = service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#))
        let response = try #require(Self.answered(service.answer(Self.request("ReceiveMessage",
            #"{"QueueUrl": "/000000000000/q", "WaitTimeSeconds": 0}"#))))
        #expect(response.status == 200)
        #expect(response.text == "{}")
    }

    @Test("A long poll of an empty queue is left to a task, which receives what is sent meanwhile", .timeLimit(.minutes(1)))
    func longPollWaitsOffTheLoop() async throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        _ = service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#))
        let answer = service.answer(Self.request("ReceiveMessage", #"{"QueueUrl": "/000000000000/q", "WaitTimeSeconds": 20}"#))
        guard case .later(let waiting) = answer else {
            Issue.record("a long poll of an empty queue was answered without waiting")
            return
        }
        // Nothing was taken or left behind by the attempt: the send is for the waiting receive.
        #expect(try broker.queue(named: "q").statistics().approximateNumberOfMessages == 0)
        let task = Task { await service.respond(waiting: waiting) }
        _ = service.answer(Self.request("SendMessage", #"{"QueueUrl": "/000000000000/q", "MessageBody": "late"}"#))
        let response = await task.value
        #expect(response.status == 200)
        #expect(response.text.contains(#""Body":"late""#))
    }

    @Test("Errors are answered at once in the request's protocol")
    func errorsAnswerNow() throws {
        let service = WireService(broker: Broker())
        let response = try #require(Self.answered(service.answer(Self.request("SendMessage",
            #"{"QueueUrl": "/000000000000/missing", "MessageBody": "x"}"#))))
        #expect(response.status == 400)
        #expect(response.header("x-amzn-query-error")?.hasPrefix("AWS.SimpleQueueService.NonExistentQueue") == true)
    }

    @Test("A broker that journals to disk keeps its requests off the event loop")
    func durableBrokerRunsOnTasks() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-loop-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try Broker(storage: .directory(directory.path, durability: .none))
        #expect(!WireService(broker: broker).answersOnEventLoop)
    }

    @Test("On a durable broker concurrent requests share the disk's syncs, and every send they acknowledged survives a restart",
          .timeLimit(.minutes(1)))
    func durableRequestsShareSyncs() async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("wire-sync-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let broker = try Broker(storage: .directory(directory.path, durability: .acknowledged))
        let service = WireService(broker: broker)
        #expect(await service.respond(to: Self.request("CreateQueue", #"{"QueueName": "q"}"#)).status == 200)
        let requests = 64
        // A request that blocked its thread for the disk would share a sync with at most the pool's other threads
        // (two here), so a burst would take at least half as many syncs as it has requests. Suspended, requests
        // queue up behind each sync, as many as arrive while it runs. How many do depends on the pool: when other
        // tests keep its threads busy, requests trickle in and a burst can need nearly one sync each. So up to five
        // bursts are sent, and one must share; every request of every burst must be acknowledged and survive.
        var syncsPerBurst: [Int] = []
        for burst in 0..<5 {
            let before = try #require(broker.journalCounters)
            let statuses = await withTaskGroup(of: Int.self) { group in
                for index in 0..<requests {
                    group.addTask {
                        await service.respond(to: Self.request("SendMessage",
                            #"{"QueueUrl": "/000000000000/q", "MessageBody": "m\#(burst)-\#(index)"}"#)).status
                    }
                }
                return await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses == Array(repeating: 200, count: requests))
            let after = try #require(broker.journalCounters)
            #expect(after.records - before.records == requests)
            let syncs = after.syncs - before.syncs
            syncsPerBurst.append(syncs)
            if syncs * 2 < requests { break }
        }
        #expect(syncsPerBurst.contains { $0 * 2 < requests }, "syncs per burst of \(requests): \(syncsPerBurst)")
        broker.closeStorage()

        let reopened = try Broker(storage: .directory(directory.path, durability: .acknowledged))
        defer { reopened.closeStorage() }
        #expect(try reopened.queue(named: "q").statistics().approximateNumberOfMessages == requests * syncsPerBurst.count)
    }

    @Test("Output written into a buffer is byte for byte the JSON writer's", arguments: [
        "plain", "quote\" backslash\\ slash/", "controls \u{1}\u{8}\t\n\u{c}\r\u{1f} end", "é😀 and \u{7f}", "",
    ])
    func bufferEncodingMatchesTheWriter(_ text: String) throws {
        let operation = try #require(SQSOperations.all["ReceiveMessage"])
        let shape = try #require(operation.output)
        let output: [String: WireValue] = ["Messages": .list([.structure([
            "MessageId": .string("id"), "Body": .string(text), "ReceiptHandle": .string(text + "handle"),
            "Attributes": .stringMap(["SentTimestamp": "1", "ApproximateReceiveCount": "2"]),
            "MessageAttributes": .entries(["k": .structure(["DataType": .string("Binary"),
                                                           "BinaryValue": .blob(Data(text.utf8 + [0, 255]))])]),
        ])])]
        var buffer = ByteBuffer()
        JSONCodec.write(output, as: shape, into: &buffer)
        #expect(Array(buffer.readableBytesView) == JSONCodec.encode(output, as: shape).jsonBytes)
    }

    @Test("A body split across buffers parses as the same document")
    func bodyGatheredFromChunks() throws {
        let text = #"{"QueueUrl": "/000000000000/q", "MessageBody": "split across reads"}"#
        var gathered = ByteBuffer(string: String(text.prefix(20)))
        var rest = ByteBuffer(string: String(text.dropFirst(20)))
        gathered.writeBuffer(&rest)
        let service = WireService(broker: Broker())
        _ = service.answer(Self.request("CreateQueue", #"{"QueueName": "q"}"#))
        let request = WireRequest(method: "POST", uri: "/", headers: ["X-Amz-Target": "AmazonSQS.SendMessage", "Host": "h:1"],
                                  body: gathered, defaultHost: "h:1")
        #expect(Self.answered(service.answer(request))?.status == 200)
    }
}

/// The Host check, read byte by byte, accepts exactly what splitting the name into parts accepted.
@Suite("Loopback names")
struct LoopbackNameTests {
    @Test("Loopback names and addresses are recognised, look-alikes are not", arguments: [
        ("127.0.0.1", true), ("127.1.2.255", true), ("127.0.0.01", true), ("localhost", true), ("api.localhost", true),
        ("[::1]", true), ("127.0.0.256", false), ("128.0.0.1", false), ("127.0.0", false), ("127.0.0.1.5", false),
        ("0127.0.0.1", false), ("127..0.1", false), ("127.0.0.", false), ("127.0.0.x", false), ("example.com", false),
        ("", false),
    ])
    func loopbackNames(host: String, loopback: Bool) {
        #expect(AccessPolicy.isLoopback(host) == loopback)
    }
}

/// Queue URLs, read from the end byte by byte.
@Suite("Queue URLs")
struct QueueURLParsingTests {
    @Test("A queue URL names its account and queue in every accepted form", arguments: [
        ("http://h:1/000000000000/q", "000000000000", "q"), ("/queue/q", nil, "q"),
        ("http://localhost:4566/queue/us-east-1/000000000000/q", "000000000000", "q"), ("000000000000/q", "000000000000", "q"),
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/orders.fifo?x=1#f", "123456789012", "orders.fifo"),
        ("//a//b//", "a", "b"),
    ])
    func queueURLs(url: String, account: String?, name: String) throws {
        let parsed = try #require(QueueURL.parse(url))
        #expect(parsed.account == account)
        #expect(parsed.name == name)
    }

    @Test("A URL without an account and a name names no queue", arguments: ["http://h", "q/", "/", "http://h:1/q"])
    func notQueueURLs(url: String) {
        #expect(QueueURL.parse(url) == nil)
    }
}

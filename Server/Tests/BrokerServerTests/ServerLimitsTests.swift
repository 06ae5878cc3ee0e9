@_spi(BrokerServer) @testable import Broker
@testable import BrokerServer
import Foundation
import NIOHTTP1
import Testing

/// What one connection, or all of them, may hold: bodies, pipelined requests, connections and time.
@Suite("Server limits")
struct ServerLimitsTests {
    static let signed = ("Authorization", TestClient.sqsAuthorization)
    static let json = ("Content-Type", "application/x-amz-json-1.0")

    /// Runs `body` against a server with `limits` on a free loopback port.
    static func withLimitedServer(_ limits: ServerLimits,
                                  _ body: (BrokerServer, Int) async throws -> Void) async throws {
        let server = BrokerServer(broker: Broker(), configuration: BrokerServer.Configuration(limits: limits))
        let port = try await server.start()
        do {
            try await body(server, port)
            try await server.stop()
        } catch {
            try await server.stop()
            throw error
        }
    }

    @Test("A body declared over the limit is refused on its head, before any of it is sent", arguments: [false, true])
    func declaredOversizeIsRefusedOnTheHead(expectContinue: Bool) async throws {
        try await Self.withLimitedServer(ServerLimits(maximumRequestBodySize: 1_000)) { _, port in
            let client = try await TestClient.connect(port: port)
            var headers = [("X-Amz-Target", "AmazonSQS.SendMessage"), Self.json, Self.signed, ("Content-Length", "10000000")]
            if expectContinue { headers.append(("Expect", "100-continue")) }
            // Only the head: a server that waited for the body would never answer.
            let response = try await client.sendHead(headers: headers)
            #expect(response.status == (expectContinue ? 417 : 413))
            #expect(response.json?["__type"] == .string("com.amazon.coral.service#RequestEntityTooLarge"))
            await client.waitUntilClosed()
        }
    }

    @Test("An SNS request over the limit gets an SNS-shaped answer")
    func oversizeSNSRequestGetsSNSAnswer() async throws {
        try await Self.withLimitedServer(ServerLimits(maximumRequestBodySize: 1_000)) { _, port in
            let client = try await TestClient.connect(port: port)
            let response = try await client.send(headers: [
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=00"),
            ], body: Array(("Action=Publish&Version=2010-03-31&Message=" + String(repeating: "x", count: 2_000)).utf8))
            #expect(response.status == 413)
            #expect(response.text.contains(#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">"#))
        }
    }

    @Test("Pipelining past the limit answers the requests already queued, then closes")
    func pipeliningPastTheLimitAnswersTheQueuedOnes() async throws {
        try await Self.withLimitedServer(ServerLimits(maximumQueuedRequests: 2)) { server, port in
            _ = try server.broker.createQueue(named: "q")
            let client = try await TestClient.connect(port: port)
            let body = Array(#"{"QueueUrl": "/000000000000/q", "MessageBody": "m"}"#.utf8)
            let headers = [("X-Amz-Target", "AmazonSQS.SendMessage"), Self.json, Self.signed]
            let responses = try await client.pipeline(count: 6, headers: headers, body: body)
            // The first runs, two wait behind it; the fourth is one too many.
            #expect(responses.prefix(3).allSatisfy { $0?.status == 200 })
            #expect(responses.dropFirst(3).allSatisfy { $0 == nil })
            await client.waitUntilClosed()
            #expect(try server.broker.queue(named: "q").statistics().approximateNumberOfMessages == 3)
        }
    }

    @Test("While a long poll runs, what the client sends next is not buffered")
    func nothingIsBufferedBehindALongPoll() async throws {
        try await Self.withLimitedServer(ServerLimits()) { server, port in
            let queue = try server.broker.createQueue(named: "q")
            let client = try await TestClient.connect(port: port)
            let poll = Task { try await client.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/q", "WaitTimeSeconds": 20}"#) }
            while try queue.core.read({ state, _ in state.waiters.count }) == 0 { await Task.yield() }
            // 900 KiB behind the poll, in pieces the server would otherwise read as they come.
            let big = Array(#"{"QueueUrl": "/000000000000/q", "MessageBody": ""#.utf8) + Array(repeating: UInt8(ascii: "a"), count: 900 << 10)
                + Array(#""}"#.utf8)
            let second = Task { try await client.send(headers: [("X-Amz-Target", "AmazonSQS.SendMessage"), Self.json, Self.signed],
                                                      body: big, chunks: 64) }
            for _ in 0..<200 { await Task.yield() }
            #expect(server.load.bufferedBytes < 128 << 10)
            try queue.sendMessage("wakes the poll")
            #expect(try await poll.value.text.contains("wakes the poll"))
            let answered = try await second.value
            #expect(answered.status == 200, "\(answered.status) \(answered.text)")
            #expect(server.load.bufferedBytes == 0)
        }
    }

    @Test("Connections past the cap are closed as they are accepted")
    func connectionsPastTheCapAreClosed() async throws {
        try await Self.withLimitedServer(ServerLimits(maximumConnections: 2)) { server, port in
            let first = try await TestClient.connect(port: port)
            let second = try await TestClient.connect(port: port)
            #expect(try await first.sqs("ListQueues", "{}").status == 200)
            #expect(try await second.sqs("ListQueues", "{}").status == 200)
            // Closed at once: either before the client has set its connection up, or just after.
            if let third = try? await TestClient.connect(port: port) {
                await third.waitUntilClosed()
            }
            #expect(server.load.connections == 2)
            await first.close()
            await second.close()
        }
    }

    @Test("An idle connection, and one whose head or body stalls, is closed after its timeout")
    func stalledConnectionsAreClosed() async throws {
        try await Self.withLimitedServer(ServerLimits(idleTimeout: .milliseconds(100), requestTimeout: .milliseconds(100))) { server, port in
            let idle = try await TestClient.connect(port: port)
            let stalled = try await TestClient.connect(port: port)
            // A head that promises 100 bytes, and none of them.
            _ = Task { try? await stalled.sendHead(headers: [("X-Amz-Target", "AmazonSQS.ListQueues"), Self.json, ("Content-Length", "100")]) }
            await idle.waitUntilClosed()
            await stalled.waitUntilClosed()
            #expect(!idle.isOpen && !stalled.isOpen)
            // The server still serves. A fresh connection is itself idle until its request: on a loaded machine the
            // 100 ms timeout can close it before the request is sent, so a few attempts are allowed.
            var status: Int?
            for _ in 0..<5 where status == nil {
                guard let fresh = try? await TestClient.connect(port: port) else { continue }
                status = try? await fresh.sqs("ListQueues", "{}").status
                await fresh.close()
            }
            #expect(status == 200)
            _ = server
        }
    }

    @Test("stop() with long polls in flight cancels them and finishes every request before the loops shut down",
          arguments: 1...5)
    func stopWithLongPollsInFlight(iteration: Int) async throws {
        let server = BrokerServer(broker: Broker())
        let port = try await server.start()
        let queue = try server.broker.createQueue(named: "q")
        var clients: [TestClient] = []
        var polls: [Task<TestResponse, any Error>] = []
        for _ in 0..<3 {
            let client = try await TestClient.connect(port: port)
            clients.append(client)
            polls.append(Task { try await client.sqs("ReceiveMessage", #"{"QueueUrl": "/000000000000/q", "WaitTimeSeconds": 20}"#) })
        }
        while try queue.core.read({ state, _ in state.waiters.count }) < 3 { await Task.yield() }
        try await server.stop()
        for poll in polls { _ = await poll.result }
        #expect(try queue.core.read { state, _ in state.waiters.count } == 0)
        #expect(server.load.connections == 0)
        try queue.sendMessage("still there")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// A response as a test reads it.
struct TestResponse: Sendable {
    let status: Int
    let headers: [(name: String, value: String)]
    let body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.name.lowercased() == name.lowercased() }?.value }
    var text: String { String(decoding: body, as: UTF8.self) }
    var json: JSONValue? { try? JSONParser.parse(body) }
}

/// A minimal HTTP/1.1 client over NIO: one keep-alive connection, requests answered in order. Tests use it rather
/// than URLSession to send bytes exactly as written (no added headers, chunked bodies, invalid UTF-8) and to hang
/// up mid-request.
final class TestClient: Sendable {
    private let channel: any Channel
    private let collector: NIOLoopBound<ResponseCollector>

    static func connect(port: Int) async throws -> TestClient {
        // The collector is taken while the pipeline is built: a server that closes the connection at once (a short
        // idle timeout, the connection cap) tears the pipeline down, and a later lookup would find no handler.
        let (channel, collector) = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .connect(host: "127.0.0.1", port: port) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    let collector = ResponseCollector()
                    try channel.pipeline.syncOperations.addHandler(collector)
                    return (channel, NIOLoopBound(collector, eventLoop: channel.eventLoop))
                }
            }
        return TestClient(channel: channel, collector: collector)
    }

    private init(channel: any Channel, collector: NIOLoopBound<ResponseCollector>) {
        self.channel = channel
        self.collector = collector
    }

    /// Sends a request; `chunks` > 1 sends the body chunked (no Content-Length) in that many parts.
    func send(method: HTTPMethod = .POST, uri: String = "/", headers: [(String, String)], body: [UInt8] = [],
              chunks: Int = 1) async throws -> TestResponse {
        var head = HTTPRequestHead(version: .http1_1, method: method, uri: uri)
        head.headers.add(name: "Host", value: "127.0.0.1:\(channel.remoteAddress?.port ?? 0)")
        for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
        if chunks > 1 {
            head.headers.add(name: "Transfer-Encoding", value: "chunked")
        } else {
            head.headers.add(name: "Content-Length", value: String(body.count))
        }
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let collector = self.collector
        let channel = self.channel
        let pieces = Self.split(body, into: max(1, chunks))
        let requestHead = head
        try await channel.eventLoop.submit {
            collector.value.waiting.append(promise)
            channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
            for piece in pieces {
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: piece))), promise: nil)
            }
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }.get()
        return try await promise.futureResult.get()
    }

    /// Sends only a request's head (its `Content-Length` as given, no body) and waits for the answer.
    func sendHead(uri: String = "/", headers: [(String, String)]) async throws -> TestResponse {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: uri)
        head.headers.add(name: "Host", value: "127.0.0.1:\(channel.remoteAddress?.port ?? 0)")
        for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
        let promise = channel.eventLoop.makePromise(of: TestResponse.self)
        let collector = self.collector
        let channel = self.channel
        let requestHead = head
        try await channel.eventLoop.submit {
            collector.value.waiting.append(promise)
            channel.writeAndFlush(HTTPClientRequestPart.head(requestHead), promise: nil)
        }.get()
        return try await promise.futureResult.get()
    }

    /// Sends `count` copies of a request back to back without waiting for answers; nil for each one the server
    /// never answered (it closed the connection first).
    func pipeline(count: Int, headers: [(String, String)], body: [UInt8]) async throws -> [TestResponse?] {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: "/")
        head.headers.add(name: "Host", value: "127.0.0.1:\(channel.remoteAddress?.port ?? 0)")
        for (name, value) in headers { head.headers.replaceOrAdd(name: name, value: value) }
        head.headers.add(name: "Content-Length", value: String(body.count))
        let loop = channel.eventLoop
        let promises = (0..<count).map { _ in loop.makePromise(of: TestResponse.self) }
        let collector = self.collector
        let channel = self.channel
        let requestHead = head
        try await channel.eventLoop.submit {
            for promise in promises {
                collector.value.waiting.append(promise)
                channel.write(HTTPClientRequestPart.head(requestHead), promise: nil)
                channel.write(HTTPClientRequestPart.body(.byteBuffer(ByteBuffer(bytes: body))), promise: nil)
                channel.write(HTTPClientRequestPart.end(nil), promise: nil)
            }
            channel.flush()
        }.get()
        var responses: [TestResponse?] = []
        for promise in promises { responses.append(try? await promise.futureResult.get()) }
        return responses
    }

    /// A SigV4-shaped header for SQS; its signature is never checked.
    static let sqsAuthorization = "AWS4-HMAC-SHA256 Credential=test/20261123/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00"

    /// An SQS JSON call, as botocore sends it.
    func sqs(_ operation: String, _ body: String, queryMode: Bool = true) async throws -> TestResponse {
        var headers = [("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0"),
                       ("Authorization", Self.sqsAuthorization)]
        if queryMode { headers.append(("x-amzn-query-mode", "true")) }
        return try await send(headers: headers, body: Array(body.utf8))
    }

    /// A Query call (`Action=…&Version=…&…`), form-encoded and signed (the signature is never checked, but the server
    /// asks every request that changes state for one, as every SDK sends it).
    func query(_ form: String, uri: String = "/") async throws -> TestResponse {
        let service = form.contains("Version=2010-03-31") ? "sns" : "sqs"
        return try await send(uri: uri, headers: [
            ("Content-Type", "application/x-www-form-urlencoded; charset=utf-8"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261123/us-east-1/\(service)/aws4_request, SignedHeaders=host, Signature=00"),
        ], body: Array(form.utf8))
    }

    func close() async {
        try? await channel.close()
    }

    /// Returns once the server has closed the connection (or it closed any other way).
    func waitUntilClosed() async {
        try? await channel.closeFuture.get()
    }

    /// Whether the connection is still open.
    var isOpen: Bool { channel.isActive }

    private static func split(_ body: [UInt8], into parts: Int) -> [[UInt8]] {
        guard !body.isEmpty else { return [] }
        let size = max(1, (body.count + parts - 1) / parts)
        return stride(from: 0, to: body.count, by: size).map { Array(body[$0..<min(body.count, $0 + size)]) }
    }
}

/// Collects response parts into whole responses for the waiting requests, in order.
private final class ResponseCollector: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart

    var waiting: [EventLoopPromise<TestResponse>] = []
    private var head: HTTPResponseHead?
    private var body: [UInt8] = []

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let responseHead):
            head = responseHead
            body = []
        case .body(var buffer):
            body += buffer.readBytes(length: buffer.readableBytes) ?? []
        case .end:
            guard let head, !waiting.isEmpty else { return }
            waiting.removeFirst().succeed(TestResponse(status: Int(head.status.code),
                                                       headers: head.headers.map { ($0.name, $0.value) }, body: body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        for promise in waiting { promise.fail(ChannelError.ioOnClosedChannel) }
        waiting.removeAll()
        context.fireChannelInactive()
    }
}

/// Runs `body` against a fresh broker served on a free loopback port, then stops the server.
func withServer<T>(accountId: String = "000000000000", allowedHosts: Set<String> = [],
                   _ body: (BrokerServer, TestClient) async throws -> T) async throws -> T {
    let broker = Broker(configuration: BrokerConfiguration(accountId: accountId))
    let server = BrokerServer(broker: broker, configuration: BrokerServer.Configuration(allowedHosts: allowedHosts))
    let port = try await server.start()
    let client = try await TestClient.connect(port: port)
    do {
        let result = try await body(server, client)
        await client.close()
        try await server.stop()
        return result
    } catch {
        await client.close()
        try await server.stop()
        throw error
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOHTTP1
import NIOPosix
import Testing

/// The web console: its page and assets come from the binary, its actions (send, purge, redrive) change the broker
/// only for a page of this very server, and `/_broker/events` streams counts, capped and closed at stop.
@Suite("Web console")
struct ConsoleTests {
    static let host = ("Host", "127.0.0.1:4566")

    static func request(_ service: WireService, _ method: String, _ path: String, _ headers: [(String, String)] = [],
                        body: String = "") async -> WireResponse {
        await service.respond(to: WireRequest(method: method, uri: path, headers: [host] + headers.map { ($0.0, $0.1) },
                                              body: Array(body.utf8)))
    }

    static func post(_ service: WireService, _ path: String, _ body: String,
                     _ headers: [(String, String)] = [("Content-Type", "application/json")]) async -> WireResponse {
        await request(service, "POST", path, headers, body: body)
    }

    static func sqsService(_ broker: Broker) -> WireService {
        WireService(broker: broker, access: AccessPolicy(), events: ConsoleEvents(clock: broker.clock) { [] })
    }

    @Test("The console page, its script and its style sheet are served from the binary, closed to other sites' frames")
    func assetsAreServed() async throws {
        let service = Self.sqsService(Broker())
        let page = await Self.request(service, "GET", "/_broker/console")
        #expect(page.status == 200)
        #expect(page.header("Content-Type") == "text/html; charset=utf-8")
        #expect(page.text.contains(#"<script src="/_broker/console/app.js"></script>"#))
        let policy = try #require(page.header("Content-Security-Policy"))
        #expect(policy.contains("default-src 'self'"))
        #expect(policy.contains("frame-ancestors 'none'"))
        #expect(page.header("X-Frame-Options") == "DENY")
        // Nothing is fetched from anywhere but this server.
        #expect(!page.text.contains("http://") && !page.text.contains("https://"))
        let script = await Self.request(service, "GET", "/_broker/console/app.js")
        #expect(script.status == 200)
        #expect(script.header("Content-Type") == "text/javascript; charset=utf-8")
        #expect(script.text.contains("new EventSource(\"/_broker/events\")"))
        #expect(!script.text.contains("innerHTML"))
        let style = await Self.request(service, "GET", "/_broker/console/style.css")
        #expect(style.status == 200)
        #expect(style.header("Content-Type") == "text/css; charset=utf-8")
        #expect(await Self.request(service, "POST", "/_broker/console").status == 405)
    }

    @Test("Send, purge and redrive act on the named queue of the named account and region")
    func actionsChangeTheQueue() async throws {
        let clock = ManualClock()
        let broker = Broker(configuration: BrokerConfiguration(accountId: "111111111111"), clock: clock)
        let other = try broker.scoped(accountId: "222222222222", region: "eu-west-1")
        let dlq = try other.createQueue(named: "orders-dlq")
        let orders = try other.createQueue(named: "orders", attributes: QueueAttributes(
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 1)))
        let service = Self.sqsService(broker)

        let sent = await Self.post(service, "/_broker/queues/222222222222/orders/send", #"{"region":"eu-west-1","body":"hello"}"#)
        #expect(sent.status == 200)
        let messageId = try #require(try JSONParser.parse(sent.body)["messageId"])
        #expect(try orders.peek().map { JSONValue.string($0.messageId) } == [messageId])
        #expect(try orders.peek().first?.body == "hello")

        // The region defaults to the server's: there is no such queue there.
        let elsewhere = await Self.post(service, "/_broker/queues/222222222222/orders/send", #"{"body":"x"}"#)
        #expect(elsewhere.status == 404)
        #expect(await Self.post(service, "/_broker/queues/222222222222/orders/send", #"{"region":"eu-west-1"}"#).status == 400)

        // Into the dead-letter queue on the second receive, then back by a move task.
        _ = try await orders.receiveMessages(visibilityTimeout: .seconds(1))
        clock.advance(by: .seconds(2))
        _ = try await orders.receiveMessages()
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        let redrive = await Self.post(service, "/_broker/queues/222222222222/orders-dlq/redrive", #"{"region":"eu-west-1"}"#)
        #expect(redrive.status == 200)
        clock.advance(by: .zero)
        #expect(try dlq.statistics().approximateNumberOfMessages == 0)
        #expect(try orders.statistics().approximateNumberOfMessages == 1)
        let tasks = await Self.request(service, "GET", "/_broker/queues/222222222222/orders-dlq/redrive?region=eu-west-1")
        #expect(tasks.status == 200)
        #expect(try JSONParser.parse(tasks.body)["tasks"] == .array([.object([
            ("status", .string("COMPLETED")), ("moved", .number(JSONNumber(1))), ("toMove", .number(JSONNumber(1))),
            ("destinationArn", .null), ("failureReason", .null),
        ])]))
        // A queue that is no dead-letter queue cannot be redriven: AWS's error, as JSON.
        let notDLQ = await Self.post(service, "/_broker/queues/222222222222/orders/redrive", #"{"region":"eu-west-1"}"#)
        #expect(notDLQ.status == 400)

        let purged = await Self.post(service, "/_broker/queues/222222222222/orders/purge", #"{"region":"eu-west-1"}"#)
        #expect(purged.status == 200)
        #expect(try orders.statistics().approximateNumberOfMessages == 0)
        #expect(await Self.request(service, "GET", "/_broker/queues/222222222222/orders/purge").status == 405)
    }

    @Test("A page of another origin, a form or another site can neither change a queue nor read the event stream")
    func crossSiteActionsAreRefused() async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("keep me")
        let service = Self.sqsService(broker)
        let path = "/_broker/queues/000000000000/orders/purge"
        let refusals: [(String, [(String, String)], Int)] = [
            ("another site's page", [("Content-Type", "application/json"), ("Origin", "http://evil.example")], 403),
            ("another port of loopback", [("Content-Type", "application/json"), ("Origin", "http://localhost:9999")], 403),
            ("another loopback name", [("Content-Type", "application/json"), ("Origin", "http://localhost:4566")], 403),
            ("a sandboxed page", [("Content-Type", "application/json"), ("Origin", "null")], 403),
            ("a same-site fetch", [("Content-Type", "application/json"), ("Sec-Fetch-Site", "same-site")], 403),
            ("a form", [("Content-Type", "application/x-www-form-urlencoded"), ("Origin", "http://127.0.0.1:4566")], 415),
            ("a text body", [("Content-Type", "text/plain")], 415),
        ]
        for (who, headers, status) in refusals {
            let response = await Self.post(service, path, "{}", headers)
            #expect(response.status == status, "\(who)")
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        // The console's own page may.
        let own = await Self.post(service, path, "{}", [("Content-Type", "application/json"), ("Origin", "http://127.0.0.1:4566"),
                                                       ("Sec-Fetch-Site", "same-origin")])
        #expect(own.status == 200)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        // Reading is refused to another site as the API is.
        for path in ["/_broker/events", "/_broker/console", "/_broker/queues/000000000000/orders/messages"] {
            #expect(await Self.request(service, "GET", path, [("Origin", "http://evil.example")]).status == 403)
            #expect(await Self.request(service, "GET", path, [("Sec-Fetch-Site", "cross-site")]).status == 403)
        }
    }

    @Test("Event streams are capped; a place is freed when its answer is dropped before the stream starts")
    func eventStreamsAreCapped() async throws {
        let broker = Broker(clock: ManualClock())
        let service = WireService(broker: broker, events: ConsoleEvents(clock: broker.clock, maximumStreams: 1) { [] })
        var first: WireResponse? = await Self.request(service, "GET", "/_broker/events")
        #expect(first?.status == 200)
        #expect(first?.header("Content-Type") == "text/event-stream")
        #expect(first?.stream != nil)
        let second = await Self.request(service, "GET", "/_broker/events")
        #expect(second.status == 503)
        #expect(second.stream == nil)
        first = nil
        #expect(await Self.request(service, "GET", "/_broker/events").status == 200)
        #expect(await Self.request(service, "POST", "/_broker/events").status == 405)
    }

    @Test("A stream whose reader stops reading is skipped, not buffered, and closed after 30 ticks without room")
    func aStalledStreamIsSkippedThenClosed() throws {
        let events = ConsoleEvents(clock: ManualClock(), maximumStreams: 2) { Array(#"{"queues":[]}"#.utf8) }
        defer { events.close() }
        let slow = EmbeddedChannel()
        let reader = EmbeddedChannel()
        for channel in [slow, reader] { try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait() }
        try #require(events.reserve()).attach(slow)
        try #require(events.reserve()).attach(reader)
        #expect(events.streamCount == 2)
        func frames(_ channel: EmbeddedChannel) throws -> Int {
            var count = 0
            while try channel.readOutbound(as: HTTPServerResponsePart.self) != nil { count += 1 }
            return count
        }
        #expect(try frames(slow) == 1 && frames(reader) == 1)  // the first, at once
        slow.isWritable = false
        for _ in 0..<29 { #expect(events.tickOnce()) }
        #expect(try frames(slow) == 0)
        #expect(try frames(reader) == 29)
        #expect(slow.isActive)
        // Room again resets the count: a reader that only lags is never dropped.
        slow.isWritable = true
        #expect(events.tickOnce())
        #expect(try frames(slow) == 1)
        slow.isWritable = false
        for _ in 0..<29 { #expect(events.tickOnce()) }
        #expect(slow.isActive)
        #expect(events.tickOnce())
        slow.embeddedEventLoop.run()  // the close's callbacks, which a real event loop runs by itself
        #expect(!slow.isActive)
        #expect(events.streamCount == 1)
        #expect(reader.isActive)
        #expect(try frames(reader) == 31)
        // With no stream left the ticker stops.
        _ = try reader.close().wait()
        reader.embeddedEventLoop.run()
        #expect(events.streamCount == 0)
        #expect(!events.tickOnce())
    }

    @Test("The event stream sends the counts at once and at every second of the broker's clock, and ends at stop")
    func eventStreamFollowsTheClock() async throws {
        let clock = ManualClock()
        let broker = Broker(clock: clock)
        let queue = try broker.createQueue(named: "orders")
        let server = BrokerServer(broker: broker)
        let port = try await server.start()
        let stream = try await RawStream.connect(port: port)
        try await stream.write("GET /_broker/events HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\n\r\n")
        let opening = try await stream.read(until: "\r\n\r\n")
        #expect(opening.contains("HTTP/1.1 200 OK"))
        #expect(opening.lowercased().contains("content-type: text/event-stream"))
        #expect(opening.lowercased().contains("transfer-encoding: chunked"))
        let first = try await stream.read(until: "\n\n")
        #expect(first.contains("event: counts"))
        #expect(first.contains(#""name":"orders""#) && first.contains(#""visible":0"#))

        try queue.sendMessage("one")
        try queue.sendMessage("two")
        clock.advance(by: .seconds(1))
        let next = try await stream.read(until: "\n\n")
        #expect(next.contains(#""visible":2"#))
        #expect(!next.contains("retry:"))

        try await server.stop()
        await stream.waitUntilClosed()
        #expect(await stream.isClosed)
    }
}

/// A TCP connection that reads raw bytes, so a test sees a streamed answer chunk by chunk.
final class RawStream: Sendable {
    private let channel: any Channel
    private let reader: NIOLoopBound<Reader>

    private final class Reader: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        var text = ""
        var waiting: [(String, CheckedContinuation<String, any Error>)] = []
        var closed = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            text += buffer.readString(length: buffer.readableBytes) ?? ""
            serve()
        }

        func channelInactive(context: ChannelHandlerContext) {
            closed = true
            for (_, continuation) in waiting { continuation.resume(throwing: ChannelError.ioOnClosedChannel) }
            waiting.removeAll()
            for waiter in closeWaiters { waiter.resume() }
            closeWaiters.removeAll()
        }

        /// Hands out the raw text up to and including each waiter's marker, once it has arrived. A frame is one
        /// chunk, so its blank line is whole inside it, between the chunks' framing.
        func serve() {
            while let (marker, continuation) = waiting.first {
                guard let range = text.range(of: marker) else { return }
                waiting.removeFirst()
                let answer = String(text[..<range.upperBound])
                text = String(text[range.upperBound...])
                continuation.resume(returning: answer)
            }
        }
    }

    private init(channel: any Channel, reader: NIOLoopBound<Reader>) {
        self.channel = channel
        self.reader = reader
    }

    static func connect(port: Int) async throws -> RawStream {
        let channel = try await ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Reader()) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        let reader = try await channel.eventLoop.submit {
            NIOLoopBound(try channel.pipeline.syncOperations.handler(type: Reader.self), eventLoop: channel.eventLoop)
        }.get()
        return RawStream(channel: channel, reader: reader)
    }

    func write(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text)).get()
    }

    /// The text up to and including `marker`'s next occurrence.
    func read(until marker: String) async throws -> String {
        let reader = self.reader
        return try await withCheckedThrowingContinuation { continuation in
            channel.eventLoop.execute {
                reader.value.waiting.append((marker, continuation))
                reader.value.serve()
                if reader.value.closed, let index = reader.value.waiting.firstIndex(where: { $0.0 == marker }) {
                    reader.value.waiting.remove(at: index).1.resume(throwing: ChannelError.ioOnClosedChannel)
                }
            }
        }
    }

    func waitUntilClosed() async {
        let reader = self.reader
        await withCheckedContinuation { continuation in
            channel.eventLoop.execute {
                if reader.value.closed { continuation.resume() } else { reader.value.closeWaiters.append(continuation) }
            }
        }
    }

    var isClosed: Bool {
        get async {
            let reader = self.reader
            return (try? await channel.eventLoop.submit { reader.value.closed }.get()) ?? true
        }
    }
}

import Broker
import NIOCore
import NIOHTTP1

/// One connection: aggregates each request's body, runs it on a task of its own so a 20-second long poll never holds
/// the event loop, and writes the answer back on the loop. Requests on a connection are answered in order.
///
/// While a request runs the connection stops reading (SwiftNIO still reports a hang-up, and a hung-up long poll is
/// cancelled, so Broker takes nothing from the queue for it): a client cannot make the server buffer what it sends
/// next. What a connection holds is bounded by ``ServerLimits``: one body, a few pipelined requests, and time.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Pending: Sendable {
        let request: WireRequest
        let keepAlive: Bool
        let version: HTTPVersion
        /// An answer decided before the request was read, and the HTTP status to send it with.
        let rejection: (error: BrokerError, status: Int)?
        /// Body bytes reserved in the registry for this request, released once it is answered.
        let reserved: Int
    }

    private let service: WireService
    private let registry: ConnectionRegistry
    private var limits: ServerLimits { registry.limits }
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var reserved = 0
    /// After a refusal that ends the connection: everything the client sends is ignored until it closes.
    private var discarding = false
    private var queue: [Pending] = []
    private var running: Task<Void, Never>?
    private var closed = false
    private var timer: Scheduled<Void>?

    init(service: WireService, registry: ConnectionRegistry) {
        self.service = service
        self.registry = registry
    }

    func channelActive(context: ChannelHandlerContext) {
        arm(limits.idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding, !closed else { return }
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            // Its body is read (and timed) only once the connection reads again.
            if running == nil { arm(limits.requestTimeout, context: context) }
            let declared = requestHead.headers.first(name: "content-length").flatMap(Int.init) ?? 0
            let expectsContinue = requestHead.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
            if declared > limits.maximumRequestBodySize {
                // Refused on the head alone: the body is never read.
                refuse(requestHead, status: expectsContinue ? 417 : 413, context: context, error: BrokerError(.requestTooLarge,
                    "The request body is larger than the limit of \(limits.maximumRequestBodySize) bytes."))
                return
            }
            guard reserve(declared, head: requestHead, context: context) else { return }
            body.reserveCapacity(declared)
            // curl and some SDKs wait for this before sending a large body; never between another request's answer.
            if expectsContinue, running == nil, queue.isEmpty {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: .continue))),
                                      promise: nil)
            }
        case .body(var chunk):
            guard let requestHead = head else { return }
            if body.count + chunk.readableBytes > limits.maximumRequestBodySize {
                body = []
                refuse(requestHead, status: 413, context: context, error: BrokerError(.requestTooLarge,
                    "The request body is larger than the limit of \(limits.maximumRequestBodySize) bytes."))
                return
            }
            // A chunked body reserves as it grows.
            if body.count + chunk.readableBytes > reserved {
                guard reserve(body.count + chunk.readableBytes - reserved, head: requestHead, context: context) else { return }
            }
            if let bytes = chunk.readBytes(length: chunk.readableBytes) { body.append(contentsOf: bytes) }
        case .end:
            guard let requestHead = head else { return }
            head = nil
            cancelTimer()
            let local = context.channel.localAddress
            let request = WireRequest(
                method: requestHead.method.rawValue, uri: requestHead.uri,
                headers: requestHead.headers.map { ($0.name, $0.value) }, body: body,
                defaultHost: "\(local?.ipAddress ?? "127.0.0.1"):\(local?.port ?? 0)")
            body = []
            let pending = Pending(request: request, keepAlive: requestHead.isKeepAlive, version: requestHead.version,
                                  rejection: nil, reserved: reserved)
            reserved = 0
            if queue.count > limits.maximumQueuedRequests {
                // One too many pipelined: the ones already queued are answered, then the connection closes.
                registry.release(pending.reserved)
                discarding = true
                return
            }
            queue.append(pending)
            startNext(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        cancelTimer()
        running?.cancel()
        running = nil
        registry.release(reserved + queue.reduce(0) { $0 + $1.reserved })
        reserved = 0
        queue.removeAll()
        body = []
        registry.remove(context.channel)
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    // MARK: Limits

    /// Reserves body bytes in the server-wide budget; past it the request is answered 503 and the connection closes.
    private func reserve(_ count: Int, head: HTTPRequestHead, context: ChannelHandlerContext) -> Bool {
        guard count > 0 else { return true }
        guard registry.reserve(count) else {
            body = []
            refuse(head, status: 503, context: context, error: BrokerError(.serviceUnavailable,
                "The server is holding as many request bodies as it may; retry shortly."))
            return false
        }
        reserved += count
        return true
    }

    /// Queues a refusal answered in turn (after the requests before it), after which the connection closes; what the
    /// client sends meanwhile is ignored.
    private func refuse(_ requestHead: HTTPRequestHead, status: Int, context: ChannelHandlerContext, error: BrokerError) {
        head = nil
        discarding = true
        cancelTimer()
        registry.release(reserved)
        reserved = 0
        let request = WireRequest(method: requestHead.method.rawValue, uri: requestHead.uri,
                                  headers: requestHead.headers.map { ($0.name, $0.value) })
        queue.append(Pending(request: request, keepAlive: false, version: requestHead.version,
                             rejection: (error, status),
                             reserved: 0))
        startNext(context: context)
    }

    /// Closes the connection when `timeout` passes before the timer is re-armed or cancelled.
    private func arm(_ timeout: Duration, context: ChannelHandlerContext) {
        timer?.cancel()
        let channel = context.channel
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        timer = context.eventLoop.scheduleTask(in: .nanoseconds(nanoseconds)) { channel.close(promise: nil) }
    }

    private func cancelTimer() {
        timer?.cancel()
        timer = nil
    }

    // MARK: Running and answering

    private func startNext(context: ChannelHandlerContext) {
        guard running == nil, !closed, let next = queue.first else { return }
        if let rejection = next.rejection {
            queue.removeFirst()
            write(WireService.reject(next.request, with: rejection.error, status: rejection.status), for: next,
                  context: context)
            return
        }
        // Nothing more is read while a request runs; a hang-up is still seen.
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let service = self.service
        running = registry.run {
            let response = await service.respond(to: next.request)
            loop.execute {
                let (handler, context) = bound.value
                handler.finish(response, for: next, context: context)
            }
        }
    }

    private func finish(_ response: WireResponse, for pending: Pending, context: ChannelHandlerContext) {
        guard !closed else { return }
        running = nil
        queue.removeFirst()
        registry.release(pending.reserved)
        write(response, for: pending, context: context)
        guard !closed else { return }
        if queue.isEmpty {
            if discarding {
                closed = true
                context.close(promise: nil)
                return
            }
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
            arm(head == nil ? limits.idleTimeout : limits.requestTimeout, context: context)
        }
        startNext(context: context)
    }

    private func write(_ response: WireResponse, for pending: Pending, context: ChannelHandlerContext) {
        if let stream = response.stream {
            // No length: the body is chunked until either side closes; the connection serves nothing else.
            closed = true
            cancelTimer()
            var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
            headers.add(name: "Connection", value: "close")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: pending.version, status: .ok, headers: headers))),
                                  promise: nil)
            stream.attach(context.channel)
            return
        }
        var headers = HTTPHeaders(response.headers.map { ($0.name, $0.value) })
        headers.add(name: "Content-Length", value: String(response.body.count))
        headers.add(name: "Connection", value: pending.keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: pending.version, status: HTTPResponseStatus(statusCode: response.status),
                                    headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        var buffer = context.channel.allocator.buffer(capacity: response.body.count)
        buffer.writeBytes(response.body)
        context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        guard !pending.keepAlive else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        closed = true
        cancelTimer()
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

import Broker
import NIOCore
import NIOHTTP1

/// One connection: gathers each request's body and answers it on the event loop, unless it must wait (a long poll
/// that finds nothing to receive) or the broker waits for its disk: those run on a task of their own, so a 20-second
/// long poll never holds the loop, and their answer is written back on the loop. Requests on a connection are
/// answered in order. Everything answered on the loop is bounded: one body, one operation on at most ten entries.
///
/// While a request runs the connection stops reading (SwiftNIO still reports a hang-up, and a hung-up long poll is
/// cancelled, so Broker takes nothing from the queue for it): a client cannot make the server buffer what it sends
/// next. What a connection holds is bounded by ``ServerLimits``: one body, a few pipelined requests, and time.
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Pending: Sendable {
        var request: WireRequest
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
    /// The body so far: the first chunk as NIO read it, later chunks (of a body split across reads) appended to it.
    private var body: ByteBuffer?
    private let answersOnEventLoop: Bool
    /// What this connection's last request resolved, for the next (see ``ConnectionMemo``).
    private let memo = ConnectionMemo()
    /// `host:port` of the connection's local address, for requests without a `Host` header; made once.
    private var defaultHost = "127.0.0.1:0"
    private var reserved = 0
    /// After a refusal that ends the connection: everything the client sends is ignored until it closes.
    private var discarding = false
    private var queue: [Pending] = []
    /// Requests that arrived in one read. Answered on the loop they never queue, so the pipelining limit counts
    /// them here: one running and ``ServerLimits/maximumQueuedRequests`` behind it, as when they wait for a task.
    private var pipelined = 0
    private var running: Task<Void, Never>?
    private var closed = false
    /// When the connection closes unless it is re-armed or disarmed first; nil while a request runs.
    private var deadline: NIODeadline?
    /// The one scheduled check of ``deadline`` and when it fires. Arming moves the deadline, not the check: a
    /// request's two re-armings cost a clock read each instead of scheduling and cancelling a task.
    private var timer: Scheduled<Void>?
    private var timerFiresAt: NIODeadline?

    init(service: WireService, registry: ConnectionRegistry) {
        self.service = service
        self.registry = registry
        self.answersOnEventLoop = service.answersOnEventLoop
    }

    func channelActive(context: ChannelHandlerContext) {
        let local = context.channel.localAddress
        defaultHost = "\(local?.ipAddress ?? "127.0.0.1"):\(local?.port ?? 0)"
        arm(limits.idleTimeout, context: context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !discarding, !closed else { return }
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = nil
            // Its body is read (and timed) only once the connection reads again.
            if running == nil { arm(limits.requestTimeout, context: context) }
            let declared = requestHead.headers.first(name: "content-length").flatMap(Int.init) ?? 0
            // The canonical form splits and copies the values: only read when there is an Expect header at all.
            let expectsContinue = requestHead.headers.contains(name: "expect")
                && requestHead.headers[canonicalForm: "expect"].contains { $0.lowercased() == "100-continue" }
            if declared > limits.maximumRequestBodySize {
                // Refused on the head alone: the body is never read.
                refuse(requestHead, status: expectsContinue ? 417 : 413, context: context, error: BrokerError(.requestTooLarge,
                    "The request body is larger than the limit of \(limits.maximumRequestBodySize) bytes."))
                return
            }
            guard reserve(declared, head: requestHead, context: context) else { return }
            // curl and some SDKs wait for this before sending a large body; never between another request's answer.
            if expectsContinue, running == nil, queue.isEmpty {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: .continue))),
                                      promise: nil)
            }
        case .body(var chunk):
            guard let requestHead = head else { return }
            let count = body?.readableBytes ?? 0
            if count + chunk.readableBytes > limits.maximumRequestBodySize {
                body = nil
                refuse(requestHead, status: 413, context: context, error: BrokerError(.requestTooLarge,
                    "The request body is larger than the limit of \(limits.maximumRequestBodySize) bytes."))
                return
            }
            // A chunked body reserves as it grows.
            if count + chunk.readableBytes > reserved {
                guard reserve(count + chunk.readableBytes - reserved, head: requestHead, context: context) else { return }
            }
            if body == nil {
                body = chunk
            } else {
                body?.writeBuffer(&chunk)
            }
        case .end:
            guard let requestHead = head else { return }
            head = nil
            cancelTimer()
            let request = WireRequest(method: requestHead.method.rawValue, uri: requestHead.uri, headers: requestHead.headers,
                                      body: body ?? ByteBuffer(), defaultHost: defaultHost)
            body = nil
            let pending = Pending(request: request, keepAlive: requestHead.isKeepAlive, version: requestHead.version,
                                  rejection: nil, reserved: reserved)
            reserved = 0
            pipelined += 1
            if queue.count > limits.maximumQueuedRequests || pipelined > limits.maximumQueuedRequests + 1 {
                // One too many pipelined: the ones already queued are answered, then the connection closes.
                registry.release(pending.reserved)
                discarding = true
                answered(context: context)
                return
            }
            queue.append(pending)
            startNext(context: context)
        }
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        pipelined = 0
        context.fireChannelReadComplete()
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        cancelTimer()
        timer?.cancel()
        timer = nil
        running?.cancel()
        running = nil
        registry.release(reserved + queue.reduce(0) { $0 + $1.reserved })
        reserved = 0
        queue.removeAll()
        body = nil
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
            body = nil
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
        let request = WireRequest(method: requestHead.method.rawValue, uri: requestHead.uri, headers: requestHead.headers,
                                  body: ByteBuffer(), defaultHost: defaultHost)
        queue.append(Pending(request: request, keepAlive: false, version: requestHead.version,
                             rejection: (error, status),
                             reserved: 0))
        startNext(context: context)
    }

    /// Closes the connection when `timeout` passes before the timer is re-armed or cancelled.
    private func arm(_ timeout: Duration, context: ChannelHandlerContext) {
        let nanoseconds = timeout.components.seconds * 1_000_000_000 + timeout.components.attoseconds / 1_000_000_000
        let at = NIODeadline.now() + .nanoseconds(nanoseconds)
        deadline = at
        // A check that fires earlier finds the deadline moved and schedules itself again; only a later one must go.
        if let firesAt = timerFiresAt, firesAt <= at { return }
        timer?.cancel()
        schedule(at, context: context)
    }

    private func schedule(_ at: NIODeadline, context: ChannelHandlerContext) {
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: context.eventLoop)
        timerFiresAt = at
        timer = context.eventLoop.scheduleTask(deadline: at) {
            let (handler, context) = bound.value
            handler.timerFired(context: context)
        }
    }

    private func timerFired(context: ChannelHandlerContext) {
        timer = nil
        timerFiresAt = nil
        guard !closed, let deadline else { return }
        if deadline <= .now() {
            context.channel.close(promise: nil)
        } else {
            schedule(deadline, context: context)
        }
    }

    private func cancelTimer() {
        deadline = nil
    }

    // MARK: Running and answering

    private func startNext(context: ChannelHandlerContext) {
        while running == nil, !closed, let next = queue.first {
            if let rejection = next.rejection {
                queue.removeFirst()
                write(WireService.reject(next.request, with: rejection.error, status: rejection.status), for: next,
                      context: context)
                return
            }
            guard answersOnEventLoop else {
                run(context: context) { service in await service.respond(to: next.request) }
                return
            }
            switch service.answer(next.request, memo: memo) {
            case .now(let response):
                queue.removeFirst()
                registry.release(next.reserved)
                write(response, for: next, context: context)
                answered(context: context)
            case .later(let waiting):
                // Decoded already: the body (a slice of a read buffer) is not kept for the length of a long poll.
                queue[0].request.body = ByteBuffer()
                run(context: context) { service in await service.respond(waiting: waiting) }
            }
        }
    }

    /// Runs the first queued request on a task and answers it back on the loop.
    private func run(context: ChannelHandlerContext,
                     _ respond: @escaping @Sendable (WireService) async -> WireResponse) {
        guard let next = queue.first else { return }
        // Nothing more is read while a request runs; a hang-up is still seen.
        try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: false)
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let service = self.service
        running = registry.run {
            let response = await respond(service)
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
        answered(context: context)
        startNext(context: context)
        // Reading resumes once no request is left running.
        if running == nil, !closed {
            try? context.channel.syncOptions?.setOption(ChannelOptions.autoRead, value: true)
        }
    }

    /// After an answer: with nothing more queued, the connection closes if it was refused, or waits for the next
    /// request (or the rest of one already begun).
    private func answered(context: ChannelHandlerContext) {
        guard !closed, queue.isEmpty else { return }
        if discarding {
            closed = true
            context.close(promise: nil)
            return
        }
        arm(head == nil ? limits.idleTimeout : limits.requestTimeout, context: context)
    }

    private func write(_ response: consuming WireResponse, for pending: Pending, context: ChannelHandlerContext) {
        if let stream = response.stream {
            // No length: the body is chunked until either side closes; the connection serves nothing else.
            closed = true
            cancelTimer()
            var headers = response.headers
            headers.add(name: "Connection", value: "close")
            context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: pending.version, status: .ok, headers: headers))),
                                  promise: nil)
            stream.attach(context.channel)
            return
        }
        // Taken out of the response, so adding to them does not copy them.
        var headers = response.headers
        response.headers = HTTPHeaders()
        headers.add(name: "Content-Length", value: String(response.payload.readableBytes))
        headers.add(name: "Connection", value: pending.keepAlive ? "keep-alive" : "close")
        let head = HTTPResponseHead(version: pending.version, status: HTTPResponseStatus(statusCode: response.status),
                                    headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        context.write(wrapOutboundOut(.body(.byteBuffer(response.payload))), promise: nil)
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

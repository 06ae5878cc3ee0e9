import Broker
import NIOCore
import NIOHTTP1

/// One connection: aggregates each request's body, runs it on a task of its own so a 20-second long poll never holds
/// the event loop, and writes the answer back on the loop. Requests on a connection are answered in order.
///
/// NIO's pipelining helper is not used: it stops reading while a response is pending, and then a client that hangs up
/// during a long poll would go unnoticed. This handler keeps reading, so it sees the hang-up and cancels the
/// receive (Broker then takes nothing from the queue for it).
final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private struct Pending: Sendable {
        let request: WireRequest
        let keepAlive: Bool
        let version: HTTPVersion
        let rejection: BrokerError?
    }

    private let service: WireService
    private let maximumBodySize: Int
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    private var queue: [Pending] = []
    private var running: Task<Void, Never>?
    private var closed = false
    /// Requests a client may pipeline before it is cut off; real SDKs send one at a time.
    private static let maximumQueuedRequests = 16

    init(service: WireService, maximumBodySize: Int) {
        self.service = service
        self.maximumBodySize = maximumBodySize
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let requestHead):
            head = requestHead
            body = []
            let declared = requestHead.headers.first(name: "content-length").flatMap(Int.init) ?? 0
            bodyTooLarge = declared > maximumBodySize
            if !bodyTooLarge { body.reserveCapacity(declared) }
            // curl and some SDKs wait for this before sending a large body.
            if requestHead.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }), !bodyTooLarge {
                context.writeAndFlush(wrapOutboundOut(.head(HTTPResponseHead(version: requestHead.version, status: .continue))),
                                      promise: nil)
            }
        case .body(var chunk):
            guard !bodyTooLarge else { return }
            if body.count + chunk.readableBytes > maximumBodySize {
                bodyTooLarge = true
                body = []
            } else if let bytes = chunk.readBytes(length: chunk.readableBytes) {
                body.append(contentsOf: bytes)
            }
        case .end:
            guard let requestHead = head else { return }
            head = nil
            let local = context.channel.localAddress
            let request = WireRequest(
                method: requestHead.method.rawValue, uri: requestHead.uri,
                headers: requestHead.headers.map { ($0.name, $0.value) }, body: body,
                defaultHost: "\(local?.ipAddress ?? "127.0.0.1"):\(local?.port ?? 0)")
            body = []
            let rejection = bodyTooLarge
                ? BrokerError(.requestTooLarge, "The request body is larger than the limit of \(maximumBodySize) bytes.") : nil
            // A client that sent too much is disconnected after the answer, as what it sends next cannot be trusted.
            queue.append(Pending(request: request, keepAlive: requestHead.isKeepAlive && rejection == nil,
                                 version: requestHead.version, rejection: rejection))
            if queue.count > Self.maximumQueuedRequests {
                context.close(promise: nil)
                return
            }
            startNext(context: context)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        closed = true
        running?.cancel()
        running = nil
        queue.removeAll()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }

    private func startNext(context: ChannelHandlerContext) {
        guard running == nil, !closed, let next = queue.first else { return }
        if let rejection = next.rejection {
            queue.removeFirst()
            write(WireService.reject(next.request, with: rejection), for: next, context: context)
            return
        }
        let loop = context.eventLoop
        let bound = NIOLoopBound((handler: self, context: context), eventLoop: loop)
        let service = self.service
        running = Task {
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
        write(response, for: pending, context: context)
        startNext(context: context)
    }

    private func write(_ response: WireResponse, for pending: Pending, context: ChannelHandlerContext) {
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
        let channel = context.channel
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.whenComplete { _ in channel.close(promise: nil) }
    }
}

#if canImport(Glibc)
import Glibc
#else
import Darwin
#endif
import NIOCore
import NIOHTTP1
import NIOPosix

// The floor of the wire comparison: what SwiftNIO's HTTP/1.1 server costs on this machine with nothing behind it.
// It is set up as broker-server is (one event loop per core, the same server pipeline without pipelining assistance,
// TCP_NODELAY) and answers every request, whatever it asks, with the bytes broker-server sends for a SendMessage:
// the same headers and a body of the same size. Usage: `nio-floor [--port N]`; the first stdout line names the port.

/// A SendMessage answer as broker-server writes it: MD5 of the body, a message id, and a request id per reply.
let replyBody = #"{"MD5OfMessageBody":"6a1559560f67c5e7a7d5d838bf0272ee","MessageId":"5fea7756-0ea4-451a-a703-a558b933e274"}"#

/// Answers each request once its end arrives; reads no body, as there is nothing to decode.
final class FloorHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private var keepAlive = true
    private var version = HTTPVersion.http1_1

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            version = head.version
        case .body:
            break
        case .end:
            // Headers built per reply, as a server that carries a request id must.
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: "application/x-amz-json-1.0")
            headers.add(name: "x-amzn-RequestId", value: "0e5d3c2a-8f4b-4c1e-9a7d-2b6f1e0c9d4a")
            headers.add(name: "Content-Length", value: String(replyBody.utf8.count))
            headers.add(name: "Connection", value: keepAlive ? "keep-alive" : "close")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: version, status: .ok, headers: headers))),
                          promise: nil)
            var buffer = context.channel.allocator.buffer(capacity: replyBody.utf8.count)
            buffer.writeString(replyBody)
            context.write(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
            if keepAlive {
                context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            } else {
                let channel = context.channel
                context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in channel.close(promise: nil) }
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}

var port = 0
var arguments = CommandLine.arguments.dropFirst().makeIterator()
while let argument = arguments.next() {
    switch argument {
    case "--port":
        guard let value = arguments.next().flatMap(Int.init), (0...65_535).contains(value) else {
            print("nio-floor: --port takes a port number")
            exit(2)
        }
        port = value
    default:
        print("usage: nio-floor [--port N]")
        exit(2)
    }
}

let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount))
let channel = try await ServerBootstrap(group: group)
    .serverChannelOption(.backlog, value: 256)
    .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
    .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
    .childChannelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
            try channel.pipeline.syncOperations.addHandler(FloorHandler())
        }
    }
    .bind(host: "127.0.0.1", port: port).get()
print("nio-floor listening on http://127.0.0.1:\(channel.localAddress?.port ?? port)")
fflush(nil)  // every stream: the first line is read through a pipe
try await channel.closeFuture.get()

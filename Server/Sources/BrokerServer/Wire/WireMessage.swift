import NIOCore
import NIOHTTP1

/// An HTTP request as the wire layer sees it. The head's headers and the body stay in the types NIO delivered them
/// in, so a request reaches the codecs without being copied; codecs and routing are still testable without sockets,
/// through the initializer that takes plain values.
struct WireRequest: Sendable {
    var method: String
    /// Path and query, as in the request line.
    var uri: String
    /// Looked up by name, case-insensitively, where NIO stored them.
    var headers: HTTPHeaders
    /// The body as it arrived (one buffer, or the chunks of a chunked body gathered into one).
    var body: ByteBuffer
    /// `host:port` to put in queue URLs when the request has no `Host` header (HTTP/1.0).
    var defaultHost: String

    init(method: String, uri: String, headers: HTTPHeaders, body: ByteBuffer, defaultHost: String) {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.defaultHost = defaultHost
    }

    init(method: String = "POST", uri: String = "/", headers: [(name: String, value: String)] = [], body: [UInt8] = [],
         defaultHost: String = "127.0.0.1") {
        self.init(method: method, uri: uri, headers: HTTPHeaders(headers.map { ($0.name, $0.value) }),
                  body: ByteBuffer(bytes: body), defaultHost: defaultHost)
    }

    /// The first header named `name`, compared case-insensitively.
    func header(_ name: String) -> String? {
        headers.first(name: name)
    }

    /// Found byte by byte: a scan by `Character` cost grapheme breaking on every request, several times over.
    var path: Substring { uri[..<(uri.utf8.firstIndex(of: UInt8(ascii: "?")) ?? uri.endIndex)] }

    var queryString: Substring? {
        guard let mark = uri.utf8.firstIndex(of: UInt8(ascii: "?")) else { return nil }
        return uri[uri.utf8.index(after: mark)...]
    }
}

/// An HTTP response before NIO writes it: the body is the buffer NIO sends, written once by the encoder.
struct WireResponse: Sendable {
    var status: Int
    var headers: HTTPHeaders
    var payload: ByteBuffer
    /// Set for a stream of server-sent events: the connection writes the head, then hands itself to the stream
    /// instead of writing `payload` and reading the next request.
    var stream: ConsoleEvents.Reservation? = nil

    init(status: Int, headers: HTTPHeaders, payload: ByteBuffer) {
        self.status = status
        self.headers = headers
        self.payload = payload
    }

    init(status: Int, headers: [(name: String, value: String)], body: [UInt8],
         stream: ConsoleEvents.Reservation? = nil) {
        self.init(status: status, headers: HTTPHeaders(headers.map { ($0.name, $0.value) }),
                  payload: ByteBuffer(bytes: body))
        self.stream = stream
    }

    func header(_ name: String) -> String? {
        headers.first(name: name)
    }

    /// The body's bytes, copied out (for tests and for callers that want an array).
    var body: [UInt8] { Array(payload.readableBytesView) }

    var text: String { String(buffer: payload) }
}

/// An HTTP request as the wire layer sees it: no NIO types, so codecs and routing are testable without sockets.
struct WireRequest: Sendable {
    var method: String
    /// Path and query, as in the request line.
    var uri: String
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// `host:port` to put in queue URLs when the request has no `Host` header (HTTP/1.0).
    var defaultHost: String

    init(method: String = "POST", uri: String = "/", headers: [(name: String, value: String)] = [], body: [UInt8] = [],
         defaultHost: String = "127.0.0.1") {
        self.method = method
        self.uri = uri
        self.headers = headers
        self.body = body
        self.defaultHost = defaultHost
    }

    /// The first header named `name`, compared case-insensitively.
    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var path: Substring { uri.prefix { $0 != "?" } }

    var queryString: Substring? {
        guard let mark = uri.firstIndex(of: "?") else { return nil }
        return uri[uri.index(after: mark)...]
    }
}

/// An HTTP response before NIO writes it.
struct WireResponse: Sendable {
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// Set for a stream of server-sent events: the connection writes the head, then hands itself to the stream
    /// instead of writing `body` and reading the next request.
    var stream: ConsoleEvents.Reservation? = nil

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    var text: String { String(decoding: body, as: UTF8.self) }
}

import Broker

/// One AWS operation: its input and output shapes, and what it does to the broker. The codecs read and write the
/// shapes; the body knows nothing of JSON, forms or XML.
struct Operation: Sendable {
    /// What an operation does. Only ReceiveMessage waits, so only it is async; keeping Broker's typed-throwing calls
    /// out of async code also keeps clear of a Swift 6.3 optimizer crash in async functions that call them.
    enum Body: Sendable {
        case sync(@Sendable (OperationContext, Input) throws -> [String: WireValue])
        /// `now` answers without waiting, or returns nil when the operation must wait; then `wait` runs it on a task.
        case async(now: @Sendable (OperationContext, Input) throws -> [String: WireValue]?,
                   wait: @Sendable (OperationContext, Input) async throws -> [String: WireValue])
    }

    let name: String
    let input: Structure
    /// Nil for operations without output: `{}` in JSON, no `<…Result>` element in XML.
    let output: Structure?
    let body: Body

    init(_ name: String, input: [Member], output: [Member]?,
         _ body: @escaping @Sendable (OperationContext, Input) throws -> [String: WireValue]) {
        self.name = name
        self.input = Structure(input)
        self.output = output.map(Structure.init)
        self.body = .sync(body)
    }

    init(_ name: String, input: [Member], output: [Member]?,
         now: @escaping @Sendable (OperationContext, Input) throws -> [String: WireValue]?,
         wait: @escaping @Sendable (OperationContext, Input) async throws -> [String: WireValue]) {
        self.name = name
        self.input = Structure(input)
        self.output = output.map(Structure.init)
        self.body = .async(now: now, wait: wait)
    }

    /// The operation's output if it can be had without waiting, else nil (nothing was done): an event loop runs this.
    func runWithoutWaiting(_ context: OperationContext, _ input: Input) throws -> [String: WireValue]? {
        switch body {
        case .sync(let body): try body(context, input)
        case .async(let now, _): try now(context, input)
        }
    }

    func run(_ context: OperationContext, _ input: Input) async throws -> [String: WireValue] {
        switch body {
        case .sync(let body): try body(context, input)
        case .async(_, let wait): try await wait(context, input)
        }
    }
}

/// What an operation may know of the request besides its input: the broker, the address the client used (queue URLs
/// answer with it) and, for SQS Query posted to a queue's path, that path.
struct OperationContext: Sendable {
    /// The broker as the caller's account and region see it.
    let broker: Broker
    /// `http://<Host header>`.
    let baseURL: String
    let pathQueueURL: String?
    /// The access key id of the request's signature, if it was signed.
    var accessKeyId: String? = nil

    /// The queue the request names by `QueueUrl`, or by its path. Any scheme, host and port are accepted, as SDKs
    /// rewrite them. A URL names its account, so a queue of another account (in the caller's region) is reachable;
    /// a bare queue name is resolved in the caller's account, as SQS does.
    @inline(never)
    func queue(_ input: Input) throws -> Queue {
        try Self.queue(input.string("QueueUrl") ?? pathQueueURL, of: broker)
    }

    /// The queue `url` names, as ``queue(_:)`` finds it for `broker`, the caller's view; shared with the typed
    /// operations, which have no ``Input``.
    static func queue(_ url: String?, of broker: Broker) throws(BrokerError) -> Queue {
        guard let url else {
            throw BrokerError(.queueDoesNotExist, "The specified queue does not exist.")
        }
        if !url.utf8.contains(UInt8(ascii: "/")) { return try broker.queue(named: url) }
        guard let reference = QueueURL.parse(url) else { throw BrokerError(.queueDoesNotExist, "The specified queue does not exist.") }
        guard let account = reference.account, account != broker.configuration.accountId else {
            return try broker.queue(named: reference.name)
        }
        guard let owner = try? broker.scoped(accountId: account) else {
            throw BrokerError(.queueDoesNotExist, "The specified queue does not exist.")
        }
        return try owner.queue(named: reference.name)
    }

    /// The URL of a queue of the caller's account as this client reaches it.
    func url(ofQueueNamed name: String) -> String { "\(baseURL)/\(broker.configuration.accountId)/\(name)" }

    /// Broker's URL for a queue (`…/<account>/<name>`), re-rooted at the address the client used.
    func rewrite(_ brokerURL: String) -> String {
        let parts = brokerURL.split(separator: "/")
        guard parts.count >= 2 else { return url(ofQueueNamed: brokerURL) }
        return "\(baseURL)/\(parts[parts.count - 2])/\(parts[parts.count - 1])"
    }
}

/// The account and name a queue URL names.
enum QueueURL {
    /// Reads `…/<account>/<name>`, `/queue/<name>` (ElasticMQ's legacy form, the broker's own account) and
    /// `/queue/<region>/<account>/<name>` (LocalStack's path form), ignoring scheme, host, port and query.
    static func parse(_ url: String) -> (account: String?, name: String)? {
        // Byte by byte: this runs twice for every queue operation on the wire.
        var path = Substring(url)
        if let scheme = path.byteRange(of: "://") {
            path = path[scheme.upperBound...]
            path = path[(path.utf8.firstIndex(of: UInt8(ascii: "/")) ?? path.endIndex)...]
        }
        path = path.prefix(beforeAnyOf: UInt8(ascii: "?"), UInt8(ascii: "#"))
        // Only the last two non-empty segments matter, and whether there are more: read from the end, into locals
        // (an array of them cost every request an allocation).
        var last: Substring = "", beforeLast: Substring = ""
        var count = 0
        func found(_ segment: Substring) {
            if count == 0 { last = segment } else if count == 1 { beforeLast = segment }
            count += 1
        }
        var end = path.utf8.endIndex
        var index = end
        while count < 3, index != path.utf8.startIndex {
            path.utf8.formIndex(before: &index)
            if path.utf8[index] == UInt8(ascii: "/") {
                if path.utf8.index(after: index) != end { found(path[path.utf8.index(after: index)..<end]) }
                end = index
            }
        }
        if count < 3, index == path.utf8.startIndex, index != end { found(path[index..<end]) }
        if count == 2, beforeLast == "queue" { return (nil, String(last)) }
        guard count >= 2 else { return nil }
        return (String(beforeLast), String(last))
    }
}

import Broker
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Synchronization

/// Serves a ``Broker`` over AWS's own wire protocols, so unmodified SDKs (boto3, the aws CLI, Soto, aws-sdk-swift)
/// can point their endpoint at it: SQS over AWS JSON 1.0 and over AWS Query, SNS over AWS Query.
///
/// ```swift
/// let server = BrokerServer(broker: Broker())
/// try await server.start()                     // port 0: the system picks a free port
/// print(server.baseURL!)                       // http://127.0.0.1:54321 — the SDKs' endpoint_url
/// try await server.stop()
/// ```
///
/// Signatures are accepted and never checked. Queue URLs are answered with the host the request was sent to. The
/// server's own settings (address, limits, whom it answers) are a ``Configuration``; the queues and topics to create
/// are a ``BrokerManifest``, applied to the broker.
public final class BrokerServer: Sendable {
    /// Where a server listens, what it lets its clients hold, and whom it answers. Every field has a default, so
    /// `Configuration()` is a loopback server on a port the system picks.
    public struct Configuration: Sendable {
        /// The address to listen on. Default `127.0.0.1`: the server has no authentication, so keep it local. A
        /// non-loopback address also lifts the `Host` check (see ``AccessPolicy/loopbackOnly``).
        public var host: String
        /// The port to listen on, 0–65535. Default 0: the system picks a free one (read it from
        /// ``BrokerServer/port``).
        public var port: Int
        /// `Host` names served besides loopback names while bound to a loopback address, such as a Docker service
        /// name. Default none.
        public var allowedHosts: Set<String>
        /// Whether a request that changes state must carry a SigV4 `Authorization` header, as AWS's endpoints require
        /// (the signature itself is never checked). Default true.
        public var requireSignature: Bool
        /// Bodies, buffered bytes, connections and timeouts. Default `ServerLimits()`, whose fields name their
        /// defaults.
        public var limits: ServerLimits
        /// Where the server logs: start and stop at `notice`, each AWS request at `debug` (a client's error at
        /// `info`, the server's own failure at `error`), with the operation, account, region, status, duration and
        /// error code as metadata. Default: a logger that discards everything, so an embedding app or test is quiet
        /// unless it passes its own.
        public var logger: Logger

        /// Request bodies above this many bytes are refused with HTTP 413 (417 to `Expect: 100-continue`). Default
        /// 3 MiB: a 1 MiB message, encoded. The same setting as ``ServerLimits/maximumRequestBodySize`` in ``limits``.
        public var maximumRequestBodySize: Int {
            get { limits.maximumRequestBodySize }
            set { limits.maximumRequestBodySize = newValue }
        }

        /// A configuration; every default is described on its property.
        public init(host: String = "127.0.0.1", port: Int = 0, allowedHosts: Set<String> = [],
                    requireSignature: Bool = true, limits: ServerLimits = ServerLimits(),
                    logger: Logger = Logger(label: "broker-server", factory: { _ in SwiftLogNoOpLogHandler() })) {
            self.host = host
            self.port = port
            self.allowedHosts = allowedHosts
            self.requireSignature = requireSignature
            self.limits = limits
            self.logger = logger
        }
    }

    /// The broker every request acts on.
    public let broker: Broker
    /// The server's settings, as given.
    public let configuration: Configuration
    /// The address to listen on (``Configuration/host``).
    public var host: String { configuration.host }
    /// The port asked for; 0 lets the system choose (read the result from ``port``).
    public var requestedPort: Int { configuration.port }
    /// Request bodies above this many bytes are refused with HTTP 413 (``Configuration/maximumRequestBodySize``).
    public var maximumRequestBodySize: Int { configuration.limits.maximumRequestBodySize }
    /// Bodies, buffered bytes, connections and timeouts (``Configuration/limits``).
    public var limits: ServerLimits { configuration.limits }
    /// Cross-site, Host and signature checks, made from the configuration and whether ``host`` is a loopback address.
    public let access: AccessPolicy
    /// Requests, errors, latency and message counts, served with the broker's depths at `GET /_broker/metrics`.
    public let metrics = ServerMetrics()

    private struct Running {
        let group: MultiThreadedEventLoopGroup
        let channel: any Channel
        let port: Int
        let connections: ConnectionRegistry
        let events: ConsoleEvents
    }

    // Mutex suits this cold path (start, stop, port reads, never per request); the library's hot cores use LockedState.
    private let state = Mutex<Running?>(nil)

    /// Creates a server for `broker` with `configuration`; nothing listens until ``start()``.
    public init(broker: Broker, configuration: Configuration = Configuration()) {
        self.broker = broker
        self.configuration = configuration
        self.access = AccessPolicy(allowedHosts: configuration.allowedHosts,
                                   loopbackOnly: BrokerServer.isLoopback(address: configuration.host),
                                   requireSignature: configuration.requireSignature)
    }

    /// Whether `address` is a loopback address or name: a server bound to one answers only loopback `Host` names.
    public static func isLoopback(address: String) -> Bool {
        AccessPolicy.isLoopback(address.lowercased())
    }

    /// The port the server listens on, once started.
    public var port: Int? { state.withLock { $0?.port } }

    /// `http://<host>:<port>`, the endpoint to give SDKs, once started.
    public var baseURL: String? {
        port.map { port in host.contains(":") ? "http://[\(host)]:\(port)" : "http://\(host):\(port)" }
    }

    /// Binds and starts serving; returns the bound port. Starting a server that is running throws.
    @discardableResult
    public func start() async throws -> Int {
        guard port == nil else { throw BrokerServerError.alreadyStarted }
        // A group of its own, so stop() closes every connection, long polls included, by shutting it down.
        let group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, System.coreCount))
        let routes = BrokerRoutes(broker: broker, metrics: metrics, started: .now)
        let events = ConsoleEvents(clock: broker.clock) {
            routes.consoleSnapshot()
        }
        let service = WireService(broker: broker, access: access, metrics: metrics, logger: configuration.logger,
                                  started: routes.started, events: events)
        let connections = ConnectionRegistry(limits: limits)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                guard connections.admit(channel) else { return channel.close() }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withPipeliningAssistance: false)
                    try channel.pipeline.syncOperations.addHandler(HTTPHandler(service: service, registry: connections))
                }
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: requestedPort).get()
        } catch {
            try? await group.shutdownGracefully()
            throw error
        }
        let port = channel.localAddress?.port ?? requestedPort
        let stored = state.withLock { running -> Bool in
            guard running == nil else { return false }
            running = Running(group: group, channel: channel, port: port, connections: connections, events: events)
            return true
        }
        guard stored else {
            events.close()
            try? await channel.close()
            try? await group.shutdownGracefully()
            throw BrokerServerError.alreadyStarted
        }
        assignSigningCertificateURL()
        configuration.logger.notice("listening", metadata: ["address": "\(host)", "port": "\(port)"])
        return port
    }

    /// Stops listening and closes every connection; receives waiting on them are cancelled, and every request
    /// has finished before the event loops shut down. Stopping a server that is not running does nothing.
    public func stop() async throws {
        guard let running = state.withLock({ running -> Running? in
            defer { running = nil }
            return running
        }) else { return }
        try? await running.channel.close()
        running.events.close()
        await running.connections.closeAll()
        try await running.group.shutdownGracefully()
        configuration.logger.notice("stopped", metadata: ["port": "\(running.port)"])
    }

    /// Open connections and the request bytes they hold, for tests and dashboards.
    public var load: (connections: Int, bufferedBytes: Int) {
        guard let connections = state.withLock({ $0?.connections }) else { return (0, 0) }
        return (connections.connectionCount, connections.bufferedBytes)
    }

    /// Starts (unless started) and serves until the calling task is cancelled or ``stop()`` is called; then stops.
    public func run() async throws {
        if port == nil { try await start() }
        guard let channel = state.withLock({ $0?.channel }) else { return }
        await withTaskCancellationHandler {
            try? await channel.closeFuture.get()
        } onCancel: {
            channel.close(promise: nil)
        }
        try await stop()
    }
}

/// Misuse of a ``BrokerServer``.
public enum BrokerServerError: Error, Sendable, CustomStringConvertible {
    /// ``BrokerServer/start()`` was called on a running server.
    case alreadyStarted

    /// What went wrong, for people.
    public var description: String {
        switch self {
        case .alreadyStarted: "The server is already running."
        }
    }
}

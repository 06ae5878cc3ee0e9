import BrokerServer
import ServiceLifecycle

/// A ``BrokerServer/BrokerServer`` as a `Service` of a `ServiceGroup`: it starts (unless started) and serves while
/// the group runs; on the group's graceful shutdown, or its cancellation, it stops accepting connections, closes the
/// open ones (long polls return) and returns once every request has finished.
///
/// Put it before the services that use it in the group's list: a group shuts its services down last to first, so
/// the consumers after it drain while the server still answers.
public struct BrokerServerService: Service, CustomStringConvertible {
    /// The server this service runs.
    public let server: BrokerServer

    /// A service that runs `server`.
    public init(_ server: BrokerServer) {
        self.server = server
    }

    /// The server's address, for the group's logs.
    public var description: String { "BrokerServer(\(server.baseURL ?? "\(server.host):\(server.requestedPort)"))" }

    /// Serves until the group shuts down.
    public func run() async throws {
        let server = self.server
        // BrokerServer.run() stops the server when its task is cancelled, so the graceful shutdown cancels it.
        try await cancelWhenGracefulShutdown {
            try await server.run()
        }
    }
}

extension BrokerServer {
    /// This server as a `Service`.
    public var service: BrokerServerService { BrokerServerService(self) }
}

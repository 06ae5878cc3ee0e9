import Broker
import ServiceLifecycle
import Synchronization

/// A ``Broker/QueueConsumer`` (a ``Broker/QueueWorker`` or an ``Broker/EventSourceMapping``) as a `Service` of a
/// `ServiceGroup`: it polls while the group runs, and on the group's graceful shutdown it drains, calling
/// ``Broker/QueueConsumer/stop(drainTimeout:)``: polling stops, running handlers finish (for up to `drainTimeout`
/// of the broker's clock) and their messages are acknowledged. Cancelling the group cancels handlers at once, as
/// cancelling ``Broker/QueueConsumer/run()`` does.
///
/// ```swift
/// let worker = try QueueWorker(queue: orders, broker: broker) { message in … }
/// let group = ServiceGroup(services: [server.service, worker.service()], logger: logger)
/// try await group.run()
/// ```
///
/// A wrapper rather than a bare conformance of the consumer: the consumer's own `run()` lives in the library, which
/// knows nothing of swift-service-lifecycle, so only a wrapper can hear the graceful shutdown and turn it into a
/// drain.
public struct ConsumerService<Consumer: QueueConsumer>: Service, CustomStringConvertible {
    /// The consumer this service runs.
    public let consumer: Consumer
    /// How long running handlers may go on after a graceful shutdown, on the broker's clock.
    public let drainTimeout: Duration

    /// A service that runs `consumer` and drains it for up to `drainTimeout` on graceful shutdown.
    public init(_ consumer: Consumer, drainTimeout: Duration = .seconds(30)) {
        self.consumer = consumer
        self.drainTimeout = drainTimeout
    }

    /// The consumer's type, for the group's logs.
    public var description: String { "ConsumerService<\(Consumer.self)>" }

    /// Runs the consumer until the group shuts down: gracefully (drained) or by cancellation.
    public func run() async throws {
        let consumer = self.consumer
        let drainTimeout = self.drainTimeout
        let shuttingDown = Mutex(false)
        do {
            try await withGracefulShutdownHandler {
                try await consumer.run()
            } onGracefulShutdown: {
                shuttingDown.withLock { $0 = true }
                Task { await consumer.stop(drainTimeout: drainTimeout) }
            }
        } catch {
            // A shutdown that came before the consumer started stops it first, and a stopped consumer's run()
            // throws: that is the shutdown the group asked for, not a failure.
            if shuttingDown.withLock({ $0 }) { return }
            throw error
        }
    }
}

extension QueueConsumer {
    /// This consumer as a `Service` that drains for up to `drainTimeout` on graceful shutdown.
    public func service(drainTimeout: Duration = .seconds(30)) -> ConsumerService<Self> {
        ConsumerService(self, drainTimeout: drainTimeout)
    }
}

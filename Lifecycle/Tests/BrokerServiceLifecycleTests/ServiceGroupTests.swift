import Broker
import BrokerServer
import BrokerServiceLifecycle
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// An app runs Broker's consumers and server in one `ServiceGroup`; a graceful shutdown drains the consumers and
/// closes the server.
@Suite("Service lifecycle")
struct ServiceGroupTests {
    /// A latch a handler waits on, opened by the test.
    final class Gate: Sendable {
        private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

        func wait() async {
            await withCheckedContinuation { continuation in
                let resume = state.withLock { state -> Bool in
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resume { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            waiters.forEach { $0.resume() }
        }
    }

    /// Yields (and, past the first thousand tries, naps a millisecond) until `condition` holds or the attempts run out.
    static func eventually(_ condition: () -> Bool) async -> Bool {
        for attempt in 0..<6_000 {
            if condition() { return true }
            if attempt < 1_000 { await Task.yield() } else { try? await Task.sleep(for: .milliseconds(1)) }
        }
        return condition()
    }

    static let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

    @Test("A graceful shutdown lets the running handler finish and acknowledge, then closes the server")
    func gracefulShutdownDrainsAndCloses() async throws {
        let broker = Broker(clock: ManualClock())
        let queue = try broker.createQueue(named: "orders")
        let started = Mutex(false)
        let gate = Gate()
        let worker = try QueueWorker(queue: queue, broker: broker, handler: { _ in
            started.withLock { $0 = true }
            await gate.wait()
        })
        let server = BrokerServer(broker: broker)
        // The server first: a group shuts its services down last to first, so the worker drains while it answers.
        var configuration = ServiceGroupConfiguration(
            services: [server.service, worker.service(drainTimeout: .seconds(60))], logger: Self.logger)
        // A service that ignored the graceful shutdown would be cancelled only after this.
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }

        #expect(await Self.eventually { server.port != nil })
        let port = try #require(server.port)
        try queue.sendMessage("order 1")
        #expect(await Self.eventually { started.withLock { $0 } })

        await group.triggerGracefulShutdown()
        // The handler is still running: the worker drains, and the server, shut down after it, still listens.
        #expect(worker.statistics.processed == 0)
        #expect(server.port == port)
        let opened = ContinuousClock.now
        gate.open()
        try await running.value
        // Drained and stopped on the shutdown itself, not cancelled when the group gave up waiting.
        #expect(ContinuousClock.now - opened < .seconds(4))

        #expect(worker.statistics.processed == 1)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 0)
        #expect(server.port == nil)
        // Nothing listens on the port any more: another server can bind it.
        let next = BrokerServer(broker: broker, configuration: BrokerServer.Configuration(port: port))
        #expect(try await next.start() == port)
        try await next.stop()
    }

    @Test("The server serves while the group runs")
    func serverServesInTheGroup() async throws {
        let broker = Broker()
        _ = try broker.createQueue(named: "orders")
        let server = BrokerServer(broker: broker)
        let group = ServiceGroup(services: [server.service], logger: Self.logger)
        let running = Task { try await group.run() }
        #expect(await Self.eventually { server.port != nil })
        let port = try #require(server.port)
        let url = try #require(URL(string: "http://127.0.0.1:\(port)/_broker/queues"))
        let (data, response) = try await URLSession.shared.data(from: url)
        #expect((response as? HTTPURLResponse)?.statusCode == 200)
        #expect(String(decoding: data, as: UTF8.self).contains("\"orders\""))
        await group.triggerGracefulShutdown()
        try await running.value
        #expect(server.port == nil)
    }

    @Test("An event source mapping drains its running batch on a graceful shutdown")
    func eventSourceMappingDrains() async throws {
        let broker = Broker(clock: ManualClock())
        let queue = try broker.createQueue(named: "events")
        let started = Mutex(false)
        let gate = Gate()
        let mapping = try EventSourceMapping(queue: queue, broker: broker) { _ in
            started.withLock { $0 = true }
            await gate.wait()
            return nil
        }
        var configuration = ServiceGroupConfiguration(services: [mapping.service()], logger: Self.logger)
        configuration.maximumGracefulShutdownDuration = .seconds(5)
        let group = ServiceGroup(configuration: configuration)
        let running = Task { try await group.run() }
        try queue.sendMessage("event 1")
        #expect(await Self.eventually { started.withLock { $0 } })

        await group.triggerGracefulShutdown()
        let opened = ContinuousClock.now
        gate.open()
        try await running.value
        #expect(ContinuousClock.now - opened < .seconds(4))
        #expect(mapping.statistics.processed == 1)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 0)
    }
}

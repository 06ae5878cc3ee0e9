import Foundation
import Testing

@testable import Broker

/// The two kinds of consumer, for the lifecycle rules they share.
enum ConsumerMode: String, CaseIterable, Sendable {
    case queueWorker, eventSourceMapping

    /// A consumer of this kind that hands each message alone to `handler` (the mapping in batches of one), with
    /// `concurrency` handlers at most.
    func consumer(of queue: Queue, broker: Broker, concurrency: Int,
                  handler: @escaping @Sendable (String) async throws -> Void) throws -> any QueueConsumer {
        switch self {
        case .queueWorker:
            try QueueWorker(queue: queue, broker: broker, configuration: .init(concurrency: concurrency)) { message in
                try await handler(message.body)
            }
        case .eventSourceMapping:
            try EventSourceMapping(queue: queue, broker: broker, configuration: .init(
                batchSize: 1, maximumConcurrency: concurrency, functionTimeout: .seconds(30))) { event in
                for record in event.records { try await handler(record.body) }
                return nil
            }
        }
    }

    /// Wake-ups each running handler holds on the clock: the mapping's function timeout.
    var wakeUpsPerHandler: Int { self == .eventSourceMapping ? 1 : 0 }
}

/// Pause, resume, stop and drain, for both kinds of consumer. Everything runs on a `ManualClock`; nothing sleeps.
struct ConsumerLifecycleTests {
    private typealias Kit = ConsumerTestKit

    @Test(arguments: ConsumerMode.allCases)
    func pausedIdleConsumerTakesNothingOnceItsCurrentPollEndsUntilResume(_ mode: ConsumerMode) async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "paused")
        let calls = LockedState(0)
        let consumer = try mode.consumer(of: queue, broker: broker, concurrency: 5) { _ in
            calls.withLock { $0 += 1 }
        }
        let log = EventLog(consumer.events)
        consumer.start()
        #expect(await Kit.eventually { Kit.waiters(queue) == 1 })
        consumer.pause()
        // The long poll under way ends at its deadline; no other starts.
        clock.advance(by: .seconds(20))
        #expect(await Kit.eventually { consumer.statistics.emptyPolls == 1 })
        await Kit.settle()
        #expect(Kit.waiters(queue) == 0)
        try queue.sendMessage("while paused")
        clock.advance(by: .seconds(300))
        await Kit.settle()
        #expect(calls.withLock { $0 } == 0)
        #expect(Kit.depth(queue) == (1, 0, 0))
        consumer.resume()
        #expect(await Kit.eventually { log.processed.count == 1 })
        #expect(Kit.depth(queue) == (0, 0, 0))
        await consumer.stop(drainTimeout: .zero)
    }

    @Test(arguments: ConsumerMode.allCases)
    func stopWaitsForEveryRunningHandlerNotJustTheFirstToFinish(_ mode: ConsumerMode) async throws {
        for _ in 0..<10 {
            let (broker, clock) = makeBroker()
            let queue = try broker.createQueue(named: "draining")
            try queue.sendMessage("first")
            try queue.sendMessage("second")
            let gates = ["first": Gate(), "second": Gate()]
            let consumer = try mode.consumer(of: queue, broker: broker, concurrency: 2) { body in
                try await gates[body]?.wait()
            }
            let log = EventLog(consumer.events)
            consumer.start()
            #expect(await Kit.eventually { gates.values.allSatisfy { $0.waiting == 1 } })
            let stopped = LockedState(false)
            let stopping = Task {
                await consumer.stop(drainTimeout: .seconds(10))
                stopped.withLock { $0 = true }
            }
            // The drain deadline, and each running handler's own.
            #expect(await Kit.eventually { clock.pendingWakeUps == 1 + 2 * mode.wakeUpsPerHandler })
            gates["first"]?.open()
            #expect(await Kit.eventually { Kit.depth(queue) == (0, 1, 0) })
            await Kit.settle()
            #expect(!stopped.withLock { $0 })
            #expect(consumer.statistics.inFlight == 1)
            gates["second"]?.open()
            await stopping.value
            #expect(consumer.statistics.inFlight == 0)
            #expect(Kit.depth(queue) == (0, 0, 0))
            #expect(await Kit.eventually { log.finished })
            #expect(log.processed.count == 2)
        }
    }

    @Test(arguments: ConsumerMode.allCases)
    func drainTimeoutCancelsTheHandlerStillRunningAndLeavesItsMessageOnTheQueue(_ mode: ConsumerMode) async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "drain-timeout", attributes: QueueAttributes(visibilityTimeout: .seconds(30)))
        try queue.sendMessage("quick")
        try queue.sendMessage("stuck")
        let gate = Gate()
        let cancelled = LockedState(false)
        let consumer = try mode.consumer(of: queue, broker: broker, concurrency: 2) { body in
            guard body == "stuck" else { return }
            do {
                try await gate.wait()
            } catch {
                cancelled.withLock { $0 = true }
                throw error
            }
        }
        let log = EventLog(consumer.events)
        consumer.start()
        #expect(await Kit.eventually { gate.waiting == 1 && log.processed.count == 1 })
        let stopping = Task { await consumer.stop(drainTimeout: .seconds(5)) }
        #expect(await Kit.eventually {
            clock.pendingWakeUps == 1 + mode.wakeUpsPerHandler && Kit.waiters(queue) == 0
        })
        clock.advance(by: .seconds(5))
        await stopping.value
        #expect(await Kit.eventually { log.finished })
        #expect(cancelled.withLock { $0 })
        #expect(log.processed.count == 1)
        if mode == .eventSourceMapping {
            #expect(log.batches.contains(.batchCompleted(size: 1, deleted: 0, failed: 1)))
        }
        #expect(Kit.depth(queue) == (0, 1, 0))
        #expect(await Kit.eventually { clock.pendingWakeUps == 0 })
        clock.advance(by: .seconds(25))
        #expect(Kit.depth(queue) == (1, 0, 0))
    }

    @Test(arguments: ConsumerMode.allCases)
    func cancellingTheTaskOfRunStopsPollingCancelsTheHandlerAndDeletesNothing(_ mode: ConsumerMode) async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "cancelled-run")
        try queue.sendMessage("stuck")
        let gate = Gate()
        let exited = LockedState(false)
        let consumer = try mode.consumer(of: queue, broker: broker, concurrency: 1) { _ in
            defer { exited.withLock { $0 = true } }
            try await gate.wait()
        }
        let log = EventLog(consumer.events)
        // Through the protocol, as a service group calls it.
        let run = Task { try await consumer.run() }
        #expect(await Kit.eventually { gate.waiting == 1 })
        run.cancel()
        try await run.value
        // A mapping's invocation settles at once on cancellation; the handler's body ends on its own.
        #expect(await Kit.eventually { exited.withLock { $0 } })
        #expect(consumer.statistics.inFlight == 0)
        #expect(log.processed.isEmpty)
        #expect(Kit.depth(queue) == (0, 1, 0))
        #expect(await Kit.eventually { log.finished })
        #expect(log.events.last == .stopped)
        #expect(await Kit.eventually { clock.pendingWakeUps == 0 })
        // A consumer runs once.
        await #expect(throws: BrokerError.self) { try await consumer.run() }
    }
}

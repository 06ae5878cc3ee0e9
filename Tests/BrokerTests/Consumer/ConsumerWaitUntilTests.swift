import Foundation
import Testing

@testable import Broker

/// `QueueWorker.waitUntil` on statistics: resolved by processing, timed out by the broker's clock.
@Suite("Consumer wait until")
struct ConsumerWaitUntilTests {
    @Test func waitingForTenProcessedMessagesResolvesWhenTheWorkerHasProcessedThem() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let worker = try QueueWorker(queue: queue, broker: broker) { _ in }
        let waiting = Task { try await worker.waitUntil { $0.processed >= 10 } }
        #expect(await ConsumerTestKit.eventually { worker.runtime.statisticsWaiting == 1 })
        for index in 0..<10 { try queue.sendMessage("m\(index)") }
        worker.start()
        let statistics = try await waiting.value
        #expect(statistics.processed >= 10)
        #expect(worker.runtime.statisticsWaiting == 0)
        await worker.stop(drainTimeout: .zero)
    }

    @Test func aWorkerThatProcessesNothingTimesOutOnTheBrokersClock() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let worker = try QueueWorker(queue: queue, broker: broker) { _ in }
        let waiting = Task { try await worker.waitUntil(timeout: .seconds(3)) { $0.processed >= 1 } }
        #expect(await ConsumerTestKit.eventually { worker.runtime.statisticsWaiting == 1 })
        clock.advance(by: .seconds(3))
        await expectBrokerErrorAsync(.waitTimedOut) { _ = try await waiting.value }
        #expect(worker.runtime.statisticsWaiting == 0)
        #expect(clock.pendingWakeUps == 0)
    }
}

import Foundation
import Testing

@testable import Broker

/// `Queue.waitUntil` and friends: resolved by sends, receives, deletes and lapsing visibility timeouts, timed out by
/// the broker's clock, cancelled cleanly, and never leaving a waiter or a wake-up behind. On a `ManualClock`; the
/// only waiting is for another task to register, never for time.
@Suite("Wait until")
struct WaitUntilTests {
    private func makeQueue() throws -> (Queue, ManualClock) {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders", attributes: QueueAttributes(visibilityTimeout: .seconds(30)))
        return (queue, clock)
    }

    /// Waits (yielding, never sleeping) until the queue holds `count` condition waiters.
    private func waitForWatchers(_ queue: Queue, count: Int = 1) async {
        for _ in 0..<100_000 {
            if queue.core.state.withLock({ $0.watchers.count }) >= count { return }
            await Task.yield()
        }
        Issue.record("no waiter registered")
    }

    private func watcherCount(_ queue: Queue) -> Int { queue.core.state.withLock { $0.watchers.count } }

    @Test func aConditionThatAlreadyHoldsReturnsAtOnce() async throws {
        let (queue, clock) = try makeQueue()
        try queue.sendMessage("a")
        let counts = try await queue.waitUntil { $0.visible == 1 }
        #expect(counts == QueueCounts(visible: 1, inFlight: 0, delayed: 0))
        #expect(watcherCount(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func depthReachingNResolvesOnTheSendThatReachesIt() async throws {
        let (queue, clock) = try makeQueue()
        let waiting = Task { try await queue.waitUntil(approximateNumberOfMessages: 3) }
        await waitForWatchers(queue)
        try queue.sendMessage("1")
        try queue.sendMessage("2")
        #expect(watcherCount(queue) == 1)
        try queue.sendMessage("3")
        let counts = try await waiting.value
        #expect(counts.visible == 3)
        #expect(watcherCount(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func drainResolvesOnTheLastDelete() async throws {
        let (queue, clock) = try makeQueue()
        try queue.sendMessage("1")
        try queue.sendMessage("2")
        let waiting = Task { try await queue.waitUntilDrained() }
        await waitForWatchers(queue)
        let received = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
        #expect(received.count == 2)
        try queue.deleteMessage(receiptHandle: received[0].receiptHandle)
        #expect(watcherCount(queue) == 1)
        try queue.deleteMessage(receiptHandle: received[1].receiptHandle)
        try await waiting.value
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func aReceiveResolvesAConditionOnInFlightMessages() async throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("1")
        let waiting = Task { try await queue.waitUntil { $0.inFlight == 1 } }
        await waitForWatchers(queue)
        _ = try await queue.receiveMessages(waitTimeSeconds: .zero)
        #expect(try await waiting.value == QueueCounts(visible: 0, inFlight: 1, delayed: 0))
    }

    @Test func aLapsingVisibilityTimeoutResolvesTheWaitWhenTheClockPassesIt() async throws {
        let (queue, clock) = try makeQueue()
        try queue.sendMessage("1")
        _ = try await queue.receiveMessages(waitTimeSeconds: .zero)
        let waiting = Task { try await queue.waitForMessage { $0.receiveCount == 1 } }
        await waitForWatchers(queue)
        clock.advance(by: .seconds(29))
        #expect(watcherCount(queue) == 1)
        clock.advance(by: .seconds(1))
        let message = try await waiting.value
        #expect(message.body == "1")
        #expect(message.state == .visible)
        #expect(watcherCount(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func aMatchingMessageArrivingResolvesTheWaitWithThatMessage() async throws {
        let (queue, _) = try makeQueue()
        let waiting = Task { try await queue.waitForMessage { $0.messageAttributes["kind"] == .string("refund") } }
        await waitForWatchers(queue)
        try queue.sendMessage("order")
        #expect(watcherCount(queue) == 1)
        let refund = try queue.sendMessage("refund", messageAttributes: ["kind": .string("refund")])
        let message = try await waiting.value
        #expect(message.messageId == refund.messageId)
        #expect(message.receiveCount == 0)
    }

    @Test func theTimeoutFiresWhenTheClockPassesIt() async throws {
        let (queue, clock) = try makeQueue()
        let waiting = Task { try await queue.waitUntil(approximateNumberOfMessages: 1, timeout: .seconds(10)) }
        await waitForWatchers(queue)
        clock.advance(by: .seconds(9))
        #expect(watcherCount(queue) == 1)
        clock.advance(by: .seconds(1))
        await expectBrokerErrorAsync(.waitTimedOut) { _ = try await waiting.value }
        #expect(watcherCount(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func aZeroTimeoutIsACheckThatFailsAtOnce() async throws {
        let (queue, _) = try makeQueue()
        try await queue.waitUntilDrained(timeout: .zero)
        try queue.sendMessage("1")
        await expectBrokerErrorAsync(.waitTimedOut) { try await queue.waitUntilDrained(timeout: .zero) }
        #expect(watcherCount(queue) == 0)
    }

    @Test func deletingTheQueueEndsTheWaitWithQueueDoesNotExist() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "gone")
        let waiting = Task { try await queue.waitUntil(approximateNumberOfMessages: 1) }
        await waitForWatchers(queue)
        try broker.deleteQueue(queue)
        await expectBrokerErrorAsync(.queueDoesNotExist) { _ = try await waiting.value }
        clock.advance(by: .seconds(60))
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func cancellingAWaitThrowsCancellationErrorAndLeavesNothingBehind() async throws {
        let (queue, clock) = try makeQueue()
        for iteration in 0..<200 {
            let waiting = Task { try await queue.waitUntil(approximateNumberOfMessages: 1_000) }
            // Half are cancelled before they register, half while they wait.
            if iteration % 2 == 0 { await waitForWatchers(queue) }
            waiting.cancel()
            do {
                _ = try await waiting.value
                Issue.record("a cancelled wait returned")
            } catch is CancellationError {
            } catch {
                Issue.record("expected CancellationError, got \(error)")
            }
            #expect(watcherCount(queue) == 0)
            #expect(clock.pendingWakeUps == 0)
        }
    }

    @Test func manyWaitersRacingSendsAreEachResumedExactlyOnce() async throws {
        let (queue, clock) = try makeQueue()
        let results = try await withThrowingTaskGroup(of: Int.self) { group in
            for target in 1...20 {
                group.addTask { try await queue.waitUntil(approximateNumberOfMessages: target).visible }
            }
            group.addTask {
                for index in 0..<20 {
                    try queue.sendMessage("\(index)")
                    await Task.yield()
                }
                return 0
            }
            var values: [Int] = []
            for try await value in group { values.append(value) }
            return values
        }
        #expect(results.count == 21)
        #expect(results.filter { $0 > 0 }.count == 20)
        #expect(watcherCount(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
    }
}

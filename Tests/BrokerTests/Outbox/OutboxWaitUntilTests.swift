import Foundation
import Testing

@testable import Broker

/// `Broker.waitUntilOutbox`: resolved by captured deliveries, timed out by the broker's clock, cancelled cleanly.
@Suite("Outbox wait until")
struct OutboxWaitUntilTests {
    private func waitForWatchers(_ broker: Broker) async {
        for _ in 0..<100_000 {
            if broker.snsSpace.outbox.watching > 0 { return }
            await Task.yield()
        }
        Issue.record("no waiter registered")
    }

    @Test func waitingForNTextMessagesResolvesOnTheNthAndReturnsThemInOrder() async throws {
        let (broker, clock) = makeBroker()
        let waiting = Task { try await broker.waitUntilOutbox(count: 3, matching: .phoneNumber("+15551234567")) }
        await waitForWatchers(broker)
        try broker.publish(phoneNumber: "+15551234567", message: "one")
        try broker.publish(phoneNumber: "+15550000000", message: "elsewhere")
        try broker.publish(phoneNumber: "+15551234567", message: "two")
        #expect(broker.snsSpace.outbox.watching == 1)
        try broker.publish(phoneNumber: "+15551234567", message: "three")
        #expect(try await waiting.value.map(\.body) == ["one", "two", "three"])
        #expect(broker.snsSpace.outbox.watching == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func messagesAlreadyCapturedSatisfyTheWaitAtOnce() async throws {
        let (broker, _) = makeBroker()
        try broker.publish(phoneNumber: "+15551234567", message: "one")
        #expect(try await broker.waitUntilOutbox(count: 1).count == 1)
    }

    @Test func theTimeoutFiresWhenTheClockPassesIt() async throws {
        let (broker, clock) = makeBroker()
        let waiting = Task { try await broker.waitUntilOutbox(count: 1, timeout: .seconds(5)) }
        await waitForWatchers(broker)
        clock.advance(by: .seconds(5))
        await expectBrokerErrorAsync(.waitTimedOut) { _ = try await waiting.value }
        #expect(broker.snsSpace.outbox.watching == 0)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func cancellingTheWaitLeavesNoWaiterBehind() async throws {
        let (broker, clock) = makeBroker()
        for iteration in 0..<100 {
            let waiting = Task { try await broker.waitUntilOutbox(count: 1) }
            if iteration % 2 == 0 { await waitForWatchers(broker) }
            waiting.cancel()
            await #expect(throws: CancellationError.self) { _ = try await waiting.value }
            #expect(broker.snsSpace.outbox.watching == 0)
            #expect(clock.pendingWakeUps == 0)
        }
    }
}

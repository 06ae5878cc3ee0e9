import Foundation
import Testing

@testable import Broker

/// `Queue.peek`: every state with its deadline, and the promise that looking changes nothing. On a `ManualClock`.
@Suite("Peek")
struct PeekTests {
    private func makeQueue(fifo: Bool = false) throws -> (Queue, ManualClock) {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: fifo ? "orders.fifo" : "orders", attributes: QueueAttributes(
            visibilityTimeout: .seconds(30), fifoQueue: fifo ? true : nil,
            contentBasedDeduplication: fifo ? true : nil))
        return (queue, clock)
    }

    @Test func peekChangesNeitherReceiveCountNorVisibility() async throws {
        let (queue, _) = try makeQueue()
        let sent = try queue.sendMessage("hello", messageAttributes: ["kind": .string("greeting")])
        for _ in 0..<3 {
            let peeked = try queue.peek()
            #expect(peeked.count == 1)
            #expect(peeked.first?.messageId == sent.messageId)
            #expect(peeked.first?.body == "hello")
            #expect(peeked.first?.messageAttributes["kind"] == .string("greeting"))
            #expect(peeked.first?.receiveCount == 0)
            #expect(peeked.first?.state == .visible)
        }
        #expect(try queue.counts() == QueueCounts(visible: 1, inFlight: 0, delayed: 0))
        let received = try await queue.receiveMessages(waitTimeSeconds: .zero,
                                                       messageSystemAttributeNames: [.approximateReceiveCount])
        #expect(received.map(\.messageId) == [sent.messageId])
        #expect(received.first?.attributes[.approximateReceiveCount] == "1")
    }

    @Test func eachStateIsReportedWithItsDeadline() async throws {
        let (queue, clock) = try makeQueue()
        let start = clock.now
        let inFlight = try queue.sendMessage("in flight")
        _ = try await queue.receiveMessages(waitTimeSeconds: .zero)
        let visible = try queue.sendMessage("visible")
        let delayed = try queue.sendMessage("delayed", delaySeconds: .seconds(60))

        let peeked = try queue.peek()
        #expect(peeked.map(\.body) == ["in flight", "visible", "delayed"])
        let byId = Dictionary(uniqueKeysWithValues: peeked.map { ($0.messageId, $0) })
        #expect(byId[inFlight.messageId]?.state == .inFlight)
        #expect(byId[inFlight.messageId]?.inFlightUntil == start.addingTimeInterval(30))
        #expect(byId[inFlight.messageId]?.receiveCount == 1)
        #expect(byId[inFlight.messageId]?.firstReceiveTimestamp == start)
        #expect(byId[visible.messageId]?.state == .visible)
        #expect(byId[visible.messageId]?.inFlightUntil == nil)
        #expect(byId[delayed.messageId]?.state == .delayed)
        #expect(byId[delayed.messageId]?.delayedUntil == start.addingTimeInterval(60))
        #expect(byId[delayed.messageId]?.inFlightUntil == nil)

        #expect(try queue.peek(states: [.inFlight]).map(\.body) == ["in flight"])
        #expect(try queue.peek(states: [.delayed, .visible]).map(\.body) == ["visible", "delayed"])

        clock.advance(by: .seconds(30))
        #expect(try queue.peek(states: [.visible]).map(\.body) == ["in flight", "visible"])
    }

    @Test func aReceiveAfterAPeekOfAnInFlightMessageStillWaitsForItsTimeout() async throws {
        let (queue, clock) = try makeQueue()
        try queue.sendMessage("once")
        _ = try await queue.receiveMessages(waitTimeSeconds: .zero)
        _ = try queue.peek()
        clock.advance(by: .seconds(29))
        _ = try queue.peek()
        #expect(try await queue.receiveMessages(waitTimeSeconds: .zero).isEmpty)
        clock.advance(by: .seconds(1))
        let again = try await queue.receiveMessages(waitTimeSeconds: .zero,
                                                    messageSystemAttributeNames: [.approximateReceiveCount])
        #expect(again.first?.attributes[.approximateReceiveCount] == "2")
    }

    @Test func limitAndPredicateBoundWhatIsReturned() throws {
        let (queue, _) = try makeQueue()
        for index in 0..<10 { try queue.sendMessage("m\(index)") }
        #expect(try queue.peek(limit: 3).map(\.body) == ["m0", "m1", "m2"])
        #expect(try queue.peek(limit: 0).isEmpty)
        #expect(try queue.peek(where: { $0.body.hasSuffix("7") }).map(\.body) == ["m7"])
        #expect(try queue.peek(limit: 2, where: { (Int($0.body.dropFirst()) ?? 0) % 2 == 1 }).map(\.body) == ["m1", "m3"])
        expectBrokerError(.invalidParameterValue) { _ = try queue.peek(limit: -1) }
    }

    @Test func fifoMessagesArePeekedInSequenceOrderWithTheirGroups() async throws {
        let (queue, _) = try makeQueue(fifo: true)
        try queue.sendMessage("a1", messageGroupId: "a")
        try queue.sendMessage("b1", messageGroupId: "b")
        try queue.sendMessage("a2", messageGroupId: "a")
        let peeked = try queue.peek()
        #expect(peeked.map(\.body) == ["a1", "b1", "a2"])
        #expect(peeked.map(\.messageGroupId) == ["a", "b", "a"])
        #expect(peeked.allSatisfy { $0.sequenceNumber != nil && $0.messageDeduplicationId != nil })
        let received = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
        #expect(received.map(\.body) == ["a1", "a2", "b1"])
    }

    @Test func peekingADeletedQueueFailsWithQueueDoesNotExist() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "gone")
        try broker.deleteQueue(queue)
        expectBrokerError(.queueDoesNotExist) { _ = try queue.peek() }
    }
}

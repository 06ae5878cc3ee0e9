import Foundation
import Testing

@testable import Broker

/// ``SQSRealism``: duplicates, disorder and sampling short polls at the rates a test chooses, reproducible from the
/// broker's seed, never on FIFO queues, and off by default. On a `ManualClock`; rates are checked over thousands of
/// seeded receives with bounds several standard deviations wide, and the seed makes each run the same.
@Suite("AWS realism")
struct RealismTests {
    private func makeQueue(_ realism: SQSRealism?, seed: UInt64 = 1, name: String = "orders") throws -> (Queue, ManualClock) {
        let clock = ManualClock()
        let broker = Broker(configuration: BrokerConfiguration(seed: seed, sqsRealism: realism), clock: clock)
        return (try broker.createQueue(named: name, attributes: QueueAttributes(visibilityTimeout: .seconds(30))), clock)
    }

    private func short(_ queue: Queue, max: Int = 10, visibility: Duration? = nil) async throws -> [Message] {
        try await queue.receiveMessages(maxNumberOfMessages: max, visibilityTimeout: visibility, waitTimeSeconds: .zero)
    }

    /// Receives (short polls, nothing deleted) until a receive comes back empty twice in a row; the bodies in order.
    private func drain(_ queue: Queue) async throws -> [String] {
        var bodies: [String] = []
        var empties = 0
        while empties < 2 {
            let batch = try await short(queue)
            empties = batch.isEmpty ? empties + 1 : 0
            bodies += batch.map(\.body)
        }
        return bodies
    }

    @Test func offByDefaultEveryMessageComesOnceInOrderAndShortPollsAreFull() async throws {
        let (queue, _) = try makeQueue(nil)
        #expect(try queue.realism() == nil)
        for index in 0..<100 { try queue.sendMessage("\(index)") }
        var bodies: [String] = []
        for _ in 0..<10 {
            let batch = try await short(queue)
            #expect(batch.count == 10)
            bodies += batch.map(\.body)
        }
        #expect(bodies == (0..<100).map(String.init))
        #expect(try await short(queue).isEmpty)
    }

    @Test func duplicatesComeAtTheChosenRateWhileTheFirstReceiveHoldsTheMessage() async throws {
        let (queue, _) = try makeQueue(SQSRealism(duplicateRate: 0.3))
        for index in 0..<2_000 { try queue.sendMessage("\(index)") }
        let bodies = try await drain(queue)
        let counts = Dictionary(bodies.map { ($0, 1) }, uniquingKeysWith: +)
        #expect(counts.count == 2_000)
        let duplicated = counts.values.filter { $0 == 2 }.count
        #expect(counts.values.allSatisfy { $0 <= 2 })
        // 2,000 trials at p = 0.3: the standard deviation is about 20.
        #expect((500...700).contains(duplicated), "duplicated \(duplicated)")
    }

    @Test func aDuplicateHasItsOwnHandleAndEitherHandleDeletesTheMessage() async throws {
        let (queue, _) = try makeQueue(SQSRealism(duplicateRate: 1))
        try queue.sendMessage("once")
        try queue.sendMessage("twice")
        let first = try await short(queue, max: 1)
        let second = try await short(queue, max: 1)
        #expect(first.map(\.body) == ["once"])
        #expect(second.map(\.body) == ["once"])
        #expect(first.first?.receiptHandle != second.first?.receiptHandle)
        try queue.deleteMessage(receiptHandle: try #require(first.first).receiptHandle)
        #expect(try queue.peek().map(\.body) == ["twice"])
    }

    @Test func messagesArriveOutOfOrderAtTheChosenRate() async throws {
        let (queue, _) = try makeQueue(SQSRealism(outOfOrderRate: 0.2))
        for index in 0..<2_000 { try queue.sendMessage("\(index)") }
        let order = try await drain(queue).compactMap { Int($0) }
        #expect(Set(order).count == 2_000)
        #expect(order.count == 2_000)
        // A message is overtaken when a later-sent one arrived before it.
        var highest = -1
        var overtaken = 0
        for value in order {
            if value < highest { overtaken += 1 }
            highest = max(highest, value)
        }
        #expect(order != order.sorted())
        #expect((250...550).contains(overtaken), "overtaken \(overtaken)")
    }

    @Test func shortPollsComeBackEmptyAtTheChosenRate() async throws {
        let (queue, _) = try makeQueue(SQSRealism(emptyShortPollRate: 0.25))
        for index in 0..<100 { try queue.sendMessage("\(index)") }
        var empty = 0
        for _ in 0..<4_000 where try await short(queue, visibility: .zero).isEmpty { empty += 1 }
        // 4,000 trials at p = 0.25: the standard deviation is about 27.
        #expect((880...1_120).contains(empty), "empty \(empty)")
    }

    @Test func shortPollsReturnFewerThanAvailableAtTheChosenRate() async throws {
        let (queue, _) = try makeQueue(SQSRealism(partialShortPollRate: 0.5))
        for index in 0..<100 { try queue.sendMessage("\(index)") }
        var partial = 0
        for _ in 0..<4_000 {
            let batch = try await short(queue, visibility: .zero)
            #expect((1...10).contains(batch.count))
            if batch.count < 10 { partial += 1 }
        }
        #expect((1_850...2_150).contains(partial), "partial \(partial)")
    }

    @Test func aLongPollReturnsAMessageWhenOneIsAvailableWhateverTheShortPollRates() async throws {
        let (queue, _) = try makeQueue(SQSRealism(emptyShortPollRate: 1))
        try queue.sendMessage("there")
        #expect(try await short(queue).isEmpty)
        let received = try await queue.receiveMessages(waitTimeSeconds: .seconds(20))
        #expect(received.map(\.body) == ["there"])
    }

    @Test func theSameSeedGivesTheSameSequenceAndAnotherSeedAnother() async throws {
        func run(seed: UInt64) async throws -> [[String]] {
            let (queue, _) = try makeQueue(.typical, seed: seed)
            for index in 0..<300 { try queue.sendMessage("\(index)") }
            var batches: [[String]] = []
            for _ in 0..<60 { batches.append(try await short(queue).map(\.body)) }
            return batches
        }
        let first = try await run(seed: 7)
        #expect(try await run(seed: 7) == first)
        #expect(try await run(seed: 8) != first)
    }

    @Test func fifoQueuesAreNeverAffected() async throws {
        let clock = ManualClock()
        let everything = SQSRealism(duplicateRate: 1, outOfOrderRate: 1, emptyShortPollRate: 1, partialShortPollRate: 1)
        let broker = Broker(configuration: BrokerConfiguration(seed: 1, sqsRealism: everything), clock: clock)
        let queue = try broker.createQueue(named: "orders.fifo", attributes: QueueAttributes(
            fifoQueue: true, contentBasedDeduplication: true))
        try queue.setRealism(everything)
        #expect(try queue.realism() == nil)
        for index in 0..<30 { try queue.sendMessage("\(index)", messageGroupId: "g") }
        var bodies: [String] = []
        while true {
            let batch = try await short(queue)
            if batch.isEmpty { break }
            #expect(batch.count == 10)
            bodies += batch.map(\.body)
            for message in batch { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
        }
        #expect(bodies == (0..<30).map(String.init))
    }

    @Test func realismCanBeTurnedOnAndOffPerQueue() async throws {
        let (queue, _) = try makeQueue(nil)
        try queue.setRealism(SQSRealism(emptyShortPollRate: 1))
        #expect(try queue.realism() == SQSRealism(emptyShortPollRate: 1))
        try queue.sendMessage("m")
        #expect(try await short(queue).isEmpty)
        try queue.setRealism(nil)
        #expect(try await short(queue).map(\.body) == ["m"])
    }
}

import Foundation
import Testing

@testable import Broker

/// Many producers and consumers on one standard queue, on the manual clock: consumers delete, release or let the
/// visibility lapse at random while a driver moves time on. Every message must be removed by exactly one delete,
/// and none may vanish any other way.
struct StressTests {
    /// What the test saw, behind one lock. Sends and deletes run under this lock too, so the number of messages
    /// removed so far is exactly `sent - (messages still in the queue)`, and a delete removed its message exactly
    /// when that number grew by one across the call.
    final class Ledger: @unchecked Sendable {
        private let lock = NSLock()
        private var sentBodies = Set<String>()
        private var removedBodies = Set<String>()
        private var bodyOfMessageId: [String: String] = [:]
        private var removed = 0
        private var finishedConsumers = 0
        private(set) var problems: [String] = []
        private(set) var deletesWithoutEffect = 0
        private(set) var receives = 0
        let expected: Int

        init(expected: Int) { self.expected = expected }

        private func locked<R>(_ body: () throws -> R) rethrows -> R {
            lock.lock()
            defer { lock.unlock() }
            return try body()
        }

        func send(_ body: String, delay: Duration, to queue: Queue) throws {
            try locked {
                let result = try queue.sendMessage(body, delaySeconds: delay)
                sentBodies.insert(body)
                bodyOfMessageId[result.messageId] = body
            }
        }

        func received(_ messages: [Message]) {
            locked {
                receives += messages.count
                for message in messages where bodyOfMessageId[message.messageId] != message.body {
                    problems.append("message \(message.messageId) came back with body \(message.body)")
                }
            }
        }

        func delete(_ message: Message, from queue: Queue) throws {
            try locked {
                try queue.deleteMessage(receiptHandle: message.receiptHandle)
                let nowRemoved = sentBodies.count - (try MessageTestKit.total(queue))
                switch nowRemoved - removed {
                case 0:
                    deletesWithoutEffect += 1  // deleted already, through a later receive's handle
                case 1:
                    if !removedBodies.insert(message.body).inserted {
                        problems.append("\(message.body) removed twice")
                    }
                default:
                    problems.append("deleting \(message.body) changed the removed count by \(nowRemoved - removed)")
                }
                removed = nowRemoved
            }
        }

        var isDone: Bool { locked { removed >= expected } }
        func consumerFinished() { locked { finishedConsumers += 1 } }
        var consumersFinished: Int { locked { finishedConsumers } }
        var summary: (sent: Set<String>, removed: Set<String>) { locked { (sentBodies, removedBodies) } }
    }

    @Test(.timeLimit(.minutes(1)))
    func concurrentProducersAndConsumersDeleteEveryMessageExactlyOnce() async throws {
        let (broker, clock) = makeBroker(seed: 42)
        let queue = try broker.createQueue(named: "stress", attributes: QueueAttributes(
            visibilityTimeout: .seconds(3), messageRetentionPeriod: .seconds(1_209_600)))
        let producers = 4
        let perProducer = 2_000
        let consumers = 4
        let ledger = Ledger(expected: producers * perProducer)
        let start = clock.now

        try await withThrowingTaskGroup(of: Void.self) { group in
            for producer in 0..<producers {
                group.addTask {
                    var random = IDGenerator(seed: UInt64(100 + producer))
                    for index in 0..<perProducer {
                        // One message in ten is delayed a little, so delays mature while consumers work.
                        let delay: Duration = random.next() % 10 == 0 ? .seconds(Int(random.next() % 3)) : .zero
                        try ledger.send("p\(producer)-\(index)", delay: delay, to: queue)
                        if index % 25 == 0 { await Task.yield() }
                    }
                }
            }
            for consumer in 0..<consumers {
                group.addTask {
                    defer { ledger.consumerFinished() }
                    var random = IDGenerator(seed: UInt64(consumer))
                    // Half of the consumers long-poll (ended by the driver's clock), half short-poll.
                    let wait: Duration = consumer.isMultiple(of: 2) ? .zero : .seconds(1)
                    while !ledger.isDone {
                        let messages = try await queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: wait)
                        ledger.received(messages)
                        if messages.isEmpty {
                            await Task.yield()
                            continue
                        }
                        for message in messages {
                            switch random.next() % 10 {
                            case 0..<6:
                                try ledger.delete(message, from: queue)
                            case 6..<8:
                                // The visibility may have lapsed and another consumer deleted the message meanwhile:
                                // then AWS's answer is this error, and nothing changes.
                                do {
                                    try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .zero)
                                } catch let error as BrokerError where error.message.contains("Message does not exist") {
                                    continue
                                }
                            default:
                                break  // let the visibility timeout lapse
                            }
                        }
                    }
                }
            }
            group.addTask {
                // Time moves only while nothing is receivable, so consumers always make progress first.
                while ledger.consumersFinished < consumers {
                    if try queue.statistics().approximateNumberOfMessages == 0 {
                        clock.advance(by: .seconds(1))
                    }
                    await Task.yield()
                }
            }
            try await group.waitForAll()
        }

        let (sent, removed) = ledger.summary
        #expect(ledger.problems.isEmpty, "\(ledger.problems.prefix(10))")
        #expect(sent.count == producers * perProducer)
        #expect(removed == sent, "never removed: \(sent.subtracting(removed).sorted().prefix(10))")
        #expect(try MessageTestKit.counts(queue) == (0, 0, 0))
        #expect(try await MessageTestKit.receiveNow(queue).isEmpty)
        #expect(ledger.receives >= sent.count)
        #expect(MessageTestKit.waiters(queue) == 0)
        #expect(clock.pendingWakeUps == 0)
        #expect(clock.now.timeIntervalSince(start) < 1_209_600, "retention must not have expired anything")
    }

    @Test(.timeLimit(.minutes(1)))
    func manyLongPollsRacingSendsAndCancellationsLoseNoMessage() async throws {
        let (broker, clock) = makeBroker(seed: 9)
        let queue = try broker.createQueue(named: "waiters")
        let rounds = 200
        var taken = Set<String>()
        for round in 0..<rounds {
            // Four waiters, three messages sent concurrently with cancelling two of the waiters.
            var polls: [Task<[Message], any Error>] = []
            for index in 0..<4 {
                polls.append(Task { try await queue.receiveMessages(visibilityTimeout: .seconds(60), waitTimeSeconds: .seconds(20)) })
                try #require(await MessageTestKit.waitForWaiters(queue, count: index + 1, clock: clock))
            }
            let bodies = (0..<3).map { "r\(round)-\($0)" }
            let cancelled = [polls[1], polls[3]]
            try await withThrowingTaskGroup(of: Void.self) { group in
                for poll in cancelled { group.addTask { poll.cancel() } }
                for body in bodies { group.addTask { try queue.sendMessage(body) } }
                try await group.waitForAll()
            }
            clock.advance(by: .seconds(20))  // ends whoever is still waiting
            var got: [String] = []
            for poll in polls {
                switch await poll.result {
                case .success(let messages):
                    got += messages.map(\.body)
                    for message in messages { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
                case .failure(let error):
                    #expect(error is CancellationError, "round \(round): \(error)")
                }
            }
            let rest = try await MessageTestKit.receiveNow(queue, visibility: .seconds(60))
            for message in rest { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
            got += rest.map(\.body)
            #expect(got.sorted() == bodies.sorted(), "round \(round)")
            taken.formUnion(got)
            #expect(try MessageTestKit.total(queue) == 0, "round \(round)")
            #expect(clock.pendingWakeUps == 0, "round \(round)")
        }
        #expect(taken.count == rounds * 3)
    }
}

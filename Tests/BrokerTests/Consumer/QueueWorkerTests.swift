import Foundation
import Testing

@testable import Broker

/// The long-running queue worker: per-message and batch handlers, failure policies, acknowledgement modes,
/// back-pressure, the visibility heartbeat, non-retryable errors, FIFO ordering, drain and cancellation. Everything
/// runs on a `ManualClock`; nothing sleeps.
struct QueueWorkerTests {
    private typealias Kit = ConsumerTestKit

    private struct Fixture {
        let broker: Broker
        let clock: ManualClock
        let queue: Queue
    }

    private func fixture(visibility: Duration = .seconds(30), fifo: Bool = false, maxReceiveCount: Int? = nil,
                         withDLQ: Bool = false) throws -> (Fixture, dlq: Queue?) {
        let (broker, clock) = makeBroker()
        var dlq: Queue?
        var redrive: RedrivePolicy?
        if withDLQ || maxReceiveCount != nil {
            let target = try broker.createQueue(named: fifo ? "worker-dlq.fifo" : "worker-dlq",
                                                attributes: QueueAttributes(fifoQueue: fifo ? true : nil))
            dlq = target
            redrive = RedrivePolicy(deadLetterTargetArn: target.arn, maxReceiveCount: maxReceiveCount ?? 10)
        }
        let queue = try broker.createQueue(named: fifo ? "worker.fifo" : "worker", attributes: QueueAttributes(
            visibilityTimeout: visibility, redrivePolicy: redrive, fifoQueue: fifo ? true : nil))
        return (Fixture(broker: broker, clock: clock, queue: queue), dlq)
    }

    /// Each handler call: body, receive count and clock time.
    private final class Calls: Sendable {
        struct Call: Sendable, Hashable {
            let body: String
            let messageId: String
            let receiveCount: Int
            let at: Date
        }

        private let state = LockedState<[Call]>([])

        /// Records a call and returns how many calls this body has had, this one included.
        @discardableResult
        func record(_ message: ReceivedMessage, at date: Date) -> Int {
            state.withLock { calls in
                calls.append(Call(body: message.body, messageId: message.messageId, receiveCount: message.receiveCount, at: date))
                return calls.filter { $0.body == message.body }.count
            }
        }

        var all: [Call] { state.withLock { $0 } }
        var count: Int { state.withLock { $0.count } }
        var bodies: [String] { all.map(\.body) }
    }

    struct Failure: Error {}

    // MARK: Configuration

    struct ConfigurationCase: Sendable, CustomTestStringConvertible {
        let name: String
        let configuration: QueueWorkerConfiguration
        var testDescription: String { name }
    }

    static let invalidConfigurations: [ConfigurationCase] = [
        ConfigurationCase(name: "concurrency 0", configuration: .init(concurrency: 0)),
        ConfigurationCase(name: "concurrency 1001", configuration: .init(concurrency: 1_001)),
        ConfigurationCase(name: "receiveBatchSize 0", configuration: .init(receiveBatchSize: 0)),
        ConfigurationCase(name: "receiveBatchSize 11", configuration: .init(receiveBatchSize: 11)),
        ConfigurationCase(name: "waitTimeSeconds 21", configuration: .init(waitTimeSeconds: .seconds(21))),
        ConfigurationCase(name: "waitTimeSeconds -1", configuration: .init(waitTimeSeconds: .seconds(-1))),
        ConfigurationCase(name: "heartbeat extension equal to interval",
                          configuration: .init(heartbeat: .init(interval: .seconds(10), extension: .seconds(10)))),
        ConfigurationCase(name: "heartbeat interval 0", configuration: .init(heartbeat: .init(interval: .zero, extension: .seconds(10)))),
    ]

    @Test(arguments: invalidConfigurations)
    func invalidConfigurationIsRefusedWithInvalidParameterValue(_ testCase: ConfigurationCase) throws {
        let (f, _) = try fixture()
        expectBrokerError(.invalidParameterValue) {
            _ = try QueueWorker(queue: f.queue, broker: f.broker, configuration: testCase.configuration) { _ in }
        }
        expectBrokerError(.invalidParameterValue) {
            _ = try QueueWorker(queue: f.queue, broker: f.broker, configuration: testCase.configuration) { _ in [] }
        }
    }

    // MARK: Success

    @Test func perMessageHandlerDeletesEachMessageOnSuccess() async throws {
        let (f, _) = try fixture()
        var sent: [String] = []
        for index in 1...12 { sent.append(try f.queue.sendMessage("m\(index)").messageId) }
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            calls.record(message, at: f.clock.now)
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 12 })
        #expect(Set(log.processed) == Set(sent))
        #expect(Set(calls.bodies) == Set((1...12).map { "m\($0)" }))
        #expect(calls.all.allSatisfy { $0.receiveCount == 1 })
        #expect(worker.statistics.processed == 12)
        #expect(worker.statistics.received == 12)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
        #expect(await Kit.eventually { log.finished })
        #expect(log.events.first == .started)
        #expect(log.events.last == .stopped)
    }

    // MARK: Failure policies

    struct PolicyCase: Sendable, CustomTestStringConvertible {
        let name: String
        let policy: FailurePolicy
        /// When the failed message is receivable again, after the failure.
        let reappearsAfter: Int
        var testDescription: String { name }
    }

    static let policyCases: [PolicyCase] = [
        PolicyCase(name: "leaveForVisibilityTimeout", policy: .leaveForVisibilityTimeout, reappearsAfter: 30),
        PolicyCase(name: "releaseImmediately", policy: .releaseImmediately, reappearsAfter: 0),
        PolicyCase(name: "delay 10 s", policy: .delay(.seconds(10)), reappearsAfter: 10),
        PolicyCase(name: "delay 45 s (longer than the visibility timeout)", policy: .delay(.seconds(45)), reappearsAfter: 45),
        PolicyCase(name: "exponentialBackoff base 4 s, first failure",
                   policy: .exponentialBackoff(base: .seconds(4), maximum: .seconds(60), jitter: false), reappearsAfter: 4),
    ]

    @Test(arguments: policyCases)
    func failurePolicyDecidesWhenAFailedMessageReappears(_ testCase: PolicyCase) async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        try f.queue.sendMessage("flaky")
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            failurePolicy: testCase.policy)) { message in
            if calls.record(message, at: f.clock.now) == 1 { throw Failure() }
        }
        let log = EventLog(worker.events)
        let start = f.clock.now
        worker.start()
        #expect(await Kit.eventually { log.failed.count == 1 })
        if testCase.reappearsAfter > 0 {
            // `failed` is reported before the policy changes the visibility: wait for the handler to be settled.
            #expect(await Kit.eventually { worker.statistics.inFlight == 0 })
            f.clock.advance(by: .seconds(testCase.reappearsAfter - 1))
            await Kit.settle()
            #expect(calls.count == 1)
            #expect(Kit.depth(f.queue) == (0, 1, 0))
            f.clock.advance(by: .seconds(1))
        }
        #expect(await Kit.eventually { log.processed.count == 1 })
        #expect(calls.all.map(\.receiveCount) == [1, 2])
        #expect(calls.all.map(\.at) == [start, start.addingTimeInterval(Double(testCase.reappearsAfter))])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func exponentialBackoffDoublesTheDelayPerReceiveUpToTheMaximum() async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        try f.queue.sendMessage("poison-ish")
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            failurePolicy: .exponentialBackoff(base: .seconds(10), maximum: .seconds(60), jitter: false))) { message in
            if calls.record(message, at: f.clock.now) < 6 { throw Failure() }
        }
        let log = EventLog(worker.events)
        let start = f.clock.now
        worker.start()
        // Receive n fails and hides the message for 10 × 2^(n−1) s, at most 60 s.
        let delays = [10, 20, 40, 60, 60]
        for (index, delay) in delays.enumerated() {
            #expect(await Kit.eventually { log.failed.count == index + 1 && worker.statistics.inFlight == 0 })
            f.clock.advance(by: .seconds(delay - 1))
            await Kit.settle()
            #expect(calls.count == index + 1)
            #expect(Kit.depth(f.queue) == (0, 1, 0))
            f.clock.advance(by: .seconds(1))
        }
        #expect(await Kit.eventually { log.processed.count == 1 })
        #expect(calls.all.map(\.receiveCount) == [1, 2, 3, 4, 5, 6])
        let offsets = calls.all.map { Int($0.at.timeIntervalSince(start)) }
        #expect(offsets == [0, 10, 30, 70, 130, 190])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func jitteredBackoffNeverWaitsLongerThanTheUnjitteredDelay() async throws {
        for _ in 0..<10 {
            let (f, _) = try fixture(visibility: .seconds(30))
            try f.queue.sendMessage("jitter")
            let calls = Calls()
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
                failurePolicy: .exponentialBackoff(base: .seconds(8), maximum: .seconds(8), jitter: true))) { message in
                if calls.record(message, at: f.clock.now) == 1 { throw Failure() }
            }
            let log = EventLog(worker.events)
            worker.start()
            // Also wait for the next long poll: one registered while the clock moves could miss the wake-up.
            #expect(await Kit.eventually {
                log.failed.count == 1 && worker.statistics.inFlight == 0 && Kit.waiters(f.queue) == 1
            })
            f.clock.advance(by: .seconds(8))
            #expect(await Kit.eventually { log.processed.count == 1 })
            #expect(Kit.total(f.queue) == 0)
            await worker.stop(drainTimeout: .zero)
        }
    }

    // MARK: Acknowledgement

    @Test func acknowledgementAlwaysDeletesFailedMessagesToo() async throws {
        let (f, _) = try fixture()
        try f.queue.sendMessage("good")
        try f.queue.sendMessage("bad")
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(acknowledgement: .always)) { message in
            if message.body == "bad" { throw Failure() }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 1 && log.failed.count == 1 })
        #expect(await Kit.eventually { Kit.depth(f.queue) == (0, 0, 0) })
        f.clock.advance(by: .seconds(60))
        await Kit.settle()
        #expect(worker.statistics.received == 2)
        #expect(Kit.total(f.queue) == 0)
        await worker.stop(drainTimeout: .zero)
    }

    @Test func manualAcknowledgementDeletesOnlyWhatTheHandlerAcknowledges() async throws {
        let (f, _) = try fixture()
        let acked = try f.queue.sendMessage("ack")
        let kept = try f.queue.sendMessage("keep")
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(acknowledgement: .manual)) { message in
            calls.record(message, at: f.clock.now)
            if message.body == "ack" { try message.acknowledge() }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 2 })
        #expect(Set(log.processed) == [acked.messageId, kept.messageId])
        // "keep" succeeded but was never acknowledged: it stays in flight and comes back.
        #expect(Kit.depth(f.queue) == (0, 1, 0))
        f.clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { log.processed.count == 3 })
        #expect(calls.all.filter { $0.body == "keep" }.map(\.receiveCount) == [1, 2])
        #expect(calls.all.filter { $0.body == "ack" }.count == 1)
        #expect(Kit.depth(f.queue) == (0, 1, 0))
        await worker.stop(drainTimeout: .zero)
    }

    // MARK: Back-pressure

    @Test(arguments: [1, 2, 4])
    func backPressureKeepsAtMostConcurrencyMessagesInFlight(_ concurrency: Int) async throws {
        let (f, _) = try fixture()
        for index in 1...5 { try f.queue.sendMessage("m\(index)") }
        let gate = Gate()
        let probe = ConcurrencyProbe()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: concurrency)) { (_: ReceivedMessage) in
            probe.enter()
            defer { probe.leave() }
            try await gate.wait()
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gate.waiting == concurrency })
        await Kit.settle()
        #expect(probe.running == concurrency)
        #expect(worker.statistics.received == concurrency)
        #expect(worker.statistics.inFlight == concurrency)
        #expect(Kit.depth(f.queue) == (5 - concurrency, concurrency, 0))
        #expect(try f.queue.attributes(["ApproximateNumberOfMessagesNotVisible"]) == [
            "ApproximateNumberOfMessagesNotVisible": String(concurrency),
        ])
        gate.open()
        #expect(await Kit.eventually { log.processed.count == 5 })
        #expect(probe.maximum == concurrency)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func backPressureHoldsUnderRepeatedBursts() async throws {
        for _ in 0..<10 {
            let (f, _) = try fixture()
            let probe = ConcurrencyProbe()
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 2)) { (_: ReceivedMessage) in
                probe.enter()
                defer { probe.leave() }
                await Task.yield()
            }
            let log = EventLog(worker.events)
            worker.start()
            for index in 1...20 { try f.queue.sendMessage("m\(index)") }
            #expect(await Kit.eventually { log.processed.count == 20 })
            #expect(probe.maximum <= 2)
            #expect(Kit.total(f.queue) == 0)
            await worker.stop(drainTimeout: .zero)
        }
    }

    @Test func messagesArrivingWhileEveryWorkerIsBusyFillTheFreeSlots() async throws {
        let (f, _) = try fixture()
        try f.queue.sendMessage("first")
        let gate = Gate()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 3)) { (_: ReceivedMessage) in
            try await gate.wait()
        }
        let log = EventLog(worker.events)
        worker.start()
        // The one worker runs a handler that does not return, so the poll loop long-polls for the two free slots.
        #expect(await Kit.eventually { gate.waiting == 1 && Kit.waiters(f.queue) == 1 })
        try f.queue.sendMessage("second")
        try f.queue.sendMessage("third")
        #expect(await Kit.eventually { gate.waiting == 3 })
        #expect(Kit.depth(f.queue) == (0, 3, 0))
        gate.open()
        #expect(await Kit.eventually { log.processed.count == 3 })
        // Drained: receiving is back with the poll loop, waiting on the queue.
        #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
        #expect(Kit.total(f.queue) == 0)
        await worker.stop(drainTimeout: .zero)
    }

    @Test(arguments: [1, 3, 10])
    func workersReceivingForThemselvesHandleEveryMessageOnceWithinConcurrency(_ concurrency: Int) async throws {
        for iteration in 0..<20 {
            let (f, _) = try fixture()
            for index in 0..<60 { try f.queue.sendMessage("m\(index)") }
            let probe = ConcurrencyProbe()
            let seen = LockedState<[String: Int]>([:])
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: concurrency)) { message in
                probe.enter()
                defer { probe.leave() }
                seen.withLock { $0[message.body, default: 0] += 1 }
                for _ in 0..<(message.body.count + iteration) % 3 { await Task.yield() }
            }
            let log = EventLog(worker.events)
            worker.start()
            // More arrive while the backlog drains.
            for index in 60..<90 { try f.queue.sendMessage("m\(index)") }
            #expect(await Kit.eventually { log.processed.count == 90 })
            #expect(seen.withLock { $0.count == 90 && $0.values.allSatisfy { $0 == 1 } })
            #expect(probe.maximum <= concurrency)
            #expect(worker.statistics.received == 90)
            #expect(Kit.total(f.queue) == 0)
            #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
            await worker.stop(drainTimeout: .zero)
        }
    }

    @Test func pauseUnderLoadStopsEveryReceiveUntilResume() async throws {
        for _ in 0..<10 {
            let (f, _) = try fixture()
            for index in 0..<200 { try f.queue.sendMessage("m\(index)") }
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 4)) { _ in
                await Task.yield()
            }
            let log = EventLog(worker.events)
            worker.start()
            #expect(await Kit.eventually { log.processed.count >= 20 })
            worker.pause()
            // Receives under way when it paused may still deliver; after that, nothing more is received. The
            // handlers' deletes are sent even while paused (a worker may still be on its way to sending the last
            // batch when its handler's count drops, hence both conditions).
            #expect(await Kit.eventually { worker.statistics.inFlight == 0 && Kit.depth(f.queue).inFlight == 0 })
            await Kit.settle()
            let received = worker.statistics.received
            await Kit.settle()
            #expect(worker.statistics.received == received)
            #expect(received < 200)
            #expect(Kit.depth(f.queue) == (200 - received, 0, 0))
            worker.resume()
            #expect(await Kit.eventually { log.processed.count == 200 })
            #expect(Kit.total(f.queue) == 0)
            await worker.stop(drainTimeout: .zero)
        }
    }

    // MARK: Heartbeat

    @Test func heartbeatKeepsALongHandlersMessageInvisibleAndStopsWhenItEnds() async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        let sent = try f.queue.sendMessage("long job")
        let gate = Gate()
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            concurrency: 1, heartbeat: .init(interval: .seconds(10), extension: .seconds(30)))) { message in
            calls.record(message, at: f.clock.now)
            try await gate.wait()
        }
        let log = EventLog(worker.events)
        worker.start()
        // One slot, taken: the only wake-up is the heartbeat's.
        #expect(await Kit.eventually { gate.waiting == 1 && f.clock.pendingWakeUps == 1 })
        for _ in 1...10 {
            f.clock.advance(by: .seconds(10))
            #expect(await Kit.eventually { f.clock.pendingWakeUps == 1 })
            #expect(Kit.depth(f.queue) == (0, 1, 0))
        }
        // 100 s of handler time, far past the 30 s visibility timeout, and no redelivery.
        #expect(calls.count == 1)
        gate.open()
        #expect(await Kit.eventually { log.processed == [sent.messageId] })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        // The heartbeat ended with the handler: nothing re-extends (or resurrects) the deleted message.
        for _ in 1...10 {
            f.clock.advance(by: .seconds(10))
            await Kit.settle(200)
        }
        #expect(calls.count == 1)
        #expect(Kit.total(f.queue) == 0)
        #expect(worker.statistics.received == 1)
        await worker.stop(drainTimeout: .zero)
        #expect(await Kit.eventually { f.clock.pendingWakeUps == 0 })
    }

    @Test func heartbeatExtendsEveryMessageOfABatchHandler() async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        let gate = Gate()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            concurrency: 3, heartbeat: .init(interval: .seconds(20), extension: .seconds(30)))) { (_: [ReceivedMessage]) in
            try await gate.wait()
            return []
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gate.waiting == 1 && f.clock.pendingWakeUps == 1 })
        for _ in 1...6 {
            f.clock.advance(by: .seconds(20))
            #expect(await Kit.eventually { f.clock.pendingWakeUps == 1 })
            #expect(Kit.depth(f.queue) == (0, 3, 0))
        }
        gate.open()
        #expect(await Kit.eventually { log.processed.count == 3 })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        #expect(worker.statistics.received == 3)
        await worker.stop(drainTimeout: .zero)
    }

    @Test func fifoHandlerOutlivingItsVisibilityReportsTheFailedDeleteAndTheMessageComesBack() async throws {
        let (f, _) = try fixture(visibility: .seconds(30), fifo: true)
        let sent = try f.queue.sendMessage("slow", messageGroupId: "g", messageDeduplicationId: "slow")
        let gate = Gate()
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 1)) { message in
            calls.record(message, at: f.clock.now)
            if calls.count == 1 { try await gate.wait() }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gate.waiting == 1 })
        f.clock.advance(by: .seconds(31))
        gate.open()
        // A FIFO queue refuses the expired receipt handle: the failure is reported, the message is not lost.
        #expect(await Kit.eventually { worker.statistics.deleteFailures == 1 })
        #expect(await Kit.eventually { log.events.contains { if case .deleteFailed(sent.messageId, _) = $0 { true } else { false } } })
        #expect(await Kit.eventually { calls.count == 2 && log.processed == [sent.messageId] })
        #expect(calls.all.map(\.receiveCount) == [1, 2])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func shortPollingWorkerIdlesOnTheClockBetweenEmptyPolls() async throws {
        let (f, _) = try fixture()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(waitTimeSeconds: .zero)) { _ in }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { worker.statistics.emptyPolls == 1 && f.clock.pendingWakeUps == 1 })
        await Kit.settle()
        #expect(worker.statistics.emptyPolls == 1)
        for round in 2...4 {
            f.clock.advance(by: .seconds(1))
            #expect(await Kit.eventually { worker.statistics.emptyPolls == round && f.clock.pendingWakeUps == 1 })
        }
        try f.queue.sendMessage("hello")
        f.clock.advance(by: .seconds(1))
        #expect(await Kit.eventually { log.processed.count == 1 })
        await worker.stop(drainTimeout: .zero)
        #expect(Kit.total(f.queue) == 0)
    }

    @Test func withoutHeartbeatALongHandlersMessageIsRedeliveredAndTheStaleDeleteStillDeletesIt() async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        try f.queue.sendMessage("long job")
        let gates = [Gate(), Gate()]
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 2)) { message in
            let number = calls.record(message, at: f.clock.now)
            try await gates[number - 1].wait()
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gates[0].waiting == 1 && Kit.waiters(f.queue) == 1 })
        f.clock.advance(by: .seconds(30))
        // The visibility timeout lapsed under a running handler: a second, concurrent delivery.
        #expect(await Kit.eventually { gates[1].waiting == 1 })
        #expect(calls.all.map(\.receiveCount) == [1, 2])
        // The first handler finishes: its receipt handle was superseded, and deletes the message all the same (AWS).
        gates[0].open()
        #expect(await Kit.eventually { log.processed.count == 1 })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        gates[1].open()
        #expect(await Kit.eventually { log.processed.count == 2 })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    // MARK: Non-retryable errors

    @Test func nonRetryableErrorMovesTheMessageToTheDLQAtOnce() async throws {
        let (f, dlqQueue) = try fixture(maxReceiveCount: 5)
        let dlq = try #require(dlqQueue)
        try f.queue.sendMessage("poison", messageAttributes: ["kind": .string("order")])
        try f.queue.sendMessage("fine")
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            if message.body == "poison" { throw NonRetryableError("unknown product") }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.failed.count == 1 && log.processed.count == 1 })
        #expect(await Kit.eventually { Kit.depth(dlq) == (1, 0, 0) })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        let moved = try #require(try await dlq.receiveMessages(waitTimeSeconds: .zero, messageAttributeNames: ["All"]).first)
        #expect(moved.body == "poison")
        #expect(moved.messageAttributes["kind"] == .string("order"))
        #expect(moved.messageAttributes["NonRetryableReason"] == .string("unknown product"))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func nonRetryableErrorOnAFifoQueueMovesTheMessageToTheFifoDLQAndTheGroupGoesOn() async throws {
        let (f, dlqQueue) = try fixture(fifo: true, maxReceiveCount: 5)
        let dlq = try #require(dlqQueue)
        for body in ["g1", "g2", "g3"] {
            try f.queue.sendMessage(body, messageGroupId: "g", messageDeduplicationId: body)
        }
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            calls.record(message, at: f.clock.now)
            if message.body == "g1" { throw NonRetryableError("bad") }
        }
        let log = EventLog(worker.events)
        worker.start()
        // g1 goes to the DLQ at once; g2 and g3, released after it, follow in order without waiting for a timeout.
        #expect(await Kit.eventually { log.processed.count == 2 })
        #expect(calls.bodies == ["g1", "g2", "g3"])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        let moved = try #require(try await dlq.receiveMessages(waitTimeSeconds: .zero, messageSystemAttributeNames: [.all]).first)
        #expect(moved.body == "g1")
        #expect(moved.attributes[.messageGroupId] == "g")
        await worker.stop(drainTimeout: .zero)
    }

    @Test func nonRetryableErrorWithoutADLQFallsBackToTheFailurePolicy() async throws {
        let (f, _) = try fixture()
        try f.queue.sendMessage("poison")
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { (_: ReceivedMessage) in throw NonRetryableError("no") }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.failed.count == 1 })
        #expect(Kit.depth(f.queue) == (0, 1, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func ordinaryFailuresReachTheDLQOnlyAfterMaxReceiveCount() async throws {
        let (f, dlqQueue) = try fixture(visibility: .seconds(30), maxReceiveCount: 2)
        let dlq = try #require(dlqQueue)
        try f.queue.sendMessage("retry me")
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            calls.record(message, at: f.clock.now)
            throw Failure()
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.failed.count == 1 })
        f.clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { log.failed.count == 2 })
        #expect(Kit.total(dlq) == 0)
        f.clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { Kit.depth(dlq) == (1, 0, 0) })
        #expect(Kit.total(f.queue) == 0)
        #expect(calls.all.map(\.receiveCount) == [1, 2])
        await worker.stop(drainTimeout: .zero)
    }

    // MARK: Batch handler

    @Test func batchHandlerReturningFailedIdsDeletesTheRest() async throws {
        let (f, _) = try fixture()
        for index in 1...6 { try f.queue.sendMessage("m\(index)") }
        let batches = LockedState<[[String]]>([])
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { (messages: [ReceivedMessage]) in
            batches.withLock { $0.append(messages.map(\.body)) }
            return Set(messages.filter { ["m2", "m5"].contains($0.body) }.map(\.messageId))
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 4 && log.failed.count == 2 })
        #expect(batches.withLock { $0 } == [(1...6).map { "m\($0)" }])
        #expect(Kit.depth(f.queue) == (0, 2, 0))
        await worker.stop(drainTimeout: .zero)
    }

    @Test func batchHandlerThatThrowsFailsTheWholeBatch() async throws {
        let (f, _) = try fixture()
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            failurePolicy: .delay(.seconds(5)))) { (_: [ReceivedMessage]) -> Set<String> in
            throw Failure()
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.failed.count == 3 })
        #expect(log.processed.isEmpty)
        #expect(Kit.depth(f.queue) == (0, 3, 0))
        await worker.stop(drainTimeout: .zero)
        f.clock.advance(by: .seconds(5))
        #expect(Kit.depth(f.queue) == (3, 0, 0))
    }

    @Test func batchHandlerUnknownFailedIdsAreIgnored() async throws {
        let (f, _) = try fixture()
        for index in 1...2 { try f.queue.sendMessage("m\(index)") }
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { (_: [ReceivedMessage]) in ["nope"] }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 2 })
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    // MARK: FIFO

    @Test func fifoMessagesOfAGroupAreProcessedInOrder() async throws {
        for _ in 0..<10 {
            let (f, _) = try fixture(fifo: true)
            let order = LockedState<[String: [Int]]>([:])
            let probe = ConcurrencyProbe()
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
                concurrency: 4, receiveBatchSize: 3)) { message in
                let group = message.message.attributes[.messageGroupId] ?? "?"
                probe.enter()
                defer { probe.leave() }
                await Task.yield()
                order.withLock { $0[group, default: []].append(Int(message.body.split(separator: "-")[1]) ?? -1) }
            }
            let log = EventLog(worker.events)
            worker.start()
            for index in 0..<10 {
                for group in ["a", "b", "c"] {
                    try f.queue.sendMessage("\(group)-\(index)", messageGroupId: group, messageDeduplicationId: "\(group)\(index)")
                }
            }
            #expect(await Kit.eventually { log.processed.count == 30 })
            #expect(order.withLock { $0 } == ["a": Array(0..<10), "b": Array(0..<10), "c": Array(0..<10)])
            #expect(Kit.total(f.queue) == 0)
            await worker.stop(drainTimeout: .zero)
        }
    }

    @Test(arguments: [false, true])
    func fifoFailureStopsTheRestOfTheBatchOrOnlyTheGroup(_ skipGroupOnError: Bool) async throws {
        let (f, _) = try fixture(visibility: .seconds(30), fifo: true)
        var ids: [String: String] = [:]
        for body in ["a1", "a2", "a3", "b1", "b2"] {
            ids[body] = try f.queue.sendMessage(body, messageGroupId: String(body.prefix(1)), messageDeduplicationId: body).messageId
        }
        let failing = LockedState(true)
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(
            skipGroupOnError: skipGroupOnError)) { message in
            calls.record(message, at: f.clock.now)
            if message.body == "a2", failing.withLock({ $0 }) { throw Failure() }
        }
        let log = EventLog(worker.events)
        worker.start()
        // One receive, in group order: a1 a2 a3 b1 b2. a2 fails and stays in flight; what is skipped after it is
        // released unstarted: a3 (and, by default, the rest of the batch, b1 b2).
        let skipped = skipGroupOnError ? ["a3"] : ["a3", "b1", "b2"]
        #expect(await Kit.eventually { log.failed.count == 1 && log.released.count == skipped.count && log.processed.count == 3 })
        #expect(calls.bodies == ["a1", "a2", "b1", "b2"])
        #expect(log.failed == [ids["a2"]])
        #expect(log.released == skipped.compactMap { ids[$0] })
        // Group b, released, is received again at once; group a stays blocked behind a2, in flight.
        #expect(calls.all.filter { $0.body.hasPrefix("b") }.map(\.receiveCount) == (skipGroupOnError ? [1, 1] : [2, 2]))
        #expect(await Kit.eventually { Kit.depth(f.queue) == (1, 1, 0) })
        await Kit.settle()
        #expect(calls.count == 4)

        failing.withLock { $0 = false }
        f.clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { log.processed.count == 5 })
        #expect(calls.bodies == ["a1", "a2", "b1", "b2", "a2", "a3"])
        #expect(calls.all.suffix(2).map(\.receiveCount) == [2, 2])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await worker.stop(drainTimeout: .zero)
    }

    // MARK: Stop, drain, cancellation

    @Test func stopLetsRunningHandlersFinishAndLosesNothingAcknowledged() async throws {
        let (f, _) = try fixture()
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        let gate = Gate()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 2)) { _ in
            try await gate.wait()
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gate.waiting == 2 })
        let stopped = LockedState(false)
        let stopping = Task {
            await worker.stop(drainTimeout: .seconds(10))
            stopped.withLock { $0 = true }
        }
        #expect(await Kit.eventually { f.clock.pendingWakeUps == 1 })
        f.clock.advance(by: .seconds(9))
        await Kit.settle()
        #expect(!stopped.withLock { $0 })
        gate.open()
        await stopping.value
        #expect(await Kit.eventually { log.finished })
        #expect(log.processed.count == 2)
        #expect(log.released.isEmpty)
        // The two handled messages are deleted; the third was never received and is untouched.
        #expect(Kit.depth(f.queue) == (1, 0, 0))
        let left = try #require(try await f.queue.receiveMessages(waitTimeSeconds: .zero, messageSystemAttributeNames: [.all]).first)
        #expect(left.receiveCount == 1)
        #expect(await Kit.eventually { log.finished })
        #expect(log.events.last == .stopped)
    }

    @Test func cancellingTheRunTaskLeavesUnacknowledgedMessagesOnTheQueue() async throws {
        for _ in 0..<20 {
            let (f, _) = try fixture(visibility: .seconds(30))
            for index in 1...3 { try f.queue.sendMessage("m\(index)") }
            let gate = Gate()
            let exited = LockedState(0)
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 5)) { (_: ReceivedMessage) in
                defer { exited.withLock { $0 += 1 } }
                try await gate.wait()
            }
            let log = EventLog(worker.events)
            let run = Task { try await worker.run() }
            #expect(await Kit.eventually { gate.waiting == 3 && Kit.waiters(f.queue) == 1 })
            run.cancel()
            try await run.value
            // run() returns only once its cancelled handlers have ended and been settled.
            #expect(exited.withLock { $0 } == 3)
            #expect(worker.statistics.inFlight == 0)
            #expect(worker.statistics.failed == 3)
            #expect(log.processed.isEmpty)
            #expect(Kit.depth(f.queue) == (0, 3, 0))
            #expect(await Kit.eventually { log.finished })
            // Their failures are reported before `stopped`, not lost behind the end of the stream.
            #expect(log.failed.count == 3)
            #expect(log.events.last == .stopped)
            #expect(await Kit.eventually { f.clock.pendingWakeUps == 0 })
            f.clock.advance(by: .seconds(30))
            #expect(Kit.depth(f.queue) == (3, 0, 0))
        }
    }

    @Test func drainTimeoutReleasesFifoMessagesNotYetStartedAndKeepsGroupOrder() async throws {
        let (f, _) = try fixture(visibility: .seconds(30), fifo: true)
        var ids: [String: String] = [:]
        for body in ["a1", "a2", "a3"] {
            ids[body] = try f.queue.sendMessage(body, messageGroupId: "a", messageDeduplicationId: body).messageId
        }
        let gate = Gate()
        let calls = Calls()
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            calls.record(message, at: f.clock.now)
            if message.body == "a1" { try await gate.wait() }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { gate.waiting == 1 && Kit.waiters(f.queue) == 1 })
        let stopping = Task { await worker.stop(drainTimeout: .seconds(5)) }
        #expect(await Kit.eventually { f.clock.pendingWakeUps == 1 && Kit.waiters(f.queue) == 0 })
        f.clock.advance(by: .seconds(5))
        await stopping.value
        #expect(await Kit.eventually { log.finished })
        // a1 was cancelled (a failure, left in flight); a2 and a3 never started and were released.
        #expect(calls.bodies == ["a1"])
        #expect(log.failed == [ids["a1"]])
        #expect(log.released == [ids["a2"], ids["a3"]])
        #expect(log.processed.isEmpty)
        #expect(Kit.depth(f.queue) == (2, 1, 0))
        // The group stays blocked behind a1; once a1 is back, the group comes out in order.
        #expect(try await f.queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero).isEmpty)
        f.clock.advance(by: .seconds(25))
        let again = try await f.queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
        #expect(again.map(\.body) == ["a1", "a2", "a3"])
    }

    @Test func gracefulStopOfAFifoBatchLosesNothingAndKeepsGroupOrder() async throws {
        for iteration in 0..<20 {
            let (f, _) = try fixture(visibility: .seconds(30), fifo: true)
            for index in 1...4 {
                try f.queue.sendMessage("a\(index)", messageGroupId: "a", messageDeduplicationId: "a\(index)")
            }
            let gate = Gate()
            let calls = Calls()
            let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
                calls.record(message, at: f.clock.now)
                if message.body == "a1" { try await gate.wait() }
            }
            let log = EventLog(worker.events)
            worker.start()
            #expect(await Kit.eventually { gate.waiting == 1 })
            let stopping = Task { await worker.stop(drainTimeout: .seconds(10)) }
            await Kit.settle(iteration * 5)
            gate.open()
            await stopping.value
            #expect(await Kit.eventually { log.finished })
            // What ran, ran in order and was deleted; the rest is back on the queue, still in order.
            let ran = calls.bodies
            #expect(ran == Array(["a1", "a2", "a3", "a4"].prefix(ran.count)))
            #expect(log.processed.count == ran.count)
            #expect(Kit.total(f.queue) == 4 - ran.count)
            let left = try await f.queue.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .zero)
            #expect(left.map(\.body) == Array(["a1", "a2", "a3", "a4"].dropFirst(ran.count)))
        }
    }

    @Test func startAndStopRacesNeverLoseOrDuplicateAMessage() async throws {
        for iteration in 0..<50 {
            let (f, _) = try fixture()
            for index in 1...5 { try f.queue.sendMessage("m\(index)") }
            let worker = try QueueWorker(queue: f.queue, broker: f.broker, configuration: .init(concurrency: 3)) { _ in
                await Task.yield()
            }
            let log = EventLog(worker.events)
            worker.start()
            await Kit.settle(iteration % 10 * 3)
            await worker.stop(drainTimeout: iteration.isMultiple(of: 2) ? .zero : .seconds(5))
            #expect(await Kit.eventually { log.finished })
            let processed = log.processed
            #expect(Set(processed).count == processed.count)
            #expect(Kit.total(f.queue) == 5 - processed.count)
            #expect(await Kit.eventually { MessageTestKit.wakeUpsBesidesQueueTimer(f.queue, f.clock) == 0 })
        }
    }

    // MARK: Decoding

    @Test func decodingFailureInsideAHandlerFailsOnlyThatMessage() async throws {
        let (f, _) = try fixture()
        let good = [Order(orderId: "o-1", amount: 10), Order(orderId: "o-2", amount: 20)]
        for order in good { try f.queue.sendMessage(String(decoding: try JSONEncoder().encode(order), as: UTF8.self)) }
        let bad = try f.queue.sendMessage(#"{"orderId": "o-3", "amount": "#)
        let decoded = LockedState<Set<Order>>([])
        let worker = try QueueWorker(queue: f.queue, broker: f.broker) { message in
            let order = try message.decode(Order.self)
            decoded.withLock { _ = $0.insert(order) }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await Kit.eventually { log.processed.count == 2 && log.failed.count == 1 })
        #expect(decoded.withLock { $0 } == Set(good))
        #expect(log.failed == [bad.messageId])
        #expect(Kit.depth(f.queue) == (0, 1, 0))
        await worker.stop(drainTimeout: .zero)
    }
}

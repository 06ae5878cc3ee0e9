import Foundation
import Testing

@testable import Broker

@Suite("Durable move tasks")
struct DurableMoveTaskTests {
    /// A source queue that dead-letters at the first receive past its visibility timeout, and its dead-letter queue.
    private func makePair(_ broker: Broker) throws -> (source: Queue, dlq: Queue) {
        let dlq = try broker.createQueue(named: "orders-dlq")
        let source = try broker.createQueue(named: "orders", awsAttributes: [
            "RedrivePolicy": "{\"deadLetterTargetArn\":\"\(dlq.arn)\",\"maxReceiveCount\":\"1\"}"])
        return (source, dlq)
    }

    /// Sends `count` messages to `source` and moves every one of them to its dead-letter queue.
    private func deadLetter(_ count: Int, from source: Queue, clock: ManualClock) async throws {
        for index in 0..<count { try source.sendMessage("m\(index)") }
        var received = 0
        while received < count {
            let batch = try await source.receiveMessages(maxNumberOfMessages: 10, visibilityTimeout: .seconds(1))
            try #require(!batch.isEmpty)
            received += batch.count
        }
        clock.advance(by: .seconds(1))
        #expect(try await source.receiveMessages(maxNumberOfMessages: 10).isEmpty)
    }

    private func depth(_ queue: Queue) throws -> Int { try queue.statistics().approximateNumberOfMessages }

    private func task(_ broker: Broker) throws -> MessageMoveTask {
        try #require(try broker.listMessageMoveTasks(sourceArn: broker.queue(named: "orders-dlq").arn).first)
    }

    @Test("A paced move task cut by a restart resumes from its count and moves each message once",
          arguments: durableLevels)
    func pacedTaskResumes(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(7, from: source, clock: clock)
        #expect(try depth(dlq) == 7)
        let started = clock.now
        let handle = try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 3)
        clock.advance(by: .zero)
        #expect(try task(broker).approximateNumberOfMessagesMoved == 3)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let running = try task(broker)
        #expect(running.status == .running)
        #expect(running.taskHandle == handle)
        #expect(running.approximateNumberOfMessagesMoved == 3)
        #expect(running.approximateNumberOfMessagesToMove == 7)
        #expect(running.maxNumberOfMessagesPerSecond == 3)
        #expect(running.startedTimestamp == started)
        #expect(try depth(broker.queue(named: "orders")) == 3)
        #expect(try depth(broker.queue(named: "orders-dlq")) == 4)
        // Still paced after the restart: three now, three a second later, then the last one.
        clock.advance(by: .zero)
        #expect(try task(broker).approximateNumberOfMessagesMoved == 6)
        #expect(try depth(broker.queue(named: "orders")) == 6)
        clock.advance(by: .seconds(1))
        let done = try task(broker)
        #expect(done.status == .completed)
        #expect(done.approximateNumberOfMessagesMoved == 7)
        #expect(done.taskHandle == nil)
        #expect(try depth(broker.queue(named: "orders-dlq")) == 0)
        let bodies = try await broker.queue(named: "orders").receiveMessages(maxNumberOfMessages: 10).map(\.body)
        #expect(bodies.sorted() == (0..<7).map { "m\($0)" })
        // The old broker's pending step runs against its closed journal and changes nothing here.
        clock.advance(by: .seconds(5))
        #expect(try task(broker).approximateNumberOfMessagesMoved == 7)
    }

    @Test("Completed and cancelled tasks list the same after a restart")
    func finishedTasksSurvive() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(2, from: source, clock: clock)
        try broker.startMessageMoveTask(sourceArn: dlq.arn)
        clock.advance(by: .zero)
        try await deadLetter(3, from: source, clock: clock)
        let handle = try broker.startMessageMoveTask(sourceArn: dlq.arn, destinationArn: source.arn,
                                                     maxNumberOfMessagesPerSecond: 1)
        clock.advance(by: .zero)
        #expect(try broker.cancelMessageMoveTask(taskHandle: handle) == 1)
        clock.advance(by: .zero)
        let before = try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10)
        #expect(before.map(\.status) == [.cancelled, .completed])
        #expect(before.map(\.approximateNumberOfMessagesMoved) == [1, 2])
        broker = try restart(broker, directory, clock: clock)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10) == before)
        clock.advance(by: .seconds(10))
        // The second round dead-lettered the two messages the first task had moved back, too: five, one moved.
        #expect(try depth(broker.queue(named: "orders-dlq")) == 4)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10) == before)
    }

    @Test("A task being cancelled at the restart ends cancelled at the next tick, moving nothing more")
    func cancellingTaskEndsCancelled() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(3, from: source, clock: clock)
        let handle = try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 1)
        clock.advance(by: .zero)
        try broker.cancelMessageMoveTask(taskHandle: handle)
        broker = try restart(broker, directory, clock: clock)
        #expect(try task(broker).status == .cancelling)
        clock.advance(by: .zero)
        let task = try task(broker)
        #expect(task.status == .cancelled)
        #expect(task.approximateNumberOfMessagesMoved == 1)
        #expect(try depth(broker.queue(named: "orders-dlq")) == 2)
    }

    @Test("Move tasks in a snapshot and in the records after it resume and list as before", arguments: [1, 2])
    func snapshotPlusTail(snapshots: Int) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(1, from: source, clock: clock)
        try broker.startMessageMoveTask(sourceArn: dlq.arn)
        clock.advance(by: .zero)
        try await deadLetter(6, from: source, clock: clock)
        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 2)
        clock.advance(by: .zero)
        try broker.snapshot()
        clock.advance(by: .seconds(1))
        if snapshots == 2 { try broker.snapshot() }
        broker = try restart(broker, directory, clock: clock)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        let tasks = try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10)
        #expect(tasks.map(\.status) == [.running, .completed])
        #expect(tasks.map(\.approximateNumberOfMessagesMoved) == [4, 1])
        // Seven to move: the six and the one the first task had moved back, dead-lettered again.
        #expect(try task(broker).approximateNumberOfMessagesToMove == 7)
        clock.advance(by: .zero)
        #expect(try task(broker).approximateNumberOfMessagesMoved == 6)
        clock.advance(by: .seconds(1))
        #expect(try task(broker).status == .completed)
        #expect(try task(broker).approximateNumberOfMessagesMoved == 7)
        #expect(try depth(broker.queue(named: "orders")) == 7)
        broker = try restart(broker, directory, clock: clock)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10).map(\.status) == [.completed, .completed])
    }

    @Test("A new task after a restart gets a handle no restored task has")
    func handlesStayUnique() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(1, from: source, clock: clock)
        let first = try broker.startMessageMoveTask(sourceArn: dlq.arn)
        clock.advance(by: .zero)
        broker = try restart(broker, directory, clock: clock)
        try await deadLetter(1, from: broker.queue(named: "orders"), clock: clock)
        let second = try broker.startMessageMoveTask(sourceArn: dlq.arn)
        #expect(second != first)
        clock.advance(by: .zero)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10).count == 2)
    }

    @Test("Tasks a reset dropped stay dropped after a restart, even when their queues are made again")
    func resetStaysReset() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let (source, dlq) = try makePair(broker)
        try await deadLetter(2, from: source, clock: clock)
        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 1)
        clock.advance(by: .zero)
        broker.reset()
        _ = try makePair(broker)
        broker = try restart(broker, directory, clock: clock)
        #expect(try broker.listMessageMoveTasks(sourceArn: broker.queue(named: "orders-dlq").arn).isEmpty)
    }
}

import Foundation
import Testing

@testable import Broker

/// Long polling on the manual clock: a waiting receive returns as soon as a message becomes receivable, empty at
/// its deadline and not before, in arrival order, and cancellation neither leaks a wake-up nor loses a message.
struct LongPollTests {
    private func makeQueue(_ attributes: QueueAttributes = QueueAttributes()) throws -> (Queue, ManualClock, Broker) {
        let (broker, clock) = makeBroker()
        return (try broker.createQueue(named: "long-poll", attributes: attributes), clock, broker)
    }

    /// Starts a long poll in its own task and returns once it is registered as a waiter.
    private func startLongPoll(_ queue: Queue, clock: ManualClock, waiters: Int = 1, max: Int = 1,
                               visibility: Duration? = nil, wait: Duration? = .seconds(20),
                               system: [MessageSystemAttributeName] = [],
                               sourceLocation: SourceLocation = #_sourceLocation) async throws -> Task<[Message], any Error> {
        let task = Task {
            try await queue.receiveMessages(maxNumberOfMessages: max, visibilityTimeout: visibility, waitTimeSeconds: wait,
                                            messageSystemAttributeNames: system)
        }
        let registered = await MessageTestKit.waitForWaiters(queue, count: waiters, clock: clock)
        try #require(registered, "the long poll never registered", sourceLocation: sourceLocation)
        return task
    }

    @Test func longPollReturnsAsSoonAsAMessageIsSent() async throws {
        let (queue, clock, _) = try makeQueue()
        let start = clock.now
        let poll = try await startLongPoll(queue, clock: clock)
        clock.advance(by: .seconds(3))
        #expect(MessageTestKit.waiters(queue) == 1)
        let sent = try queue.sendMessage("hello")
        #expect(MessageTestKit.waiters(queue) == 0)
        let received = try await poll.value
        #expect(received.map(\.messageId) == [sent.messageId])
        #expect(clock.now == start.addingTimeInterval(3))
        // On the manual clock no wake-up outlives the last waiter: what a test of code that long-polls asserts.
        #expect(clock.pendingWakeUps == 0)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
    }

    @Test func onAnyClockButTheManualOneATimerNoWaiterNeedsFiresOnceAtTheEndOfItsWait() async throws {
        let (broker, clock) = makeBroker(forwarding: true)
        let queue = try broker.createQueue(named: "timer-policy")
        let poll = try await startLongPoll(queue, clock: clock)
        try queue.sendMessage("hello")
        #expect(try await poll.value.map(\.body) == ["hello"])
        // Left armed: cancelling and re-arming a Dispatch timer per served poll doubled a long poll's wake-up time.
        #expect(clock.pendingWakeUps == 1)
        let polling = Task { try await queue.receiveMessages(waitTimeSeconds: .seconds(5)) }
        #expect(await MessageTestKit.waitForWaiters(queue, clock: clock))
        // The earlier deadline of the new poll replaces the idle timer; it is not added to it.
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .seconds(5))
        #expect(try await polling.value.isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollReturnsAtOnceWhenAMessageIsAlreadyAvailable() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("ready")
        let received = try await queue.receiveMessages(waitTimeSeconds: .seconds(20))
        #expect(received.map(\.body) == ["ready"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollReturnsAsSoonAsADelayedMessageMatures() async throws {
        let (queue, clock, _) = try makeQueue()
        let start = clock.now
        try queue.sendMessage("delayed", delaySeconds: .seconds(5))
        let poll = try await startLongPoll(queue, clock: clock)
        clock.advance(by: .seconds(4))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .seconds(1))
        #expect(MessageTestKit.waiters(queue) == 0)
        #expect(try await poll.value.map(\.body) == ["delayed"])
        #expect(clock.now == start.addingTimeInterval(5))
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollReturnsAsSoonAsAVisibilityTimeoutLapses() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await MessageTestKit.receiveNow(queue, visibility: .seconds(10)).first)
        let poll = try await startLongPoll(queue, clock: clock, system: [.approximateReceiveCount])
        clock.advance(by: .seconds(9))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .seconds(1))
        let again = try #require(try await poll.value.first)
        #expect(again.messageId == first.messageId)
        #expect(again.receiveCount == 2)
        #expect(again.receiptHandle != first.receiptHandle)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollReturnsAsSoonAsChangeMessageVisibilityZeroReleasesAMessage() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await MessageTestKit.receiveNow(queue, visibility: .seconds(300)).first)
        let poll = try await startLongPoll(queue, clock: clock)
        try queue.changeMessageVisibility(receiptHandle: first.receiptHandle, visibilityTimeout: .zero)
        #expect(MessageTestKit.waiters(queue) == 0)
        #expect(try await poll.value.map(\.messageId) == [first.messageId])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func delayedMessageSentWhileALongPollWaitsWakesItWhenDue() async throws {
        let (queue, clock, _) = try makeQueue()
        let poll = try await startLongPoll(queue, clock: clock)
        let start = clock.now
        try queue.sendMessage("delayed", delaySeconds: .seconds(3))
        #expect(MessageTestKit.waiters(queue) == 1)
        #expect(clock.nextDeadline == start.addingTimeInterval(3))
        clock.advance(by: .seconds(2))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .seconds(1))
        #expect(try await poll.value.map(\.body) == ["delayed"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func shorteningAVisibilityTimeoutWhileALongPollWaitsWakesItEarlier() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await MessageTestKit.receiveNow(queue, visibility: .seconds(300)).first)
        let poll = try await startLongPoll(queue, clock: clock)
        try queue.changeMessageVisibility(receiptHandle: first.receiptHandle, visibilityTimeout: .seconds(4))
        clock.advance(by: .seconds(3))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .seconds(1))
        #expect(try await poll.value.map(\.messageId) == [first.messageId])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollReturnsEmptyExactlyAtItsDeadline() async throws {
        let (queue, clock, _) = try makeQueue()
        let start = clock.now
        let poll = try await startLongPoll(queue, clock: clock, wait: .seconds(20))
        clock.advance(by: .seconds(19))
        #expect(MessageTestKit.waiters(queue) == 1)
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .milliseconds(999))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .milliseconds(1))
        #expect(MessageTestKit.waiters(queue) == 0)
        #expect(try await poll.value.isEmpty)
        #expect(clock.now == start.addingTimeInterval(20))
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func queueReceiveMessageWaitTimeSecondsIsTheDefaultWait() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(receiveMessageWaitTimeSeconds: .seconds(5)))
        let poll = try await startLongPoll(queue, clock: clock, wait: nil)
        clock.advance(by: .seconds(4))
        #expect(MessageTestKit.waiters(queue) == 1)
        clock.advance(by: .seconds(1))
        #expect(try await poll.value.isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func waitTimeSecondsZeroOverridesTheQueueDefault() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(receiveMessageWaitTimeSeconds: .seconds(20)))
        #expect(try await queue.receiveMessages(waitTimeSeconds: .zero).isEmpty)
        #expect(clock.pendingWakeUps == 0)
        #expect(MessageTestKit.waiters(queue) == 0)
    }

    @Test func waitersAreServedInArrivalOrder() async throws {
        let (queue, clock, _) = try makeQueue()
        let first = try await startLongPoll(queue, clock: clock, waiters: 1)
        let second = try await startLongPoll(queue, clock: clock, waiters: 2)
        let third = try await startLongPoll(queue, clock: clock, waiters: 3)
        try queue.sendMessage("1")
        #expect(MessageTestKit.waiters(queue) == 2)
        try queue.sendMessage("2")
        #expect(MessageTestKit.waiters(queue) == 1)
        try queue.sendMessage("3")
        #expect(MessageTestKit.waiters(queue) == 0)
        #expect(try await first.value.map(\.body) == ["1"])
        #expect(try await second.value.map(\.body) == ["2"])
        #expect(try await third.value.map(\.body) == ["3"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func oneBatchServesSeveralWaitersInArrivalOrder() async throws {
        let (queue, clock, _) = try makeQueue()
        let first = try await startLongPoll(queue, clock: clock, waiters: 1, max: 2)
        let second = try await startLongPoll(queue, clock: clock, waiters: 2, max: 2)
        let third = try await startLongPoll(queue, clock: clock, waiters: 3, max: 2)
        _ = try queue.sendMessageBatch((1...3).map { SendMessageBatchRequestEntry(id: "e\($0)", body: "\($0)") })
        #expect(MessageTestKit.waiters(queue) == 1)
        #expect(try await first.value.map(\.body) == ["1", "2"])
        #expect(try await second.value.map(\.body) == ["3"])
        clock.advance(by: .seconds(20))
        #expect(try await third.value.isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func messageTakenByALongPollUsesTheRequestedVisibilityTimeout() async throws {
        let (queue, clock, _) = try makeQueue()
        let poll = try await startLongPoll(queue, clock: clock, visibility: .seconds(7))
        try queue.sendMessage("m")
        #expect(try await poll.value.count == 1)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(6))
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(1))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
    }

    @Test func deletingTheQueueEndsWaitingLongPollsEmpty() async throws {
        let (queue, clock, broker) = try makeQueue()
        let poll = try await startLongPoll(queue, clock: clock)
        try broker.deleteQueue(queue)
        #expect(try await poll.value.isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }

    // MARK: Cancellation

    @Test func cancellingALongPollThrowsCancellationErrorAndLosesNoMessage() async throws {
        let (queue, clock, _) = try makeQueue()
        let poll = try await startLongPoll(queue, clock: clock)
        poll.cancel()
        let outcome = await poll.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(clock.pendingWakeUps == 0)
        #expect(MessageTestKit.waiters(queue) == 0)
        try queue.sendMessage("after cancel")
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        #expect(try await MessageTestKit.receiveNow(queue).map(\.body) == ["after cancel"])
    }

    @Test func cancellingOneOfSeveralWaitersLeavesTheOthersWaiting() async throws {
        let (queue, clock, _) = try makeQueue()
        let first = try await startLongPoll(queue, clock: clock, waiters: 1)
        let second = try await startLongPoll(queue, clock: clock, waiters: 2)
        first.cancel()
        await #expect(throws: CancellationError.self) { try await first.value }
        #expect(MessageTestKit.waiters(queue) == 1)
        #expect(clock.pendingWakeUps == 1)
        try queue.sendMessage("m")
        #expect(try await second.value.map(\.body) == ["m"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func longPollInAnAlreadyCancelledTaskThrowsWithoutWaiting() async throws {
        let (queue, clock, _) = try makeQueue()
        let poll = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await queue.receiveMessages(waitTimeSeconds: .seconds(20))
        }
        await #expect(throws: CancellationError.self) { try await poll.value }
        #expect(clock.pendingWakeUps == 0)
        #expect(MessageTestKit.waiters(queue) == 0)
    }

    @Test func cancellationRacingASendNeitherLosesNorDuplicatesTheMessage() async throws {
        let (queue, clock, _) = try makeQueue()
        var servedByCancelledPoll = 0
        var leftInQueue = 0
        for iteration in 0..<300 {
            let body = "m\(iteration)"
            let poll = Task {
                try await queue.receiveMessages(visibilityTimeout: .seconds(30), waitTimeSeconds: .seconds(20))
            }
            // Half of the rounds race against a registered waiter, half against one that may not have started.
            if iteration.isMultiple(of: 2) {
                try #require(await MessageTestKit.waitForWaiters(queue, clock: clock))
            }
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { poll.cancel() }
                group.addTask { try queue.sendMessage(body) }
                try await group.waitForAll()
            }
            let outcome = await poll.result
            let remaining = try await MessageTestKit.receiveNow(queue, visibility: .seconds(30))
            switch outcome {
            case .success(let messages):
                #expect(messages.map(\.body) == [body], "round \(iteration)")
                #expect(remaining.isEmpty, "round \(iteration): delivered twice")
                servedByCancelledPoll += 1
                for message in messages { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
            case .failure(let error):
                #expect(error is CancellationError, "round \(iteration): \(error)")
                #expect(remaining.map(\.body) == [body], "round \(iteration): lost")
                leftInQueue += 1
            }
            for message in remaining { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
            #expect(try MessageTestKit.total(queue) == 0, "round \(iteration)")
            #expect(MessageTestKit.waiters(queue) == 0, "round \(iteration)")
            #expect(MessageTestKit.wakeUpsBesidesQueueTimer(queue, clock) == 0, "round \(iteration)")
        }
        #expect(servedByCancelledPoll + leftInQueue == 300)
    }

    @Test func cancellationRacingTheDeadlineResumesTheWaiterExactlyOnce() async throws {
        let (queue, clock, _) = try makeQueue()
        for iteration in 0..<300 {
            let poll = try await startLongPoll(queue, clock: clock, wait: .seconds(1))
            await withTaskGroup(of: Void.self) { group in
                group.addTask { poll.cancel() }
                group.addTask { clock.advance(by: .seconds(1)) }
            }
            switch await poll.result {
            case .success(let messages): #expect(messages.isEmpty, "round \(iteration)")
            case .failure(let error): #expect(error is CancellationError, "round \(iteration): \(error)")
            }
            #expect(MessageTestKit.waiters(queue) == 0, "round \(iteration)")
            #expect(clock.pendingWakeUps == 0, "round \(iteration)")
        }
    }
}

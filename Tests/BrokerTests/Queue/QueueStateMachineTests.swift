import Foundation
import Testing

@testable import Broker

/// The queue's transitions driven directly: plain `Date` values for time, no clock, no lock, no core and no task.
@Suite("Queue state machine")
struct QueueStateMachineTests {
    private static let start = Date(timeIntervalSince1970: 1_767_225_600)

    private static func machine(_ attributes: QueueAttributes = QueueAttributes(), inFlightLimit: Int = 120_000)
        throws -> QueueStateMachine {
        var settings = QueueSettings()
        try settings.apply(attributes, creating: true)
        return QueueStateMachine(isFifo: settings.fifoQueue, inFlightLimit: inFlightLimit, settings: settings, tags: [:],
                                 now: start, ids: IDGenerator(seed: 7), lastSequenceNumber: 100)
    }

    private static func fifo(_ attributes: QueueAttributes = QueueAttributes()) throws -> QueueStateMachine {
        var attributes = attributes
        attributes.fifoQueue = true
        return try machine(attributes)
    }

    private static func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    @discardableResult
    private static func send(_ body: String, to state: inout QueueStateMachine, at seconds: TimeInterval = 0,
                             group: String? = nil, deduplicationId: String? = nil,
                             delay: Int? = nil) throws -> QueueStateMachine.StoredSend {
        let request = SendMessageRequest(body: body, messageGroupId: group,
                                         messageDeduplicationId: deduplicationId ?? (group == nil ? nil : body))
        let prepared = QueueStateMachine.PreparedSend(request, size: body.utf8.count, delaySeconds: delay,
                                                      contentDeduplicationId: nil)
        return try state.store(request, prepared, now: at(seconds))
    }

    private static func receive(_ state: inout QueueStateMachine, at seconds: TimeInterval = 0, max: Int = 10,
                                visibility: Int = 30, effects: inout QueueEffects,
                                deadLetterTarget: (String) -> (any DeadLetterSink)? = { _ in nil }) -> [Delivery] {
        let now = at(seconds)
        state.settle(now: now)
        let request = ReceiveRequest(maxNumberOfMessages: max, visibilityTimeout: nil, waitTimeSeconds: nil,
                                     selection: AttributeSelection(messageAttributeNames: [], systemAttributeNames: []),
                                     receiveRequestAttemptId: nil)
        return state.select(request: request, visibilityTimeout: visibility, now: now, effects: &effects,
                            deadLetterTarget: deadLetterTarget)
    }

    private static func receive(_ state: inout QueueStateMachine, at seconds: TimeInterval = 0, max: Int = 10,
                                visibility: Int = 30) -> [Delivery] {
        var effects = QueueEffects()
        return receive(&state, at: seconds, max: max, visibility: visibility, effects: &effects)
    }

    private static func handle(_ delivery: Delivery) -> ReceiptHandle {
        ReceiptHandle(incarnation: 1, key: delivery.message.key, nonce: delivery.receiptNonce)
    }

    private static func counts(_ state: QueueStateMachine) -> [Int] {
        [state.visibleCount, state.inFlightCount, state.delayedCount]
    }

    /// Takes messages for a dead-letter queue, remembering them.
    private final class Sink: DeadLetterSink {
        let received = LockedState<[StoredMessage]>([])
        func acceptDeadLetters(_ messages: [StoredMessage], sourceArn: String) -> Bool {
            received.withLock { $0 += messages }
            return true
        }
    }

    // MARK: Store, select, hide, delete

    /// A send's message is made outside the lock and named as it is stored. Storing one preparation twice stores
    /// two messages, each with its own block, key and id: the second never shares the first's block.
    @Test func aPreparationStoredTwiceMakesTwoMessagesThatShareNoBlock() throws {
        var state = try Self.machine()
        let request = SendMessageRequest(body: "twice")
        let prepared = QueueStateMachine.PreparedSend(request, size: 5, delaySeconds: nil, contentDeduplicationId: nil)
        #expect(!prepared.message.isNamed)
        let first = try state.store(request, prepared, now: Self.at(1))
        #expect(prepared.message.isNamed)
        let second = try state.store(request, prepared, now: Self.at(2))
        #expect(first.id != second.id)
        let deliveries = Self.receive(&state, at: 3)
        #expect(deliveries.count == 2)
        #expect(Set(deliveries.map(\.message.key)).count == 2)
        #expect(!(deliveries[0].message === deliveries[1].message))
        #expect(deliveries.map(\.message.body) == ["twice", "twice"])
        #expect(deliveries.map(\.message.sentAt) == [Self.at(1), Self.at(2)])
        #expect(deliveries.allSatisfy { $0.receiveCount == 1 })
        #expect(Self.counts(state) == [0, 2, 0])
    }

    @Test func aStoredMessageIsVisibleUntilASelectPutsItInFlight() throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        #expect(Self.counts(state) == [1, 0, 0])
        let picked = Self.receive(&state)
        #expect(picked.map(\.message.body) == ["a"])
        #expect(picked.first?.receiveCount == 1)
        #expect(Self.counts(state) == [0, 1, 0])
        #expect(Self.receive(&state).isEmpty)
    }

    @Test func aMessageWhoseVisibilityLapsesIsVisibleAgainAndCountsTheNextReceive() throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        _ = Self.receive(&state, visibility: 30)
        state.settle(now: Self.at(29.999))
        #expect(Self.counts(state) == [0, 1, 0])
        let again = Self.receive(&state, at: 30)
        #expect(again.map(\.message.body) == ["a"])
        #expect(again.first?.receiveCount == 2)
        #expect(again.first?.firstReceivedAt == Self.start)
    }

    @Test func aZeroVisibilityReceiveLeavesTheMessageVisible() throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        #expect(Self.receive(&state, visibility: 0).count == 1)
        #expect(Self.counts(state) == [1, 0, 0])
        #expect(Self.receive(&state, visibility: 0).first?.receiveCount == 2)
    }

    @Test func deleteRemovesTheMessageForGoodAndDeletingItAgainSucceeds() throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        let delivery = try #require(Self.receive(&state).first)
        try state.delete(Self.handle(delivery), text: "h")
        #expect(Self.counts(state) == [0, 0, 0])
        #expect(state.liveCount == 0)
        try state.delete(Self.handle(delivery), text: "h")
        #expect(Self.receive(&state, at: 60).isEmpty)
    }

    @Test func aStandardQueueDeletesWithASupersededHandleAndAFifoQueueDoesNot() throws {
        for fifo in [false, true] {
            var state = try fifo ? Self.fifo() : Self.machine()
            try Self.send("a", to: &state, group: fifo ? "g" : nil)
            let first = try #require(Self.receive(&state, visibility: 10).first)
            _ = try #require(Self.receive(&state, at: 10, visibility: 10).first)
            if fifo {
                #expect(throws: BrokerError.self) { try state.delete(Self.handle(first), text: "old") }
                #expect(state.liveCount == 1)
            } else {
                try state.delete(Self.handle(first), text: "old")
                #expect(state.liveCount == 0)
            }
        }
    }

    @Test func theInFlightLimitStopsAStandardSelect() throws {
        var state = try Self.machine(inFlightLimit: 2)
        for body in ["a", "b", "c"] { try Self.send(body, to: &state) }
        #expect(Self.receive(&state).count == 2)
        #expect(Self.receive(&state).isEmpty)
    }

    // MARK: Changing visibility

    struct VisibilityChange: Sendable, CustomTestStringConvertible {
        let timeout: Int
        let at: TimeInterval
        /// Visible, in flight, delayed after the change.
        let counts: [Int]
        let throwsError: Bool
        var testDescription: String { "to \(timeout) s at \(at) s" }
    }

    @Test("ChangeMessageVisibility", arguments: [
        VisibilityChange(timeout: 0, at: 5, counts: [1, 0, 0], throwsError: false),
        VisibilityChange(timeout: 100, at: 5, counts: [0, 1, 0], throwsError: false),
        // Up to 12 hours from the receive, not from the change.
        VisibilityChange(timeout: 43_200 - 5, at: 5, counts: [0, 1, 0], throwsError: false),
        VisibilityChange(timeout: 43_200 - 4, at: 5, counts: [0, 1, 0], throwsError: true),
    ])
    func changeVisibility(_ change: VisibilityChange) throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        let delivery = try #require(Self.receive(&state, visibility: 30).first)
        state.settle(now: Self.at(change.at))
        do {
            try state.changeVisibility(Self.handle(delivery), text: "h", timeout: change.timeout, now: Self.at(change.at))
            #expect(!change.throwsError)
        } catch {
            #expect(change.throwsError)
            #expect(error.code == .invalidParameterValue)
        }
        #expect(Self.counts(state) == change.counts)
        if change.timeout == 100 {
            // The new timeout counts from the change, not from the receive.
            state.settle(now: Self.at(change.at + 99))
            #expect(Self.counts(state) == [0, 1, 0])
            state.settle(now: Self.at(change.at + 100))
            #expect(Self.counts(state) == [1, 0, 0])
        }
    }

    @Test func changingTheVisibilityOfAMessageNotInFlightChangesNothing() throws {
        var state = try Self.machine()
        try Self.send("a", to: &state)
        let delivery = try #require(Self.receive(&state, visibility: 30).first)
        state.settle(now: Self.at(30))
        try state.changeVisibility(Self.handle(delivery), text: "h", timeout: 100, now: Self.at(30))
        #expect(Self.counts(state) == [1, 0, 0])
    }

    // MARK: Dead letters

    @Test("at maxReceiveCount the next receive takes the message out for the dead-letter queue, if it exists",
          arguments: [true, false])
    func deadLetterDecision(targetExists: Bool) throws {
        var state = try Self.machine(QueueAttributes(
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:dlq", maxReceiveCount: 2)))
        try Self.send("a", to: &state)
        let sink = Sink()
        var lookups: [String] = []
        let resolve: (String) -> (any DeadLetterSink)? = { arn in
            lookups.append(arn)
            return targetExists ? sink : nil
        }
        for (round, expectedCount) in [(0.0, 1), (30.0, 2)] {
            var effects = QueueEffects()
            let picked = Self.receive(&state, at: round, effects: &effects, deadLetterTarget: resolve)
            #expect(picked.first?.receiveCount == expectedCount)
            #expect(effects.isEmpty)
        }
        // Not due yet: nothing was looked up.
        #expect(lookups.isEmpty)
        var effects = QueueEffects()
        let third = Self.receive(&state, at: 60, effects: &effects, deadLetterTarget: resolve)
        #expect(lookups == ["arn:aws:sqs:us-east-1:000000000000:dlq"])
        if targetExists {
            #expect(third.isEmpty)
            #expect(effects.deadLetters.map(\.body) == ["a"])
            #expect(effects.deadLetterTarget === sink)
            #expect(state.liveCount == 0)
        } else {
            // With no dead-letter queue to take it, the message is delivered again.
            #expect(third.first?.receiveCount == 3)
            #expect(effects.deadLetters.isEmpty)
        }
    }

    @Test func deadLettersTakenIntoAFifoQueueGetNewSequenceNumbersAndTheirIdAsDeduplicationId() throws {
        var source = try Self.fifo()
        try Self.send("a", to: &source, group: "g", deduplicationId: "same")
        let message = try #require(Self.receive(&source).first?.message)
        var dlq = try Self.fifo()
        dlq.acceptDeadLetters([message], sourceArn: "arn:source", now: Self.at(5))
        let moved = try #require(Self.receive(&dlq, at: 5).first?.message)
        #expect(moved.id == message.id)
        #expect(moved.deduplicationId == message.messageId)
        #expect(moved.deadLetterQueueSourceArn == "arn:source")
        #expect(moved.sequenceNumber == 101)
        #expect(moved.enqueuedAt == Self.at(5))
    }

    // MARK: Retention and delay

    @Test func aMessagePastItsRetentionPeriodIsGoneAtTheNextSettle() throws {
        var state = try Self.machine(QueueAttributes(messageRetentionPeriod: .seconds(60)))
        try Self.send("a", to: &state)
        try Self.send("b", to: &state, at: 30)
        state.settle(now: Self.at(59.999))
        #expect(state.liveCount == 2)
        state.settle(now: Self.at(60))
        #expect(state.liveCount == 1)
        #expect(state.statistics(now: Self.at(60)).oldestMessageAge == .seconds(30))
        state.settle(now: Self.at(90))
        #expect(state.liveCount == 0)
        #expect(state.statistics(now: Self.at(90)).oldestMessageAge == nil)
    }

    struct Delay: Sendable, CustomTestStringConvertible {
        let queueDelay: Int
        let messageDelay: Int?
        let visibleAfter: TimeInterval
        var testDescription: String { "queue \(queueDelay) s, message \(messageDelay.map(String.init) ?? "none")" }
    }

    @Test("a delayed message becomes visible when its delay ends", arguments: [
        Delay(queueDelay: 0, messageDelay: 10, visibleAfter: 10),
        Delay(queueDelay: 20, messageDelay: nil, visibleAfter: 20),
        // The message's own delay overrides the queue's, even when it is zero.
        Delay(queueDelay: 20, messageDelay: 0, visibleAfter: 0),
    ])
    func delay(_ delay: Delay) throws {
        var state = try Self.machine(QueueAttributes(delaySeconds: .seconds(delay.queueDelay)))
        try Self.send("a", to: &state, delay: delay.messageDelay)
        if delay.visibleAfter > 0 {
            #expect(Self.receive(&state, at: delay.visibleAfter - 0.001).isEmpty)
            #expect(Self.counts(state) == [0, 0, 1])
        }
        #expect(Self.receive(&state, at: delay.visibleAfter).count == 1)
    }

    @Test func aFifoQueuesChangedDelayAppliesToMessagesAlreadyDelayed() throws {
        var state = try Self.fifo(QueueAttributes(delaySeconds: .seconds(100)))
        try Self.send("a", to: &state, group: "g")
        try Self.send("b", to: &state, at: 50, group: "h")
        try state.setAttributes(QueueAttributes(delaySeconds: .seconds(60)), now: Self.at(55))
        // Each is now due 60 s after its own send: "a" at 60, "b" at 110.
        #expect(Self.counts(state) == [0, 0, 2])
        #expect(Self.receive(&state, at: 60, visibility: 300).map(\.message.body) == ["a"])
        #expect(Self.receive(&state, at: 109.999).isEmpty)
        #expect(Self.receive(&state, at: 110).map(\.message.body) == ["b"])
    }

    // MARK: FIFO groups

    @Test func aFifoSelectServesGroupsInSendOrderAndEachGroupInOrder() throws {
        var state = try Self.fifo()
        for (body, group) in [("a1", "a"), ("b1", "b"), ("a2", "a"), ("c1", "c"), ("b2", "b")] {
            try Self.send(body, to: &state, group: group)
        }
        #expect(Self.receive(&state, max: 10).map(\.message.body) == ["a1", "a2", "b1", "b2", "c1"])
    }

    @Test func aGroupWithAMessageInFlightIsBlockedUntilItIsDeletedOrVisibleAgain() throws {
        var state = try Self.fifo()
        for (body, group) in [("a1", "a"), ("a2", "a"), ("b1", "b")] {
            try Self.send(body, to: &state, group: group)
        }
        let first = try #require(Self.receive(&state, max: 1, visibility: 30).first)
        #expect(first.message.body == "a1")
        // Group a is blocked behind a1: the next receive gets b1 only.
        #expect(Self.receive(&state, max: 10).map(\.message.body) == ["b1"])
        #expect(Self.receive(&state, at: 10, max: 10).isEmpty)
        try state.delete(Self.handle(first), text: "h")
        #expect(Self.receive(&state, at: 10, max: 10).map(\.message.body) == ["a2"])
    }

    @Test func aFifoMessageWhoseVisibilityLapsesIsServedAgainBeforeTheRestOfItsGroup() throws {
        var state = try Self.fifo()
        try Self.send("a1", to: &state, group: "a")
        try Self.send("a2", to: &state, group: "a")
        #expect(Self.receive(&state, max: 1).map(\.message.body) == ["a1"])
        #expect(Self.receive(&state, at: 30, max: 10).map(\.message.body) == ["a1", "a2"])
    }

    // MARK: Deduplication

    struct Deduplication: Sendable, CustomTestStringConvertible {
        let scope: DeduplicationScope
        let secondGroup: String
        let duplicate: Bool
        var testDescription: String { "\(scope) scope, second send in \(secondGroup)" }
    }

    @Test("a repeated deduplication id within five minutes is accepted but not stored", arguments: [
        Deduplication(scope: .queue, secondGroup: "g", duplicate: true),
        Deduplication(scope: .queue, secondGroup: "h", duplicate: true),
        Deduplication(scope: .messageGroup, secondGroup: "g", duplicate: true),
        Deduplication(scope: .messageGroup, secondGroup: "h", duplicate: false),
    ])
    func deduplication(_ rule: Deduplication) throws {
        var state = try Self.fifo(QueueAttributes(deduplicationScope: rule.scope))
        let first = try Self.send("a", to: &state, group: "g", deduplicationId: "x")
        let second = try Self.send("b", to: &state, at: 299, group: rule.secondGroup, deduplicationId: "x")
        #expect((second.id == first.id) == rule.duplicate)
        #expect((second.sequence == first.sequence) == rule.duplicate)
        #expect(state.liveCount == (rule.duplicate ? 1 : 2))
        // Five minutes from the first send the id is free again.
        let third = try Self.send("c", to: &state, at: 300, group: "g", deduplicationId: "x")
        #expect(third.id != first.id)
    }

    @Test("after a scope change, ids recorded under the old scope stay taken there for their window",
          arguments: [DeduplicationScope.queue, .messageGroup])
    func deduplicationAcrossAScopeChange(from oldScope: DeduplicationScope) throws {
        var state = try Self.fifo(QueueAttributes(deduplicationScope: oldScope))
        let first = try Self.send("a", to: &state, group: "g", deduplicationId: "x")
        let newScope: DeduplicationScope = oldScope == .queue ? .messageGroup : .queue
        try state.setAttributes(QueueAttributes(deduplicationScope: newScope), now: Self.at(10))
        // Under the old scope the same id in the same group is a duplicate, whatever the new scope says.
        let again = try Self.send("b", to: &state, at: 20, group: "g", deduplicationId: "x")
        #expect(again.id == first.id)
        // Another group: a duplicate only if the old scope was the whole queue.
        let other = try Self.send("c", to: &state, at: 30, group: "h", deduplicationId: "x")
        #expect((other.id == first.id) == (oldScope == .queue))
        let late = try Self.send("d", to: &state, at: 300, group: "g", deduplicationId: "x")
        #expect(late.id != first.id)
    }

    @Test func aFifoSendWithoutADeduplicationIdFailsUnlessTheContentHashStandsIn() throws {
        for contentBased in [false, true] {
            var state = try Self.fifo(QueueAttributes(contentBasedDeduplication: contentBased))
            let request = SendMessageRequest(body: "a", messageGroupId: "g")
            let prepared = QueueStateMachine.PreparedSend(request, size: 1, delaySeconds: nil, contentDeduplicationId: "hash")
            if contentBased {
                _ = try state.store(request, prepared, now: Self.start)
                #expect(state.liveCount == 1)
            } else {
                #expect(throws: BrokerError.self) { try state.store(request, prepared, now: Self.start) }
                #expect(state.liveCount == 0)
            }
        }
    }

    // MARK: Management

    @Test("PurgeQueue runs once per 60 seconds", arguments: [(59.999, false), (60.0, true)])
    func purgeInterval(secondAfter: TimeInterval, allowed: Bool) throws {
        var state = try Self.fifo()
        try Self.send("a", to: &state, group: "g", deduplicationId: "x")
        try state.purge(now: Self.start, queueName: "q.fifo")
        #expect(state.liveCount == 0)
        // The deduplication history goes with the messages.
        let resent = try Self.send("a", to: &state, at: 1, group: "g", deduplicationId: "x")
        #expect(state.liveCount == 1)
        #expect(resent.sequence == 102)
        do {
            try state.purge(now: Self.at(secondAfter), queueName: "q.fifo")
            #expect(allowed)
            #expect(state.liveCount == 0)
        } catch {
            #expect(!allowed)
            #expect(error.code == .purgeQueueInProgress)
            #expect(state.liveCount == 1)
        }
    }

    @Test("tags merge, and more than 50 in all are refused whole", arguments: [(49, true), (50, true), (51, false)])
    func tagLimit(count: Int, allowed: Bool) throws {
        var state = try Self.machine()
        state.tags = ["keep": "1", "replace": "old"]
        var added = ["replace": "new"]
        for index in 0..<(count - 2) { added["t\(index)"] = "v" }
        do {
            try state.tag(added, queueName: "q")
            #expect(allowed)
            #expect(state.tags.count == count)
            #expect(state.tags["keep"] == "1")
            #expect(state.tags["replace"] == "new")
        } catch {
            #expect(!allowed)
            #expect(state.tags == ["keep": "1", "replace": "old"])
        }
    }

    /// Compaction drops the in-flight index's stale entries, which often hold a deleted message's last reference;
    /// they are handed over in `released` for the core to free after its lock, and nothing else keeps them alive.
    @Test func compactionHandsDeletedMessagesOverForReleaseOutsideTheLock() throws {
        final class Watched {
            weak var message: AnyObject?
            init(_ message: StoredMessage) { self.message = message.object }
        }
        var state = try Self.machine()
        var watched: [Watched] = []
        for round in 0..<30 {
            for index in 0..<10 { try Self.send("m\(round)-\(index)", to: &state) }
            let deliveries = Self.receive(&state)
            #expect(deliveries.count == 10)
            for delivery in deliveries {
                watched.append(Watched(delivery.message))
                try state.delete(Self.handle(delivery), text: "h")
            }
        }
        state.settle(now: Self.at(1))
        #expect(!state.released.isEmpty)
        #expect(state.hidden.count < 100, "compaction kept the in-flight index near its live entries")
        #expect(Self.counts(state) == [0, 0, 0])
        let survivors = { watched.filter { $0.message != nil }.count }
        #expect(survivors() > state.hidden.count, "the released entries, not only the index's, still hold messages")
        state.released = []
        state.settle(now: Self.at(2))
        state.released = []
        #expect(state.hidden.count <= 64)
        #expect(survivors() <= state.hidden.count, "only entries still in the index keep a deleted message")
    }
}

import Foundation
import Testing

@testable import Broker

/// Receive, visibility, receipt handles, delays, retention, purge and the in-flight limit of a standard queue.
struct MessageTests {
    private func makeQueue(_ attributes: QueueAttributes = QueueAttributes(),
                           configuration: BrokerConfiguration = BrokerConfiguration(seed: 1)) throws -> (Queue, ManualClock, Broker) {
        let clock = ManualClock()
        let broker = Broker(configuration: configuration, clock: clock)
        return (try broker.createQueue(named: "messages", attributes: attributes), clock, broker)
    }

    private func receiveNow(_ queue: Queue, max: Int = 10, visibility: Duration? = nil,
                            messageAttributeNames: [String] = [],
                            system: [MessageSystemAttributeName] = []) async throws -> [Message] {
        try await MessageTestKit.receiveNow(queue, max: max, visibility: visibility,
                                            messageAttributeNames: messageAttributeNames, system: system)
    }

    // MARK: Receive parameters

    @Test(arguments: [0, 11, -1])
    func maxNumberOfMessagesOutsideOneToTenIsInvalidParameterValue(_ max: Int) async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        await expectBrokerErrorAsync(.invalidParameterValue) { _ = try await queue.receiveMessages(maxNumberOfMessages: max) }
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
    }

    @Test(arguments: [21, -1])
    func waitTimeSecondsOutsideZeroToTwentyIsInvalidParameterValue(_ seconds: Int) async throws {
        let (queue, _, _) = try makeQueue()
        await expectBrokerErrorAsync(.invalidParameterValue) { _ = try await queue.receiveMessages(waitTimeSeconds: .seconds(seconds)) }
    }

    @Test(arguments: [43_201, -1])
    func receiveVisibilityTimeoutOutsideTwelveHoursIsInvalidParameterValue(_ seconds: Int) async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        await expectBrokerErrorAsync(.invalidParameterValue) {
            _ = try await queue.receiveMessages(visibilityTimeout: .seconds(seconds))
        }
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
    }

    @Test func receiveVisibilityTimeoutOfTwelveHoursIsAccepted() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        #expect(try await receiveNow(queue, visibility: .seconds(43_200)).count == 1)
        clock.advance(by: .seconds(43_199))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func receiveReturnsAtMostMaxNumberOfMessages() async throws {
        let (queue, _, _) = try makeQueue()
        for index in 0..<15 { try queue.sendMessage("m\(index)") }
        let one = try await receiveNow(queue, max: 1)
        #expect(one.count == 1)
        let ten = try await receiveNow(queue, max: 10)
        #expect(ten.count == 10)
        let rest = try await receiveNow(queue, max: 10)
        #expect(rest.count == 4)
        let all = one + ten + rest
        #expect(Set(all.map(\.body)) == Set((0..<15).map { "m\($0)" }))
        #expect(Set(all.map(\.messageId)).count == 15)
        #expect(try await receiveNow(queue).isEmpty)
    }

    @Test func receiveFromEmptyQueueReturnsNothingAtOnce() async throws {
        let (queue, clock, _) = try makeQueue()
        #expect(try await queue.receiveMessages().isEmpty)
        #expect(clock.pendingWakeUps == 0)
    }

    // MARK: Attribute selection

    static let selectionAttributes: [String: MessageAttributeValue] = [
        "order.id": .string("o-1"),
        "order.total": .number("12.5"),
        "orderly": .string("x"),
        "customer": .string("c-9"),
    ]

    @Test(arguments: [
        (["All"], ["order.id", "order.total", "orderly", "customer"]),
        ([".*"], ["order.id", "order.total", "orderly", "customer"]),
        (["*"], ["order.id", "order.total", "orderly", "customer"]),
        // The text before `.*` is a plain prefix of the name, not a prefix followed by a period.
        (["order.*"], ["order.id", "order.total", "orderly"]),
        (["order..*"], ["order.id", "order.total"]),
        (["cust.*"], ["customer"]),
        (["customer", "order.id"], ["customer", "order.id"]),
        (["customer", "missing"], ["customer"]),
        (["order"], []),
        ([], []),
    ] as [([String], Set<String>)])
    func messageAttributeNamesSelectReturnedAttributes(_ names: [String], _ expected: Set<String>) async throws {
        let (queue, _, _) = try makeQueue()
        let sent = try queue.sendMessage("m", messageAttributes: Self.selectionAttributes)
        let message = try #require(try await receiveNow(queue, messageAttributeNames: names).first)
        #expect(Set(message.messageAttributes.keys) == expected)
        for name in expected { #expect(message.messageAttributes[name] == Self.selectionAttributes[name]) }
        let subset = Self.selectionAttributes.filter { expected.contains($0.key) }
        #expect(message.md5OfMessageAttributes == MessageDigest.md5OfAttributes(subset))
        if expected.count == Self.selectionAttributes.count {
            #expect(message.md5OfMessageAttributes == sent.md5OfMessageAttributes)
        }
        if expected.isEmpty { #expect(message.md5OfMessageAttributes == nil) }
    }

    @Test func noSystemAttributesAreReturnedUnlessAsked() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue).first)
        #expect(message.attributes.isEmpty)
        #expect(message.receiveCount == nil)
    }

    @Test func allSystemAttributesOfAStandardQueueMessage() async throws {
        let (queue, clock, _) = try makeQueue()
        clock.advance(by: .milliseconds(1_500))
        try queue.sendMessage("m")
        clock.advance(by: .seconds(3))
        let message = try #require(try await receiveNow(queue, system: [.all]).first)
        #expect(message.attributes == [
            .senderId: "000000000000",
            .sentTimestamp: String(MessageTestKit.startMilliseconds + 1_500),
            .approximateReceiveCount: "1",
            .approximateFirstReceiveTimestamp: String(MessageTestKit.startMilliseconds + 4_500),
        ])
    }

    @Test func exactSystemAttributeNamesSelectOnlyThose() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, system: [.sentTimestamp, .approximateReceiveCount]).first)
        #expect(Set(message.attributes.keys) == [.sentTimestamp, .approximateReceiveCount])
        #expect(message.attributes[.sentTimestamp] == String(MessageTestKit.startMilliseconds))
    }

    @Test func senderIdIsTheConfiguredAccount() async throws {
        let (queue, _, _) = try makeQueue(configuration: BrokerConfiguration(accountId: "123456789012", seed: 1))
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, system: [.senderId]).first)
        #expect(message.attributes == [.senderId: "123456789012"])
    }

    @Test func approximateReceiveCountIncrementsPerReceiveAndFirstReceiveTimestampStaysFixed() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        clock.advance(by: .seconds(2))
        let first = try #require(try await receiveNow(queue, visibility: .seconds(10), system: [.all]).first)
        clock.advance(by: .seconds(10))
        let second = try #require(try await receiveNow(queue, visibility: .seconds(10), system: [.all]).first)
        clock.advance(by: .seconds(25))
        let third = try #require(try await receiveNow(queue, visibility: .zero, system: [.all]).first)

        #expect([first, second, third].map(\.receiveCount) == [1, 2, 3])
        let firstReceive = String(MessageTestKit.startMilliseconds + 2_000)
        #expect([first, second, third].map { $0.attributes[.approximateFirstReceiveTimestamp] } == [firstReceive, firstReceive, firstReceive])
        let sent = String(MessageTestKit.startMilliseconds)
        #expect([first, second, third].map { $0.attributes[.sentTimestamp] } == [sent, sent, sent])
        #expect(Set([first, second, third].map(\.messageId)).count == 1)
    }

    /// A received message formats its attributes and handle when read: what it reports must still be what its own
    /// receive saw after later receives of the same message.
    @Test func receivedMessageKeepsItsOwnReceiveCountAndHandleAfterLaterReceives() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await receiveNow(queue, visibility: .zero, system: [.approximateReceiveCount]).first)
        let firstHandle = first.receiptHandle
        let second = try #require(try await receiveNow(queue, visibility: .zero, system: [.approximateReceiveCount]).first)
        #expect(first.receiveCount == 1 && first.attributes[.approximateReceiveCount] == "1")
        #expect(second.receiveCount == 2 && second.attributes[.approximateReceiveCount] == "2")
        #expect(first.receiptHandle == firstHandle && first.receiptHandle != second.receiptHandle)
        #expect(first.messageId == second.messageId)
    }

    @Test func receivesOfOneMessageAreDistinctValuesAndACopyIsEqual() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await receiveNow(queue, visibility: .zero).first)
        let second = try #require(try await receiveNow(queue, visibility: .zero).first)
        let copy = first
        #expect(copy == first && copy.hashValue == first.hashValue)
        #expect(first != second)
        #expect(Set([first, second, copy]).count == 2)
    }

    // MARK: Visibility

    @Test func receivedMessageIsInvisibleUntilItsVisibilityTimeoutLapses() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await receiveNow(queue, visibility: .seconds(60)).first)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(59))
        #expect(try await receiveNow(queue).isEmpty)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(1))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        let again = try #require(try await receiveNow(queue, system: [.approximateReceiveCount]).first)
        #expect(again.messageId == first.messageId)
        #expect(again.receiveCount == 2)
    }

    @Test func queueDefaultVisibilityTimeoutIsHonoured() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(visibilityTimeout: .seconds(5)))
        try queue.sendMessage("m")
        #expect(try await queue.receiveMessages().count == 1)
        clock.advance(by: .seconds(4))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func defaultVisibilityTimeoutIsThirtySeconds() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        #expect(try await queue.receiveMessages().count == 1)
        clock.advance(by: .seconds(29))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func receiveWithVisibilityTimeoutZeroLeavesMessageVisible() async throws {
        let (queue, _, _) = try makeQueue(QueueAttributes(visibilityTimeout: .seconds(300)))
        try queue.sendMessage("m")
        let first = try #require(try await receiveNow(queue, visibility: .zero, system: [.approximateReceiveCount]).first)
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        let second = try #require(try await receiveNow(queue, visibility: .zero, system: [.approximateReceiveCount]).first)
        #expect(second.messageId == first.messageId)
        #expect(second.receiptHandle != first.receiptHandle)
        #expect(first.receiveCount == 1)
        #expect(second.receiveCount == 2)
    }

    @Test func changeMessageVisibilityExtensionCountsFromTheCall() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(30)).first)
        clock.advance(by: .seconds(20))
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(30))
        clock.advance(by: .seconds(29))  // 49 s after the receive, 29 s after the change
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).map(\.messageId) == [message.messageId])
    }

    @Test func changeMessageVisibilityCanShortenTheTimeout() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(300)).first)
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(5))
        clock.advance(by: .seconds(5))
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func changeMessageVisibilityZeroReleasesTheMessageAtOnce() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(300)).first)
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .zero)
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        let again = try #require(try await receiveNow(queue, system: [.approximateReceiveCount]).first)
        #expect(again.messageId == message.messageId)
        #expect(again.receiveCount == 2)
    }

    /// The in-flight index recognises an old entry by its deadline: one for an instant the message is no longer
    /// hidden until stays stale, and one for the instant it is hidden until again returns it then, once.
    @Test func aMessageHiddenAgainReturnsAtItsNewDeadlineOnlyAndOnce() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let first = try #require(try await receiveNow(queue, visibility: .seconds(30)).first)
        clock.advance(by: .seconds(10))
        try queue.changeMessageVisibility(receiptHandle: first.receiptHandle, visibilityTimeout: .zero)
        let second = try #require(try await receiveNow(queue, visibility: .seconds(40)).first)
        // t = 30: the first receive's deadline, no longer the message's (it is hidden until 50).
        clock.advance(by: .seconds(20))
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        // Hidden until 40 now; then until 30 + 20 = 50 again, the instant an older entry names as well.
        try queue.changeMessageVisibility(receiptHandle: second.receiptHandle, visibilityTimeout: .seconds(10))
        try queue.changeMessageVisibility(receiptHandle: second.receiptHandle, visibilityTimeout: .seconds(20))
        clock.advance(by: .seconds(10))
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(10))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        let third = try await receiveNow(queue, visibility: .seconds(30), system: [.approximateReceiveCount])
        #expect(third.map(\.messageId) == [first.messageId] && third.first?.receiveCount == 3)
        #expect(try await receiveNow(queue).isEmpty)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
    }

    @Test func changeMessageVisibilityOnMessageNoLongerInFlightSucceedsAndLeavesItVisible() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(10)).first)
        clock.advance(by: .seconds(10))
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(600))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        #expect(try await receiveNow(queue).map(\.messageId) == [message.messageId])
    }

    @Test func changeMessageVisibilityWithSupersededHandleChangesTheMessageReceivedAgain() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let old = try #require(try await receiveNow(queue, visibility: .seconds(10)).first)
        clock.advance(by: .seconds(10))
        let current = try #require(try await receiveNow(queue, visibility: .seconds(60)).first)
        // Extended through the first receive's handle: still hidden past the second receive's 60 s.
        try queue.changeMessageVisibility(receiptHandle: old.receiptHandle, visibilityTimeout: .seconds(100))
        clock.advance(by: .seconds(99))
        #expect(try await receiveNow(queue).isEmpty)
        try queue.changeMessageVisibility(receiptHandle: old.receiptHandle, visibilityTimeout: .zero)
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        try queue.deleteMessage(receiptHandle: current.receiptHandle)
        #expect(try MessageTestKit.total(queue) == 0)
    }

    @Test func changeMessageVisibilityOfADeletedMessageIsInvalidParameterValue() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(10)).first)
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        let error = expectBrokerError(.invalidParameterValue) {
            try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(5))
        }
        #expect(error?.message == "Value \(message.receiptHandle) for parameter ReceiptHandle is invalid. Reason: "
            + "Message does not exist or is not available for visibility timeout change.")
        let batch = try queue.changeMessageVisibilityBatch([
            ChangeMessageVisibilityBatchRequestEntry(id: "a", receiptHandle: message.receiptHandle, visibilityTimeout: .zero),
        ])
        #expect(batch.failed.map(\.code) == ["InvalidParameterValue"])
    }

    /// Handles are parsed before the queue's lock and the other checks run under it; the failures still come back
    /// in the order of the entries, each with its own error.
    @Test func batchFailuresFoundBeforeAndUnderTheLockAreListedInEntryOrder() async throws {
        let (queue, _, _) = try makeQueue()
        _ = try queue.sendMessageBatch((0..<3).map { SendMessageBatchRequestEntry(id: "s\($0)", body: "m\($0)") })
        let messages = try await receiveNow(queue, max: 3)
        #expect(messages.count == 3)
        try queue.deleteMessage(receiptHandle: messages[2].receiptHandle)
        let batch = try queue.changeMessageVisibilityBatch([
            ChangeMessageVisibilityBatchRequestEntry(id: "deleted", receiptHandle: messages[2].receiptHandle, visibilityTimeout: .zero),
            ChangeMessageVisibilityBatchRequestEntry(id: "malformed", receiptHandle: "not-a-handle", visibilityTimeout: .zero),
            ChangeMessageVisibilityBatchRequestEntry(id: "ok", receiptHandle: messages[0].receiptHandle, visibilityTimeout: .zero),
            ChangeMessageVisibilityBatchRequestEntry(id: "too-long", receiptHandle: messages[1].receiptHandle, visibilityTimeout: .seconds(43_201)),
            ChangeMessageVisibilityBatchRequestEntry(id: "empty", receiptHandle: "", visibilityTimeout: .zero),
        ])
        #expect(batch.failed.map(\.id) == ["deleted", "malformed", "too-long", "empty"])
        #expect(batch.failed.map(\.code) == ["InvalidParameterValue", "ReceiptHandleIsInvalid", "InvalidParameterValue", "ReceiptHandleIsInvalid"])
        #expect(batch.successful.map(\.id) == ["ok"])
        let deletes = try queue.deleteMessageBatch([
            DeleteMessageBatchRequestEntry(id: "bad", receiptHandle: "x"),
            DeleteMessageBatchRequestEntry(id: "first", receiptHandle: messages[0].receiptHandle),
            DeleteMessageBatchRequestEntry(id: "second", receiptHandle: messages[1].receiptHandle),
        ])
        #expect(deletes.failed.map(\.id) == ["bad"])
        #expect(deletes.successful.map(\.id) == ["first", "second"])
        #expect(try MessageTestKit.total(queue) == 0)
    }

    @Test func changeMessageVisibilityBeyondTwelveHoursFromTheReceiveIsInvalidParameterValue() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(300)).first)
        clock.advance(by: .seconds(100))
        // 100 s + 43 101 s reaches one second past 12 hours from the receive.
        expectBrokerError(.invalidParameterValue) {
            try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(43_101))
        }
        // Exactly 12 hours from the receive is allowed.
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(43_100))
        clock.advance(by: .seconds(43_099))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func failedChangeMessageVisibilityLeavesTheTimeoutAsItWas() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(30)).first)
        clock.advance(by: .seconds(10))
        expectBrokerError(.invalidParameterValue) {
            try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(43_200))
        }
        expectBrokerError(.invalidParameterValue) {
            try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .seconds(43_201))
        }
        clock.advance(by: .seconds(19))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).count == 1)
    }

    // MARK: Receipt handles

    @Test func everyReceiveIssuesANewReceiptHandle() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        var handles = Set<String>()
        for _ in 0..<5 {
            let message = try #require(try await receiveNow(queue, visibility: .zero).first)
            handles.insert(message.receiptHandle)
        }
        #expect(handles.count == 5)
    }

    @Test func deleteRemovesTheMessage() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue).first)
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        #expect(try MessageTestKit.total(queue) == 0)
        clock.advance(by: .seconds(60))
        #expect(try await receiveNow(queue).isEmpty)
    }

    @Test func deleteWithLatestHandleAfterVisibilityLapsedStillDeletes() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(10)).first)
        clock.advance(by: .seconds(20))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        #expect(try MessageTestKit.total(queue) == 0)
        #expect(try await receiveNow(queue).isEmpty)
    }

    @Test func deletingTwiceSucceeds() async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue).first)
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        #expect(try MessageTestKit.total(queue) == 0)
    }

    @Test func handleOfADeletedMessageNeverReachesTheMessageThatReusedItsSlot() async throws {
        let (queue, _, _) = try makeQueue()
        for round in 0..<50 {
            try queue.sendMessage("old \(round)")
            let old = try #require(try await receiveNow(queue).first)
            try queue.deleteMessage(receiptHandle: old.receiptHandle)
            try queue.sendMessage("new \(round)")
            try queue.deleteMessage(receiptHandle: old.receiptHandle)
            expectBrokerError(.invalidParameterValue) {
                try queue.changeMessageVisibility(receiptHandle: old.receiptHandle, visibilityTimeout: .seconds(600))
            }
            let new = try #require(try await receiveNow(queue).first)
            #expect(new.body == "new \(round)")
            try queue.deleteMessage(receiptHandle: new.receiptHandle)
        }
        #expect(try MessageTestKit.total(queue) == 0)
    }

    /// Deadlines that arrive out of order (a later receive with a shorter timeout, a visibility change, a delayed
    /// send beside in-flight messages) must each take effect at their own moment.
    @Test(arguments: [1, 7, 42])
    func messagesReturnAtTheirOwnDeadlinesWhateverOrderTheirTimeoutsWereSetIn(seed: UInt64) async throws {
        let (queue, clock, _) = try makeQueue()
        var random = IDGenerator(seed: seed)
        var deadlines: [String: Int] = [:]
        for index in 0..<30 {
            try queue.sendMessage("m\(index)")
            let timeout = Int(random.next() % 50) + 1
            let received = try #require(try await receiveNow(queue, max: 1, visibility: .seconds(timeout)).first)
            deadlines[received.body] = timeout
            if index % 5 == 0 {
                let changed = Int(random.next() % 50) + 1
                try queue.changeMessageVisibility(receiptHandle: received.receiptHandle, visibilityTimeout: .seconds(changed))
                deadlines[received.body] = changed
            }
        }
        try queue.sendMessage("delayed", delaySeconds: .seconds(25))
        deadlines["delayed"] = 25
        for second in 1...51 {
            clock.advance(by: .seconds(1))
            let expected = deadlines.filter { $0.value <= second }.count
            #expect(try queue.statistics().approximateNumberOfMessages == expected, "after \(second) s")
        }
    }

    @Test(arguments: [0, 1, 5, 50])
    func retentionIndexYieldsMessagesOldestFirstWhateverTheirArrivalOrder(outOfOrderPercent: Int) {
        var random = IDGenerator(seed: UInt64(outOfOrderPercent) + 1)
        var index = RetentionIndex()
        var clock = 1_000.0
        var expected: [Double] = []
        for key in 0..<500 {
            clock += Double(random.next() % 3)
            // Some arrive with an earlier enqueue time, as dead letters that keep their original send time do.
            let late = Int(random.next() % 100) < outOfOrderPercent
            let time = late ? clock - Double(random.next() % 900) : clock
            index.push(.plain(key: UInt64(key), body: "m", enqueuedAt: Date(timeIntervalSince1970: time)))
            expected.append(time)
            if key % 7 == 0, let popped = index.popMin() {
                expected.sort()
                #expect(popped.enqueuedAt.timeIntervalSince1970 == expected.removeFirst())
            }
        }
        #expect(index.count == expected.count)
        var drained: [Double] = []
        while let message = index.popMin() { drained.append(message.enqueuedAt.timeIntervalSince1970) }
        #expect(drained == expected.sorted())
    }

    @Test func messageTableKeysOfRemovedMessagesMissAfterTheirSlotIsReused() {
        var table = MessageTable()
        var removedKeys: [UInt64] = []
        var live: [StoredMessage] = []
        for round in 0..<200 {
            let message = StoredMessage.plain(key: table.makeKey(), body: "m\(round)")
            table.insert(message)
            live.append(message)
            if round % 3 == 0, let victim = live.popLast() {
                table.remove(victim)
                removedKeys.append(victim.key)
            }
        }
        #expect(table.count == live.count)
        for key in removedKeys { #expect(table[key] == nil) }
        for message in live { #expect(table[message.key] === message) }
        #expect(table[UInt64(9_999)] == nil)
        for message in live { table.remove(message) }
        #expect(table.count == 0)
        #expect(Array(table.values).isEmpty)
    }

    /// No key is 0, even where the generation counter wraps: 0 marks a send's message not yet named by its queue.
    @Test func messageTableKeysAreNeverZeroWhenTheGenerationWraps() {
        var table = MessageTable(restoring: [], lastGeneration: .max)
        let key = table.makeKey()
        #expect(key != 0)
        #expect(key >> 32 == 1)
        #expect(table.lastGeneration == 1)
    }

    @Test(arguments: [10, 0])
    func deleteWithSupersededHandleDeletesTheMessage(_ visibility: Int) async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("m")
        let old = try #require(try await receiveNow(queue, visibility: .seconds(visibility)).first)
        clock.advance(by: .seconds(visibility))
        let current = try #require(try await receiveNow(queue, visibility: .seconds(visibility)).first)
        #expect(current.receiptHandle != old.receiptHandle)
        try queue.deleteMessage(receiptHandle: old.receiptHandle)
        #expect(try MessageTestKit.total(queue) == 0)
        // Deleting again, through either handle, succeeds.
        try queue.deleteMessage(receiptHandle: old.receiptHandle)
        try queue.deleteMessage(receiptHandle: current.receiptHandle)
    }

    @Test(arguments: ["garbage", "AAAA", String(repeating: "A", count: 32), "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"])
    func malformedReceiptHandleIsReceiptHandleIsInvalid(_ handle: String) async throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m")
        _ = try await receiveNow(queue)
        expectBrokerError(.receiptHandleIsInvalid) { try queue.deleteMessage(receiptHandle: handle) }
        expectBrokerError(.receiptHandleIsInvalid) {
            try queue.changeMessageVisibility(receiptHandle: handle, visibilityTimeout: .zero)
        }
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
    }

    @Test func receiptHandleOfAnotherQueueIsReceiptHandleIsInvalid() async throws {
        let (queue, _, broker) = try makeQueue()
        let other = try broker.createQueue(named: "other")
        try queue.sendMessage("mine")
        try other.sendMessage("theirs")
        _ = try await receiveNow(queue)
        let foreign = try #require(try await receiveNow(other).first)
        expectBrokerError(.receiptHandleIsInvalid) { try queue.deleteMessage(receiptHandle: foreign.receiptHandle) }
        expectBrokerError(.receiptHandleIsInvalid) {
            try queue.changeMessageVisibility(receiptHandle: foreign.receiptHandle, visibilityTimeout: .zero)
        }
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        #expect(try MessageTestKit.counts(other) == (0, 1, 0))
    }

    @Test func receiptHandleOfADeletedAndRecreatedQueueIsReceiptHandleIsInvalid() async throws {
        let (queue, clock, broker) = try makeQueue()
        try queue.sendMessage("old")
        let old = try #require(try await receiveNow(queue).first)
        try broker.deleteQueue(queue)
        clock.advance(by: .seconds(61))
        let recreated = try broker.createQueue(named: queue.name)
        try recreated.sendMessage("new")
        _ = try await receiveNow(recreated)
        expectBrokerError(.receiptHandleIsInvalid) { try recreated.deleteMessage(receiptHandle: old.receiptHandle) }
        #expect(try MessageTestKit.counts(recreated) == (0, 1, 0))
        // The old handle object names a deleted queue.
        expectBrokerError(.queueDoesNotExist) { try queue.deleteMessage(receiptHandle: old.receiptHandle) }
    }

    // MARK: Delay

    @Test func queueDelayHidesMessageUntilDue() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(delaySeconds: .seconds(10)))
        try queue.sendMessage("m")
        #expect(try MessageTestKit.counts(queue) == (0, 0, 1))
        #expect(try queue.attributes(["ApproximateNumberOfMessagesDelayed", "ApproximateNumberOfMessages"])
                == ["ApproximateNumberOfMessagesDelayed": "1", "ApproximateNumberOfMessages": "0"])
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(9))
        #expect(try await receiveNow(queue).isEmpty)
        #expect(try MessageTestKit.counts(queue) == (0, 0, 1))
        clock.advance(by: .seconds(1))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        #expect(try queue.attributes(["ApproximateNumberOfMessagesDelayed"]) == ["ApproximateNumberOfMessagesDelayed": "0"])
        #expect(try await receiveNow(queue).map(\.body) == ["m"])
    }

    @Test func perMessageDelayHidesMessageUntilDue() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("late", delaySeconds: .seconds(5))
        try queue.sendMessage("now")
        #expect(try MessageTestKit.counts(queue) == (1, 0, 1))
        #expect(try await receiveNow(queue).map(\.body) == ["now"])
        clock.advance(by: .seconds(4))
        #expect(try await receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue).map(\.body) == ["late"])
    }

    @Test func perMessageDelayOverridesQueueDelay() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(delaySeconds: .seconds(60)))
        try queue.sendMessage("immediate", delaySeconds: .zero)
        try queue.sendMessage("short", delaySeconds: .seconds(5))
        try queue.sendMessage("default")
        #expect(try MessageTestKit.counts(queue) == (1, 0, 2))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).map(\.body) == ["immediate"])
        clock.advance(by: .seconds(5))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).map(\.body) == ["short"])
        clock.advance(by: .seconds(54))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).map(\.body) == ["default"])
    }

    @Test func delayedMessageCountsAsDelayedNotInFlight() throws {
        let (queue, _, _) = try makeQueue()
        try queue.sendMessage("m", delaySeconds: .seconds(900))
        #expect(try queue.attributes(["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])
                == ["ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0",
                    "ApproximateNumberOfMessagesDelayed": "1"])
    }

    @Test func changingTheQueueDelayIsNotRetroactiveOnAStandardQueue() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(delaySeconds: .seconds(60)))
        try queue.sendMessage("sent with 60 s")
        try queue.setAttributes(QueueAttributes(delaySeconds: .zero))
        #expect(try MessageTestKit.counts(queue) == (0, 0, 1))
        try queue.sendMessage("sent with 0 s")
        try queue.setAttributes(QueueAttributes(delaySeconds: .seconds(120)))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).map(\.body) == ["sent with 0 s"])
        clock.advance(by: .seconds(60))
        #expect(try await receiveNow(queue, visibility: .seconds(600)).map(\.body) == ["sent with 60 s"])
    }

    @Test func changingTheQueueVisibilityTimeoutLeavesMessagesInFlightAlone() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(visibilityTimeout: .seconds(10)))
        try queue.sendMessage("m")
        #expect(try await queue.receiveMessages().count == 1)
        try queue.setAttributes(QueueAttributes(visibilityTimeout: .seconds(600)))
        clock.advance(by: .seconds(10))
        #expect(try await queue.receiveMessages().count == 1)
        clock.advance(by: .seconds(599))
        #expect(try await receiveNow(queue).isEmpty)
    }

    // MARK: Retention

    @Test func messageOlderThanRetentionPeriodDisappearsSilently() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(messageRetentionPeriod: .seconds(60)))
        try queue.sendMessage("old")
        clock.advance(by: .seconds(30))
        try queue.sendMessage("young")
        clock.advance(by: .seconds(29))
        #expect(try MessageTestKit.counts(queue) == (2, 0, 0))
        #expect(try queue.statistics().oldestMessageAge == .seconds(59))
        clock.advance(by: .seconds(2))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        #expect(try queue.statistics().oldestMessageAge == .seconds(31))
        #expect(try queue.attributes(["ApproximateNumberOfMessages"]) == ["ApproximateNumberOfMessages": "1"])
        #expect(try await receiveNow(queue).map(\.body) == ["young"])
    }

    @Test func messageInFlightExpiresAtItsRetentionPeriod() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(messageRetentionPeriod: .seconds(60)))
        try queue.sendMessage("m")
        let message = try #require(try await receiveNow(queue, visibility: .seconds(600)).first)
        #expect(try MessageTestKit.counts(queue) == (0, 1, 0))
        clock.advance(by: .seconds(61))
        #expect(try MessageTestKit.counts(queue) == (0, 0, 0))
        // Deleting it now is a silent success, and it never comes back.
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        clock.advance(by: .seconds(600))
        #expect(try await receiveNow(queue).isEmpty)
        #expect(try MessageTestKit.total(queue) == 0)
    }

    @Test func delayedMessageExpiresAtItsRetentionPeriod() async throws {
        let (queue, clock, _) = try makeQueue(QueueAttributes(messageRetentionPeriod: .seconds(60)))
        try queue.sendMessage("m", delaySeconds: .seconds(900))
        #expect(try MessageTestKit.counts(queue) == (0, 0, 1))
        clock.advance(by: .seconds(61))
        #expect(try MessageTestKit.counts(queue) == (0, 0, 0))
        clock.advance(by: .seconds(900))
        #expect(try await receiveNow(queue).isEmpty)
    }

    @Test func loweringTheRetentionPeriodExpiresExistingMessages() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("old")
        clock.advance(by: .seconds(120))
        try queue.sendMessage("new")
        try queue.setAttributes(QueueAttributes(messageRetentionPeriod: .seconds(60)))
        #expect(try MessageTestKit.counts(queue) == (1, 0, 0))
        #expect(try await receiveNow(queue).map(\.body) == ["new"])
    }

    // MARK: Purge

    @Test func purgeRemovesVisibleInFlightAndDelayedMessages() async throws {
        let (queue, clock, _) = try makeQueue()
        try queue.sendMessage("visible")
        try queue.sendMessage("inFlight")
        let inFlight = try #require(try await receiveNow(queue, max: 1, visibility: .seconds(30)).first)
        try queue.sendMessage("delayed", delaySeconds: .seconds(30))
        #expect(try MessageTestKit.counts(queue) == (1, 1, 1))
        try queue.purge()
        #expect(try MessageTestKit.counts(queue) == (0, 0, 0))
        #expect(try queue.statistics().oldestMessageAge == nil)
        clock.advance(by: .seconds(60))
        #expect(try await receiveNow(queue).isEmpty)
        // The in-flight message's handle names a message that no longer exists: deleting it is a silent success.
        try queue.deleteMessage(receiptHandle: inFlight.receiptHandle)
        try queue.sendMessage("after")
        #expect(try await receiveNow(queue).map(\.body) == ["after"])
    }

    // MARK: In-flight limit

    @Test func shortPollWithInFlightLimitReachedIsOverLimit() async throws {
        let (queue, _, _) = try makeQueue(configuration: BrokerConfiguration(seed: 1, maximumInFlightMessages: 3))
        for index in 0..<5 { try queue.sendMessage("m\(index)") }
        let received = try await receiveNow(queue, max: 10, visibility: .seconds(30))
        #expect(received.count == 3)
        await expectBrokerErrorAsync(.overLimit) { _ = try await MessageTestKit.receiveNow(queue) }
        try queue.deleteMessage(receiptHandle: received[0].receiptHandle)
        #expect(try await receiveNow(queue).count == 1)
    }

    @Test func longPollWithInFlightLimitReachedWaitsInsteadOfFailing() async throws {
        let (queue, clock, _) = try makeQueue(configuration: BrokerConfiguration(seed: 1, maximumInFlightMessages: 3))
        for index in 0..<4 { try queue.sendMessage("m\(index)") }
        let received = try await receiveNow(queue, max: 3, visibility: .seconds(30))
        #expect(received.count == 3)
        let waiting = Task { try await queue.receiveMessages(waitTimeSeconds: .seconds(20)) }
        #expect(await MessageTestKit.waitForWaiters(queue, clock: clock))
        try queue.deleteMessage(receiptHandle: received[0].receiptHandle)
        let served = try await waiting.value
        #expect(served.map(\.body) == ["m3"])
        #expect(clock.pendingWakeUps == 0)
    }
}

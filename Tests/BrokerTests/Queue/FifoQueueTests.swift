import Foundation
import Testing

@testable import Broker

/// FIFO queues: creation rules, message groups, strict ordering and group blocking, deduplication, sequence
/// numbers, delays, receive-attempt retries and expired receipt handles; plus the FIFO parameters a standard (fair)
/// queue accepts or refuses. Everything runs on a `ManualClock`; nothing sleeps.
@Suite("FIFO queues")
struct FifoQueueTests {
    // MARK: Helpers

    /// A FIFO queue with the given extra attributes.
    @discardableResult
    private func makeFifoQueue(_ broker: Broker, named name: String = "orders.fifo",
                               contentBasedDeduplication: Bool? = nil,
                               deduplicationScope: DeduplicationScope? = nil,
                               fifoThroughputLimit: FifoThroughputLimit? = nil,
                               visibilityTimeout: Duration? = nil,
                               delaySeconds: Duration? = nil) throws -> Queue {
        try broker.createQueue(named: name, attributes: QueueAttributes(
            visibilityTimeout: visibilityTimeout, delaySeconds: delaySeconds, fifoQueue: true,
            contentBasedDeduplication: contentBasedDeduplication, deduplicationScope: deduplicationScope,
            fifoThroughputLimit: fifoThroughputLimit))
    }

    /// Sends `body` to `group` with an explicit deduplication id equal to the body unless one is given.
    @discardableResult
    private func send(_ queue: Queue, _ body: String, group: String, dedup: String? = nil) throws -> SendMessageResult {
        try queue.sendMessage(body, messageGroupId: group, messageDeduplicationId: dedup ?? body)
    }

    /// A short-poll receive.
    private func receive(_ queue: Queue, max: Int = 10, visibility: Duration? = nil,
                         attributes: [MessageSystemAttributeName] = [],
                         attemptId: String? = nil) async throws -> [Message] {
        try await queue.receiveMessages(maxNumberOfMessages: max, visibilityTimeout: visibility, waitTimeSeconds: .zero,
                                        messageSystemAttributeNames: attributes, receiveRequestAttemptId: attemptId)
    }

    /// Receives one message at a time and deletes it, until the queue returns nothing; the bodies in order.
    private func drain(_ queue: Queue) async throws -> [String] {
        var bodies: [String] = []
        while let message = try await receive(queue, max: 1).first {
            bodies.append(message.body)
            try queue.deleteMessage(receiptHandle: message.receiptHandle)
        }
        return bodies
    }

    // MARK: Group bookkeeping

    /// An emptied group keeps its storage for its next message, but empty groups never outnumber live messages by
    /// much: a queue that sees 5,000 one-message groups holds few of them once those messages are gone.
    @Test func emptiedGroupsAreDroppedInBulkSoTheyStayBounded() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        try send(queue, "keep", group: "long-lived")
        for index in 0..<5_000 {
            try send(queue, "m\(index)", group: "tenant-\(index)")
            let received = try await receive(queue, max: 10)
            for message in received where message.body != "keep" {
                try queue.deleteMessage(receiptHandle: message.receiptHandle)
            }
            if let kept = received.first(where: { $0.body == "keep" }) {
                try queue.changeMessageVisibility(receiptHandle: kept.receiptHandle, visibilityTimeout: .zero)
            }
            let (groups, slots) = queue.core.state.withLock { ($0.groupSlots.count, $0.groups.count) }
            #expect(groups <= 2 * 1 + 64 + 1, "after \(index + 1) groups")
            #expect(slots <= 2 * 1 + 64 + 2, "freed slots are reused: \(slots) after \(index + 1) groups")
        }
        // The long-lived group still works, in order, after all that churn.
        try send(queue, "next", group: "long-lived")
        let first = try #require(try await receive(queue, max: 10).first)
        #expect(first.body == "keep")
    }

    /// Waves of groups: each wave's groups empty out and are dropped, so the next wave's groups take over their
    /// slots while heap entries left by the old groups may still be queued. Every group still gets exactly its own
    /// messages, in order.
    @Test func groupsThatReuseTheSlotsOfDroppedGroupsKeepTheirOwnOrder() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for wave in 0..<12 {
            var sent: [String: [String]] = [:]
            for number in 0..<3 {
                for group in 0..<(40 + wave * 7) {
                    let name = "w\(wave)-g\(group)"
                    let body = "\(name)-\(number)"
                    try send(queue, body, group: name)
                    sent[name, default: []].append(body)
                }
            }
            var received: [String: [String]] = [:]
            while true {
                let batch = try await receive(queue, max: 10, attributes: [.messageGroupId])
                if batch.isEmpty { break }
                for message in batch {
                    received[message.attributes[.messageGroupId] ?? "?", default: []].append(message.body)
                    try queue.deleteMessage(receiptHandle: message.receiptHandle)
                }
            }
            #expect(received == sent, "wave \(wave)")
        }
    }

    // MARK: Creation rules

    @Test func fifoQueueNameMustEndInFifoSuffix() throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(fifoQueue: true))
        }
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: ".fifo", attributes: QueueAttributes(fifoQueue: true))
        }
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "bad name.fifo", attributes: QueueAttributes(fifoQueue: true))
        }
        let queue = try broker.createQueue(named: "orders.fifo", attributes: QueueAttributes(fifoQueue: true))
        #expect(queue.isFifo)
        #expect(try queue.attributes(["FifoQueue"]) == ["FifoQueue": "true"])
    }

    @Test func fifoQueueCanBeCreatedFromAwsAttributeMap() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders.fifo",
                                           awsAttributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
        #expect(queue.isFifo)
        #expect(try queue.attributes(["ContentBasedDeduplication"]) == ["ContentBasedDeduplication": "true"])
    }

    @Test func standardQueueNameCannotCarryFifoSuffix() {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) { try broker.createQueue(named: "orders.fifo") }
    }

    @Test("the .fifo suffix counts toward the 80-character name limit",
          arguments: [(75, true), (76, false)])
    func fifoSuffixCountsTowardNameLimit(stemLength: Int, accepted: Bool) throws {
        let (broker, _) = makeBroker()
        let name = String(repeating: "q", count: stemLength) + ".fifo"
        if accepted {
            let queue = try broker.createQueue(named: name, attributes: QueueAttributes(fifoQueue: true))
            #expect(queue.name.count == 80)
        } else {
            expectBrokerError(.invalidParameterValue) {
                try broker.createQueue(named: name, attributes: QueueAttributes(fifoQueue: true))
            }
        }
    }

    @Test func fifoQueueAttributeCannotBeSwitchedOff() throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        expectBrokerError(.invalidAttributeValue) { try queue.setAttributes(QueueAttributes(fifoQueue: false)) }
        expectBrokerError(.invalidAttributeValue) { try queue.setAttributes(awsAttributes: ["FifoQueue": "false"]) }
        // Restating the type is harmless.
        try queue.setAttributes(awsAttributes: ["FifoQueue": "true"])
        #expect(queue.isFifo)
        #expect(try queue.attributes(["FifoQueue"]) == ["FifoQueue": "true"])
    }

    @Test func standardQueueCannotBecomeFifo() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(QueueAttributes(fifoQueue: true)) }
        #expect(!queue.isFifo)
    }

    @Test("FIFO-only attributes are refused on standard queues",
          arguments: ["ContentBasedDeduplication=true", "DeduplicationScope=messageGroup",
                      "FifoThroughputLimit=perMessageGroupId"])
    func fifoOnlyAttributesAreRefusedOnStandardQueues(assignment: String) throws {
        let (broker, _) = makeBroker()
        let parts = assignment.split(separator: "=").map(String.init)
        let attributes = [parts[0]: parts[1]]
        expectBrokerError(.invalidAttributeName) { try broker.createQueue(named: "plain", awsAttributes: attributes) }
        let queue = try broker.createQueue(named: "plain")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(awsAttributes: attributes) }
    }

    struct ThroughputCombination: Sendable, CustomTestStringConvertible {
        let contentBased: Bool
        let scope: DeduplicationScope
        let limit: FifoThroughputLimit
        var testDescription: String { "cbd=\(contentBased) \(scope.rawValue)/\(limit.rawValue)" }
    }

    @Test("valid ContentBasedDeduplication / DeduplicationScope / FifoThroughputLimit combinations",
          arguments: [true, false].flatMap { cbd in
              [(DeduplicationScope.queue, FifoThroughputLimit.perQueue), (.messageGroup, .perQueue),
               (.messageGroup, .perMessageGroupId)].map { ThroughputCombination(contentBased: cbd, scope: $0.0, limit: $0.1) }
          })
    func validFifoAttributeCombinationsAreAccepted(_ combination: ThroughputCombination) throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: combination.contentBased,
                                      deduplicationScope: combination.scope, fifoThroughputLimit: combination.limit)
        let attributes = try queue.attributes(["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"])
        #expect(attributes == [
            "ContentBasedDeduplication": String(combination.contentBased),
            "DeduplicationScope": combination.scope.rawValue,
            "FifoThroughputLimit": combination.limit.rawValue,
        ])
        // The same combination can be set on an existing queue.
        let other = try makeFifoQueue(broker, named: "other.fifo")
        try other.setAttributes(awsAttributes: [
            "ContentBasedDeduplication": String(combination.contentBased),
            "DeduplicationScope": combination.scope.rawValue,
            "FifoThroughputLimit": combination.limit.rawValue,
        ])
        #expect(try other.attributes(["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"]) == attributes)
    }

    @Test func fifoQueueDefaultsToQueueScopeAndPerQueueLimit() throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        #expect(try queue.attributes(["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"]) == [
            "ContentBasedDeduplication": "false", "DeduplicationScope": "queue", "FifoThroughputLimit": "perQueue",
        ])
    }

    @Test func perMessageGroupThroughputWithQueueScopeIsRejected() throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeValue) {
            try makeFifoQueue(broker, deduplicationScope: .queue, fifoThroughputLimit: .perMessageGroupId)
        }
        // The scope defaults to queue, so perMessageGroupId alone is the same combination.
        expectBrokerError(.invalidAttributeValue) {
            try makeFifoQueue(broker, named: "alone.fifo", fifoThroughputLimit: .perMessageGroupId)
        }
        // On an existing high-throughput queue, moving the scope back to queue is the same combination.
        let queue = try makeFifoQueue(broker, named: "ht.fifo", deduplicationScope: .messageGroup,
                                      fifoThroughputLimit: .perMessageGroupId)
        expectBrokerError(.invalidAttributeValue) {
            try queue.setAttributes(awsAttributes: ["DeduplicationScope": "queue"])
        }
        #expect(try queue.attributes(["DeduplicationScope"]) == ["DeduplicationScope": "messageGroup"])
    }

    @Test("unknown DeduplicationScope / FifoThroughputLimit values are rejected",
          arguments: [["DeduplicationScope": "group"], ["FifoThroughputLimit": "perGroup"],
                      ["ContentBasedDeduplication": "yes"]])
    func unknownFifoAttributeValuesAreRejected(_ attributes: [String: String]) throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        expectBrokerError(.invalidAttributeValue) { try queue.setAttributes(awsAttributes: attributes) }
    }

    // MARK: Message group ids

    @Test func sendWithoutMessageGroupIdIsMissingParameter() throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        expectBrokerError(.missingParameter) { try queue.sendMessage("hello") }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("malformed MessageGroupId is InvalidParameterValue",
          arguments: ["", String(repeating: "g", count: 129), "two words", "caf\u{E9}", "tab\there", "emoji\u{1F600}"])
    func malformedMessageGroupIdIsRejected(_ group: String) throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("hello", messageGroupId: group) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("MessageGroupId of 1-128 alphanumerics and punctuation is accepted",
          arguments: ["g", String(repeating: "g", count: 128), "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", "Order-42_eu.west"])
    func wellFormedMessageGroupIdIsAccepted(_ group: String) async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        try queue.sendMessage("hello", messageGroupId: group)
        let message = try #require(try await receive(queue, attributes: [.messageGroupId]).first)
        #expect(message.attributes[.messageGroupId] == group)
    }

    @Test("malformed MessageDeduplicationId is InvalidParameterValue",
          arguments: ["", String(repeating: "d", count: 129), "two words", "caf\u{E9}"])
    func malformedDeduplicationIdIsRejected(_ id: String) throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage("hello", messageGroupId: "g", messageDeduplicationId: id)
        }
    }

    // MARK: Ordering and group blocking

    @Test func messagesOfOneGroupAreDeliveredInSendOrder() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let bodies = (1...25).map { "m\($0)" }
        for body in bodies { try send(queue, body, group: "g") }
        #expect(try await drain(queue) == bodies)
    }

    @Test func inFlightMessageBlocksItsGroupWhileOtherGroupsAreDelivered() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for body in ["a1", "a2", "a3"] { try send(queue, body, group: "A") }
        for body in ["b1", "b2"] { try send(queue, body, group: "B") }

        let a1 = try #require(try await receive(queue, max: 1).first)
        #expect(a1.body == "a1")
        // A is blocked by a1 in flight; B is served, one message at a time, and then blocked in turn.
        let b1 = try #require(try await receive(queue, max: 1).first)
        #expect(b1.body == "b1")
        #expect(try await receive(queue).isEmpty)

        try queue.deleteMessage(receiptHandle: a1.receiptHandle)
        let next = try await receive(queue)
        #expect(next.map(\.body) == ["a2", "a3"])
        try queue.deleteMessage(receiptHandle: b1.receiptHandle)
        #expect(try await receive(queue).map(\.body) == ["b2"])
    }

    @Test func oneReceiveReturnsConsecutiveMessagesOfAGroupAndOtherGroups() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        // Interleaved sends: A1 B1 A2 C1 A3 B2.
        for (body, group) in [("A1", "A"), ("B1", "B"), ("A2", "A"), ("C1", "C"), ("A3", "A"), ("B2", "B")] {
            try send(queue, body, group: group)
        }
        let batch = try await receive(queue, max: 10, attributes: [.messageGroupId])
        #expect(batch.count == 6)
        func bodies(of group: String) -> [String] {
            batch.filter { $0.attributes[.messageGroupId] == group }.map(\.body)
        }
        #expect(bodies(of: "A") == ["A1", "A2", "A3"])
        #expect(bodies(of: "B") == ["B1", "B2"])
        #expect(bodies(of: "C") == ["C1"])
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 6)
    }

    @Test func receiveStopsAtMaxNumberOfMessagesInsideAGroup() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for index in 1...5 { try send(queue, "m\(index)", group: "g") }
        let first = try await receive(queue, max: 2)
        #expect(first.map(\.body) == ["m1", "m2"])
        // m3 is visible, but its group has messages in flight.
        #expect(try await receive(queue).isEmpty)
        for message in first { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
        #expect(try await receive(queue).map(\.body) == ["m3", "m4", "m5"])
    }

    @Test func deletingTheHeadWhileLaterMessagesAreInFlightKeepsTheGroupBlocked() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for index in 1...4 { try send(queue, "m\(index)", group: "g") }
        let batch = try await receive(queue, max: 3)
        #expect(batch.map(\.body) == ["m1", "m2", "m3"])
        try queue.deleteMessage(receiptHandle: batch[0].receiptHandle)
        #expect(try await receive(queue).isEmpty)
        try queue.deleteMessage(receiptHandle: batch[1].receiptHandle)
        #expect(try await receive(queue).isEmpty)
        try queue.deleteMessage(receiptHandle: batch[2].receiptHandle)
        #expect(try await receive(queue).map(\.body) == ["m4"])
    }

    @Test func groupRedeliversInTheSameOrderAfterVisibilityLapses() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, visibilityTimeout: .seconds(30))
        for index in 1...4 { try send(queue, "m\(index)", group: "g") }
        let first = try await receive(queue, attributes: [.approximateReceiveCount])
        #expect(first.map(\.body) == ["m1", "m2", "m3", "m4"])

        clock.advance(by: .seconds(29))
        #expect(try await receive(queue).isEmpty)
        clock.advance(by: .seconds(1))
        let again = try await receive(queue, attributes: [.approximateReceiveCount])
        #expect(again.map(\.body) == ["m1", "m2", "m3", "m4"])
        #expect(again.map(\.messageId) == first.map(\.messageId))
        #expect(again.compactMap(\.receiveCount) == [2, 2, 2, 2])
    }

    @Test func groupRedeliversInOrderWhenOnlyTheTailIsRedelivered() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, visibilityTimeout: .seconds(30))
        for index in 1...4 { try send(queue, "m\(index)", group: "g") }
        let batch = try await receive(queue, max: 2)
        try queue.deleteMessage(receiptHandle: batch[0].receiptHandle)
        clock.advance(by: .seconds(30))
        // m2 lapsed back in front of m3 and m4.
        #expect(try await drain(queue) == ["m2", "m3", "m4"])
    }

    @Test func extendingOneMessageOfABatchServesOnlyTheLapsedMessagesBeforeIt() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, visibilityTimeout: .seconds(30))
        for index in 1...4 { try send(queue, "m\(index)", group: "g") }
        try send(queue, "other", group: "h")
        let batch = try await receive(queue, max: 3)
        #expect(batch.map(\.body) == ["m1", "m2", "m3"])
        try queue.changeMessageVisibility(receiptHandle: batch[1].receiptHandle, visibilityTimeout: .seconds(120))

        clock.advance(by: .seconds(31))
        // m1 and m3 are visible again and m2 is still in flight: m1, before it, is served again, and first (a
        // group received before goes ahead of one never received); m3, after it, is not.
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 1)
        #expect(try await receive(queue, max: 1).map(\.body) == ["m1"])
        let other = try await receive(queue)
        #expect(other.map(\.body) == ["other"])
        #expect(try await receive(queue).isEmpty)
        for message in other { try queue.deleteMessage(receiptHandle: message.receiptHandle) }

        clock.advance(by: .seconds(90))
        #expect(try await receive(queue).map(\.body) == ["m1", "m2", "m3", "m4"])
    }

    @Test func releasingMessagesWithVisibilityZeroServesThoseBeforeTheFirstStillInFlight() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for index in 1...3 { try send(queue, "m\(index)", group: "g") }
        let batch = try await receive(queue)
        #expect(batch.map(\.body) == ["m1", "m2", "m3"])
        // m2 is released but m1, before it, is still in flight: nothing of the group.
        try queue.changeMessageVisibility(receiptHandle: batch[1].receiptHandle, visibilityTimeout: .zero)
        #expect(try await receive(queue).isEmpty)
        // m1 released too: m1 and m2 are served, in order, and m3, still in flight, stops the group.
        try queue.changeMessageVisibility(receiptHandle: batch[0].receiptHandle, visibilityTimeout: .zero)
        let again = try await receive(queue)
        #expect(again.map(\.body) == ["m1", "m2"])
        #expect(try await receive(queue).isEmpty)
        for message in again { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
        try queue.changeMessageVisibility(receiptHandle: batch[2].receiptHandle, visibilityTimeout: .zero)
        #expect(try await receive(queue).map(\.body) == ["m3"])
    }

    // MARK: Deduplication

    @Test func duplicateSendWithinFiveMinutesReturnsOriginalIdAndEnqueuesNothing() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let original = try queue.sendMessage("first", messageGroupId: "g", messageDeduplicationId: "order-1")
        clock.advance(by: .seconds(60))
        let duplicate = try queue.sendMessage("second body", messageGroupId: "g", messageDeduplicationId: "order-1")
        #expect(duplicate.messageId == original.messageId)
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        let received = try await receive(queue)
        #expect(received.map(\.body) == ["first"])
    }

    @Test func duplicateInsideOneBatchIsAcceptedButEnqueuedOnce() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let result = try queue.sendMessageBatch([
            SendMessageBatchRequestEntry(id: "a", body: "one", messageGroupId: "g", messageDeduplicationId: "same"),
            SendMessageBatchRequestEntry(id: "b", body: "two", messageGroupId: "g", messageDeduplicationId: "same"),
        ])
        #expect(result.failed.isEmpty)
        #expect(result.result(for: "a")?.messageId == result.result(for: "b")?.messageId)
        #expect(try await receive(queue).map(\.body) == ["one"])
    }

    @Test func batchEntryWithoutGroupIdFailsTheWholeRequest() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        let error = expectBrokerError(.missingParameter) {
            _ = try queue.sendMessageBatch([
                SendMessageBatchRequestEntry(id: "a", body: "grouped", messageGroupId: "g"),
                SendMessageBatchRequestEntry(id: "b", body: "ungrouped"),
            ])
        }
        #expect(error?.message == "The request must contain the parameter MessageGroupId.")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func batchEntryWithoutDeduplicationIdFailsTheWholeRequestWithoutContentBasedDeduplication() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let error = expectBrokerError(.invalidParameterValue) {
            _ = try queue.sendMessageBatch([
                SendMessageBatchRequestEntry(id: "a", body: "one", messageGroupId: "g1", messageDeduplicationId: "d1"),
                SendMessageBatchRequestEntry(id: "b", body: "two", messageGroupId: "g2"),
            ])
        }
        #expect(error?.message
            == "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        // With content-based deduplication the same batch is sent.
        try queue.setAttributes(QueueAttributes(contentBasedDeduplication: true))
        let result = try queue.sendMessageBatch([
            SendMessageBatchRequestEntry(id: "a", body: "one", messageGroupId: "g1", messageDeduplicationId: "d1"),
            SendMessageBatchRequestEntry(id: "b", body: "two", messageGroupId: "g2"),
        ])
        #expect(result.failed.isEmpty)
        #expect(try queue.statistics().approximateNumberOfMessages == 2)
    }

    @Test func deduplicationWindowCountsFromFirstSendAndSurvivesReceiveAndDelete() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let original = try queue.sendMessage("payload", messageGroupId: "g", messageDeduplicationId: "id-1")
        clock.advance(by: .seconds(100))
        let message = try #require(try await receive(queue).first)
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
        // A duplicate inside the window does not extend it.
        clock.advance(by: .seconds(100))
        #expect(try queue.sendMessage("payload", messageGroupId: "g", messageDeduplicationId: "id-1").messageId
            == original.messageId)
        clock.advance(by: .seconds(99))  // 299 s after the first send
        #expect(try queue.sendMessage("payload", messageGroupId: "g", messageDeduplicationId: "id-1").messageId
            == original.messageId)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        #expect(try await receive(queue).isEmpty)

        clock.advance(by: .seconds(2))  // 301 s after the first send
        let again = try queue.sendMessage("payload", messageGroupId: "g", messageDeduplicationId: "id-1")
        #expect(again.messageId != original.messageId)
        #expect(try await receive(queue).map(\.messageId) == [again.messageId])
    }

    @Test func sameDeduplicationIdIsAcceptedAgainAfterFiveMinutes() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let first = try queue.sendMessage("v1", messageGroupId: "g", messageDeduplicationId: "dup")
        clock.advance(by: .seconds(5 * 60 + 1))
        let second = try queue.sendMessage("v2", messageGroupId: "g", messageDeduplicationId: "dup")
        #expect(second.messageId != first.messageId)
        #expect(try await drain(queue) == ["v1", "v2"])
    }

    @Test func contentBasedDeduplicationUsesSha256OfTheBody() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        let first = try queue.sendMessage("hello", messageGroupId: "g")
        let duplicate = try queue.sendMessage("hello", messageGroupId: "g")
        #expect(duplicate.messageId == first.messageId)
        // Attributes are not part of the hash: only the body is.
        let withAttributes = try queue.sendMessage(SendMessageRequest(
            body: "hello", messageAttributes: ["k": .string("v")], messageGroupId: "g"))
        #expect(withAttributes.messageId == first.messageId)
        try queue.sendMessage("hello!", messageGroupId: "g")

        let received = try await receive(queue, attributes: [.messageDeduplicationId])
        #expect(received.map(\.body) == ["hello", "hello!"])
        // SHA-256("hello"), hex.
        #expect(received.first?.attributes[.messageDeduplicationId]
            == "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824")
    }

    @Test func explicitDeduplicationIdTakesPrecedenceOverContentHash() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, contentBasedDeduplication: true)
        let first = try queue.sendMessage("same body", messageGroupId: "g", messageDeduplicationId: "x")
        let second = try queue.sendMessage("same body", messageGroupId: "g", messageDeduplicationId: "y")
        #expect(first.messageId != second.messageId)
        let received = try await receive(queue, attributes: [.messageDeduplicationId])
        #expect(received.compactMap { $0.attributes[.messageDeduplicationId] } == ["x", "y"])
    }

    @Test func sendWithoutDeduplicationIdNeedsContentBasedDeduplication() throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("hello", messageGroupId: "g") }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        // Turning content-based deduplication on makes the same send valid.
        try queue.setAttributes(QueueAttributes(contentBasedDeduplication: true))
        try queue.sendMessage("hello", messageGroupId: "g")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func purgeClearsTheDeduplicationHistory() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let first = try queue.sendMessage("before", messageGroupId: "g", messageDeduplicationId: "id")
        try queue.purge()
        let after = try queue.sendMessage("after", messageGroupId: "g", messageDeduplicationId: "id")
        #expect(after.messageId != first.messageId)
        #expect(try await receive(queue).map(\.body) == ["after"])
    }

    @Test func messageGroupScopeDeduplicatesWithinAGroupOnly() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker, deduplicationScope: .messageGroup, fifoThroughputLimit: .perMessageGroupId)
        let a = try queue.sendMessage("a", messageGroupId: "A", messageDeduplicationId: "same")
        let b = try queue.sendMessage("b", messageGroupId: "B", messageDeduplicationId: "same")
        let aAgain = try queue.sendMessage("a again", messageGroupId: "A", messageDeduplicationId: "same")
        #expect(a.messageId != b.messageId)
        #expect(aAgain.messageId == a.messageId)
        #expect(Set(try await receive(queue).map(\.body)) == ["a", "b"])
    }

    @Test func queueScopeDeduplicatesAcrossGroups() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let a = try queue.sendMessage("a", messageGroupId: "A", messageDeduplicationId: "same")
        let b = try queue.sendMessage("b", messageGroupId: "B", messageDeduplicationId: "same")
        #expect(b.messageId == a.messageId)
        #expect(try await receive(queue).map(\.body) == ["a"])
    }

    @Test func recordsMadeBeforeSwitchingToMessageGroupScopeKeepTheirQueueWideScopeForTheirWindow() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let a = try queue.sendMessage("a", messageGroupId: "A", messageDeduplicationId: "same")
        clock.advance(by: .seconds(100))
        try queue.setAttributes(QueueAttributes(deduplicationScope: .messageGroup, fifoThroughputLimit: .perMessageGroupId))
        // Recorded queue-wide: a send from another group is still its duplicate.
        #expect(try queue.sendMessage("b", messageGroupId: "B", messageDeduplicationId: "same").messageId == a.messageId)
        // New records are per group.
        let c = try queue.sendMessage("c", messageGroupId: "C", messageDeduplicationId: "new")
        #expect(try queue.sendMessage("d", messageGroupId: "D", messageDeduplicationId: "new").messageId != c.messageId)
        clock.advance(by: .seconds(200))  // 300 s after the first send: its window is over
        #expect(try queue.sendMessage("b", messageGroupId: "B", messageDeduplicationId: "same").messageId != a.messageId)
        #expect(Set(try await receive(queue).map(\.body)) == ["a", "c", "d", "b"])
    }

    @Test func recordsMadeBeforeSwitchingToQueueScopeKeepTheirGroupScopeForTheirWindow() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, deduplicationScope: .messageGroup, fifoThroughputLimit: .perMessageGroupId)
        let a = try queue.sendMessage("a", messageGroupId: "A", messageDeduplicationId: "same")
        try queue.setAttributes(QueueAttributes(deduplicationScope: .queue, fifoThroughputLimit: .perQueue))
        #expect(try queue.sendMessage("a again", messageGroupId: "A", messageDeduplicationId: "same").messageId == a.messageId)
        #expect(try queue.sendMessage("b", messageGroupId: "B", messageDeduplicationId: "same").messageId != a.messageId)
        clock.advance(by: .seconds(300))
        #expect(try queue.sendMessage("a later", messageGroupId: "A", messageDeduplicationId: "same").messageId != a.messageId)
    }

    // MARK: Sequence numbers

    @Test func sequenceNumbersHaveTwentyDigitsAndStrictlyIncrease() throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        var previous: UInt64 = 0
        for index in 0..<30 {
            let result = try send(queue, "m\(index)", group: "g\(index % 4)")
            let text = try #require(result.sequenceNumber)
            #expect(text.count == 20)
            #expect(text.allSatisfy(\.isASCII) && text.allSatisfy(\.isNumber))
            let value = try #require(UInt64(text))
            #expect(value > previous)
            previous = value
        }
    }

    @Test func standardQueueSendsReturnNoSequenceNumber() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "plain")
        #expect(try queue.sendMessage("x").sequenceNumber == nil)
    }

    @Test func receiveReturnsSequenceNumberGroupIdAndDeduplicationId() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        let sent = try queue.sendMessage("body", messageGroupId: "customer-7", messageDeduplicationId: "order-99")
        let message = try #require(try await receive(queue, attributes: [.all]).first)
        #expect(message.messageId == sent.messageId)
        #expect(message.attributes[.sequenceNumber] == sent.sequenceNumber)
        #expect(message.attributes[.messageGroupId] == "customer-7")
        #expect(message.attributes[.messageDeduplicationId] == "order-99")
        // Only what is asked for is returned.
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .zero)
        let narrow = try #require(try await receive(queue, attributes: [.sequenceNumber]).first)
        #expect(narrow.attributes == [.sequenceNumber: try #require(sent.sequenceNumber)])
    }

    // MARK: Delays

    @Test("per-message DelaySeconds other than 0 is rejected on FIFO queues", arguments: [1, 15, 900])
    func perMessageDelayIsRejected(seconds: Int) throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage("x", delaySeconds: .seconds(seconds), messageGroupId: "g", messageDeduplicationId: "d")
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
        #expect(try queue.statistics().approximateNumberOfMessagesDelayed == 0)
    }

    @Test func perMessageDelayOfZeroIsAllowed() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        try queue.sendMessage("x", delaySeconds: .zero, messageGroupId: "g", messageDeduplicationId: "d")
        #expect(try await receive(queue).map(\.body) == ["x"])
    }

    @Test func queueDelayAppliesToFifoMessages() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, delaySeconds: .seconds(10))
        try send(queue, "m1", group: "g")
        try send(queue, "m2", group: "g")
        #expect(try queue.statistics().approximateNumberOfMessagesDelayed == 2)
        #expect(try await receive(queue).isEmpty)
        clock.advance(by: .seconds(9))
        #expect(try await receive(queue).isEmpty)
        clock.advance(by: .seconds(1))
        #expect(try await receive(queue).map(\.body) == ["m1", "m2"])
    }

    // MARK: ReceiveRequestAttemptId

    @Test func retryWithTheSameAttemptIdReturnsTheSameMessagesAndHandles() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for index in 1...3 { try send(queue, "a\(index)", group: "A") }
        try send(queue, "b1", group: "B")
        let first = try await receive(queue, max: 2, attemptId: "attempt-1")
        #expect(first.map(\.body) == ["a1", "a2"])
        clock.advance(by: .seconds(5))
        let retry = try await receive(queue, max: 2, attemptId: "attempt-1")
        #expect(retry.map(\.messageId) == first.map(\.messageId))
        #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
        // A different attempt id is a new receive: group A is blocked, B is served.
        #expect(try await receive(queue, attemptId: "attempt-2").map(\.body) == ["b1"])
        // The replayed handles are the live ones.
        for message in retry { try queue.deleteMessage(receiptHandle: message.receiptHandle) }
        #expect(try await receive(queue).map(\.body) == ["a3"])
    }

    @Test func retryWithTheSameAttemptIdResetsTheVisibilityTimeout() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, visibilityTimeout: .seconds(30))
        try send(queue, "a1", group: "A")
        let first = try await receive(queue, attemptId: "attempt-1")
        clock.advance(by: .seconds(20))
        let retry = try await receive(queue, attemptId: "attempt-1")
        #expect(retry.map(\.receiptHandle) == first.map(\.receiptHandle))
        // AWS: "If a retry occurs within the deduplication interval, it resets the visibility timeout."
        clock.advance(by: .seconds(20))  // 40 s after the first receive, 20 s after the retry
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 1)
        #expect(try await receive(queue).isEmpty)
        clock.advance(by: .seconds(10))  // 30 s after the retry
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func retryAfterDeletingOneOfTheMessagesIsAFreshReceive() async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        for index in 1...3 { try send(queue, "a\(index)", group: "A") }
        try send(queue, "b1", group: "B")
        let first = try await receive(queue, max: 2, attemptId: "attempt-1")
        #expect(first.map(\.body) == ["a1", "a2"])
        try queue.deleteMessage(receiptHandle: first[0].receiptHandle)
        let retry = try await receive(queue, max: 2, attemptId: "attempt-1")
        // Not a replay: a2 is still in flight (its group blocked), so the fresh receive serves group B.
        #expect(retry.map(\.body) == ["b1"])
        #expect(!retry.contains { $0.receiptHandle == first[1].receiptHandle })
    }

    @Test("malformed ReceiveRequestAttemptId is InvalidParameterValue",
          arguments: ["", String(repeating: "r", count: 129), "has space"])
    func malformedReceiveRequestAttemptIdIsRejected(_ attempt: String) async throws {
        let (broker, _) = makeBroker()
        let queue = try makeFifoQueue(broker)
        try send(queue, "x", group: "g")
        await expectBrokerErrorAsync(.invalidParameterValue) {
            _ = try await receive(queue, attemptId: attempt)
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    // MARK: Receipt handles

    @Test func deletingWithAnExpiredReceiptHandleIsRejected() async throws {
        let (broker, clock) = makeBroker()
        let queue = try makeFifoQueue(broker, visibilityTimeout: .seconds(30))
        try send(queue, "x", group: "g")
        let stale = try #require(try await receive(queue).first)
        clock.advance(by: .seconds(31))
        let error = expectBrokerError(.invalidParameterValue) {
            try queue.deleteMessage(receiptHandle: stale.receiptHandle)
        }
        #expect(error?.message.contains("The receipt handle has expired") == true)
        #expect(try queue.statistics().approximateNumberOfMessages == 1)

        // After a new receive the old handle is still expired; the new one deletes.
        let fresh = try #require(try await receive(queue).first)
        expectBrokerError(.invalidParameterValue) { try queue.deleteMessage(receiptHandle: stale.receiptHandle) }
        try queue.deleteMessage(receiptHandle: fresh.receiptHandle)
        #expect(try queue.statistics().approximateNumberOfMessagesNotVisible == 0)
        // Deleting an already deleted message succeeds.
        try queue.deleteMessage(receiptHandle: fresh.receiptHandle)
    }

    // MARK: Fair queues (standard queues with message groups)

    @Test func standardQueueAcceptsMessageGroupIdAndReturnsIt() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "tenants")
        try queue.sendMessage("work", messageGroupId: "tenant-1")
        try queue.sendMessage("other")
        let received = try await receive(queue, attributes: [.messageGroupId, .sequenceNumber])
        let grouped = try #require(received.first { $0.body == "work" })
        #expect(grouped.attributes == [.messageGroupId: "tenant-1"])
        let plain = try #require(received.first { $0.body == "other" })
        #expect(plain.attributes.isEmpty)
    }

    @Test func standardQueueRejectsMessageDeduplicationId() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "tenants")
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage("work", messageGroupId: "tenant-1", messageDeduplicationId: "d")
        }
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("work", messageDeduplicationId: "d") }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func standardQueueRejectsMalformedMessageGroupId() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "tenants")
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("work", messageGroupId: "two words") }
    }
}

@Suite struct FifoRetroactiveDelayTests {
    @Test func changingQueueDelayOnFifoQueueAppliesToMessagesAlreadyDelayed() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "d.fifo", attributes: QueueAttributes(
            delaySeconds: .seconds(60), fifoQueue: true, contentBasedDeduplication: true))
        try queue.sendMessage("waiting", messageGroupId: "g")
        clock.advance(by: .seconds(10))
        try queue.setAttributes(QueueAttributes(delaySeconds: .seconds(5)))
        #expect(try await queue.receiveMessages().map(\.body) == ["waiting"])
    }

    @Test func lengtheningQueueDelayOnFifoQueueHidesDelayedMessagesLonger() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "d.fifo", attributes: QueueAttributes(
            delaySeconds: .seconds(10), fifoQueue: true, contentBasedDeduplication: true))
        try queue.sendMessage("waiting", messageGroupId: "g")
        try queue.setAttributes(QueueAttributes(delaySeconds: .seconds(100)))
        clock.advance(by: .seconds(50))
        #expect(try await queue.receiveMessages().isEmpty)
        clock.advance(by: .seconds(50))
        #expect(try await queue.receiveMessages().map(\.body) == ["waiting"])
    }
}

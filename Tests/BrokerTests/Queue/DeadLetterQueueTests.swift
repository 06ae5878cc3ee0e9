import Foundation
import Testing

@testable import Broker

/// Dead-letter queues: redrive policies and their validation, when and how a message moves, retention in the DLQ,
/// RedriveAllowPolicy, ListDeadLetterSourceQueues, deleted sources and targets, and message move tasks (redrive
/// back to the source). Everything runs on a `ManualClock`; nothing sleeps.
@Suite("Dead-letter queues")
struct DeadLetterQueueTests {
    // MARK: Helpers

    private static let visibility = Duration.seconds(30)
    private static let pastVisibility = Duration.seconds(31)

    /// A dead-letter queue and a source queue whose redrive policy names it.
    private func makePair(_ broker: Broker, maxReceiveCount: Int = 3, fifo: Bool = false,
                          source sourceName: String = "orders", dlq dlqName: String = "orders-dlq",
                          dlqRetention: Duration? = nil) throws -> (source: Queue, dlq: Queue) {
        let suffix = fifo ? ".fifo" : ""
        let dlq = try broker.createQueue(named: dlqName + suffix, attributes: QueueAttributes(
            messageRetentionPeriod: dlqRetention, fifoQueue: fifo ? true : nil))
        let source = try broker.createQueue(named: sourceName + suffix, attributes: QueueAttributes(
            visibilityTimeout: Self.visibility,
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: maxReceiveCount),
            fifoQueue: fifo ? true : nil))
        return (source, dlq)
    }

    /// A short-poll receive.
    private func receive(_ queue: Queue, max: Int = 10,
                         attributes: [MessageSystemAttributeName] = [.approximateReceiveCount]) async throws -> [Message] {
        try await queue.receiveMessages(maxNumberOfMessages: max, waitTimeSeconds: .zero,
                                        messageSystemAttributeNames: attributes)
    }

    /// Sends `bodies` to `source` (which must have maxReceiveCount 1), receives each once, lets the visibility lapse
    /// and receives again, which moves every one of them to the dead-letter queue.
    private func deadLetter(_ bodies: [String], from source: Queue, clock: ManualClock) async throws {
        for (index, body) in bodies.enumerated() {
            if source.isFifo {
                try source.sendMessage(body, messageGroupId: "g", messageDeduplicationId: "d\(index)-\(body)")
            } else {
                try source.sendMessage(body)
            }
        }
        var received = 0
        while received < bodies.count {
            let batch = try await receive(source)
            try #require(!batch.isEmpty)
            received += batch.count
        }
        clock.advance(by: Self.pastVisibility)
        while try source.statistics().approximateNumberOfMessages > 0 {
            #expect(try await receive(source).isEmpty)
        }
    }

    private func depths(_ queue: Queue) throws -> (visible: Int, inFlight: Int) {
        let statistics = try queue.statistics()
        return (statistics.approximateNumberOfMessages, statistics.approximateNumberOfMessagesNotVisible)
    }

    // MARK: RedrivePolicy

    @Test func redrivePolicyCanBeGivenAsATypedValue() throws {
        let (broker, _) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 3)
        let json = try #require(try source.attributes(["RedrivePolicy"])["RedrivePolicy"])
        #expect(try RedrivePolicy(json: json) == RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3))
        #expect(try source.configuration().redrivePolicy == RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3))
    }

    @Test("RedrivePolicy JSON takes maxReceiveCount as a string or a number", arguments: ["\"3\"", "3"])
    func redrivePolicyJsonAcceptsCountAsStringOrNumber(count: String) throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "orders-dlq")
        let json = "{\"deadLetterTargetArn\":\"\(dlq.arn)\",\"maxReceiveCount\":\(count)}"
        let created = try broker.createQueue(named: "created", awsAttributes: ["RedrivePolicy": json])
        let updated = try broker.createQueue(named: "updated")
        try updated.setAttributes(awsAttributes: ["RedrivePolicy": json])
        for queue in [created, updated] {
            #expect(try queue.configuration().redrivePolicy == RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3))
        }
    }

    @Test("maxReceiveCount outside 1-1000 is InvalidParameterValue", arguments: [0, 1001, -1])
    func maxReceiveCountOutOfRangeIsRejected(count: Int) throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "orders-dlq")
        let policy = RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: count)
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(redrivePolicy: policy))
        }
        let source = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidParameterValue) { try source.setAttributes(QueueAttributes(redrivePolicy: policy)) }
        expectBrokerError(.invalidParameterValue) {
            try source.setAttributes(awsAttributes: ["RedrivePolicy": policy.json])
        }
        #expect(try source.configuration().redrivePolicy == nil)
    }

    @Test("maxReceiveCount 1 and 1000 are accepted", arguments: [1, 1000])
    func maxReceiveCountBoundsAreAccepted(count: Int) throws {
        let (broker, _) = makeBroker()
        let (source, _) = try makePair(broker, maxReceiveCount: count)
        #expect(try source.configuration().redrivePolicy?.maxReceiveCount == count)
    }

    @Test func redrivePolicyTargetMustExist() throws {
        let (broker, _) = makeBroker()
        let missing = RedrivePolicy(deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:nowhere", maxReceiveCount: 3)
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(redrivePolicy: missing))
        }
        let source = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidParameterValue) { try source.setAttributes(QueueAttributes(redrivePolicy: missing)) }
    }

    @Test func deadLetterQueueMustBeOfTheSourceQueueType() throws {
        let (broker, _) = makeBroker()
        let fifoDlq = try broker.createQueue(named: "dlq.fifo", attributes: QueueAttributes(fifoQueue: true))
        let standardDlq = try broker.createQueue(named: "dlq")
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(
                redrivePolicy: RedrivePolicy(deadLetterTargetArn: fifoDlq.arn, maxReceiveCount: 3)))
        }
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders.fifo", attributes: QueueAttributes(
                redrivePolicy: RedrivePolicy(deadLetterTargetArn: standardDlq.arn, maxReceiveCount: 3), fifoQueue: true))
        }
    }

    @Test func emptyRedrivePolicyRemovesIt() throws {
        let (broker, _) = makeBroker()
        let (source, dlq) = try makePair(broker)
        try source.setAttributes(awsAttributes: ["RedrivePolicy": ""])
        #expect(try source.configuration().redrivePolicy == nil)
        #expect(try broker.listDeadLetterSourceQueues(dlq).queueUrls.isEmpty)
    }

    // MARK: When a message moves

    @Test func messageMovesOnTheReceiveThatWouldExceedMaxReceiveCount() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 3)
        let sent = try source.sendMessage("poison")
        for attempt in 1...3 {
            let batch = try await receive(source)
            #expect(batch.map(\.messageId) == [sent.messageId])
            #expect(batch.first?.receiveCount == attempt)
            clock.advance(by: Self.pastVisibility)
        }
        // The third lapse does not move it: the source counts it visible until somebody receives.
        #expect(try depths(source) == (1, 0))
        #expect(try depths(dlq) == (0, 0))

        #expect(try await receive(source).isEmpty)
        #expect(try depths(source) == (0, 0))
        #expect(try depths(dlq) == (1, 0))
    }

    @Test func deadLetteredMessageKeepsIdBodyAttributesAndReceiveCount() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 3)
        let attributes: [String: MessageAttributeValue] = ["tenant": .string("acme"), "amount": .number(42)]
        let sent = try source.sendMessage("{\"order\":17}", messageAttributes: attributes)
        let sentAt = clock.now
        for _ in 1...3 {
            _ = try await receive(source)
            clock.advance(by: Self.pastVisibility)
        }
        #expect(try await receive(source).isEmpty)

        let moved = try #require(try await dlq.receiveMessages(
            waitTimeSeconds: .zero, messageAttributeNames: ["All"], messageSystemAttributeNames: [.all]).first)
        #expect(moved.messageId == sent.messageId)
        #expect(moved.body == "{\"order\":17}")
        #expect(moved.md5OfBody == sent.md5OfMessageBody)
        #expect(moved.messageAttributes == attributes)
        #expect(moved.md5OfMessageAttributes == sent.md5OfMessageAttributes)
        #expect(moved.receiveCount == 4)  // three receives from the source, plus this one
        #expect(moved.attributes[.deadLetterQueueSourceArn] == source.arn)
        #expect(moved.attributes[.sentTimestamp] == String(Int64(sentAt.timeIntervalSince1970 * 1000)))
    }

    @Test func messagesBelowTheCountStayWhileAPoisonMessageMoves() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try source.sendMessage("poison")
        let first = try await receive(source)
        #expect(first.map(\.body) == ["poison"])
        clock.advance(by: Self.pastVisibility)
        try source.sendMessage("fresh")
        // One receive moves the poison message and delivers the fresh one.
        let second = try await receive(source)
        #expect(second.map(\.body) == ["fresh"])
        #expect(try depths(dlq) == (1, 0))
    }

    @Test func poisonFifoMessageMovesToFifoDeadLetterQueueAndUnblocksItsGroup() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 2, fifo: true)
        for body in ["m1", "m2", "m3"] {
            try source.sendMessage(body, messageGroupId: "g", messageDeduplicationId: body)
        }
        for _ in 1...2 {
            #expect(try await receive(source, max: 1).map(\.body) == ["m1"])
            clock.advance(by: Self.pastVisibility)
        }
        // m1 has had its two receives: this receive moves it and serves the rest of the group in order.
        #expect(try await receive(source).map(\.body) == ["m2", "m3"])
        let moved = try #require(try await receive(dlq, attributes: [.all]).first)
        #expect(moved.body == "m1")
        #expect(moved.attributes[.messageGroupId] == "g")
        #expect(moved.attributes[.deadLetterQueueSourceArn] == source.arn)
        #expect(moved.receiveCount == 3)
    }

    // MARK: Retention in the dead-letter queue

    @Test func standardDeadLetterQueueKeepsTheOriginalEnqueueTime() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1, dlqRetention: .seconds(4 * 86_400))
        try source.sendMessage("old")
        _ = try await receive(source)
        clock.advance(by: .seconds(3 * 86_400))
        #expect(try await receive(source).isEmpty)
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        #expect(try dlq.statistics().oldestMessageAge == .seconds(3 * 86_400))

        // Retention counts from the send to the source: four days after it, one day after the move.
        clock.advance(by: .seconds(86_400 - 1))
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        clock.advance(by: .seconds(2))
        #expect(try dlq.statistics().approximateNumberOfMessages == 0)
        #expect(try await receive(dlq).isEmpty)
    }

    /// A moved message older than one sent to the dead-letter queue directly is its oldest: it sets the age and
    /// expires first, though it arrived later.
    @Test func movedMessageOlderThanTheDeadLetterQueuesOwnIsItsOldestAndExpiresFirst() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1, dlqRetention: .seconds(4 * 86_400))
        try source.sendMessage("old")
        _ = try await receive(source)
        clock.advance(by: .seconds(86_400))
        try dlq.sendMessage("direct")
        clock.advance(by: .seconds(86_400))
        #expect(try await receive(source).isEmpty)  // moves "old", enqueued two days ago
        #expect(try dlq.statistics().approximateNumberOfMessages == 2)
        #expect(try dlq.statistics().oldestMessageAge == .seconds(2 * 86_400))

        clock.advance(by: .seconds(2 * 86_400))  // four days after "old" was sent, three after "direct"
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        #expect(try dlq.statistics().oldestMessageAge == .seconds(3 * 86_400))
        #expect(try await receive(dlq).map(\.body) == ["direct"])
    }

    @Test func fifoDeadLetterQueueResetsTheEnqueueTime() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1, fifo: true, dlqRetention: .seconds(4 * 86_400))
        try source.sendMessage("old", messageGroupId: "g", messageDeduplicationId: "old")
        _ = try await receive(source)
        clock.advance(by: .seconds(3 * 86_400))
        #expect(try await receive(source).isEmpty)
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        #expect(try dlq.statistics().oldestMessageAge == .zero)

        // One day and a second after the move the message is still there; four days after the move it is gone.
        clock.advance(by: .seconds(86_400 + 1))
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        clock.advance(by: .seconds(3 * 86_400 - 2))
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
        clock.advance(by: .seconds(1))
        #expect(try dlq.statistics().approximateNumberOfMessages == 0)
    }

    // MARK: RedriveAllowPolicy

    enum AllowCase: String, CaseIterable, Sendable {
        case allowAll, denyAll, byQueueListingSource, byQueueListingOthers
    }

    @Test("RedriveAllowPolicy is enforced when a source names the queue", arguments: AllowCase.allCases)
    func redriveAllowPolicyIsEnforced(_ allowCase: AllowCase) throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "orders-dlq")
        let sourceArn = broker.queueArn("orders")
        let policy: RedriveAllowPolicy = switch allowCase {
        case .allowAll: .allowAll
        case .denyAll: .denyAll
        case .byQueueListingSource: .byQueue([broker.queueArn("billing"), sourceArn])
        case .byQueueListingOthers: .byQueue([broker.queueArn("billing")])
        }
        try dlq.setAttributes(awsAttributes: ["RedriveAllowPolicy": policy.json])
        #expect(try dlq.configuration().redriveAllowPolicy == policy)
        let redrive = QueueAttributes(redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3))
        switch allowCase {
        case .allowAll, .byQueueListingSource:
            let source = try broker.createQueue(named: "orders", attributes: redrive)
            #expect(source.arn == sourceArn)
        case .denyAll, .byQueueListingOthers:
            expectBrokerError(.invalidParameterValue) { try broker.createQueue(named: "orders", attributes: redrive) }
            let source = try broker.createQueue(named: "orders")
            expectBrokerError(.invalidParameterValue) { try source.setAttributes(redrive) }
            #expect(try source.configuration().redrivePolicy == nil)
        }
    }

    @Test func redriveAllowPolicyByQueueTakesOneToTenArns() throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "orders-dlq")
        let eleven = (1...11).map { broker.queueArn("source-\($0)") }
        func json(_ arns: [String]) -> String {
            "{\"redrivePermission\":\"byQueue\",\"sourceQueueArns\":[" + arns.map { "\"\($0)\"" }.joined(separator: ",") + "]}"
        }
        expectBrokerError(.invalidAttributeValue) { try dlq.setAttributes(awsAttributes: ["RedriveAllowPolicy": json(eleven)]) }
        expectBrokerError(.invalidAttributeValue) { try dlq.setAttributes(awsAttributes: ["RedriveAllowPolicy": json([])]) }
        expectBrokerError(.invalidAttributeValue) {
            try broker.createQueue(named: "other-dlq", awsAttributes: ["RedriveAllowPolicy": json(eleven)])
        }
        // The typed value obeys the same limit.
        expectBrokerError(.invalidAttributeValue) {
            try dlq.setAttributes(QueueAttributes(redriveAllowPolicy: .byQueue(eleven)))
        }
        expectBrokerError(.invalidAttributeValue) { try dlq.setAttributes(QueueAttributes(redriveAllowPolicy: .byQueue([]))) }
        #expect(try dlq.configuration().redriveAllowPolicy == nil)

        try dlq.setAttributes(awsAttributes: ["RedriveAllowPolicy": json(Array(eleven.prefix(10)))])
        #expect(try dlq.configuration().redriveAllowPolicy == .byQueue(Array(eleven.prefix(10))))
    }

    @Test("malformed RedriveAllowPolicy is InvalidAttributeValue",
          arguments: ["not json", "{\"redrivePermission\":\"maybe\"}", "{\"sourceQueueArns\":[]}",
                      "{\"redrivePermission\":\"denyAll\",\"sourceQueueArns\":[\"arn:aws:sqs:us-east-1:000000000000:a\"]}"])
    func malformedRedriveAllowPolicyIsRejected(json: String) throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "orders-dlq")
        expectBrokerError(.invalidAttributeValue) { try dlq.setAttributes(awsAttributes: ["RedriveAllowPolicy": json]) }
    }

    // MARK: ListDeadLetterSourceQueues

    @Test func listDeadLetterSourceQueuesListsSourcesWithPagination() throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.createQueue(named: "shared-dlq")
        let policy = QueueAttributes(redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 5))
        let sources = try ["src-c", "src-a", "src-b"].map { try broker.createQueue(named: $0, attributes: policy) }
        try broker.createQueue(named: "unrelated")
        let expected = sources.map(\.url).sorted()

        let all = try broker.listDeadLetterSourceQueues(dlq)
        #expect(all.queueUrls == expected)
        #expect(all.nextToken == nil)

        let first = try broker.listDeadLetterSourceQueues(dlq, maxResults: 2)
        #expect(first.queueUrls == Array(expected.prefix(2)))
        let token = try #require(first.nextToken)
        let second = try broker.listDeadLetterSourceQueues(dlq, maxResults: 2, nextToken: token)
        #expect(second.queueUrls == [expected[2]])
        #expect(second.nextToken == nil)

        #expect(try broker.listDeadLetterSourceQueues(try broker.queue(named: "unrelated")).queueUrls.isEmpty)
        expectBrokerError(.invalidParameterValue) { _ = try broker.listDeadLetterSourceQueues(dlq, maxResults: 0) }
    }

    // MARK: Deleted queues

    @Test func deadLetterQueueKeepsItsMessagesWhenTheSourceIsDeleted() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try await deadLetter(["a", "b"], from: source, clock: clock)
        try broker.deleteQueue(source)
        #expect(try dlq.statistics().approximateNumberOfMessages == 2)
        let messages = try await receive(dlq, attributes: [.deadLetterQueueSourceArn])
        #expect(Set(messages.map(\.body)) == ["a", "b"])
        #expect(messages.allSatisfy { $0.attributes[.deadLetterQueueSourceArn] == source.arn })
    }

    @Test func sourceKeepsDeliveringPastMaxReceiveCountWhenItsDeadLetterQueueIsDeleted() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 2)
        try source.sendMessage("stuck")
        try broker.deleteQueue(dlq)
        for attempt in 1...5 {
            let batch = try await receive(source)
            #expect(batch.map(\.body) == ["stuck"])
            #expect(batch.first?.receiveCount == attempt)
            clock.advance(by: Self.pastVisibility)
        }
        // It still works as a queue.
        try source.sendMessage("next")
        let batch = try await receive(source)
        #expect(Set(batch.map(\.body)) == ["stuck", "next"])
        for message in batch { try source.deleteMessage(receiptHandle: message.receiptHandle) }
        #expect(try depths(source) == (0, 0))
    }

    // MARK: The order pipeline

    @Test func orderPipelineFailedMessageLandsInTheDeadLetterQueueAndIsRedriven() async throws {
        let (broker, clock) = makeBroker()
        let (orders, dlq) = try makePair(broker, maxReceiveCount: 3, source: "orders", dlq: "orders-dlq")
        let poison = try orders.sendMessage("order-2: malformed address")
        try orders.sendMessage("order-1")
        try orders.sendMessage("order-3")

        var processed: [String] = []
        /// The consumer: processes and deletes every order except the malformed one, which fails (and so is not
        /// deleted) while `failing` is true.
        func consume(failing: Bool) async throws -> [Message] {
            let batch = try await receive(orders, attributes: [.all])
            for message in batch where !(failing && message.body.hasPrefix("order-2")) {
                processed.append(message.body)
                try orders.deleteMessage(receiptHandle: message.receiptHandle)
            }
            return batch
        }

        #expect(try await consume(failing: true).count == 3)
        #expect(processed == ["order-1", "order-3"])
        #expect(try depths(orders) == (0, 1))
        for _ in 2...3 {
            clock.advance(by: Self.pastVisibility)
            #expect(try await consume(failing: true).map(\.messageId) == [poison.messageId])
        }
        clock.advance(by: Self.pastVisibility)
        #expect(try depths(orders) == (1, 0))
        #expect(try depths(dlq) == (0, 0))

        // The fourth receive moves it.
        #expect(try await consume(failing: true).isEmpty)
        #expect(try depths(orders) == (0, 0))
        #expect(try depths(dlq) == (1, 0))

        // The bug is fixed; the operator redrives the dead-letter queue to its source.
        let handle = try broker.startMessageMoveTask(sourceArn: dlq.arn)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.taskHandle == handle)
        clock.advance(by: .zero)
        #expect(try depths(dlq) == (0, 0))
        #expect(try depths(orders) == (1, 0))
        let task = try #require(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first)
        #expect(task.status == .completed)
        #expect(task.approximateNumberOfMessagesMoved == 1)

        let redriven = try await consume(failing: false)
        #expect(redriven.count == 1)
        let message = try #require(redriven.first)
        #expect(message.body == "order-2: malformed address")
        #expect(message.messageId != poison.messageId)
        #expect(message.receiveCount == 1)
        #expect(message.attributes[.deadLetterQueueSourceArn] == nil)
        #expect(processed == ["order-1", "order-3", "order-2: malformed address"])
        #expect(try depths(orders) == (0, 0))
        #expect(try depths(dlq) == (0, 0))
    }

    // MARK: Message move tasks

    @Test func moveTaskSourceMustBeADeadLetterQueue() throws {
        let (broker, _) = makeBroker()
        let (source, dlq) = try makePair(broker)
        expectBrokerError(.invalidParameterValue) { try broker.startMessageMoveTask(sourceArn: source.arn) }
        let lonely = try broker.createQueue(named: "lonely")
        expectBrokerError(.invalidParameterValue) { try broker.startMessageMoveTask(sourceArn: lonely.arn) }
        expectBrokerError(.resourceNotFound) {
            try broker.startMessageMoveTask(sourceArn: broker.queueArn("nowhere"))
        }
        // A DLQ whose only source was deleted is no longer a DLQ.
        try broker.deleteQueue(source)
        expectBrokerError(.invalidParameterValue) { try broker.startMessageMoveTask(sourceArn: dlq.arn) }
    }

    @Test("MaxNumberOfMessagesPerSecond outside 1-500 is InvalidParameterValue", arguments: [0, 501, -5])
    func moveTaskRateOutOfRangeIsRejected(rate: Int) throws {
        let (broker, _) = makeBroker()
        let (_, dlq) = try makePair(broker)
        expectBrokerError(.invalidParameterValue) {
            try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: rate)
        }
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).isEmpty)
    }

    @Test("MaxNumberOfMessagesPerSecond 1 and 500 are accepted", arguments: [1, 500])
    func moveTaskRateBoundsAreAccepted(rate: Int) throws {
        let (broker, _) = makeBroker()
        let (_, dlq) = try makePair(broker)
        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: rate)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.maxNumberOfMessagesPerSecond == rate)
    }

    @Test func secondActiveMoveTaskOnTheSameSourceIsUnsupported() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try await deadLetter(["a", "b", "c"], from: source, clock: clock)
        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 1)
        expectBrokerError(.unsupportedOperation) { try broker.startMessageMoveTask(sourceArn: dlq.arn) }
        clock.advance(by: .zero)
        expectBrokerError(.unsupportedOperation) { try broker.startMessageMoveTask(sourceArn: dlq.arn) }
        clock.advance(by: .seconds(2))
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.status == .completed)
        // Once the first task has finished, a new one may start.
        try broker.startMessageMoveTask(sourceArn: dlq.arn)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10).count == 2)
    }

    @Test func moveTaskMovesAtMostItsRatePerSecondOfTheClock() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try await deadLetter(["m1", "m2", "m3", "m4", "m5"], from: source, clock: clock)
        #expect(try depths(dlq) == (5, 0))
        #expect(try depths(source) == (0, 0))

        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 2)
        var task = try #require(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first)
        #expect(task.status == .running)
        #expect(task.approximateNumberOfMessagesToMove == 5)
        #expect(task.approximateNumberOfMessagesMoved == 0)
        #expect(task.sourceArn == dlq.arn)
        #expect(task.destinationArn == nil)

        clock.advance(by: .zero)
        #expect(try depths(dlq) == (3, 0))
        #expect(try depths(source) == (2, 0))
        clock.advance(by: .milliseconds(999))
        #expect(try depths(dlq) == (3, 0))
        clock.advance(by: .milliseconds(1))
        #expect(try depths(dlq) == (1, 0))
        #expect(try depths(source) == (4, 0))
        task = try #require(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first)
        #expect(task.status == .running)
        #expect(task.approximateNumberOfMessagesMoved == 4)

        clock.advance(by: .seconds(1))
        #expect(try depths(dlq) == (0, 0))
        #expect(try depths(source) == (5, 0))
        task = try #require(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first)
        #expect(task.status == .completed)
        #expect(task.approximateNumberOfMessagesMoved == 5)
        #expect(task.taskHandle == nil)
        #expect(clock.pendingWakeUps == 0)

        // Every message is back in the source, each received for the first time there.
        let back = try await receive(source)
        #expect(Set(back.map(\.body)) == ["m1", "m2", "m3", "m4", "m5"])
        #expect(back.allSatisfy { $0.receiveCount == 1 })
    }

    @Test func listMessageMoveTasksReturnsNewestFirstUpToMaxResults() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try await deadLetter(["a"], from: source, clock: clock)
        let first = try broker.startMessageMoveTask(sourceArn: dlq.arn)
        clock.advance(by: .zero)
        try await deadLetter(["b"], from: source, clock: clock)
        let second = try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 7)
        #expect(first != second)

        let latest = try broker.listMessageMoveTasks(sourceArn: dlq.arn)
        #expect(latest.count == 1)
        #expect(latest.first?.taskHandle == second)
        #expect(latest.first?.maxNumberOfMessagesPerSecond == 7)

        let both = try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: 10)
        #expect(both.map(\.status) == [.running, .completed])
        #expect(both.map(\.maxNumberOfMessagesPerSecond) == [7, nil])
        #expect(both[1].taskHandle == nil)
        #expect(both[0].startedTimestamp >= both[1].startedTimestamp)

        for bad in [0, 11] {
            expectBrokerError(.invalidParameterValue) { _ = try broker.listMessageMoveTasks(sourceArn: dlq.arn, maxResults: bad) }
        }
        clock.advance(by: .zero)
    }

    @Test func cancelledMoveTaskStopsAndLeavesTheRestInTheDeadLetterQueue() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        try await deadLetter(["m1", "m2", "m3", "m4"], from: source, clock: clock)
        let handle = try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 1)
        clock.advance(by: .zero)
        #expect(try depths(dlq) == (3, 0))

        #expect(try broker.cancelMessageMoveTask(taskHandle: handle) == 1)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.status == .cancelling)
        clock.advance(by: .zero)
        let task = try #require(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first)
        #expect(task.status == .cancelled)
        #expect(task.approximateNumberOfMessagesMoved == 1)

        clock.advance(by: .seconds(10))
        #expect(try depths(dlq) == (3, 0))
        #expect(try depths(source) == (1, 0))
        #expect(clock.pendingWakeUps == 0)
        // A finished task cannot be cancelled again.
        expectBrokerError(.unsupportedOperation) { try broker.cancelMessageMoveTask(taskHandle: handle) }
    }

    @Test func cancellingAnUnknownMoveTaskIsResourceNotFound() {
        let (broker, _) = makeBroker()
        expectBrokerError(.resourceNotFound) { try broker.cancelMessageMoveTask(taskHandle: "no-such-task") }
    }

    @Test func moveTaskMovesToAnExplicitDestination() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1)
        let replay = try broker.createQueue(named: "replay")
        try await deadLetter(["a", "b"], from: source, clock: clock)

        let fifo = try broker.createQueue(named: "replay.fifo", attributes: QueueAttributes(fifoQueue: true))
        expectBrokerError(.invalidParameterValue) {
            try broker.startMessageMoveTask(sourceArn: dlq.arn, destinationArn: fifo.arn)
        }
        expectBrokerError(.resourceNotFound) {
            try broker.startMessageMoveTask(sourceArn: dlq.arn, destinationArn: broker.queueArn("nowhere"))
        }

        try broker.startMessageMoveTask(sourceArn: dlq.arn, destinationArn: replay.arn)
        clock.advance(by: .zero)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.destinationArn == replay.arn)
        #expect(try depths(dlq) == (0, 0))
        #expect(try depths(source) == (0, 0))
        #expect(Set(try await receive(replay).map(\.body)) == ["a", "b"])
    }

    @Test func aMoveTaskStartedFromAnAccountViewRunsAfterTheViewIsDropped() async throws {
        let (broker, clock) = makeBroker()
        let (dlqArn, sourceArn): (String, String) = try {
            let view = try broker.scoped(accountId: "210987654321", region: "eu-west-1")
            let (source, dlq) = try makePair(view, maxReceiveCount: 1)
            try dlq.sendMessage("stranded")
            try view.startMessageMoveTask(sourceArn: dlq.arn, destinationArn: source.arn)
            return (dlq.arn, source.arn)
        }()
        clock.advance(by: .zero)
        let view = try broker.scoped(accountId: "210987654321", region: "eu-west-1")
        #expect(try view.listMessageMoveTasks(sourceArn: dlqArn).first?.status == .completed)
        #expect(try view.queue(arn: sourceArn).statistics().approximateNumberOfMessages == 1)
    }

    @Test func fifoMoveTaskReturnsMessagesToTheSourceInGroupOrder() async throws {
        let (broker, clock) = makeBroker()
        let (source, dlq) = try makePair(broker, maxReceiveCount: 1, fifo: true)
        let bodies = (1...6).map { "m\($0)" }
        try await deadLetter(bodies, from: source, clock: clock)
        #expect(try depths(dlq) == (6, 0))

        try broker.startMessageMoveTask(sourceArn: dlq.arn, maxNumberOfMessagesPerSecond: 4)
        clock.advance(by: .zero)
        clock.advance(by: .seconds(1))
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.status == .completed)

        let back = try await receive(source, attributes: [.messageGroupId, .approximateReceiveCount, .sequenceNumber])
        #expect(back.map(\.body) == bodies)
        #expect(back.allSatisfy { $0.attributes[.messageGroupId] == "g" && $0.receiveCount == 1 })
        let sequence = back.compactMap { $0.attributes[.sequenceNumber].flatMap(UInt64.init) }
        #expect(sequence == sequence.sorted() && Set(sequence).count == bodies.count)
    }
}

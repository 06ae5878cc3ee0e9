import Foundation
import Testing

@testable import Broker

@Suite struct TopicTests {
    /// The order pipeline's fan-out: each event type lands exactly where the subscriptions' policies say.
    @Test(arguments: [
        ("order.created", ["payment-queue", "inventory-queue", "notification-queue", "analytics-queue"]),
        ("order.refunded", ["payment-queue", "notification-queue", "analytics-queue"]),
        ("order.cancelled", ["inventory-queue", "notification-queue", "analytics-queue"]),
        ("order.shipped", ["notification-queue", "analytics-queue"]),
    ])
    func orderEventsFanOutByEventType(eventType: String, expected: [String]) async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "order-events")
        let policies: [String: String?] = [
            "payment-queue": #"{"event_type":["order.created","order.refunded"]}"#,
            "inventory-queue": #"{"event_type":["order.created","order.cancelled"]}"#,
            "notification-queue": nil,
            "analytics-queue": nil,
        ]
        var queues: [String: Queue] = [:]
        for (name, policy) in policies {
            let queue = try broker.createQueue(named: name)
            try topic.subscribe(queue, attributes: SubscriptionAttributes(filterPolicy: policy))
            queues[name] = queue
        }
        let event = #"{"orderId":"1001","total":25.5}"#
        let published = try topic.publish(event, messageAttributes: ["event_type": .string(eventType)])
        for (name, queue) in queues {
            let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
            if expected.contains(name) {
                let message = try #require(messages.first, "\(name) should get \(eventType)")
                #expect(messages.count == 1)
                let envelope = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any])
                #expect(envelope["Message"] as? String == event)
                #expect(envelope["MessageId"] as? String == published.messageId)
                #expect(envelope["Type"] as? String == "Notification")
                let attributes = try #require(envelope["MessageAttributes"] as? [String: [String: String]])
                #expect(attributes["event_type"] == ["Type": "String", "Value": eventType])
            } else {
                #expect(messages.isEmpty, "\(name) should not get \(eventType)")
            }
        }
    }

    @Test func envelopeHasAWSFieldsInAWSOrder() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription = try topic.subscribe(queue)
        let published = try topic.publish("hello \"world\"\n", subject: "Greeting")
        let body = try #require(try await queue.receiveMessages().first?.body)
        let keys = ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
                    "SigningCertURL", "UnsubscribeURL"]
        let positions = keys.map { body.range(of: "\"\($0)\" : ")?.lowerBound }
        #expect(positions.allSatisfy { $0 != nil })
        #expect(positions.compactMap { $0 } == positions.compactMap { $0 }.sorted())
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(envelope["Message"] == "hello \"world\"\n")
        #expect(envelope["MessageId"] == published.messageId)
        #expect(envelope["Timestamp"] == "2026-01-01T00:00:00.000Z")
        #expect(envelope["TopicArn"] == topic.arn)
        #expect(envelope["UnsubscribeURL"]?.hasSuffix("SubscriptionArn=\(subscription.arn)") == true)
        #expect(envelope["MessageAttributes"] == nil)
    }

    @Test func rawDeliveryWritesMessageAndMapsAttributes() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        try topic.publish("raw body", messageAttributes: ["n": .number(7), "s": .string("x")])
        let message = try #require(try await queue.receiveMessages(messageAttributeNames: ["All"]).first)
        #expect(message.body == "raw body")
        #expect(message.messageAttributes["n"] == .number(7))
        #expect(message.messageAttributes["s"] == .string("x"))
    }

    @Test func envelopeDeliveryKeepsAttributesInsideTheBodyOnly() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        try topic.publish("m", messageAttributes: ["s": .string("x")])
        let message = try #require(try await queue.receiveMessages(messageAttributeNames: ["All"]).first)
        #expect(message.messageAttributes.isEmpty)
        #expect(message.body.contains(#""s" : {"Type":"String","Value":"x"}"#))
    }

    @Test func publishToDeletedQueueSucceedsAndDeadLettersTheCopy() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let dlq = try broker.createQueue(named: "sub-dlq")
        let subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#))
        try broker.deleteQueue(queue)
        let published = try topic.publish("lost?")
        let dead = try #require(try await dlq.receiveMessages(messageAttributeNames: ["All"]).first)
        // As on AWS: the copy as the subscription would have had it, no ErrorCode/ErrorMessage/RequestID added.
        #expect(dead.messageAttributes.isEmpty)
        #expect(dead.body.contains("lost?"))
        #expect(dead.body.contains(published.messageId))
        let statistics = try subscription.statistics()
        #expect(statistics.deadLettered == 1)
        #expect(statistics.lastFailure?.code == .queueDoesNotExist)
    }

    @Test func publishToDeletedQueueWithoutDeadLetterQueueIsDroppedAndCounted() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription = try topic.subscribe(queue)
        try broker.deleteQueue(queue)
        try topic.publish("gone")
        #expect(try subscription.statistics().dropped == 1)
        #expect(try subscription.statistics().lastFailure?.code == .queueDoesNotExist)
    }

    @Test func copiesFollowTheSubscriptionsQueueThroughDeleteAndRecreate() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription = try topic.subscribe(queue)
        try topic.publish("first")                      // the subscription has looked its queue up
        #expect(try await queue.receiveMessages().map(\.body).first?.contains("first") == true)
        try broker.deleteQueue(queue)
        try topic.publish("while gone")
        #expect(try subscription.statistics().dropped == 1)
        clock.advance(by: .seconds(61))
        let recreated = try broker.createQueue(named: "q")
        try topic.publish("second")
        let bodies = try await recreated.receiveMessages(maxNumberOfMessages: 10).map(\.body)
        #expect(bodies.count == 1)
        #expect(bodies.first?.contains("second") == true)
        #expect(try subscription.statistics().delivered == 2)
    }

    @Test func standardTopicRejectsFifoQueue() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        expectBrokerError(.invalidParameter) { try topic.subscribe(queue) }
    }

    @Test func fifoTopicKeepsGroupOrderAndDeduplicatesEndToEnd() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true, contentBasedDeduplication: true))
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        let first = try topic.publish("1", messageGroupId: "g")
        try topic.publish("2", messageGroupId: "g")
        let duplicate = try topic.publish("1", messageGroupId: "g")
        #expect(duplicate.messageId == first.messageId)
        #expect(duplicate.sequenceNumber == first.sequenceNumber)
        let bodies = try await queue.receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.messageGroupId]).map(\.body)
        #expect(bodies == ["1", "2"])
    }

    @Test(arguments: [("Topic", false), ("MessageGroup", true)])
    func fifoTopicDeduplicatesForFiveMinutesWithinItsThroughputScope(scope: String, perGroup: Bool) throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true, fifoThroughputScope: scope))
        let first = try topic.publish("a", messageGroupId: "g1", messageDeduplicationId: "d")
        let otherGroup = try topic.publish("b", messageGroupId: "g2", messageDeduplicationId: "d")
        #expect((otherGroup.messageId != first.messageId) == perGroup)
        clock.advance(by: .seconds(299))
        #expect(try topic.publish("c", messageGroupId: "g1", messageDeduplicationId: "d").messageId == first.messageId)
        clock.advance(by: .seconds(1))
        let afterWindow = try topic.publish("d", messageGroupId: "g1", messageDeduplicationId: "d")
        #expect(afterWindow.messageId != first.messageId)
        #expect(afterWindow.sequenceNumber.flatMap { UInt64($0) } ?? 0 > first.sequenceNumber.flatMap { UInt64($0) } ?? .max)
    }

    @Test func fifoEnvelopeCarriesSequenceNumberAndNoSignature() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true))
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        try topic.subscribe(queue)
        let published = try topic.publish("m", messageGroupId: "g", messageDeduplicationId: "d")
        let body = try #require(try await queue.receiveMessages().first?.body)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(envelope["SequenceNumber"] == published.sequenceNumber)
        #expect(envelope["Signature"] == nil)
        #expect(envelope["SigningCertURL"] == nil)
    }

    @Test func fifoTopicRequiresGroupAndDeduplication() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true))
        expectBrokerError(.invalidParameter) { try topic.publish("m") }
        expectBrokerError(.invalidParameter) { try topic.publish("m", messageGroupId: "g") }
        let standard = try broker.createTopic(named: "s")
        expectBrokerError(.invalidParameter) { try standard.publish("m", messageDeduplicationId: "d") }
    }

    @Test func handlerReceivesNotificationOffThePublisherTask() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let received = LockedState<[SNSNotification]>([])
        let subscription = try topic.subscribe(functionName: "audit") { notification in
            received.withLock { $0.append(notification) }
        }
        let published = try topic.publish("hi", subject: "s", messageAttributes: ["k": .string("v")])
        await broker.waitForDeliveries()
        let notification = try #require(received.withLock { $0 }.first)
        #expect(notification.messageId == published.messageId)
        #expect(notification.message == "hi")
        #expect(notification.subject == "s")
        #expect(notification.subscriptionArn == subscription.arn)
        #expect(notification.messageAttributes["k"] == .string("v"))
        #expect(try subscription.statistics().delivered == 1)
    }

    @Test func failingHandlerIsRetriedUnderDeliveryPolicyThenDeadLettered() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let dlq = try broker.createQueue(named: "handler-dlq")
        struct Failure: Error {}
        let attempts = LockedState(0)
        let policy = #"{"healthyRetryPolicy":{"numRetries":3,"numNoDelayRetries":1,"minDelayTarget":5,"maxDelayTarget":5}}"#
        let subscription = try topic.subscribe(functionName: "flaky", attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#, deliveryPolicy: policy)) { _ in
            attempts.withLock { $0 += 1 }
            throw Failure()
        }
        try topic.publish("boom")
        // 1 attempt + 1 immediate retry, then it waits 5 s on the broker clock for each of the 2 remaining retries.
        for _ in 0..<2 {
            for _ in 0..<10_000 where clock.pendingWakeUps == 0 { await Task.yield() }
            #expect(clock.pendingWakeUps == 1)
            clock.advance(by: .seconds(5))
        }
        await broker.waitForDeliveries()
        #expect(attempts.withLock { $0 } == 4)
        let statistics = try subscription.statistics()
        #expect(statistics.retried == 3)
        #expect(statistics.deadLettered == 1)
        #expect(try dlq.statistics().approximateNumberOfMessages == 1)
    }

    @Test func messageStructureJsonPicksPerProtocolBody() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        try topic.publish(PublishRequest(message: #"{"default":"d","sqs":"for sqs"}"#, messageStructure: "json"))
        #expect(try await queue.receiveMessages().first?.body == "for sqs")
        expectBrokerError(.invalidParameter) {
            try topic.publish(PublishRequest(message: #"{"sqs":"x"}"#, messageStructure: "json"))
        }
        expectBrokerError(.invalidParameter) {
            try topic.publish(PublishRequest(message: "not json", messageStructure: "json"))
        }
    }

    @Test func publishValidatesMessageSubjectAndAttributes() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        expectBrokerError(.invalidParameter) { try topic.publish("") }
        expectBrokerError(.invalidParameter) { try topic.publish(String(repeating: "x", count: 262_145)) }
        try topic.publish(String(repeating: "x", count: 262_144))
        expectBrokerError(.invalidParameter) { try topic.publish("m", subject: String(repeating: "s", count: 101)) }
        expectBrokerError(.invalidParameter) { try topic.publish("m", subject: "line\nbreak") }
        expectBrokerError(.parameterValueInvalid) { try topic.publish("m", messageAttributes: ["a": .string("")]) }
        expectBrokerError(.parameterValueInvalid) {
            try topic.publish("m", messageAttributes: ["a": MessageAttributeValue(dataType: "Text", stringValue: "x")])
        }
        try topic.publish("m", messageAttributes: ["a": MessageAttributeValue(dataType: "String.Array", stringValue: #"["x",1,true,null]"#)])
    }

    @Test func topicLifecycleAndAttributes() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "orders", attributes: TopicAttributes(displayName: "Orders"))
        #expect(try broker.createTopic(named: "orders") == topic)
        expectBrokerError(.invalidParameter) {
            try broker.createTopic(named: "orders", attributes: TopicAttributes(displayName: "Other"))
        }
        let attributes = try topic.attributes()
        #expect(attributes["DisplayName"] == "Orders")
        #expect(attributes["TopicArn"] == "arn:aws:sns:us-east-1:000000000000:orders")
        #expect(attributes["SubscriptionsConfirmed"] == "0")
        #expect(attributes["FifoTopic"] == nil)
        try topic.setAttribute("DisplayName", "Renamed")
        #expect(try topic.attributes()["DisplayName"] == "Renamed")
        expectBrokerError(.invalidParameter) { try topic.setAttribute("Bogus", "x") }
        expectBrokerError(.invalidParameter) { try broker.createTopic(named: "bad name") }
        expectBrokerError(.invalidParameter) { try broker.createTopic(named: "plain", attributes: TopicAttributes(fifoTopic: true)) }
        broker.deleteTopic(topic)
        expectBrokerError(.notFound) { try topic.publish("m") }
        expectBrokerError(.notFound) { _ = try broker.topic(arn: topic.arn) }
    }

    @Test(arguments: ["not-an-arn", "", "arn:aws:sns:us-east-1:000000000000"])
    func textThatIsNotAnArnIsInvalidParameterNotNotFound(_ arn: String) throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameter) { _ = try broker.topic(arn: arn) }
        expectBrokerError(.invalidParameter) { try broker.deleteTopic(arn: arn) }
        expectBrokerError(.invalidParameter) { _ = try broker.subscription(arn: arn) }
        // Well-formed but unknown: NotFound, and deleting it succeeds as on AWS.
        expectBrokerError(.notFound) { _ = try broker.topic(arn: "arn:aws:sns:us-east-1:000000000000:missing") }
        try broker.deleteTopic(arn: "arn:aws:sns:us-east-1:000000000000:missing")
    }

    @Test func listTopicsPagesByHundred() throws {
        let (broker, _) = makeBroker()
        for index in 0..<150 { try broker.createTopic(named: "topic-\(index)") }
        let first = try broker.listTopics()
        #expect(first.topicArns.count == 100)
        let token: String = try #require(first.nextToken)
        let second = try broker.listTopics(nextToken: token)
        #expect(second.topicArns.count == 50)
        #expect(second.nextToken == nil)
        #expect(Set(first.topicArns + second.topicArns).count == 150)
    }

    @Test func subscribingTheSameQueueAgainReturnsTheSameSubscription() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let first = try topic.subscribe(queue)
        #expect(try topic.subscribe(queue) == first)
        expectBrokerError(.invalidParameter) {
            try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        }
        #expect(try topic.listSubscriptions().subscriptions.count == 1)
        let attributes = try first.attributes()
        #expect(attributes["Protocol"] == "sqs")
        #expect(attributes["Endpoint"] == queue.arn)
        #expect(attributes["RawMessageDelivery"] == "false")
        try first.setAttribute("RawMessageDelivery", "true")
        #expect(try first.attributes()["RawMessageDelivery"] == "true")
        broker.unsubscribe(first)
        #expect(try topic.listSubscriptions().subscriptions.isEmpty)
    }

    @Test func snsTimestampFormatsMillisecondsInUTC() {
        #expect(SNSTimestamp.format(Date(timeIntervalSince1970: 0)) == "1970-01-01T00:00:00.000Z")
        #expect(SNSTimestamp.format(Date(timeIntervalSince1970: 1_767_225_600.123)) == "2026-01-01T00:00:00.123Z")
        #expect(SNSTimestamp.format(Date(timeIntervalSince1970: 951_782_400)) == "2000-02-29T00:00:00.000Z")
    }
}

@Suite struct TopicLimitTests {
    @Test func twoHundredAndFirstFilterPolicyOnATopicIsRejected() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        for index in 0..<TopicCore.maximumFilterPolicies {
            try topic.subscribe(try broker.createQueue(named: "q\(index)"),
                                attributes: SubscriptionAttributes(filterPolicy: #"{"k":["v"]}"#))
        }
        let last = try broker.createQueue(named: "last")
        expectBrokerError(.filterPolicyLimitExceeded) {
            try topic.subscribe(last, attributes: SubscriptionAttributes(filterPolicy: #"{"k":["v"]}"#))
        }
        let unfiltered = try topic.subscribe(last)
        expectBrokerError(.filterPolicyLimitExceeded) { try unfiltered.setAttribute("FilterPolicy", #"{"k":["v"]}"#) }
    }

    @Test func publishBatchReportsEntryFailuresAndDeliversTheRest() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        let result = try topic.publishBatch([
            PublishBatchRequestEntry(id: "ok", request: PublishRequest(message: "fine")),
            PublishBatchRequestEntry(id: "empty", request: PublishRequest(message: "")),
        ])
        #expect(result.result(for: "ok") != nil)
        #expect(result.failure(for: "empty")?.code == "InvalidParameter")
        #expect(try await queue.receiveMessages(maxNumberOfMessages: 10).map(\.body) == ["fine"])
        expectBrokerError(.snsEmptyBatchRequest) { _ = try topic.publishBatch([]) }
        expectBrokerError(.snsBatchEntryIdsNotDistinct) {
            _ = try topic.publishBatch([PublishBatchRequestEntry(id: "a", request: PublishRequest(message: "1")),
                                        PublishBatchRequestEntry(id: "a", request: PublishRequest(message: "2"))])
        }
        let eleven = (0..<11).map { PublishBatchRequestEntry(id: "e\($0)", request: PublishRequest(message: "m")) }
        expectBrokerError(.snsTooManyEntriesInBatchRequest) { _ = try topic.publishBatch(eleven) }
    }

    @Test func rawDeliveryOfAttributesSQSCannotTakeFailsTheDelivery() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        let attributes = Dictionary(uniqueKeysWithValues: (0..<11).map { ("a\($0)", MessageAttributeValue.string("v")) })
        try topic.publish("m", messageAttributes: attributes)
        #expect(try subscription.statistics().dropped == 1)
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func slowHandlerDoesNotDelayQueueDelivery() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let gate = AsyncStream<Void>.makeStream()
        try topic.subscribe(functionName: "slow") { _ in
            for await _ in gate.stream { break }
        }
        try topic.subscribe(queue)
        try topic.publish("m")
        // The queue's copy is there while the handler is still blocked.
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        gate.continuation.yield()
        gate.continuation.finish()
        await broker.waitForDeliveries()
    }
}

@Suite struct HandleLifetimeTests {
    /// Code that keeps only handles (the broker itself goes out of scope) still gets its deliveries.
    @Test func topicAndQueueHandlesKeepTheirBrokerAlive() async throws {
        func makeHandles() throws -> (Topic, Queue) {
            let broker = Broker(clock: ManualClock())
            let queue = try broker.createQueue(named: "q")
            let topic = try broker.createTopic(named: "t")
            try topic.subscribe(queue)
            return (topic, queue)
        }
        let (topic, queue) = try makeHandles()
        try topic.publish("still delivered")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }
}

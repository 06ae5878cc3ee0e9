import Foundation
import Testing

@testable import Broker

/// Receives until the queue answers empty, so a test sees every copy a publish left there.
private func drain(_ queue: Queue) async throws -> [Message] {
    var received: [Message] = []
    while true {
        let batch = try await queue.receiveMessages(maxNumberOfMessages: 10, messageAttributeNames: ["All"])
        if batch.isEmpty { return received }
        received += batch
    }
}

private func color(_ value: String) -> [String: MessageAttributeValue] {
    ["color": MessageAttributeValue(dataType: "String", stringValue: value)]
}

/// The `Message` of an SNS envelope a non-raw subscription delivered.
private func envelopeMessage(_ body: String) -> String? {
    guard let object = try? JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else { return nil }
    return object["Message"] as? String
}

@Suite("Durable topics")
struct DurableTopicTests {
    @Test("A restart restores topics with their attributes, tags and policies, and deleted topics stay gone",
          arguments: durableLevels)
    func topicsSurvive(durability: Durability) throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let deliveryPolicy = #"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":2,"maxDelayTarget":9}}}"#
        let topic = try broker.createTopic(named: "orders", awsAttributes: ["DisplayName": "Orders"], tags: ["team": "a"])
        try topic.setAttribute("DeliveryPolicy", deliveryPolicy)
        try topic.tag(["env": "test", "drop": "me"])
        try topic.untag(["drop"])
        try topic.addPermission(label: "partner", accountIds: ["111111111111"], actionNames: ["Publish"])
        try topic.putDataProtectionPolicy(#"{"Name":"p","Version":"2021-06-01","Statement":[]}"#)
        let fifo = try broker.createTopic(named: "orders.fifo", awsAttributes: [
            "FifoTopic": "true", "ContentBasedDeduplication": "true", "FifoThroughputScope": "MessageGroup"])
        let gone = try broker.createTopic(named: "gone")
        try broker.deleteTopic(arn: gone.arn)
        let before = try topic.attributes()
        let fifoBefore = try fifo.attributes()
        broker = try restart(broker, directory, clock: clock, durability: durability)

        #expect(try broker.listTopics().topicArns == [topic.arn, fifo.arn])
        #expect(broker.recoveryReport?.topics == 2)
        let restored = try broker.topic(arn: topic.arn)
        let after = try restored.attributes()
        #expect(after == before)
        #expect(after["DisplayName"] == "Orders")
        #expect(after["DeliveryPolicy"]?.contains("\"numRetries\":5") == true)
        #expect(after["Policy"]?.contains("111111111111") == true)
        #expect(try restored.tags() == ["team": "a", "env": "test"])
        #expect(try restored.dataProtectionPolicy() == #"{"Name":"p","Version":"2021-06-01","Statement":[]}"#)
        let restoredFifo = try broker.topic(arn: fifo.arn)
        #expect(restoredFifo.isFifo)
        #expect(try restoredFifo.attributes() == fifoBefore)
        #expect(throws: BrokerError.self) { try broker.topic(arn: gone.arn) }
    }

    @Test("Subscriptions come back with the same ARNs, filter policies, raw delivery, and confirmed or pending",
          arguments: durableLevels)
    func subscriptionsSurvive(durability: Durability) throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let topic = try broker.createTopic(named: "events")
        let queue = try broker.createQueue(named: "red")
        let filtered = try topic.subscribe(queue, attributes: SubscriptionAttributes(
            filterPolicy: #"{"color":["red"]}"#, rawMessageDelivery: true))
        let pending = try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        let confirmed = try topic.subscribe(protocol: "email", endpoint: "ops@example.com")
        let token = try #require(try confirmed.confirmationToken())
        try topic.confirmSubscription(token: token, authenticateOnUnsubscribe: true)
        let changed = try topic.subscribe(protocol: "sqs", endpoint: "arn:aws:sqs:us-east-1:000000000000:later")
        try changed.setAttribute("FilterPolicy", #"{"size":[{"numeric":[">",10]}]}"#)
        try changed.setAttribute("FilterPolicyScope", "MessageBody")
        let dropped = try topic.subscribe(protocol: "sqs", endpoint: "arn:aws:sqs:us-east-1:000000000000:dropped")
        try broker.unsubscribe(subscriptionArn: dropped.arn)
        let attributes = try [filtered, pending, confirmed, changed].map { try $0.attributes() }
        let topicAttributes = try topic.attributes()
        broker = try restart(broker, directory, clock: clock, durability: durability)

        #expect(broker.recoveryReport?.subscriptions == 4)
        let restoredTopic = try broker.topic(arn: topic.arn)
        let listed = try restoredTopic.listSubscriptions().subscriptions
        #expect(listed.map(\.endpoint) == [queue.arn, "https://example.com/hook", "ops@example.com",
                                           "arn:aws:sqs:us-east-1:000000000000:later"])
        for (subscription, before) in zip([filtered, pending, confirmed, changed], attributes) {
            #expect(try broker.subscription(arn: subscription.arn).attributes() == before)
        }
        #expect(try restoredTopic.attributes()["SubscriptionsDeleted"] == topicAttributes["SubscriptionsDeleted"])
        #expect(try broker.subscription(arn: pending.arn).isPendingConfirmation())
        #expect(throws: BrokerError.self) { try broker.subscription(arn: dropped.arn) }
        // The pending subscription's token still confirms it after the restart, and that too is kept.
        let pendingToken = try #require(try broker.subscription(arn: pending.arn).confirmationToken())
        try restoredTopic.confirmSubscription(token: pendingToken)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        #expect(try !broker.subscription(arn: pending.arn).isPendingConfirmation())
    }

    @Test("A publish after a restart reaches the same queues through the same filters", arguments: durableLevels)
    func publishAfterRestartFansOut(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let topic = try broker.createTopic(named: "events")
        try topic.subscribe(try broker.createQueue(named: "red"),
                            attributes: SubscriptionAttributes(filterPolicy: #"{"color":["red"]}"#))
        try topic.subscribe(try broker.createQueue(named: "all"), attributes: SubscriptionAttributes(rawMessageDelivery: true))
        let handled = LockedState(0)
        try topic.subscribe(functionName: "handler") { _ in handled.withLock { $0 += 1 } }
        broker = try restart(broker, directory, clock: clock, durability: durability)

        let restored = try broker.topic(arn: topic.arn)
        try restored.publish("red one", messageAttributes: color("red"))
        try restored.publish("blue one", messageAttributes: color("blue"))
        let red = try await drain(try broker.queue(named: "red"))
        #expect(red.compactMap { envelopeMessage($0.body) } == ["red one"])
        let all = try await drain(try broker.queue(named: "all"))
        #expect(all.map(\.body).sorted() == ["blue one", "red one"])
        #expect(all.first { $0.body == "red one" }?.messageAttributes["color"]?.stringValue == "red")
        // A handler is code: it is not journaled, and the application subscribes it again after a restart.
        #expect(try restored.listSubscriptions().subscriptions.count == 2)
        await broker.waitForDeliveries()
        #expect(handled.withLock { $0 } == 0)
    }

    @Test("A FIFO topic's deduplication window and sequence numbers continue across a restart", arguments: durableLevels)
    func fifoTopicContinues(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let topic = try broker.createTopic(named: "t.fifo", awsAttributes: ["FifoTopic": "true"])
        try topic.subscribe(try broker.createQueue(named: "q.fifo", awsAttributes: ["FifoQueue": "true",
                                                                                    "ContentBasedDeduplication": "true"]),
                            attributes: SubscriptionAttributes(rawMessageDelivery: true))
        let first = try topic.publish("one", messageGroupId: "g", messageDeduplicationId: "d1")
        let second = try topic.publish("two", messageGroupId: "g", messageDeduplicationId: "d2")
        clock.advance(by: .seconds(200))
        broker = try restart(broker, directory, clock: clock, durability: durability)

        let restored = try broker.topic(arn: topic.arn)
        let repeated = try restored.publish("one again", messageGroupId: "g", messageDeduplicationId: "d1")
        #expect(repeated.messageId == first.messageId)
        #expect(repeated.sequenceNumber == first.sequenceNumber)
        let third = try restored.publish("three", messageGroupId: "g", messageDeduplicationId: "d3")
        let numbers = try [first, second, third].map { try #require($0.sequenceNumber.flatMap { UInt64($0) }) }
        #expect(numbers[2] > numbers[1] && numbers[1] > numbers[0])
        let queue = try broker.queue(named: "q.fifo")
        #expect(try await drain(queue).map(\.body) == ["one", "two", "three"])
        // Past the five minutes of the first publish, its id is free again.
        clock.advance(by: .seconds(101))
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let late = try broker.topic(arn: topic.arn).publish("one late", messageGroupId: "g", messageDeduplicationId: "d1")
        #expect(late.messageId != first.messageId)
        #expect(try #require(late.sequenceNumber.flatMap { UInt64($0) }) > numbers[2])
    }

    @Test("A snapshot plus the records after it restore topics and subscriptions")
    func snapshotAndTail() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let topic = try broker.createTopic(named: "events", tags: ["stage": "one"])
        let kept = try topic.subscribe(try broker.createQueue(named: "kept"),
                                       attributes: SubscriptionAttributes(filterPolicy: #"{"color":["red"]}"#))
        let removed = try topic.subscribe(try broker.createQueue(named: "removed"))
        let fifo = try broker.createTopic(named: "t.fifo", awsAttributes: ["FifoTopic": "true"])
        let original = try fifo.publish("x", messageGroupId: "g", messageDeduplicationId: "x")
        let doomed = try broker.createTopic(named: "doomed")
        try broker.snapshot()
        #expect(directory.snapshotNames.count == 1)
        try broker.unsubscribe(subscriptionArn: removed.arn)
        try kept.setAttribute("RawMessageDelivery", "true")
        let added = try topic.subscribe(try broker.createQueue(named: "added"))
        try topic.tag(["stage": "two"])
        try broker.deleteTopic(arn: doomed.arn)
        broker = try restart(broker, directory, clock: clock)

        #expect(broker.recoveryReport?.loadedSnapshot == true)
        #expect(try broker.listTopics().topicArns == [topic.arn, fifo.arn])
        let restored = try broker.topic(arn: topic.arn)
        #expect(try restored.tags() == ["stage": "two"])
        #expect(Set(try restored.listSubscriptions().subscriptions.map(\.subscriptionArn)) == [kept.arn, added.arn])
        #expect(try broker.subscription(arn: kept.arn).attributes()["RawMessageDelivery"] == "true")
        try restored.publish("red", messageAttributes: color("red"))
        #expect(try await drain(try broker.queue(named: "kept")).map(\.body) == ["red"])
        #expect(try await drain(try broker.queue(named: "removed")).isEmpty)
        #expect(try await drain(try broker.queue(named: "added")).count == 1)
        let repeated = try broker.topic(arn: fifo.arn).publish("x", messageGroupId: "g", messageDeduplicationId: "x")
        #expect(repeated.messageId == original.messageId)

        // A second snapshot, taken from the restored state, restores it too.
        try broker.snapshot()
        broker = try restart(broker, directory, clock: clock)
        #expect(Set(try broker.topic(arn: topic.arn).listSubscriptions().subscriptions.map(\.subscriptionArn))
                == [kept.arn, added.arn])
        #expect(try broker.topic(arn: fifo.arn).publish("x", messageGroupId: "g", messageDeduplicationId: "x").messageId
                == original.messageId)
    }

    @Test("A reset's deletions of topics are journaled")
    func resetStaysReset() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        try broker.createTopic(named: "events").subscribe(try broker.createQueue(named: "q"))
        broker.reset()
        broker = try restart(broker, directory, clock: clock)
        #expect(try broker.listTopics().topicArns.isEmpty)
        #expect(try broker.listSubscriptions().subscriptions.isEmpty)
    }

    /// A publish's copies are journaled as the queues take them and waited for together, so a synchronous publish
    /// at `acknowledged` costs one sync, not one per subscribed queue.
    @Test("A publish to four subscribed queues waits for one sync at acknowledged, and each queue has its copy")
    func publishCopiesShareOneSync() async throws {
        let directory = TemporaryDirectory()
        let broker = try durableBroker(directory, clock: ManualClock())
        let topic = try broker.createTopic(named: "orders")
        var queues: [Queue] = []
        for index in 0..<4 {
            let queue = try broker.createQueue(named: "q\(index)")
            try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: index % 2 == 0))
            queues.append(queue)
        }
        for round in 0..<3 {
            let before = try #require(broker.journalStatistics)
            try topic.publish("order \(round)")
            let after = try #require(broker.journalStatistics)
            #expect(after.records == before.records + 4, "round \(round)")
            #expect(after.syncs == before.syncs + 1, "round \(round): \(after.syncs - before.syncs) syncs")
        }
        for (index, queue) in queues.enumerated() {
            let bodies = try await drain(queue).map { index % 2 == 0 ? $0.body : envelopeMessage($0.body) ?? "" }
            #expect(bodies.sorted() == ["order 0", "order 1", "order 2"], "q\(index)")
        }
        let statistics = try topic.statistics()
        #expect(statistics.numberOfNotificationsDelivered == 12 && statistics.numberOfNotificationsFailed == 0)
    }

    @Test("A PublishBatch of ten entries to two subscribed queues waits for one sync at acknowledged")
    func publishBatchCopiesShareOneSync() async throws {
        let directory = TemporaryDirectory()
        let broker = try durableBroker(directory, clock: ManualClock())
        let topic = try broker.createTopic(named: "orders")
        let queues = try (0..<2).map { try broker.createQueue(named: "q\($0)") }
        for queue in queues { try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true)) }
        let before = try #require(broker.journalStatistics)
        let result = try topic.publishBatch((0..<10).map { PublishBatchRequestEntry(id: "e\($0)", request: PublishRequest(message: "order \($0)")) })
        let after = try #require(broker.journalStatistics)
        #expect(result.successful.count == 10 && result.failed.isEmpty)
        #expect(after.records == before.records + 20)
        #expect(after.syncs == before.syncs + 1, "\(after.syncs - before.syncs) syncs")
        for queue in queues {
            #expect(try await drain(queue).map(\.body).sorted() == (0..<10).map { "order \($0)" }.sorted())
        }
    }
}

@Suite("Durable topics behind a server")
struct DurableTopicEndpointTests {
    @Test("A restored topic's links name the SNS endpoint set after the restart")
    func restoredTopicsFollowTheEndpoint() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        broker.snsEndpoint = "http://127.0.0.1:4566"
        let topic = try broker.createTopic(named: "t")
        try topic.subscribe(try broker.createQueue(named: "q"))
        broker = try restart(broker, directory, clock: clock)
        broker.snsEndpoint = "http://127.0.0.1:4566"
        let restored = try broker.topic(arn: topic.arn)
        try restored.publish("hello")
        let body = try #require(try await broker.queue(named: "q").receiveMessages().first?.body)
        #expect(body.contains("http://127.0.0.1:4566/?Action=Unsubscribe"))
        #expect(try restored.listSubscriptions().subscriptions.count == 1)
    }
}

@Suite("Durable topics and older snapshots")
struct DurableTopicSnapshotVersionTests {
    @Test("A version 1 snapshot, written before topics were durable, still restores its queues")
    func versionOneSnapshotIsRead() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let (journal, _) = try openJournal(directory)
        var encoder = JournalEncoder(capacity: 256)
        encoder.write(byte: 1)
        encoder.write(fixed: 2)
        encoder.write(byte: 1)
        try BrokerStore.encodeImage(RestoredQueue(id: 1, accountId: "000000000000", region: "us-east-1", name: "old",
                                              incarnation: 9, createdAt: Date(timeIntervalSinceReferenceDate: 0)),
                                snapshotVersion: 1, into: &encoder)
        encoder.write(byte: 0)
        // The queue's creation record, which the snapshot then covers.
        let created = try journal.append([2])
        try journal.writeSnapshot(upTo: created, bytes: encoder.bytes)
        journal.close()
        var broker = try durableBroker(directory, clock: clock)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        #expect(broker.queues.map(\.name) == ["old"])
        #expect(try broker.listTopics().topicArns.isEmpty)
        let topic = try broker.createTopic(named: "new")
        try broker.snapshot()
        broker = try restart(broker, directory, clock: clock)
        #expect(broker.queues.map(\.name) == ["old"])
        #expect(try broker.listTopics().topicArns == [topic.arn])
    }
}

@Suite("Durable topics when the journal fails")
struct DurableTopicFailureTests {
    @Test("Topic changes fail with the storage error once the journal is closed, while reads keep working")
    func closedJournalFailsChanges() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let topic = try broker.createTopic(named: "t")
        let fifo = try broker.createTopic(named: "t.fifo", awsAttributes: ["FifoTopic": "true"])
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"))
        broker.closeStorage()
        #expect(throws: BrokerError.self) { try topic.setAttribute("DisplayName", "x") }
        #expect(throws: BrokerError.self) { try topic.subscribe(protocol: "sqs", endpoint: "arn:aws:sqs:us-east-1:000000000000:other") }
        #expect(throws: BrokerError.self) { try subscription.setAttribute("RawMessageDelivery", "true") }
        #expect(throws: BrokerError.self) { try broker.unsubscribe(subscriptionArn: subscription.arn) }
        #expect(throws: BrokerError.self) { try broker.createTopic(named: "later") }
        #expect(throws: BrokerError.self) { try fifo.publish("m", messageGroupId: "g", messageDeduplicationId: "d") }
        #expect(try topic.attributes()["TopicArn"] == topic.arn)
        #expect(try topic.listSubscriptions().subscriptions.count >= 1)
    }

    /// A broker at `acknowledged` whose journal's file operations fail when the test plans it.
    private static func brokerWithPlannedFaults(_ directory: TemporaryDirectory) throws -> (Broker, JournalFaults) {
        let faults = JournalFaults()
        let broker = try Broker(configuration: BrokerConfiguration(seed: 7), clock: ManualClock(),
                                storage: .directory(directory.path, durability: .acknowledged),
                                snapshotThreshold: 1 << 40, journalFaults: faults)
        return (broker, faults)
    }

    /// A copy the queue took but whose record the disk refused is a failed delivery, not a delivered one, and the
    /// publish still succeeds (SNS's rule: a failed delivery never fails the publish).
    @Test("A copy whose record cannot be synced counts as failed, with the storage error as the reason")
    func copyThatCannotBeStoredCountsAsFailed() throws {
        let directory = TemporaryDirectory()
        let (broker, faults) = try Self.brokerWithPlannedFaults(directory)
        let topic = try broker.createTopic(named: "orders")
        let subscriptions = try (0..<2).map { index in
            try topic.subscribe(try broker.createQueue(named: "q\(index)"))
        }
        faults.fail(.sync, with: EIO, times: 2)
        try topic.publish("lost to the disk")
        for subscription in subscriptions {
            let statistics = try subscription.statistics()
            #expect(statistics.delivered == 0 && statistics.dropped == 1, "\(subscription.arn)")
            #expect(statistics.lastFailure?.code == .storageFailure && statistics.lastFailure?.message.contains("sync") == true,
                    "\(String(describing: statistics.lastFailure))")
        }
        let totals = try topic.statistics()
        #expect(totals.numberOfNotificationsDelivered == 0 && totals.numberOfNotificationsFailed == 2)
        faults.clear()
        try topic.publish("stored")
        #expect(try subscriptions.map { try $0.statistics().delivered } == [1, 1])
    }

    /// The subscribed queue is gone, so the copy goes to the subscription's dead-letter queue; when that record
    /// cannot be synced, the copy is dropped, not counted as dead-lettered, and nothing counts it as delivered.
    @Test("A copy whose dead-letter record cannot be synced counts as dropped once")
    func deadLetterRecordThatCannotBeSyncedIsDropped() throws {
        let directory = TemporaryDirectory()
        let (broker, faults) = try Self.brokerWithPlannedFaults(directory)
        let topic = try broker.createTopic(named: "orders")
        let dlq = try broker.createQueue(named: "copies-dlq")
        let queue = try broker.createQueue(named: "gone")
        let subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#))
        try broker.deleteQueue(queue)
        faults.fail(.sync, with: EIO, times: 2)
        try topic.publish("m")
        let statistics = try subscription.statistics()
        #expect(statistics.delivered == 0 && statistics.deadLettered == 0 && statistics.dropped == 1, "\(statistics)")
        #expect(statistics.lastFailure?.code == .storageFailure, "\(String(describing: statistics.lastFailure))")
        faults.clear()
        try topic.publish("m")
        let after = try subscription.statistics()
        #expect(after.delivered == 0 && after.deadLettered == 1 && after.dropped == 1, "\(after)")
        #expect(try dlq.statistics().approximateNumberOfMessages >= 1)
    }
}

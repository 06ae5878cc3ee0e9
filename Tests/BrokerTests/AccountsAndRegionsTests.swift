import Foundation
import Testing

@testable import Broker

/// A broker is one account in one region; its scoped views are the others, sharing one clock, reaching each
/// other's queues by ARN and URL, and emptied together by `reset()`.
struct AccountsAndRegionsTests {
    @Test func scopedViewHasItsOwnQueuesURLsAndARNs() throws {
        let (broker, _) = makeBroker()
        let west = try broker.scoped(accountId: "111122223333", region: "us-west-2")
        let queue = try west.createQueue(named: "orders")
        #expect(queue.url == "https://sqs.us-west-2.amazonaws.com/111122223333/orders")
        #expect(queue.arn == "arn:aws:sqs:us-west-2:111122223333:orders")
        #expect(try broker.listQueues().queueUrls.isEmpty)
        #expect(throws: BrokerError.self) { try broker.queue(named: "orders") }
    }

    @Test func viewsOfOneAccountAndRegionShareTheirQueues() throws {
        let (broker, _) = makeBroker()
        let first = try broker.scoped(accountId: "111122223333")
        _ = try first.createQueue(named: "shared")
        let second = try broker.scoped(accountId: "111122223333")
        #expect(try second.queue(named: "shared").arn == "arn:aws:sqs:us-east-1:111122223333:shared")
        // Scoping to the broker's own account and region is the broker itself.
        #expect(try broker.scoped() === broker)
        #expect(broker.scopes.map(\.accountId) == ["000000000000", "111122223333"])
    }

    @Test(arguments: [("12345", "us-east-1"), ("1234567890123", "us-east-1"), ("12345678901a", "us-east-1"),
                      ("123456789012", ""), ("123456789012", "US-EAST-1"), ("123456789012", "1-east")])
    func scopingRefusesMalformedAccountsAndRegions(accountId: String, region: String) {
        let (broker, _) = makeBroker()
        #expect(throws: BrokerError.self) { try broker.scoped(accountId: accountId, region: region) }
    }

    @Test func queueOfAnotherAccountIsFoundByARNAndOwnedByItsAccount() throws {
        let (broker, _) = makeBroker()
        let other = try broker.scoped(accountId: "111122223333", region: "eu-west-1")
        let remote = try other.createQueue(named: "remote")
        let found = try broker.queue(arn: remote.arn)
        try found.sendMessage("across accounts")
        #expect(try remote.attributes(["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"] == "1")
        // Deleting through the handle found by ARN deletes it in its own account.
        try #require(found.broker).deleteQueue(found)
        #expect(throws: BrokerError.self) { try other.queue(named: "remote") }
    }

    @Test(arguments: [(nil, "eu-central-1"), ("111122223333", nil)] as [(String?, String?)])
    func deadLetterQueueMustShareItsSourcesAccountAndRegion(accountId: String?, region: String?) throws {
        let (broker, _) = makeBroker()
        let dlq = try broker.scoped(accountId: accountId, region: region).createQueue(named: "dlq")
        let policy = RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 1)
        #expect(throws: BrokerError.self) {
            try broker.createQueue(named: "work", attributes: QueueAttributes(redrivePolicy: policy))
        }
        let local = try broker.createQueue(named: "local-dlq")
        let source = try broker.createQueue(named: "work",
            attributes: QueueAttributes(redrivePolicy: RedrivePolicy(deadLetterTargetArn: local.arn, maxReceiveCount: 1)))
        #expect(throws: BrokerError.self) { try source.setAttributes(QueueAttributes(redrivePolicy: policy)) }
    }

    @Test func topicDeliversToAQueueInAnotherAccount() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.scoped(accountId: "111122223333", region: "ap-south-1").createQueue(named: "inbox")
        let topic = try broker.createTopic(named: "events")
        _ = try topic.subscribe(protocol: "sqs", endpoint: queue.arn)
        _ = try topic.publish("hello")
        #expect(try queue.attributes(["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"] == "1")
    }

    @Test func topicOfAnotherRegionIsNotFoundThroughThisRegion() throws {
        let (broker, _) = makeBroker()
        let west = try broker.scoped(region: "us-west-1").createTopic(named: "regional")
        #expect(throws: BrokerError.self) { try broker.topic(arn: west.arn) }
        #expect(try broker.scoped(region: "us-west-1").topic(arn: west.arn).arn == west.arn)
    }

    @Test func topicOfAnotherAccountIsFoundByARNAndPublishesToItsSubscribers() throws {
        let (broker, _) = makeBroker()
        let other = try broker.scoped(accountId: "111122223333")
        let topic = try other.createTopic(named: "shared-events")
        let inbox = try broker.createQueue(named: "inbox")
        let found = try broker.topic(arn: topic.arn)
        _ = try found.subscribe(protocol: "sqs", endpoint: inbox.arn)
        _ = try topic.publish("across accounts")
        #expect(try inbox.attributes(["ApproximateNumberOfMessages"])["ApproximateNumberOfMessages"] == "1")
        #expect(try broker.listTopics().topicArns.isEmpty)
        #expect(throws: BrokerError.self) { try broker.topic(arn: "arn:aws:sns:us-east-1:111122223333:missing") }
        #expect(throws: BrokerError.self) { try broker.topic(arn: "arn:aws:sns:ap-east-1:999999999999:never-used") }
        #expect(broker.scopes.count == 2)
    }

    @Test func resetEmptiesEveryAccountAndRegionAndLetsNamesBeReusedAtOnce() async throws {
        let (broker, _) = makeBroker()
        let other = try broker.scoped(accountId: "111122223333", region: "us-west-1")
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("before")
        _ = try other.createQueue(named: "theirs")
        _ = try broker.createTopic(named: "events")
        let theirs = try other.createTopic(named: "their-events")
        _ = try theirs.subscribe(protocol: "email", endpoint: "ops@example.com")
        _ = try broker.createTopic(named: "texts").subscribe(protocol: "sms", endpoint: "+15555550100")
        #expect(!other.outbox().isEmpty)
        broker.reset()
        #expect(try broker.listQueues().queueUrls.isEmpty)
        #expect(try other.listQueues().queueUrls.isEmpty)
        #expect(try broker.listTopics().topicArns.isEmpty)
        #expect(try other.listTopics().topicArns.isEmpty)
        #expect(throws: BrokerError.self) { try queue.sendMessage("after") }
        #expect(broker.outbox().isEmpty && other.outbox().isEmpty)
        let again = try broker.createQueue(named: "orders")
        #expect(try await again.receiveMessages().isEmpty)
    }

    @Test func resetEndsAWaitingLongPollWithNoMessages() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "waiting")
        async let received = queue.receiveMessages(waitTimeSeconds: .seconds(20))
        while try queue.core.read({ state, _ in state.waiters.count }) == 0 { await Task.yield() }
        broker.reset()
        #expect(try await received.isEmpty)
    }
}

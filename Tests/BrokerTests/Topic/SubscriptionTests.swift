import Foundation
import Testing

@testable import Broker

/// Subscribe, SetSubscriptionAttributes and Unsubscribe as AWS answers them.
@Suite struct SubscriptionTests {
    @Test("FilterPolicyScope set before any FilterPolicy is accepted, hidden, and applied to the next policy",
          arguments: [false, true])
    func filterPolicyScopeBeforePolicyAppliesToTheNextPolicy(onSubscribe: Bool) async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription: Subscription
        if onSubscribe {
            subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(filterPolicyScope: "MessageBody"))
        } else {
            subscription = try topic.subscribe(queue)
            try subscription.setAttribute("FilterPolicyScope", "MessageBody")
        }
        #expect(try subscription.attributes()["FilterPolicyScope"] == nil)
        #expect(try subscription.attributes()["FilterPolicy"] == nil)

        try subscription.setAttribute("FilterPolicy", #"{"store": ["example_corp"]}"#)
        #expect(try subscription.attributes()["FilterPolicyScope"] == "MessageBody")
        try topic.publish(#"{"store": "other"}"#, messageAttributes: ["store": .string("example_corp")])
        try topic.publish(#"{"store": "example_corp"}"#)
        let bodies = try await queue.receiveMessages(maxNumberOfMessages: 10).map(\.body)
        #expect(bodies.count == 1)
        #expect(bodies.first?.contains(#"{\"store\": \"example_corp\"}"#) == true)
    }

    @Test("Removing the filter policy hides its scope; a later policy keeps it")
    func removedPolicyKeepsItsScopeForTheNext() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"), attributes: SubscriptionAttributes(
            filterPolicy: #"{"a": ["b"]}"#, filterPolicyScope: "MessageBody"))
        try subscription.setAttribute("FilterPolicy", "")
        #expect(try subscription.attributes()["FilterPolicyScope"] == nil)
        try subscription.setAttribute("FilterPolicy", #"{"a": {"b": ["c"]}}"#)
        #expect(try subscription.attributes()["FilterPolicyScope"] == "MessageBody")
    }

    @Test("An invalid FilterPolicyScope is refused with or without a policy")
    func invalidFilterPolicyScopeIsRefused() throws {
        let (broker, _) = makeBroker()
        let subscription = try broker.createTopic(named: "t").subscribe(try broker.createQueue(named: "q"))
        let error = expectBrokerError(.invalidParameter) { try subscription.setAttribute("FilterPolicyScope", "Body") }
        #expect(error?.message == "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either MessageBody or MessageAttributes")
    }
}

@Suite struct SubscriptionEndpointTests {
    @Test("An SQS ARN with no queue behind it is subscribed, the same subscription again, and its copies dead-letter")
    func subscribingAMissingQueueIsAcceptedAndDeliveryFails() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let dlq = try broker.createQueue(named: "dlq")
        let missing = "arn:aws:sqs:us-east-1:000000000000:not-yet"
        let first = try topic.subscribe(protocol: "sqs", endpoint: missing,
                                        attributes: ["RedrivePolicy": #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#])
        let second = try topic.subscribe(protocol: "sqs", endpoint: missing,
                                         attributes: ["RedrivePolicy": #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#])
        #expect(first.arn == second.arn)
        #expect(try first.attributes()["Endpoint"] == missing)
        try topic.publish("m")
        #expect(try first.statistics().deadLettered == 1)
        #expect(try await dlq.receiveMessages().count == 1)

        // Once the queue exists, copies reach it.
        let queue = try broker.createQueue(named: "not-yet")
        try topic.publish("n")
        #expect(try await queue.receiveMessages().count == 1)
    }

    @Test("An endpoint that is not an SQS ARN is refused", arguments: [
        "unknown", "https://sqs.us-east-1.amazonaws.com/000000000000/q", "arn:aws:sns:us-east-1:000000000000:q",
        "arn:aws:sqs:us-east-1:000000000000",
    ])
    func endpointThatIsNotAQueueArnIsRefused(endpoint: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let error = expectBrokerError(.invalidParameter) { try topic.subscribe(protocol: "sqs", endpoint: endpoint) }
        #expect(error?.message == "Invalid parameter: SQS endpoint ARN")
    }

    @Test("A missing FIFO queue cannot be subscribed to a standard topic")
    func missingFifoQueueOnStandardTopicIsRefused() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        expectBrokerError(.invalidParameter) {
            try topic.subscribe(protocol: "sqs", endpoint: "arn:aws:sqs:us-east-1:000000000000:q.fifo")
        }
    }

    @Test("An http subscription has its filter policy checked as a queue's is")
    func httpSubscriptionChecksItsFilterPolicy() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let tooMany = "{\"store\": [" + (0...150).map { "\"\($0)\"" }.joined(separator: ",") + "]}"
        let error = expectBrokerError(.invalidParameter) {
            try topic.subscribe(protocol: "http", endpoint: "http://example.com/", attributes: ["FilterPolicy": tooMany])
        }
        #expect(error?.message == "Invalid parameter: FilterPolicy: Filter policy is too complex")
    }

    @Test("Unsubscribe of a removed or unknown subscription succeeds; text that is not an ARN is refused")
    func unsubscribeIsIdempotent() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"))
        try broker.unsubscribe(subscriptionArn: subscription.arn)
        try broker.unsubscribe(subscriptionArn: subscription.arn)
        broker.unsubscribe(subscription)
        try broker.unsubscribe(subscriptionArn: "arn:aws:sns:us-east-1:000000000000:gone:0f4f0a1e-0000-0000-0000-000000000000")
        let error = expectBrokerError(.invalidParameter) { try broker.unsubscribe(subscriptionArn: "invalid") }
        #expect(error?.message == "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1")
    }
}

@Suite struct SubscriptionRedrivePolicyTests {
    @Test("A RedrivePolicy that is not JSON, or names no SQS queue, is refused with AWS's text", arguments: [
        ("not json", "Invalid parameter: RedrivePolicy: failed to parse JSON."),
        (#"{"deadLetterTargetArn": "nope"}"#, "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
        (#"{"other": 1}"#, "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn"),
    ])
    func malformedRedrivePolicyIsRefused(policy: String, message: String) throws {
        let (broker, _) = makeBroker()
        let subscription = try broker.createTopic(named: "t").subscribe(try broker.createQueue(named: "q"))
        let error = expectBrokerError(.invalidParameter) { try subscription.setAttribute("RedrivePolicy", policy) }
        #expect(error?.message == message)
    }

    @Test("A FIFO queue's subscription to a FIFO topic needs a FIFO dead-letter queue")
    func fifoSubscriptionNeedsAFifoDeadLetterQueue() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true))
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        let standardDLQ = #"{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq"}"#
        let fifoDLQ = #"{"deadLetterTargetArn": "arn:aws:sqs:us-east-1:000000000000:dlq.fifo"}"#
        let error = expectBrokerError(.invalidParameter) {
            try topic.subscribe(queue, attributes: SubscriptionAttributes(redrivePolicy: standardDLQ))
        }
        #expect(error?.message == "Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.")
        let subscription = try topic.subscribe(queue)
        expectBrokerError(.invalidParameter) { try subscription.setAttribute("RedrivePolicy", standardDLQ) }
        try subscription.setAttribute("RedrivePolicy", fifoDLQ)
        // A standard queue subscribed to the FIFO topic may keep a standard dead-letter queue.
        try topic.subscribe(try broker.createQueue(named: "standard"), attributes: SubscriptionAttributes(redrivePolicy: standardDLQ))
    }
}

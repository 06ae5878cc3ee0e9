import Foundation
import Testing

@testable import Broker

/// Protocols whose deliveries leave the machine: endpoint rules, confirmation, and the outbox that captures them.
@Suite struct OutboxTests {
    @Test("An email subscription waits for confirmation; its token confirms it and it then receives")
    func emailSubscriptionConfirmsByToken() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "alerts")
        let subscription = try topic.subscribe(protocol: "email", endpoint: "ops@example.com")
        #expect(try subscription.isPendingConfirmation())
        let attributes = try subscription.attributes()
        #expect(attributes["PendingConfirmation"] == "true")
        #expect(attributes["ConfirmationWasAuthenticated"] == "false")
        #expect(try broker.listSubscriptions().subscriptions.first?.subscriptionArn == "PendingConfirmation")
        #expect(try topic.attributes()["SubscriptionsPending"] == "1")
        #expect(try topic.attributes()["SubscriptionsConfirmed"] == "0")

        try topic.publish("before confirmation")
        let confirmation = try #require(broker.outbox().first)
        #expect(confirmation.kind == .subscriptionConfirmation)
        #expect(confirmation.subject == "AWS Notification - Subscription Confirmation")
        let token = try #require(try subscription.confirmationToken())
        #expect(token.count == 256 && token.allSatisfy(\.isHexDigit))
        #expect(confirmation.body.contains(try #require(try subscription.subscribeURL())))
        #expect(broker.outbox().count == 1, "a pending subscription receives nothing")

        let confirmed = try topic.confirmSubscription(token: token, authenticateOnUnsubscribe: true)
        #expect(confirmed.arn == subscription.arn)
        #expect(try subscription.attributes()["PendingConfirmation"] == "false")
        #expect(try subscription.attributes()["ConfirmationWasAuthenticated"] == "true")
        #expect(try topic.confirmSubscription(token: token).arn == subscription.arn, "the same token answers again")

        try topic.publish("disk almost full", subject: "Alarm")
        let email = try #require(broker.outbox(matching: SNSOutboxFilter(endpoint: "ops@example.com")).last)
        #expect(email.kind == .notification)
        #expect(email.subject == "Alarm")
        #expect(email.body.hasPrefix("disk almost full"))
        #expect(email.body.contains("SubscriptionArn=\(subscription.arn)&Endpoint=ops@example.com"))
        #expect(email.subscriptionArn == subscription.arn)
        #expect(email.topicArn == topic.arn)
    }

    @Test("An http subscription's SubscriptionConfirmation has AWS's fields, and confirmed copies are envelopes")
    func httpConfirmationMessageHasAWSFields() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "hooks")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        let message = try #require(broker.outbox().first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: String])
        #expect(json["Type"] == "SubscriptionConfirmation")
        #expect(json["Token"] == (try subscription.confirmationToken()))
        #expect(json["TopicArn"] == topic.arn)
        #expect(json["Message"]?.hasPrefix("You have chosen to subscribe to the topic \(topic.arn).") == true)
        #expect(json["SubscribeURL"] == (try subscription.subscribeURL()))
        for field in ["MessageId", "Timestamp", "SignatureVersion", "Signature", "SigningCertURL"] {
            #expect(json[field] != nil, "\(field)")
        }
        try broker.confirmSubscription(topicArn: topic.arn, token: try #require(try subscription.confirmationToken()))
        try topic.publish("hello")
        let copy = try #require(broker.outbox(matching: SNSOutboxFilter(protocol: "https")).last)
        let envelope = try #require(try JSONSerialization.jsonObject(with: Data(copy.body.utf8)) as? [String: String])
        #expect(envelope["Type"] == "Notification")
        #expect(envelope["Message"] == "hello")
    }

    @Test("A pending subscription lapses after three days on the broker's clock")
    func pendingSubscriptionExpiresAfterThreeDays() throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(protocol: "email-json", endpoint: "a@example.com")
        let token = try #require(try subscription.confirmationToken())
        clock.advance(by: .seconds(3 * 24 * 3600 - 1))
        #expect(try topic.listSubscriptions().subscriptions.count == 1)
        clock.advance(by: .seconds(1))
        #expect(try topic.listSubscriptions().subscriptions.isEmpty)
        expectBrokerError(.invalidParameter) { try topic.confirmSubscription(token: token) }
    }

    @Test("Each protocol refuses an endpoint AWS would refuse", arguments: [
        ("http", "https://example.com"), ("https", "ftp://example.com"), ("email", "not-an-address"),
        ("email-json", "a@b"), ("sms", "NAA+15551234567"), ("sms", "+15--551234567"), ("sms", "+15551234567."),
        ("application", "arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/none"),
        ("firehose", "arn:aws:s3:::bucket"), ("lambda", "arn:aws:sqs:us-east-1:000000000000:q"), ("smtp", "a@example.com"),
    ])
    func invalidEndpointsAreRefused(protocol name: String, endpoint: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        expectBrokerError(.invalidParameter) { _ = try topic.subscribe(protocol: name, endpoint: endpoint) }
    }

    @Test("SMS numbers may group digits with single separators")
    func smsEndpointsWithSeparatorsAreAccepted() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        #expect(try topic.subscribe(protocol: "sms", endpoint: "+15/55-123.4567").protocol == .sms)
        #expect(try !topic.subscribe(protocol: "sms", endpoint: "+15551234567").isPendingConfirmation())
    }

    @Test("Firehose needs SubscriptionRoleArn; its copies and a handler-less Lambda's are captured")
    func firehoseAndLambdaAreCaptured() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let stream = "arn:aws:firehose:us-east-1:000000000000:deliverystream/s"
        expectBrokerError(.invalidParameter) { _ = try topic.subscribe(protocol: "firehose", endpoint: stream) }
        try topic.subscribe(protocol: "firehose", endpoint: stream,
                            attributes: ["SubscriptionRoleArn": "arn:aws:iam::000000000000:role/r", "RawMessageDelivery": "true"])
        try topic.subscribe(protocol: "lambda", endpoint: "arn:aws:lambda:us-east-1:000000000000:function:f")
        try topic.publish("event")
        let captured = broker.outbox()
        #expect(captured.map(\.protocol) == ["firehose", "lambda"])
        #expect(captured[0].body == "event")
        #expect(captured[1].body.contains("\"Type\" : \"Notification\""))
    }

    @Test("SMS copies carry the AWS.SNS.SMS attributes; the outbox filters by phone number and topic and clears")
    func smsCopiesAndFilters() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        try topic.subscribe(protocol: "sms", endpoint: "+15551234567")
        try topic.subscribe(protocol: "sms", endpoint: "+15557654321")
        try topic.publish("code 1234", messageAttributes: ["AWS.SNS.SMS.SMSType": .string("Transactional"), "other": .string("x")])
        let text = try #require(broker.outbox(matching: .phoneNumber("+15551234567")).first)
        #expect(text.body == "code 1234")
        #expect(text.attributes == ["AWS.SNS.SMS.SMSType": "Transactional"])
        #expect(broker.outbox(matching: SNSOutboxFilter(topicArn: topic.arn)).count == 2)
        #expect(broker.outbox(matching: SNSOutboxFilter(topicArn: "arn:aws:sns:us-east-1:000000000000:other")).isEmpty)
        broker.clearOutbox()
        #expect(broker.outbox().isEmpty)
    }

    @Test("The outbox is per account and region")
    func outboxIsPerAccountAndRegion() throws {
        let (broker, _) = makeBroker()
        let other = try broker.scoped(region: "eu-west-1")
        try broker.publish(phoneNumber: "+15551234567", message: "hi")
        #expect(broker.outbox().count == 1)
        #expect(other.outbox().isEmpty)
    }

    @Test("Waiting for an outbox message returns one already there, one recorded later, or nil at the timeout")
    func waitingForAnOutboxMessage() async throws {
        let (broker, clock) = makeBroker()
        try broker.publish(phoneNumber: "+15551234567", message: "first")
        #expect(try await broker.waitForOutboxMessage(timeout: .seconds(1))?.body == "first")

        let waiter = Task { try await broker.waitForOutboxMessage(matching: .phoneNumber("+15550000000"), timeout: .seconds(60)) }
        while clock.pendingWakeUps == 0 { await Task.yield() }
        try broker.publish(phoneNumber: "+15550000000", message: "second")
        #expect(try await waiter.value?.body == "second")

        let timingOut = Task { try await broker.waitForOutboxMessage(matching: .phoneNumber("+15559999999"), timeout: .seconds(60)) }
        while clock.pendingWakeUps == 0 { await Task.yield() }
        clock.advance(by: .seconds(60))
        #expect(try await timingOut.value == nil)
        #expect(broker.snsSpace.outbox.waiting == 0)
    }

    @Test("Cancelling a wait for an outbox message throws CancellationError")
    func cancellingAWaitThrows() async throws {
        let (broker, clock) = makeBroker()
        let waiter = Task { try await broker.waitForOutboxMessage(timeout: .seconds(60)) }
        while clock.pendingWakeUps == 0 { await Task.yield() }
        waiter.cancel()
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(broker.snsSpace.outbox.waiting == 0)
        #expect(clock.pendingWakeUps == 0, "the timeout's wake-up is cancelled with the wait")
    }

    @Test("A wait cancelled before it starts throws at once and leaves nothing behind")
    func waitCancelledBeforeItStarts() async throws {
        let (broker, _) = makeBroker()
        let waiter = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await broker.waitForOutboxMessage(timeout: .seconds(60))
        }
        await #expect(throws: CancellationError.self) { try await waiter.value }
        #expect(broker.snsSpace.outbox.waiting == 0)
    }
}

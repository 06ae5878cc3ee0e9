import Foundation
import Testing

@testable import Broker

/// A signer whose "signature" is the version and the string-to-sign itself, so a test reads back exactly what the
/// envelope asked to have signed. Counts its calls.
final class RecordingSigner: SNSMessageSigner {
    let signingCertURL = "http://127.0.0.1:9/_broker/sns/SimpleNotificationService.pem"
    private let calls = LockedState(0)

    var callCount: Int { calls.withLock { $0 } }

    func signature(of stringToSign: String, version: SNSSignatureVersion) throws -> [UInt8] {
        calls.withLock { $0 += 1 }
        return Array("v\(version.rawValue):\(stringToSign)".utf8)
    }
}

/// A signer that always fails.
struct FailingSigner: SNSMessageSigner {
    struct Failure: Error {}
    let signingCertURL = "http://127.0.0.1:9/cert.pem"
    func signature(of stringToSign: String, version: SNSSignatureVersion) throws -> [UInt8] { throw Failure() }
}

@Suite struct SigningTests {
    private func signedBroker(_ signer: any SNSMessageSigner) -> Broker {
        Broker(configuration: BrokerConfiguration(seed: 1, messageSigner: signer), clock: ManualClock())
    }

    private func envelope(_ queue: Queue) async throws -> [String: String] {
        let body = try #require(try await queue.receiveMessages().first?.body)
        return try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
    }

    private func signedText(_ envelope: [String: String]) throws -> String {
        let signature = try #require(envelope["Signature"].flatMap { Data(base64Encoded: $0) })
        return try #require(String(data: signature, encoding: .utf8))
    }

    @Test func notificationStringToSignHasAWSOrderWithSubject() {
        let text = SNSStringToSign.notification(message: "hi\nthere", messageId: "m-1", subject: "S",
                                                timestamp: "2026-01-01T00:00:00.000Z", topicArn: "arn:aws:sns:us-east-1:000000000000:t")
        #expect(text == "Message\nhi\nthere\nMessageId\nm-1\nSubject\nS\nTimestamp\n2026-01-01T00:00:00.000Z\n"
                + "TopicArn\narn:aws:sns:us-east-1:000000000000:t\nType\nNotification\n")
    }

    @Test func notificationStringToSignLeavesOutAMissingSubject() {
        let text = SNSStringToSign.notification(message: "m", messageId: "i", subject: nil, timestamp: "t", topicArn: "a")
        #expect(text == "Message\nm\nMessageId\ni\nTimestamp\nt\nTopicArn\na\nType\nNotification\n")
    }

    @Test(arguments: [SNSMessageType.subscriptionConfirmation, .unsubscribeConfirmation])
    func confirmationStringToSignHasAWSOrder(type: SNSMessageType) {
        let text = SNSStringToSign.confirmation(type, message: "m", messageId: "i", subscribeURL: "u", timestamp: "t",
                                                token: "k", topicArn: "a")
        #expect(text == "Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\nType\n\(type.rawValue)\n")
    }

    @Test func stringToSignFromFieldsFollowsTheType() {
        var fields = ["Type": "SubscriptionConfirmation", "Message": "m", "MessageId": "i", "SubscribeURL": "u",
                      "Timestamp": "t", "Token": "k", "TopicArn": "a", "Subject": "ignored", "SignatureVersion": "1"]
        #expect(SNSStringToSign.fields(fields) == "Message\nm\nMessageId\ni\nSubscribeURL\nu\nTimestamp\nt\nToken\nk\nTopicArn\na\nType\nSubscriptionConfirmation\n")
        fields["Type"] = "Notification"
        #expect(SNSStringToSign.fields(fields) == "Message\nm\nMessageId\ni\nSubject\nignored\nTimestamp\nt\nTopicArn\na\nType\nNotification\n")
        fields["Type"] = "Other"
        #expect(SNSStringToSign.fields(fields) == nil)
        fields["Type"] = "UnsubscribeConfirmation"
        fields["Token"] = nil
        #expect(SNSStringToSign.fields(fields) == nil)
    }

    @Test func envelopeCarriesTheSignersSignatureOfTheDecodedFieldsAndItsURL() async throws {
        let signer = RecordingSigner()
        let broker = signedBroker(signer)
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        let published = try topic.publish("hello \"world\"\n", subject: "Greeting")
        let envelope = try await envelope(queue)
        #expect(envelope["SignatureVersion"] == "1")
        #expect(envelope["SigningCertURL"] == signer.signingCertURL)
        let fields = try #require(SNSStringToSign.fields(envelope))
        #expect(try signedText(envelope) == "v1:" + fields)
        #expect(fields.contains("MessageId\n\(published.messageId)\n"))
    }

    @Test func topicSignatureVersion2IsUsedAndNamed() async throws {
        let broker = signedBroker(RecordingSigner())
        let topic = try broker.createTopic(named: "t", attributes: TopicAttributes(signatureVersion: "2"))
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        try topic.publish("m")
        let envelope = try await envelope(queue)
        #expect(envelope["SignatureVersion"] == "2")
        #expect(try signedText(envelope).hasPrefix("v2:Message\nm\n"))
    }

    @Test func oneSignatureServesEveryQueueOfAPublish() async throws {
        let signer = RecordingSigner()
        let broker = signedBroker(signer)
        let topic = try broker.createTopic(named: "t")
        let first = try broker.createQueue(named: "a")
        let second = try broker.createQueue(named: "b")
        try topic.subscribe(first)
        try topic.subscribe(second)
        try topic.publish("m")
        let a = try await envelope(first)
        let b = try await envelope(second)
        #expect(a["Signature"] == b["Signature"])
        #expect(a["UnsubscribeURL"] != b["UnsubscribeURL"])
        #expect(signer.callCount == 1)
    }

    @Test func rawDeliveryAndFifoTopicsAreNeverSigned() async throws {
        let signer = RecordingSigner()
        let broker = signedBroker(signer)
        let topic = try broker.createTopic(named: "t")
        let raw = try broker.createQueue(named: "raw")
        try topic.subscribe(raw, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        try topic.publish("m")
        let fifo = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true))
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        try fifo.subscribe(queue)
        try fifo.publish("m", messageGroupId: "g", messageDeduplicationId: "d")
        let envelope = try await envelope(queue)
        #expect(envelope["Signature"] == nil)
        #expect(envelope["SignatureVersion"] == nil)
        #expect(signer.callCount == 0)
    }

    @Test func aFailingSignerLeavesThePlaceholderAndStillDelivers() async throws {
        let broker = signedBroker(FailingSigner())
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        try topic.publish("m")
        let envelope = try await envelope(queue)
        #expect(try signedText(envelope).hasPrefix(PlaceholderSignature.prefix))
        #expect(envelope["SigningCertURL"] == "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-broker.pem")
    }

    @Test func scopedViewsSignWithTheSameSigner() async throws {
        let signer = RecordingSigner()
        let broker = try signedBroker(signer).scoped(region: "eu-west-1")
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        try topic.publish("m")
        #expect(try await envelope(queue)["SigningCertURL"] == signer.signingCertURL)
    }

    @Test func anHTTPSubscriptionConfirmationIsSignedOverItsOwnFields() throws {
        let broker = signedBroker(RecordingSigner())
        let topic = try broker.createTopic(named: "hooks", attributes: TopicAttributes(signatureVersion: "2"))
        try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        let message = try #require(broker.outbox().first)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: String])
        #expect(json["SignatureVersion"] == "2")
        #expect(json["SigningCertURL"] == RecordingSigner().signingCertURL)
        let fields = try #require(SNSStringToSign.fields(json))
        #expect(fields.hasSuffix("Type\nSubscriptionConfirmation\n"))
        #expect(try signedText(json) == "v2:" + fields)
    }

    @Test func aConfirmedHTTPSubscriptionGetsASignedEnvelope() throws {
        let broker = signedBroker(RecordingSigner())
        let topic = try broker.createTopic(named: "hooks")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        try broker.confirmSubscription(topicArn: topic.arn, token: try #require(try subscription.confirmationToken()))
        try topic.publish("m", subject: "S")
        let message = try #require(broker.outbox().last)
        #expect(message.kind == .notification)
        let json = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: String])
        #expect(try signedText(json) == "v1:" + (try #require(SNSStringToSign.fields(json))))
    }
}

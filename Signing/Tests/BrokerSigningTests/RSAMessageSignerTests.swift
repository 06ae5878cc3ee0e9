import Broker
import BrokerSigning
import Foundation
import Testing

@Suite struct RSAMessageSignerTests {
    /// One key for the suite: making an RSA-2048 key takes tens of milliseconds or more.
    static let signer: RSAMessageSigner = {
        do {
            return try RSAMessageSigner(validFrom: Date(timeIntervalSince1970: 1_767_225_600),
                                        signingCertURL: "http://127.0.0.1:4566/_broker/sns/SimpleNotificationService.pem")
        } catch {
            fatalError("cannot make the test signer: \(error)")
        }
    }()

    static let notification = SNSStringToSign.notification(
        message: "hello \"world\"\n", messageId: "22b80b92-fdea-4c2c-8f9d-bdfb0c7bf324", subject: "Greeting",
        timestamp: "2026-01-01T00:00:00.000Z", topicArn: "arn:aws:sns:us-east-1:000000000000:orders")

    @Test(arguments: SNSSignatureVersion.allCases)
    func signsAndVerifiesEachVersion(version: SNSSignatureVersion) throws {
        let signature = try Self.signer.signature(of: Self.notification, version: version)
        #expect(signature.count == 256)
        #expect(Self.signer.isValidSignature(signature, of: Self.notification, version: version))
    }

    @Test func aSignatureOfOneVersionDoesNotVerifyAsTheOther() throws {
        let signature = try Self.signer.signature(of: Self.notification, version: .v1)
        #expect(!Self.signer.isValidSignature(signature, of: Self.notification, version: .v2))
    }

    @Test(arguments: SNSSignatureVersion.allCases)
    func aTamperedMessageFails(version: SNSSignatureVersion) throws {
        let signature = try Self.signer.signature(of: Self.notification, version: version)
        let tampered = Self.notification.replacingOccurrences(of: "hello", with: "jello")
        #expect(!Self.signer.isValidSignature(signature, of: tampered, version: version))
        var flipped = signature
        flipped[10] ^= 1
        #expect(!Self.signer.isValidSignature(flipped, of: Self.notification, version: version))
    }

    /// As a subscriber checks a message: decoded fields, base64 signature, the certificate's public key only.
    @Test(arguments: SNSSignatureVersion.allCases)
    func theCertificatesPublicKeyVerifiesAMessage(version: SNSSignatureVersion) throws {
        var fields = ["Type": "Notification", "MessageId": "m-1", "TopicArn": "arn:aws:sns:us-east-1:000000000000:t",
                      "Message": "body", "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": version.rawValue]
        let text = try #require(SNSStringToSign.fields(fields))
        fields["Signature"] = Data(try Self.signer.signature(of: text, version: version)).base64EncodedString()
        #expect(RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
        fields["Message"] = "other body"
        #expect(!RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
    }

    @Test func aConfirmationIsSignedOverItsOwnFields() throws {
        var fields = ["Type": "SubscriptionConfirmation", "MessageId": "m-2", "Token": "tok",
                      "TopicArn": "arn:aws:sns:us-east-1:000000000000:t", "Message": "You have chosen to subscribe",
                      "SubscribeURL": "http://127.0.0.1:4566/?Action=ConfirmSubscription&Token=tok",
                      "Timestamp": "2026-01-01T00:00:00.000Z", "SignatureVersion": "2"]
        let text = SNSStringToSign.confirmation(.subscriptionConfirmation, message: "You have chosen to subscribe",
                                                messageId: "m-2",
                                                subscribeURL: "http://127.0.0.1:4566/?Action=ConfirmSubscription&Token=tok",
                                                timestamp: "2026-01-01T00:00:00.000Z", token: "tok",
                                                topicArn: "arn:aws:sns:us-east-1:000000000000:t")
        fields["Signature"] = Data(try Self.signer.signature(of: text, version: .v2)).base64EncodedString()
        #expect(RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
        fields["Token"] = "forged"
        #expect(!RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
    }

    @Test func anotherKeysCertificateRejectsTheMessage() throws {
        let other = try RSAMessageSigner(validFrom: Date(timeIntervalSince1970: 1_767_225_600))
        var fields = ["Type": "Notification", "MessageId": "m", "TopicArn": "a", "Message": "b", "Timestamp": "t",
                      "SignatureVersion": "1"]
        fields["Signature"] = Data(try Self.signer.signature(of: try #require(SNSStringToSign.fields(fields)), version: .v1))
            .base64EncodedString()
        #expect(!RSAMessageSigner.isValidMessage(fields, certificatePEM: other.certificatePEM))
    }

    @Test func aLoadedKeyAndCertificateSignAsTheOriginal() throws {
        let loaded = try RSAMessageSigner(privateKeyPEM: Self.signer.privateKeyPEM, certificatePEM: Self.signer.certificatePEM)
        let signature = try loaded.signature(of: Self.notification, version: .v2)
        #expect(Self.signer.isValidSignature(signature, of: Self.notification, version: .v2))
        #expect(loaded.certificatePEM == Self.signer.certificatePEM)
    }

    @Test func aCertificateOfAnotherKeyIsRefused() throws {
        let other = try RSAMessageSigner(validFrom: Date(timeIntervalSince1970: 1_767_225_600))
        #expect(throws: BrokerError.self) {
            try RSAMessageSigner(privateKeyPEM: Self.signer.privateKeyPEM, certificatePEM: other.certificatePEM)
        }
    }

    @Test(arguments: ["", "not a key", "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"])
    func badPEMIsAnInvalidParameterError(text: String) {
        do {
            _ = try RSAMessageSigner(privateKeyPEM: text, certificatePEM: Self.signer.certificatePEM)
            Issue.record("accepted a bad key")
        } catch {
            #expect(error.code == .invalidParameter)
        }
        do {
            _ = try RSAMessageSigner(privateKeyPEM: Self.signer.privateKeyPEM, certificatePEM: text)
            Issue.record("accepted a bad certificate")
        } catch {
            #expect(error.code == .invalidParameter)
        }
    }

    @Test func missingFilesAreAnInvalidParameterError() {
        #expect(throws: BrokerError.self) {
            try RSAMessageSigner(privateKeyFile: "/nonexistent/key.pem", certificateFile: "/nonexistent/cert.pem")
        }
    }

    @Test func theCertificateIsPEMAndTheURLCanBeAssignedLater() throws {
        let signer = try RSAMessageSigner(validFrom: Date(timeIntervalSince1970: 1_767_225_600))
        #expect(signer.certificatePEM.hasPrefix("-----BEGIN CERTIFICATE-----"))
        #expect(!signer.hasSigningCertURL)
        #expect(signer.signingCertURL == RSAMessageSigner.unassignedURL)
        signer.assignSigningCertURL("http://127.0.0.1:1234/cert.pem")
        #expect(signer.hasSigningCertURL)
        #expect(signer.signingCertURL == "http://127.0.0.1:1234/cert.pem")
    }

    /// End to end in process: a broker with the signer publishes to a queue; the envelope verifies with the
    /// certificate, for either topic SignatureVersion.
    @Test(arguments: ["1", "2"])
    func aBrokersEnvelopeVerifiesWithTheCertificate(version: String) async throws {
        let broker = Broker(configuration: BrokerConfiguration(seed: 3, messageSigner: Self.signer), clock: ManualClock())
        let topic = try broker.createTopic(named: "orders", attributes: TopicAttributes(signatureVersion: version))
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        try topic.publish("héllo \u{1F600} \"quoted\"\n", subject: "Subject line")
        let body = try #require(try await queue.receiveMessages().first?.body)
        var fields = try #require(try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: String])
        #expect(fields["SignatureVersion"] == version)
        #expect(fields["SigningCertURL"] == Self.signer.signingCertURL)
        #expect(RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
        fields["Subject"] = "Other subject"
        #expect(!RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
    }

    /// An http subscription's SubscriptionConfirmation (captured in the outbox without a transport) verifies too, and
    /// a forged token does not.
    @Test func aBrokersSubscriptionConfirmationVerifiesWithTheCertificate() throws {
        let broker = Broker(configuration: BrokerConfiguration(seed: 4, messageSigner: Self.signer), clock: ManualClock())
        let topic = try broker.createTopic(named: "hooks")
        try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        let message = try #require(broker.outbox().first)
        var fields = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: String])
        #expect(fields["Type"] == "SubscriptionConfirmation")
        #expect(RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
        fields["Token"] = String(repeating: "0", count: 256)
        #expect(!RSAMessageSigner.isValidMessage(fields, certificatePEM: Self.signer.certificatePEM))
    }
}

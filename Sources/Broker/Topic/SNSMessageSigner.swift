import Foundation

/// How an SNS message is signed: the topic attribute `SignatureVersion`.
public enum SNSSignatureVersion: String, Sendable, Hashable, CaseIterable {
    /// `1`, AWS's default: a SHA1withRSA signature.
    case v1 = "1"
    /// `2`: a SHA256withRSA signature.
    case v2 = "2"
}

/// Signs SNS messages as AWS does: an RSA signature (PKCS #1 v1.5) over the message's string-to-sign, checked by
/// subscribers with the certificate at ``signingCertURL``.
///
/// The library has no RSA of its own (Foundation offers none on Linux, and the package takes no dependencies), so a
/// broker signs only when ``BrokerConfiguration/messageSigner`` holds an implementation, such as the
/// `BrokerSigning` product's. Without one, envelopes keep an unsigned placeholder `Signature`.
public protocol SNSMessageSigner: Sendable {
    /// Where subscribers download the X.509 certificate (PEM) whose public key verifies the signatures; the
    /// envelope's `SigningCertURL`. Read for every signed message, so it may change once a server learns its port.
    var signingCertURL: String { get }

    /// The raw RSA signature of `stringToSign` (its UTF-8 bytes) under `version`'s digest; the envelope carries it
    /// base64-encoded. Called once per published message that some subscription receives as an envelope.
    func signature(of stringToSign: String, version: SNSSignatureVersion) throws -> [UInt8]
}

/// The three kinds of SNS message that carry a signature, by their `Type` value.
public enum SNSMessageType: String, Sendable, Hashable, CaseIterable {
    /// A published message.
    case notification = "Notification"
    /// The message an HTTP/HTTPS (or email-json) endpoint receives on subscribing; it carries the token.
    case subscriptionConfirmation = "SubscriptionConfirmation"
    /// The message an endpoint receives when its subscription is removed.
    case unsubscribeConfirmation = "UnsubscribeConfirmation"
}

/// AWS's documented string-to-sign of an SNS message: chosen fields in a fixed order, each name and then its value
/// on a line of its own, every line ending in a newline (the last one too).
///
/// - Notification: `Message`, `MessageId`, `Subject` (only when the message has one), `Timestamp`, `TopicArn`, `Type`.
/// - SubscriptionConfirmation and UnsubscribeConfirmation: `Message`, `MessageId`, `SubscribeURL`, `Timestamp`,
///   `Token`, `TopicArn`, `Type`.
///
/// Values are the decoded JSON strings, as a subscriber who parsed the envelope sees them.
public enum SNSStringToSign {
    /// The string-to-sign of a `Notification`.
    public static func notification(message: String, messageId: String, subject: String?, timestamp: String,
                                    topicArn: String) -> String {
        var text = ""
        text.reserveCapacity(message.utf8.count + messageId.utf8.count + topicArn.utf8.count + 96)
        line("Message", message, &text)
        line("MessageId", messageId, &text)
        if let subject { line("Subject", subject, &text) }
        line("Timestamp", timestamp, &text)
        line("TopicArn", topicArn, &text)
        line("Type", SNSMessageType.notification.rawValue, &text)
        return text
    }

    /// The string-to-sign of a `SubscriptionConfirmation` or an `UnsubscribeConfirmation` (`type`); a
    /// `Notification` type is signed as ``notification(message:messageId:subject:timestamp:topicArn:)`` would, with
    /// no subject.
    public static func confirmation(_ type: SNSMessageType, message: String, messageId: String, subscribeURL: String,
                                    timestamp: String, token: String, topicArn: String) -> String {
        guard type != .notification else {
            return notification(message: message, messageId: messageId, subject: nil, timestamp: timestamp, topicArn: topicArn)
        }
        var text = ""
        line("Message", message, &text)
        line("MessageId", messageId, &text)
        line("SubscribeURL", subscribeURL, &text)
        line("Timestamp", timestamp, &text)
        line("Token", token, &text)
        line("TopicArn", topicArn, &text)
        line("Type", type.rawValue, &text)
        return text
    }

    /// The string-to-sign of a decoded message's fields (`Type` decides which are used), as a subscriber checking a
    /// signature builds it; nil when `Type` is missing or unknown, or a field the type needs is missing.
    public static func fields(_ fields: [String: String]) -> String? {
        guard let type = fields["Type"].flatMap(SNSMessageType.init(rawValue:)),
              let message = fields["Message"], let messageId = fields["MessageId"],
              let timestamp = fields["Timestamp"], let topicArn = fields["TopicArn"] else { return nil }
        if type == .notification {
            return notification(message: message, messageId: messageId, subject: fields["Subject"], timestamp: timestamp,
                                topicArn: topicArn)
        }
        guard let subscribeURL = fields["SubscribeURL"], let token = fields["Token"] else { return nil }
        return confirmation(type, message: message, messageId: messageId, subscribeURL: subscribeURL,
                            timestamp: timestamp, token: token, topicArn: topicArn)
    }

    private static func line(_ name: String, _ value: String, _ text: inout String) {
        text += name
        text += "\n"
        text += value
        text += "\n"
    }
}

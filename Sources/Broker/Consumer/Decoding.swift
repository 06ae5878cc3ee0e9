import Foundation

/// The SNS notification envelope that SNS writes into an SQS queue (non-raw delivery), typed.
///
/// FIFO topics leave out the signature fields; `Subject` is optional; `Message` may be any text, JSON or not.
/// Both AWS's casing (`SigningCertURL`) and Lambda's (`SigningCertUrl`) are read.
public struct SNSEnvelope: Sendable, Hashable, Decodable {
    /// An envelope message attribute.
    public struct Attribute: Sendable, Hashable, Decodable {
        /// `Type`.
        public let type: String
        /// `Value` (base64 for Binary).
        public let value: String

        enum CodingKeys: String, CodingKey {
            case type = "Type"
            case value = "Value"
        }
    }

    /// `Type`, normally `Notification`.
    public let type: String
    /// `MessageId`.
    public let messageId: String
    /// `TopicArn`.
    public let topicArn: String
    /// `Subject`.
    public let subject: String?
    /// `Message`, the published text.
    public let message: String
    /// `Timestamp`, as SNS wrote it.
    public let timestamp: String
    /// `SequenceNumber` (FIFO topics).
    public let sequenceNumber: String?
    /// `SignatureVersion` (standard topics).
    public let signatureVersion: String?
    /// `Signature` (standard topics; a placeholder in Broker).
    public let signature: String?
    /// `SigningCertURL`.
    public let signingCertURL: String?
    /// `UnsubscribeURL`.
    public let unsubscribeURL: String?
    /// `MessageAttributes`.
    public let messageAttributes: [String: Attribute]?

    enum CodingKeys: String, CodingKey, CaseIterable {
        case type = "Type", messageId = "MessageId", topicArn = "TopicArn", subject = "Subject", message = "Message"
        case timestamp = "Timestamp", sequenceNumber = "SequenceNumber", signatureVersion = "SignatureVersion"
        case signature = "Signature", signingCertURL = "SigningCertURL", unsubscribeURL = "UnsubscribeURL"
        case messageAttributes = "MessageAttributes"
        case signingCertUrl = "SigningCertUrl", unsubscribeUrl = "UnsubscribeUrl"
    }

    /// Decodes an envelope from its JSON fields.
    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        type = try container.decode(String.self, forKey: .type)
        messageId = try container.decode(String.self, forKey: .messageId)
        topicArn = try container.decode(String.self, forKey: .topicArn)
        subject = try container.decodeIfPresent(String.self, forKey: .subject)
        message = try container.decode(String.self, forKey: .message)
        timestamp = try container.decode(String.self, forKey: .timestamp)
        sequenceNumber = try container.decodeIfPresent(String.self, forKey: .sequenceNumber)
        signatureVersion = try container.decodeIfPresent(String.self, forKey: .signatureVersion)
        signature = try container.decodeIfPresent(String.self, forKey: .signature)
        signingCertURL = try container.decodeIfPresent(String.self, forKey: .signingCertURL)
            ?? container.decodeIfPresent(String.self, forKey: .signingCertUrl)
        unsubscribeURL = try container.decodeIfPresent(String.self, forKey: .unsubscribeURL)
            ?? container.decodeIfPresent(String.self, forKey: .unsubscribeUrl)
        messageAttributes = try container.decodeIfPresent([String: Attribute].self, forKey: .messageAttributes)
    }
}

/// How a message body is read.
public enum PayloadFormat: Sendable, Hashable {
    /// The body as it is.
    case raw
    /// The body is JSON.
    case json
    /// The body is an SNS envelope; the payload is its `Message`.
    case snsEnvelope
    /// An SNS envelope's `Message` when the body is one, else the body.
    case auto
}

/// Anything with an SQS message body: ``Message``, ``ReceivedMessage``, ``SQSEventRecord``.
public protocol SQSMessageBody {
    /// The message body.
    var body: String { get }
}

extension Message: SQSMessageBody {}
extension ReceivedMessage: SQSMessageBody {}
extension SQSEventRecord: SQSMessageBody {}

extension SQSMessageBody {
    /// The SNS envelope, when the body is one.
    public var snsEnvelope: SNSEnvelope? {
        let trimmed = body.drop { $0 == " " || $0 == "\n" || $0 == "\r" || $0 == "\t" }
        guard trimmed.hasPrefix("{"), trimmed.contains("\"TopicArn\"") else { return nil }
        guard let envelope = try? JSONDecoder().decode(SNSEnvelope.self, from: Data(body.utf8)),
              envelope.type == "Notification" else { return nil }
        return envelope
    }

    /// The payload text in `format`: the body, or the `Message` of an SNS envelope.
    public func payload(_ format: PayloadFormat = .auto) throws -> String {
        switch format {
        case .raw, .json: return body
        case .snsEnvelope: return try JSONDecoder().decode(SNSEnvelope.self, from: Data(body.utf8)).message
        case .auto: return snsEnvelope?.message ?? body
        }
    }

    /// Decodes the payload as JSON into `type`. A failure throws for this message only: a consumer fails the
    /// message, never the batch.
    public func decode<T: Decodable>(_ type: T.Type, from format: PayloadFormat = .auto,
                                     decoder: JSONDecoder = JSONDecoder()) throws -> T {
        try decoder.decode(T.self, from: Data(try payload(format == .json ? .raw : format).utf8))
    }
}

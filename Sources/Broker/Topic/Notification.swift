import Foundation

/// One message to publish: the fields of Publish, and of an entry of PublishBatch.
public struct PublishRequest: Sendable, Hashable {
    /// `Message`: non-empty; with its attributes at most 256 KiB.
    public var message: String
    /// `Subject`: up to 100 printable characters, no line breaks.
    public var subject: String?
    /// `MessageAttributes`: String, String.Array, Number or Binary.
    public var messageAttributes: [String: MessageAttributeValue]
    /// `MessageStructure`: `json` makes `message` a JSON object of per-protocol bodies with a `default` entry.
    public var messageStructure: String?
    /// `MessageGroupId`: required on FIFO topics.
    public var messageGroupId: String?
    /// `MessageDeduplicationId` (FIFO topics).
    public var messageDeduplicationId: String?

    /// Creates a publish request.
    public init(message: String, subject: String? = nil, messageAttributes: [String: MessageAttributeValue] = [:],
                messageStructure: String? = nil, messageGroupId: String? = nil, messageDeduplicationId: String? = nil) {
        self.message = message
        self.subject = subject
        self.messageAttributes = messageAttributes
        self.messageStructure = messageStructure
        self.messageGroupId = messageGroupId
        self.messageDeduplicationId = messageDeduplicationId
    }
}

/// An entry of PublishBatch.
public struct PublishBatchRequestEntry: Sendable, Hashable {
    /// `Id`: up to 80 characters of `[A-Za-z0-9_-]`, distinct within the batch.
    public var id: String
    /// The message.
    public var request: PublishRequest

    /// Creates an entry.
    public init(id: String, request: PublishRequest) {
        self.id = id
        self.request = request
    }
}

/// What Publish returns.
public struct PublishResult: Sendable, Hashable {
    /// `MessageId`, the same in every subscription's copy.
    public let messageId: String
    /// `SequenceNumber` (FIFO topics).
    public let sequenceNumber: String?
}

/// The notification a handler subscription receives: the `Sns` part of Lambda's SNS event record.
public struct SNSNotification: Sendable, Hashable {
    /// `Type`: always `Notification`.
    public var type: String { "Notification" }
    /// `MessageId`, as Publish returned it.
    public let messageId: String
    /// `TopicArn`.
    public let topicArn: String
    /// `Subject`, when the publish had one.
    public let subject: String?
    /// `Message`: for `MessageStructure=json`, the `lambda` entry, else `default`.
    public let message: String
    /// `Timestamp`: when the topic accepted the publish.
    public let timestamp: Date
    /// `MessageAttributes`.
    public let messageAttributes: [String: MessageAttributeValue]
    /// The subscription this copy was delivered for (`EventSubscriptionArn`).
    public let subscriptionArn: String
    /// `SequenceNumber` (FIFO topics).
    public let sequenceNumber: String?
    /// `MessageGroupId`, when the publish had one.
    public let messageGroupId: String?
}

/// AWS's timestamp format for SNS, `2026-01-01T00:00:00.000Z`, written by hand (DESIGN.md: formatters are slow).
enum SNSTimestamp {
    static func format(_ date: Date) -> String {
        let totalMilliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var days = totalMilliseconds >= 0 ? totalMilliseconds / 86_400_000 : (totalMilliseconds - 86_399_999) / 86_400_000
        let millisecondOfDay = totalMilliseconds - days * 86_400_000
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let dayOfEra = days - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1_460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let monthIndex = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * monthIndex + 2) / 5 + 1
        let month = monthIndex < 10 ? monthIndex + 3 : monthIndex - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let digits = String(value)
            switch width - digits.count {
            case 1: return "0" + digits
            case 2: return "00" + digits
            case 3: return "000" + digits
            default: return digits
            }
        }
        let hour = millisecondOfDay / 3_600_000
        let minute = millisecondOfDay / 60_000 % 60
        let second = millisecondOfDay / 1_000 % 60
        let millisecond = millisecondOfDay % 1_000
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)).\(pad(millisecond, 3))Z"
    }
}

/// JSON string literals written by hand, for envelopes built once per publish.
enum JSONText {
    static func quoted(_ text: String) -> String {
        // Most text needs no escaping: one byte scan, then one concatenation.
        if !text.utf8.contains(where: needsEscape) { return "\"" + text + "\"" }
        var bytes: [UInt8] = []
        appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal, byte by byte: a JSON message body in an SNS envelope escapes every
    /// quote it holds, so this is on the fan-out path.
    static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        bytes.reserveCapacity(bytes.count + text.utf8.count + 2)
        bytes.append(UInt8(ascii: "\""))
        for byte in text.utf8 {
            guard needsEscape(byte) else {
                bytes.append(byte)
                continue
            }
            bytes.append(UInt8(ascii: "\\"))
            switch byte {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): bytes.append(byte)
            case 0x0A: bytes.append(UInt8(ascii: "n"))
            case 0x0D: bytes.append(UInt8(ascii: "r"))
            case 0x09: bytes.append(UInt8(ascii: "t"))
            case 0x08: bytes.append(UInt8(ascii: "b"))
            case 0x0C: bytes.append(UInt8(ascii: "f"))
            default:
                bytes.append(UInt8(ascii: "u"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(UInt8(ascii: "0"))
                bytes.append(hexDigit(byte >> 4))
                bytes.append(hexDigit(byte & 0xF))
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    private static func needsEscape(_ byte: UInt8) -> Bool {
        byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
    }

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

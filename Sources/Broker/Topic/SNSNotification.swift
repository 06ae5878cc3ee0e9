import Foundation

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
        format(milliseconds: milliseconds(date))
    }

    /// Whole milliseconds since 1970, rounded down: the part of a date the format shows.
    static func milliseconds(_ date: Date) -> Int64 {
        Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
    }

    static func format(milliseconds totalMilliseconds: Int64) -> String {
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

/// The last timestamp a topic formatted. Publishes within one millisecond (all of them, on a clock that stands
/// still) share its text, so formatting, a twentieth of a fan-out publish, is paid once per millisecond. It lives in
/// the topic's locked state, which a publish holds anyway.
struct SNSTimestampCache {
    private var milliseconds = Int64.min
    private var text = ""

    mutating func format(_ date: Date) -> String {
        let milliseconds = SNSTimestamp.milliseconds(date)
        if milliseconds != self.milliseconds {
            self.milliseconds = milliseconds
            text = SNSTimestamp.format(milliseconds: milliseconds)
        }
        return text
    }
}

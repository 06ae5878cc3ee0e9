import Foundation

/// A message attribute value: `DataType` is `String`, `Number` or `Binary`, optionally with a custom suffix
/// (`String.json`, `Number.float`).
public struct MessageAttributeValue: Sendable, Hashable {
    /// `DataType`: `String`, `Number`, `Binary`, or one of them followed by `.` and a custom label.
    public var dataType: String
    /// `StringValue`, for String and Number types.
    public var stringValue: String?
    /// `BinaryValue`, for Binary types.
    public var binaryValue: Data?

    /// Creates a value from its AWS fields.
    public init(dataType: String, stringValue: String? = nil, binaryValue: Data? = nil) {
        self.dataType = dataType
        self.stringValue = stringValue
        self.binaryValue = binaryValue
    }

    /// A `String` attribute.
    public static func string(_ value: String) -> MessageAttributeValue {
        MessageAttributeValue(dataType: "String", stringValue: value)
    }

    /// A `Number` attribute, given as AWS takes it: a decimal string.
    public static func number(_ value: String) -> MessageAttributeValue {
        MessageAttributeValue(dataType: "Number", stringValue: value)
    }

    /// A `Number` attribute from an integer.
    public static func number(_ value: Int) -> MessageAttributeValue {
        MessageAttributeValue(dataType: "Number", stringValue: String(value))
    }

    /// A `Binary` attribute.
    public static func binary(_ value: Data) -> MessageAttributeValue {
        MessageAttributeValue(dataType: "Binary", binaryValue: value)
    }

    /// Whether the type is Binary (transport type 2 in the MD5 encoding) rather than String or Number.
    var isBinary: Bool { dataType.hasPrefix("Binary") }
}

/// System attributes a receive can ask for and a message carries, as AWS names them.
public enum MessageSystemAttributeName: String, Sendable, Hashable, CaseIterable {
    /// Every system attribute.
    case all = "All"
    /// The sender's account id.
    case senderId = "SenderId"
    /// Send time, epoch milliseconds.
    case sentTimestamp = "SentTimestamp"
    /// How many times the message has been received, this receive included.
    case approximateReceiveCount = "ApproximateReceiveCount"
    /// First receive time, epoch milliseconds.
    case approximateFirstReceiveTimestamp = "ApproximateFirstReceiveTimestamp"
    /// FIFO: the sequence number.
    case sequenceNumber = "SequenceNumber"
    /// FIFO: the deduplication id.
    case messageDeduplicationId = "MessageDeduplicationId"
    /// FIFO and fair queues: the message group id.
    case messageGroupId = "MessageGroupId"
    /// The X-Ray trace header sent as a system attribute.
    case awsTraceHeader = "AWSTraceHeader"
    /// Set on messages in a dead-letter queue: the ARN of the queue they came from.
    case deadLetterQueueSourceArn = "DeadLetterQueueSourceArn"

    /// Hashes the case, not its raw string: received messages key their attributes by name.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(bit)
    }

    /// A bit of its own per name, for selections and hashing.
    var bit: UInt32 {
        switch self {
        case .all: 1 << 0
        case .senderId: 1 << 1
        case .sentTimestamp: 1 << 2
        case .approximateReceiveCount: 1 << 3
        case .approximateFirstReceiveTimestamp: 1 << 4
        case .sequenceNumber: 1 << 5
        case .messageDeduplicationId: 1 << 6
        case .messageGroupId: 1 << 7
        case .awsTraceHeader: 1 << 8
        case .deadLetterQueueSourceArn: 1 << 9
        }
    }
}

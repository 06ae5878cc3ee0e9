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

/// A message as ReceiveMessage returns it.
///
/// A view of the stored message plus what this receive captured: ids, the receipt handle and system attributes are
/// formatted when read, so a receive allocates none of them for a caller that never looks (formatting them eagerly
/// was a third of a batched receive's allocations).
public struct Message: Sendable, Hashable {
    /// The stored message; only its immutable fields are read here, so no lock is needed.
    let stored: StoredMessage
    let receipt: ReceiptHandle
    let received: ReceivedAttributes

    /// `MessageId`, the same on every receive of this message.
    public var messageId: String { stored.messageId }
    /// `ReceiptHandle`: new on every receive; delete and change visibility with the latest one.
    public var receiptHandle: String { receipt.encoded }
    /// `Body`.
    public var body: String { stored.body }
    /// `MD5OfBody`: hex MD5 of the body's UTF-8 bytes, computed when read.
    public var md5OfBody: String { MessageDigest.md5Hex(of: body) }
    /// `MD5OfMessageAttributes` over the returned attributes, computed when read; nil when none are returned.
    public var md5OfMessageAttributes: String? { MessageDigest.md5OfAttributes(messageAttributes) }
    /// `MessageAttributes` selected by the receive's `messageAttributeNames`.
    public let messageAttributes: [String: MessageAttributeValue]
    /// `Attributes`: the system attributes selected by the receive, as AWS's strings.
    public var attributes: [MessageSystemAttributeName: String] { received.attributes(of: stored) }

    /// `ApproximateReceiveCount` as a number, when it was asked for.
    public var receiveCount: Int? {
        received.includes(.approximateReceiveCount) ? received.receiveCount : nil
    }

    /// `MessageGroupId`, when it was asked for and the message has one.
    var messageGroupId: String? { received.includes(.messageGroupId) ? stored.groupId : nil }

    init(stored: StoredMessage, receipt: ReceiptHandle, received: ReceivedAttributes,
         messageAttributes: [String: MessageAttributeValue]) {
        self.stored = stored
        self.receipt = receipt
        self.received = received
        self.messageAttributes = messageAttributes
    }

    /// Equal when every public field is.
    public static func == (lhs: Message, rhs: Message) -> Bool {
        lhs.stored.id == rhs.stored.id && lhs.receipt == rhs.receipt && lhs.body == rhs.body
            && lhs.messageAttributes == rhs.messageAttributes && lhs.attributes == rhs.attributes
    }

    /// Hashes the message id and receipt handle, which tell receives apart; `==` compares the rest.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(stored.id)
        hasher.combine(receipt.incarnation)
        hasher.combine(receipt.key)
        hasher.combine(receipt.nonce)
    }
}

/// The system attributes one receive selected, with the values that receive captured under the queue's lock; the
/// rest are immutable fields of the stored message.
struct ReceivedAttributes: Sendable {
    /// `AttributeSelection`'s system bits.
    let selection: UInt32
    let receiveCount: Int
    let firstReceivedAt: Date?
    let senderId: String

    func includes(_ name: MessageSystemAttributeName) -> Bool { selection & name.bit != 0 }

    func attributes(of stored: StoredMessage) -> [MessageSystemAttributeName: String] {
        guard selection != 0 else { return [:] }
        var system: [MessageSystemAttributeName: String] = [:]
        func add(_ name: MessageSystemAttributeName, _ value: @autoclosure () -> String?) {
            if includes(name), let value = value() { system[name] = value }
        }
        add(.senderId, senderId)
        add(.sentTimestamp, String(stored.sentAt.epochMilliseconds))
        add(.approximateReceiveCount, String(receiveCount))
        add(.approximateFirstReceiveTimestamp, firstReceivedAt.map { String($0.epochMilliseconds) })
        add(.messageGroupId, stored.groupId)
        add(.messageDeduplicationId, stored.deduplicationId)
        add(.sequenceNumber, stored.sequenceNumber.map { String($0) })
        add(.awsTraceHeader, stored.systemAttributes[MessageSystemAttributeName.awsTraceHeader.rawValue]?.stringValue)
        add(.deadLetterQueueSourceArn, stored.deadLetterQueueSourceArn)
        return system
    }
}

/// What SendMessage returns.
public struct SendMessageResult: Sendable, Hashable {
    /// `MessageId` of the stored message (for a deduplicated FIFO send, the id of the original).
    public var messageId: String { id.string }
    let id: MessageID
    /// `MD5OfMessageBody`, computed when read (SNS's copies never read it).
    public var md5OfMessageBody: String { MessageDigest.md5Hex(of: body) }
    let body: String
    /// `MD5OfMessageAttributes`, computed when read; nil when the message has no attributes.
    public var md5OfMessageAttributes: String? { MessageDigest.md5OfAttributes(messageAttributes) }
    let messageAttributes: [String: MessageAttributeValue]
    /// `MD5OfMessageSystemAttributes`, computed when read; nil when the message has no system attributes.
    public var md5OfMessageSystemAttributes: String? { MessageDigest.md5OfAttributes(messageSystemAttributes) }
    let messageSystemAttributes: [String: MessageAttributeValue]
    /// `SequenceNumber` (FIFO queues only).
    public var sequenceNumber: String? { sequence.map { String($0) } }
    let sequence: UInt64?

    init(id: MessageID, request: borrowing SendMessageRequest, sequence: UInt64?) {
        self.id = id
        self.body = request.body
        self.messageAttributes = request.messageAttributes
        self.messageSystemAttributes = request.messageSystemAttributes
        self.sequence = sequence
    }

    /// Equal when every public field is; the digests follow from the attributes compared here.
    public static func == (lhs: SendMessageResult, rhs: SendMessageResult) -> Bool {
        lhs.id == rhs.id && lhs.body == rhs.body && lhs.sequence == rhs.sequence
            && lhs.messageAttributes == rhs.messageAttributes && lhs.messageSystemAttributes == rhs.messageSystemAttributes
    }

    /// Hashes the message id, which tells results apart; `==` compares the rest.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(sequence)
    }
}

/// One message to send: the fields of SendMessage, and of an entry of SendMessageBatch.
///
/// The public initializers are in an extension and delegate to the compiler's memberwise one, which builds the value
/// in place. A hand-written initializer in the type's body made the value in a temporary and returned a copy of it
/// (a retain and release of every field) on every send: a few percent of a batched send. The memberwise one stays
/// distinct from the public initializer because one stored property, `delay`, has another name than its parameter,
/// and it takes every field because the optionals are spelled `Optional<…>` (a `T?` property would give it a nil
/// default, and calls that leave such fields out would match both initializers under `@testable import`).
public struct SendMessageRequest: Sendable, Hashable {
    /// `MessageBody`: 1 byte up to the queue's `MaximumMessageSize` (with the attributes), of XML-safe characters.
    public var body: String
    /// `DelaySeconds`, stored under another name for the memberwise initializer's sake (see the type's comment).
    var delay: Optional<Duration>
    /// `MessageAttributes`: up to 10.
    public var messageAttributes: [String: MessageAttributeValue]
    /// `MessageSystemAttributes`: only `AWSTraceHeader`, a String.
    public var messageSystemAttributes: [String: MessageAttributeValue]
    /// `MessageGroupId`: required on FIFO queues; on standard queues it groups tenants of a fair queue.
    public var messageGroupId: Optional<String>
    /// `MessageDeduplicationId` (FIFO queues).
    public var messageDeduplicationId: Optional<String>
}

extension SendMessageRequest {
    /// Creates a send request.
    public init(
        body: String,
        delaySeconds: Duration? = nil,
        messageAttributes: [String: MessageAttributeValue] = [:],
        messageSystemAttributes: [String: MessageAttributeValue] = [:],
        messageGroupId: String? = nil,
        messageDeduplicationId: String? = nil
    ) {
        self.init(body: body, delay: delaySeconds, messageAttributes: messageAttributes,
                  messageSystemAttributes: messageSystemAttributes, messageGroupId: messageGroupId,
                  messageDeduplicationId: messageDeduplicationId)
    }

    /// `DelaySeconds` for this message (standard queues); nil uses the queue's delay.
    public var delaySeconds: Duration? {
        get { delay }
        set { delay = newValue }
    }
}

/// An entry of SendMessageBatch: an `Id` unique in the batch plus the message. Built through its memberwise
/// initializer for the reason `SendMessageRequest` is; `entryId` is the stored name of `id`.
public struct SendMessageBatchRequestEntry: Sendable, Hashable {
    /// `Id`, stored under another name for the memberwise initializer's sake.
    var entryId: String
    /// The message.
    public var message: SendMessageRequest
}

extension SendMessageBatchRequestEntry {
    /// `Id`: up to 80 characters of `[A-Za-z0-9_-]`, distinct within the batch.
    public var id: String {
        get { entryId }
        set { entryId = newValue }
    }

    /// Creates an entry.
    public init(id: String, message: SendMessageRequest) {
        self.init(entryId: id, message: message)
    }

    /// Creates an entry from the message's fields.
    public init(id: String, body: String, delaySeconds: Duration? = nil,
                messageAttributes: [String: MessageAttributeValue] = [:],
                messageGroupId: String? = nil, messageDeduplicationId: String? = nil) {
        self.init(entryId: id, message: SendMessageRequest(
            body: body, delay: delaySeconds, messageAttributes: messageAttributes, messageSystemAttributes: [:],
            messageGroupId: messageGroupId, messageDeduplicationId: messageDeduplicationId))
    }
}

/// A failed batch entry, as AWS reports it in `Failed`.
public struct BatchResultErrorEntry: Sendable, Hashable {
    /// The entry's `Id`.
    public let id: String
    /// The error code (`Code`), e.g. `InvalidParameterValue`.
    public let code: String
    /// `Message`.
    public let message: String
    /// `SenderFault`: true when the request was at fault.
    public let senderFault: Bool

    init(id: String, error: BrokerError) {
        self.id = id
        self.code = error.code.queryCode
        self.message = error.message
        self.senderFault = error.code.httpStatus < 500
    }
}

/// The per-entry outcome of a batch call: `Successful` and `Failed`, never thrown away together.
public struct BatchResult<Success: Sendable & Hashable>: Sendable, Hashable {
    /// Entries that succeeded, keyed by their `Id`, in request order.
    public var successful: [(id: String, result: Success)] { successfulEntries.map { ($0.id, $0.result) } }
    /// Entries that failed, in request order.
    public let failed: [BatchResultErrorEntry]

    struct Entry: Sendable, Hashable {
        let id: String
        let result: Success
    }

    let successfulEntries: [Entry]

    /// The result of the entry with `id`, if it succeeded.
    public func result(for id: String) -> Success? {
        successfulEntries.first { $0.id == id }?.result
    }

    /// The failure of the entry with `id`, if it failed.
    public func failure(for id: String) -> BatchResultErrorEntry? {
        failed.first { $0.id == id }
    }
}

/// Nothing to report for a successful DeleteMessageBatch or ChangeMessageVisibilityBatch entry but its `Id`.
public struct BatchEntryAcknowledged: Sendable, Hashable {}

/// An entry of ChangeMessageVisibilityBatch.
public struct ChangeMessageVisibilityBatchRequestEntry: Sendable, Hashable, ReceiptHandleEntry {
    /// `Id`, distinct within the batch.
    public var id: String
    /// `ReceiptHandle`.
    public var receiptHandle: String
    /// `VisibilityTimeout`, counted from the call.
    public var visibilityTimeout: Duration

    /// Creates an entry.
    public init(id: String, receiptHandle: String, visibilityTimeout: Duration) {
        self.id = id
        self.receiptHandle = receiptHandle
        self.visibilityTimeout = visibilityTimeout
    }
}

/// An entry of DeleteMessageBatch.
public struct DeleteMessageBatchRequestEntry: Sendable, Hashable, ReceiptHandleEntry {
    /// `Id`, distinct within the batch.
    public var id: String
    /// `ReceiptHandle`.
    public var receiptHandle: String

    /// Creates an entry.
    public init(id: String, receiptHandle: String) {
        self.id = id
        self.receiptHandle = receiptHandle
    }
}

/// A batch entry that names a message by receipt handle (DeleteMessageBatch, ChangeMessageVisibilityBatch).
protocol ReceiptHandleEntry {
    var id: String { get }
    var receiptHandle: String { get }
}

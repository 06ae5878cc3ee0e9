import Foundation

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

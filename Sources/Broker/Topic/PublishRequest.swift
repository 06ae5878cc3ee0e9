/// One message to publish: the fields of Publish, and of an entry of PublishBatch. Built through the compiler's
/// memberwise initializer, as `SendMessageRequest` is and for its reasons; `structure` is the stored name of
/// `messageStructure`, and the optionals are spelled `Optional<…>`.
public struct PublishRequest: Sendable, Hashable {
    /// `Message`: non-empty; with its attributes at most 256 KiB.
    public var message: String
    /// `Subject`: up to 100 printable characters, no line breaks.
    public var subject: Optional<String>
    /// `MessageAttributes`: String, String.Array, Number or Binary.
    public var messageAttributes: [String: MessageAttributeValue]
    /// `MessageStructure`, stored under another name for the memberwise initializer's sake.
    var structure: Optional<String>
    /// `MessageGroupId`: required on FIFO topics.
    public var messageGroupId: Optional<String>
    /// `MessageDeduplicationId` (FIFO topics).
    public var messageDeduplicationId: Optional<String>
}

extension PublishRequest {
    /// Creates a publish request.
    public init(message: String, subject: String? = nil, messageAttributes: [String: MessageAttributeValue] = [:],
                messageStructure: String? = nil, messageGroupId: String? = nil, messageDeduplicationId: String? = nil) {
        self.init(message: message, subject: subject, messageAttributes: messageAttributes, structure: messageStructure,
                  messageGroupId: messageGroupId, messageDeduplicationId: messageDeduplicationId)
    }

    /// `MessageStructure`: `json` makes `message` a JSON object of per-protocol bodies with a `default` entry.
    public var messageStructure: String? {
        get { structure }
        set { structure = newValue }
    }
}

/// An entry of PublishBatch, built through its memberwise initializer as `SendMessageBatchRequestEntry` is.
public struct PublishBatchRequestEntry: Sendable, Hashable {
    /// `Id`, stored under another name for the memberwise initializer's sake.
    var entryId: String
    /// The message.
    public var request: PublishRequest
}

extension PublishBatchRequestEntry {
    /// `Id`: up to 80 characters of `[A-Za-z0-9_-]`, distinct within the batch.
    public var id: String {
        get { entryId }
        set { entryId = newValue }
    }

    /// Creates an entry.
    public init(id: String, request: PublishRequest) {
        self.init(entryId: id, request: request)
    }
}

/// What Publish returns.
public struct PublishResult: Sendable, Hashable {
    /// `MessageId`, the same in every subscription's copy.
    public let messageId: String
    /// `SequenceNumber` (FIFO topics).
    public let sequenceNumber: String?
}

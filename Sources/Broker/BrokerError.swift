/// The one error type of Broker: the AWS error code a real client would see, and a message saying what was wrong.
public struct BrokerError: Error, Sendable, Hashable, CustomStringConvertible {
    /// An AWS error code. ``name`` is the JSON protocol's shape name (`__type`), ``queryCode`` the legacy Query code
    /// (also sent in `x-amzn-query-error`).
    ///
    /// A code carries nothing of a transport: the HTTP status AWS answers each code with is the wire server's
    /// knowledge, kept beside its other wire details.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        /// The JSON protocol's error shape name, e.g. `QueueDoesNotExist`.
        public let name: String
        /// The legacy Query protocol code, e.g. `AWS.SimpleQueueService.NonExistentQueue`.
        public let queryCode: String

        /// Creates a code; the Query code defaults to the shape name, as it is for most of AWS's codes.
        public init(name: String, queryCode: String? = nil) {
            self.name = name
            self.queryCode = queryCode ?? name
        }

        /// Creates a code, ignoring `httpStatus`: a code no longer carries its HTTP status, which the wire server
        /// keeps. Kept so that code written against the earlier initializer still compiles.
        @available(*, deprecated, message: "BrokerError.Code carries no HTTP status; use init(name:queryCode:)")
        public init(name: String, queryCode: String? = nil, httpStatus: Int) {
            self.init(name: name, queryCode: queryCode)
        }

        /// The shape name.
        public var description: String { name }

        // SQS
        /// The queue named by URL, name or ARN does not exist (or was deleted).
        public static let queueDoesNotExist = Code(name: "QueueDoesNotExist", queryCode: "AWS.SimpleQueueService.NonExistentQueue")
        /// CreateQueue named an existing queue with a different attribute value.
        public static let queueNameExists = Code(name: "QueueNameExists", queryCode: "QueueAlreadyExists")
        /// CreateQueue within 60 seconds of deleting a queue of the same name.
        public static let queueDeletedRecently = Code(name: "QueueDeletedRecently", queryCode: "AWS.SimpleQueueService.QueueDeletedRecently")
        /// The receipt handle is malformed or belongs to another queue.
        public static let receiptHandleIsInvalid = Code(name: "ReceiptHandleIsInvalid")
        /// A parameter's value is out of range or malformed.
        public static let invalidParameterValue = Code(name: "InvalidParameterValueException", queryCode: "InvalidParameterValue")
        /// A required parameter is missing (for example an empty message body).
        public static let missingParameter = Code(name: "MissingRequiredParameterException", queryCode: "MissingParameter")
        /// An unknown attribute name, or one that does not apply to this queue type.
        public static let invalidAttributeName = Code(name: "InvalidAttributeName")
        /// An attribute value that is out of range or malformed.
        public static let invalidAttributeValue = Code(name: "InvalidAttributeValue")
        /// The message body or an attribute value holds characters SQS does not allow.
        public static let invalidMessageContents = Code(name: "InvalidMessageContents")
        /// A batch call with no entries.
        public static let emptyBatchRequest = Code(name: "EmptyBatchRequest", queryCode: "AWS.SimpleQueueService.EmptyBatchRequest")
        /// A batch call with more than 10 entries.
        public static let tooManyEntriesInBatchRequest = Code(name: "TooManyEntriesInBatchRequest", queryCode: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest")
        /// Two batch entries share an id.
        public static let batchEntryIdsNotDistinct = Code(name: "BatchEntryIdsNotDistinct", queryCode: "AWS.SimpleQueueService.BatchEntryIdsNotDistinct")
        /// A batch entry id is empty, too long or holds characters other than `[A-Za-z0-9_-]`.
        public static let invalidBatchEntryId = Code(name: "InvalidBatchEntryId", queryCode: "AWS.SimpleQueueService.InvalidBatchEntryId")
        /// The messages of a batch are together larger than the limit.
        public static let batchRequestTooLong = Code(name: "BatchRequestTooLong", queryCode: "AWS.SimpleQueueService.BatchRequestTooLong")
        /// A second PurgeQueue within 60 seconds.
        public static let purgeQueueInProgress = Code(name: "PurgeQueueInProgress", queryCode: "AWS.SimpleQueueService.PurgeQueueInProgress")
        /// Too many messages in flight (short poll), or another resource limit reached.
        public static let overLimit = Code(name: "OverLimit")
        /// The operation is not allowed in the queue's current state (for example a second move task).
        public static let unsupportedOperation = Code(name: "UnsupportedOperation", queryCode: "AWS.SimpleQueueService.UnsupportedOperation")
        /// A resource such as a message move task does not exist.
        public static let resourceNotFound = Code(name: "ResourceNotFoundException")
        /// Two parameters that cannot be used together.
        public static let invalidParameterCombination = Code(name: "InvalidParameterCombination")

        // SNS
        /// SNS: a parameter is missing or invalid (filter policies, topic names, attributes).
        public static let invalidParameter = Code(name: "InvalidParameterException", queryCode: "InvalidParameter")
        /// SNS: a parameter value is invalid (for example a message attribute).
        public static let parameterValueInvalid = Code(name: "InvalidParameterValueException", queryCode: "ParameterValueInvalid")
        /// SNS: the topic or subscription does not exist.
        public static let notFound = Code(name: "NotFoundException", queryCode: "NotFound")
        /// SNS: the resource named by an ARN does not exist (tagging).
        public static let snsResourceNotFound = Code(name: "ResourceNotFoundException", queryCode: "ResourceNotFound")
        /// SNS: too many filter policies.
        public static let filterPolicyLimitExceeded = Code(name: "FilterPolicyLimitExceededException", queryCode: "FilterPolicyLimitExceeded")
        /// SNS: too many tags.
        public static let tagLimitExceeded = Code(name: "TagLimitExceededException", queryCode: "TagLimitExceeded")
        /// SNS batch: no entries.
        public static let snsEmptyBatchRequest = Code(name: "EmptyBatchRequestException", queryCode: "EmptyBatchRequest")
        /// SNS batch: more than 10 entries.
        public static let snsTooManyEntriesInBatchRequest = Code(name: "TooManyEntriesInBatchRequestException", queryCode: "TooManyEntriesInBatchRequest")
        /// SNS batch: duplicate entry ids.
        public static let snsBatchEntryIdsNotDistinct = Code(name: "BatchEntryIdsNotDistinctException", queryCode: "BatchEntryIdsNotDistinct")
        /// SNS batch: an invalid entry id.
        public static let snsInvalidBatchEntryId = Code(name: "InvalidBatchEntryIdException", queryCode: "InvalidBatchEntryId")
        /// SNS batch: the entries are together too large.
        public static let snsBatchRequestTooLong = Code(name: "BatchRequestTooLongException", queryCode: "BatchRequestTooLong")
    }

    /// The AWS error code.
    public let code: Code
    /// What was wrong, in AWS's words where they are known.
    public let message: String

    /// The longest message kept whole, in UTF-8 bytes. AWS's own texts are far shorter; only a message that echoes
    /// hostile input (a 100,000-deep policy, a megabyte of attribute name) is longer, and it is cut here so no
    /// error costs more to build, log or send than the request that caused it.
    public static let maximumMessageLength = 2_048

    /// Creates an error; a message over ``maximumMessageLength`` bytes is cut at a character boundary and ends `…`.
    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message.utf8.count <= Self.maximumMessageLength ? message : Self.truncate(message)
    }

    private static func truncate(_ message: String) -> String {
        var end = message.startIndex
        var bytes = 0
        for index in message.indices {
            // "…" takes 3 bytes of the limit.
            let size = message[index].utf8.count
            guard bytes + size <= maximumMessageLength - 3 else { break }
            bytes += size
            end = message.index(after: index)
        }
        return message[..<end] + "…"
    }

    /// `Code: message`.
    public var description: String { "\(code.name): \(message)" }
}

extension BrokerError {
    static func queueDoesNotExist() -> BrokerError {
        BrokerError(.queueDoesNotExist, "The specified queue does not exist.")
    }

    /// AWS's wording for a bad parameter value: "Value X for parameter P is invalid. Reason: R".
    static func invalidParameter(_ name: String, value: String, reason: String) -> BrokerError {
        BrokerError(.invalidParameterValue, "Value \(value) for parameter \(name) is invalid. Reason: \(reason)")
    }

    static func invalidAttributeValue(_ name: String) -> BrokerError {
        BrokerError(.invalidAttributeValue, "Invalid value for the parameter \(name).")
    }
}

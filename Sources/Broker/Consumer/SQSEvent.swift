import Foundation

/// The event an event-source-mapping handler receives: Lambda's SQS event, `{"Records": [...]}`.
public struct SQSEvent: Sendable, Hashable {
    /// `Records`, in the order received.
    public var records: [SQSEventRecord]
}

/// One record of Lambda's SQS event, with Lambda's field names (camelCase, `eventSourceARN`).
public struct SQSEventRecord: Sendable, Hashable {
    /// `messageId`: what a partial batch response names as `itemIdentifier`.
    public let messageId: String
    /// `receiptHandle`.
    public let receiptHandle: String
    /// `body`, unparsed.
    public let body: String
    /// `attributes`: ApproximateReceiveCount, SentTimestamp, SenderId, ApproximateFirstReceiveTimestamp, and on
    /// FIFO queues MessageGroupId, MessageDeduplicationId, SequenceNumber; AWSTraceHeader and
    /// DeadLetterQueueSourceArn when present. Timestamps in epoch milliseconds.
    public let attributes: [String: String]
    /// `messageAttributes`.
    public let messageAttributes: [String: SQSEventMessageAttribute]
    /// `md5OfBody`.
    public let md5OfBody: String
    /// `md5OfMessageAttributes`, when the message has attributes.
    public let md5OfMessageAttributes: String?
    /// `eventSource`: `aws:sqs`.
    public var eventSource: String { "aws:sqs" }
    /// `eventSourceARN`: the queue's ARN.
    public let eventSourceARN: String
    /// `awsRegion`.
    public let awsRegion: String

    init(_ message: Message, queueArn: String, region: String) {
        messageId = message.messageId
        receiptHandle = message.receiptHandle
        body = message.body
        attributes = Dictionary(uniqueKeysWithValues: message.attributes.map { ($0.key.rawValue, $0.value) })
        messageAttributes = message.messageAttributes.mapValues(SQSEventMessageAttribute.init)
        md5OfBody = message.md5OfBody
        md5OfMessageAttributes = message.md5OfMessageAttributes
        eventSourceARN = queueArn
        awsRegion = region
    }

    /// Bytes this record adds to an invocation payload, metadata included (Lambda's 6 MB cap counts it all).
    var payloadSize: Int {
        var size = 400 + messageId.utf8.count + receiptHandle.utf8.count + body.utf8.count + eventSourceARN.utf8.count
        for (key, value) in attributes { size += key.utf8.count + value.utf8.count + 6 }
        for (key, value) in messageAttributes {
            size += key.utf8.count + value.dataType.utf8.count + (value.stringValue?.utf8.count ?? 0) + 80
            size += ((value.binaryValue?.count ?? 0) + 2) / 3 * 4
        }
        return size
    }
}

/// A message attribute in Lambda's shape.
public struct SQSEventMessageAttribute: Sendable, Hashable {
    /// `stringValue`.
    public let stringValue: String?
    /// `binaryValue` (base64 in Lambda's JSON).
    public let binaryValue: Data?
    /// `dataType`.
    public let dataType: String

    init(_ value: MessageAttributeValue) {
        stringValue = value.stringValue
        binaryValue = value.binaryValue
        dataType = value.dataType
    }
}

/// A handler's partial batch response: `{"batchItemFailures":[{"itemIdentifier":"<messageId>"}]}`.
///
/// Only read when the mapping has `reportBatchItemFailures`. As on Lambda, an empty or nil list means complete
/// success, and a malformed response, an empty or nil identifier, or one that names no record of the batch fails
/// the whole batch. Duplicate identifiers are treated as a set.
public struct SQSBatchResponse: Sendable, Hashable {
    /// One failed record.
    public struct BatchItemFailure: Sendable, Hashable {
        /// `itemIdentifier`: the record's `messageId`.
        public var itemIdentifier: String?

        /// Creates a failure entry.
        public init(itemIdentifier: String?) {
            self.itemIdentifier = itemIdentifier
        }
    }

    /// `batchItemFailures`.
    public var batchItemFailures: [BatchItemFailure]?
    /// Set when the response could not be read (bad JSON, a misspelled key): the whole batch fails.
    let isMalformed: Bool

    /// Creates a response listing failed message ids.
    public init(batchItemFailures: [BatchItemFailure]? = []) {
        self.batchItemFailures = batchItemFailures
        self.isMalformed = false
    }

    /// Reads a response as a Lambda function would return it, in JSON.
    public init(json: String) {
        guard let object = JSONValue.policyObject(json) else {
            self.batchItemFailures = nil
            self.isMalformed = true
            return
        }
        var failures: [BatchItemFailure]?
        var malformed = false
        switch object["batchItemFailures"] {
        case nil, .null?: failures = nil
        case .array(let list)?:
            failures = []
            for item in list {
                guard let keys = item.members?.map(\.key), Set(keys) == ["itemIdentifier"] else {
                    malformed = true
                    continue
                }
                failures?.append(BatchItemFailure(itemIdentifier: item["itemIdentifier"]?.stringValue))
            }
        default: malformed = true
        }
        self.batchItemFailures = failures
        self.isMalformed = malformed
    }

    /// The message ids to keep on the queue, or nil when the whole batch failed (Lambda's validation table).
    func failedIds(in batch: Set<String>) -> Set<String>? {
        guard !isMalformed else { return nil }
        var failed = Set<String>()
        for failure in batchItemFailures ?? [] {
            guard let id = failure.itemIdentifier, !id.isEmpty, batch.contains(id) else { return nil }
            failed.insert(id)
        }
        return failed
    }
}

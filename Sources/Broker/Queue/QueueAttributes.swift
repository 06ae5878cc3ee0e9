import Foundation

/// The names of SQS queue attributes, spelled as AWS spells them in `Attributes` maps.
public enum QueueAttributeName: String, Sendable, CaseIterable, Hashable {
    // Settable
    case visibilityTimeout = "VisibilityTimeout"
    case delaySeconds = "DelaySeconds"
    case maximumMessageSize = "MaximumMessageSize"
    case messageRetentionPeriod = "MessageRetentionPeriod"
    case receiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"
    case policy = "Policy"
    case redrivePolicy = "RedrivePolicy"
    case redriveAllowPolicy = "RedriveAllowPolicy"
    case kmsMasterKeyId = "KmsMasterKeyId"
    case kmsDataKeyReusePeriodSeconds = "KmsDataKeyReusePeriodSeconds"
    case sqsManagedSseEnabled = "SqsManagedSseEnabled"
    case fifoQueue = "FifoQueue"
    case contentBasedDeduplication = "ContentBasedDeduplication"
    case deduplicationScope = "DeduplicationScope"
    case fifoThroughputLimit = "FifoThroughputLimit"
    // Read-only
    case approximateNumberOfMessages = "ApproximateNumberOfMessages"
    case approximateNumberOfMessagesNotVisible = "ApproximateNumberOfMessagesNotVisible"
    case approximateNumberOfMessagesDelayed = "ApproximateNumberOfMessagesDelayed"
    case createdTimestamp = "CreatedTimestamp"
    case lastModifiedTimestamp = "LastModifiedTimestamp"
    case queueArn = "QueueArn"

    /// Attributes that GetQueueAttributes reports but CreateQueue and SetQueueAttributes refuse.
    public var isReadOnly: Bool {
        switch self {
        case .approximateNumberOfMessages, .approximateNumberOfMessagesNotVisible, .approximateNumberOfMessagesDelayed,
             .createdTimestamp, .lastModifiedTimestamp, .queueArn:
            true
        default:
            false
        }
    }

    /// Attributes that exist only on FIFO queues.
    public var isFifoOnly: Bool {
        switch self {
        case .fifoQueue, .contentBasedDeduplication, .deduplicationScope, .fifoThroughputLimit: true
        default: false
        }
    }
}

/// `FifoThroughputLimit` of a FIFO queue.
public enum FifoThroughputLimit: String, Sendable, Hashable {
    /// The throughput quota applies to the whole queue (the default).
    case perQueue
    /// The throughput quota applies per message group (high-throughput FIFO).
    case perMessageGroupId
}

/// Queue attributes to set on CreateQueue or SetQueueAttributes; `nil` leaves an attribute as it is (or at AWS's
/// default on creation). Time values are whole seconds, as AWS takes them.
public struct QueueAttributes: Sendable, Hashable {
    /// `VisibilityTimeout`: 0 s – 12 h, default 30 s.
    public var visibilityTimeout: Duration?
    /// `DelaySeconds`: 0 – 900 s, default 0.
    public var delaySeconds: Duration?
    /// `MaximumMessageSize` in bytes: 1 024 – 1 048 576, default 1 048 576.
    public var maximumMessageSize: Int?
    /// `MessageRetentionPeriod`: 60 s – 14 days, default 4 days.
    public var messageRetentionPeriod: Duration?
    /// `ReceiveMessageWaitTimeSeconds`, the default long-poll wait: 0 – 20 s, default 0.
    public var receiveMessageWaitTimeSeconds: Duration?
    /// `Policy`: an access policy document, stored and returned but not enforced.
    public var policy: String?
    /// `RedrivePolicy`: where messages go after `maxReceiveCount` receives.
    public var redrivePolicy: RedrivePolicy?
    /// `RedriveAllowPolicy`: which source queues may use this queue as their dead-letter queue.
    public var redriveAllowPolicy: RedriveAllowPolicy?
    /// `KmsMasterKeyId`: stored and returned; Broker does not encrypt.
    public var kmsMasterKeyId: String?
    /// `KmsDataKeyReusePeriodSeconds`: 60 s – 24 h, default 300 s; stored only.
    public var kmsDataKeyReusePeriodSeconds: Duration?
    /// `SqsManagedSseEnabled`: stored only; AWS's default for new queues is `true`.
    public var sqsManagedSseEnabled: Bool?
    /// `FifoQueue`: set on creation only; a FIFO queue's name must end in `.fifo`.
    public var fifoQueue: Bool?
    /// `ContentBasedDeduplication` (FIFO only): the SHA-256 of the body stands in for a missing deduplication id.
    public var contentBasedDeduplication: Bool?
    /// `DeduplicationScope` (FIFO only).
    public var deduplicationScope: DeduplicationScope?
    /// `FifoThroughputLimit` (FIFO only).
    public var fifoThroughputLimit: FifoThroughputLimit?

    /// Creates a set of attributes; every attribute left `nil` is not specified.
    public init(
        visibilityTimeout: Duration? = nil,
        delaySeconds: Duration? = nil,
        maximumMessageSize: Int? = nil,
        messageRetentionPeriod: Duration? = nil,
        receiveMessageWaitTimeSeconds: Duration? = nil,
        policy: String? = nil,
        redrivePolicy: RedrivePolicy? = nil,
        redriveAllowPolicy: RedriveAllowPolicy? = nil,
        kmsMasterKeyId: String? = nil,
        kmsDataKeyReusePeriodSeconds: Duration? = nil,
        sqsManagedSseEnabled: Bool? = nil,
        fifoQueue: Bool? = nil,
        contentBasedDeduplication: Bool? = nil,
        deduplicationScope: DeduplicationScope? = nil,
        fifoThroughputLimit: FifoThroughputLimit? = nil
    ) {
        self.visibilityTimeout = visibilityTimeout
        self.delaySeconds = delaySeconds
        self.maximumMessageSize = maximumMessageSize
        self.messageRetentionPeriod = messageRetentionPeriod
        self.receiveMessageWaitTimeSeconds = receiveMessageWaitTimeSeconds
        self.policy = policy
        self.redrivePolicy = redrivePolicy
        self.redriveAllowPolicy = redriveAllowPolicy
        self.kmsMasterKeyId = kmsMasterKeyId
        self.kmsDataKeyReusePeriodSeconds = kmsDataKeyReusePeriodSeconds
        self.sqsManagedSseEnabled = sqsManagedSseEnabled
        self.fifoQueue = fifoQueue
        self.contentBasedDeduplication = contentBasedDeduplication
        self.deduplicationScope = deduplicationScope
        self.fifoThroughputLimit = fifoThroughputLimit
    }

    /// Parses AWS's string map (`["VisibilityTimeout": "60"]`), as boto3 and the CLI send it.
    ///
    /// Unknown or read-only names throw `InvalidAttributeName`; values that do not parse throw
    /// `InvalidAttributeValue`. Ranges are checked when the attributes are applied to a queue.
    public init(awsAttributes: [String: String]) throws(BrokerError) {
        self.init()
        for (key, value) in awsAttributes {
            guard let name = QueueAttributeName(rawValue: key), !name.isReadOnly else {
                throw BrokerError(.invalidAttributeName, "Unknown Attribute \(key).")
            }
            try set(name, from: value)
        }
    }

    private mutating func set(_ name: QueueAttributeName, from value: String) throws(BrokerError) {
        func seconds() throws(BrokerError) -> Duration {
            // No trimming: AWS refuses " 30" as it refuses "thirty".
            guard let number = Int(value) else {
                throw BrokerError.invalidAttributeValue(name.rawValue)
            }
            return .seconds(number)
        }
        func bool() throws(BrokerError) -> Bool {
            switch value.lowercased() {
            case "true": return true
            case "false": return false
            default: throw BrokerError.invalidAttributeValue(name.rawValue)
            }
        }
        switch name {
        case .visibilityTimeout: visibilityTimeout = try seconds()
        case .delaySeconds: delaySeconds = try seconds()
        case .maximumMessageSize: maximumMessageSize = Int(try seconds().components.seconds)
        case .messageRetentionPeriod: messageRetentionPeriod = try seconds()
        case .receiveMessageWaitTimeSeconds: receiveMessageWaitTimeSeconds = try seconds()
        case .policy:
            // An access policy is a JSON object; an empty value removes the policy.
            if !value.isEmpty {
                guard case .object? = try? JSONParser.parse(value) else {
                    throw BrokerError.invalidAttributeValue(name.rawValue)
                }
            }
            policy = value
        case .redrivePolicy: redrivePolicy = try RedrivePolicy(json: value)
        case .redriveAllowPolicy: redriveAllowPolicy = try RedriveAllowPolicy(json: value)
        case .kmsMasterKeyId: kmsMasterKeyId = value
        case .kmsDataKeyReusePeriodSeconds: kmsDataKeyReusePeriodSeconds = try seconds()
        case .sqsManagedSseEnabled: sqsManagedSseEnabled = try bool()
        case .fifoQueue: fifoQueue = try bool()
        case .contentBasedDeduplication: contentBasedDeduplication = try bool()
        case .deduplicationScope:
            guard let scope = DeduplicationScope(rawValue: value) else { throw BrokerError.invalidAttributeValue(name.rawValue) }
            deduplicationScope = scope
        case .fifoThroughputLimit:
            guard let limit = FifoThroughputLimit(rawValue: value) else { throw BrokerError.invalidAttributeValue(name.rawValue) }
            fifoThroughputLimit = limit
        case .approximateNumberOfMessages, .approximateNumberOfMessagesNotVisible, .approximateNumberOfMessagesDelayed,
             .createdTimestamp, .lastModifiedTimestamp, .queueArn:
            throw BrokerError(.invalidAttributeName, "Unknown Attribute \(name.rawValue).")
        }
    }

    /// The names of the attributes this value specifies.
    var specifiedNames: [QueueAttributeName] {
        var names: [QueueAttributeName] = []
        if visibilityTimeout != nil { names.append(.visibilityTimeout) }
        if delaySeconds != nil { names.append(.delaySeconds) }
        if maximumMessageSize != nil { names.append(.maximumMessageSize) }
        if messageRetentionPeriod != nil { names.append(.messageRetentionPeriod) }
        if receiveMessageWaitTimeSeconds != nil { names.append(.receiveMessageWaitTimeSeconds) }
        if policy != nil { names.append(.policy) }
        if redrivePolicy != nil { names.append(.redrivePolicy) }
        if redriveAllowPolicy != nil { names.append(.redriveAllowPolicy) }
        if kmsMasterKeyId != nil { names.append(.kmsMasterKeyId) }
        if kmsDataKeyReusePeriodSeconds != nil { names.append(.kmsDataKeyReusePeriodSeconds) }
        if sqsManagedSseEnabled != nil { names.append(.sqsManagedSseEnabled) }
        if fifoQueue != nil { names.append(.fifoQueue) }
        if contentBasedDeduplication != nil { names.append(.contentBasedDeduplication) }
        if deduplicationScope != nil { names.append(.deduplicationScope) }
        if fifoThroughputLimit != nil { names.append(.fifoThroughputLimit) }
        return names
    }
}

/// A queue's complete, validated configuration: AWS's defaults plus whatever was set. Kept in whole seconds,
/// the unit AWS stores and reports.
struct QueueSettings: Sendable, Equatable {
    var visibilityTimeout = 30
    var delaySeconds = 0
    var maximumMessageSize = 1_048_576
    var messageRetentionPeriod = 345_600
    var receiveMessageWaitTimeSeconds = 0
    var policy: String?
    var redrivePolicy: RedrivePolicy?
    var redriveAllowPolicy: RedriveAllowPolicy?
    var kmsMasterKeyId: String?
    var kmsDataKeyReusePeriodSeconds = 300
    var sqsManagedSseEnabled = true
    var fifoQueue = false
    var contentBasedDeduplication = false
    var deduplicationScope = DeduplicationScope.queue
    var fifoThroughputLimit = FifoThroughputLimit.perQueue

    /// Applies `attributes` with AWS's range and queue-type checks; on error nothing is changed.
    mutating func apply(_ attributes: QueueAttributes, creating: Bool) throws(BrokerError) {
        var next = self
        if let fifo = attributes.fifoQueue {
            if creating, fifo {
                next.fifoQueue = true
            } else if creating || !fifoQueue {
                // AWS knows FifoQueue only on FIFO queues: a standard queue refuses it even as `false`.
                throw BrokerError(.invalidAttributeName, "Unknown Attribute FifoQueue.")
            } else if !fifo {
                throw BrokerError(.invalidAttributeValue,
                    "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
            }
        }
        if !next.fifoQueue {
            for name in attributes.specifiedNames where name.isFifoOnly && name != .fifoQueue {
                throw BrokerError(.invalidAttributeName, creating
                    ? "You can specify the \(name.rawValue) only when FifoQueue is set to true."
                    : "Unknown Attribute \(name.rawValue).")
            }
        }
        func seconds(_ value: Duration?, _ name: QueueAttributeName, _ range: ClosedRange<Int>) throws(BrokerError) -> Int? {
            guard let value else { return nil }
            let (whole, fraction) = value.components
            guard fraction == 0, let number = Int(exactly: whole), range.contains(number) else {
                throw BrokerError.invalidAttributeValue(name.rawValue)
            }
            return number
        }
        if let v = try seconds(attributes.visibilityTimeout, .visibilityTimeout, 0...43_200) { next.visibilityTimeout = v }
        if let v = try seconds(attributes.delaySeconds, .delaySeconds, 0...900) { next.delaySeconds = v }
        if let v = try seconds(attributes.messageRetentionPeriod, .messageRetentionPeriod, 60...1_209_600) { next.messageRetentionPeriod = v }
        if let v = try seconds(attributes.receiveMessageWaitTimeSeconds, .receiveMessageWaitTimeSeconds, 0...20) { next.receiveMessageWaitTimeSeconds = v }
        if let v = try seconds(attributes.kmsDataKeyReusePeriodSeconds, .kmsDataKeyReusePeriodSeconds, 60...86_400) { next.kmsDataKeyReusePeriodSeconds = v }
        if let size = attributes.maximumMessageSize {
            guard (1_024...1_048_576).contains(size) else { throw BrokerError.invalidAttributeValue("MaximumMessageSize") }
            next.maximumMessageSize = size
        }
        if let policy = attributes.policy { next.policy = policy.isEmpty ? nil : policy }
        if let kms = attributes.kmsMasterKeyId { next.kmsMasterKeyId = kms.isEmpty ? nil : kms }
        if let sse = attributes.sqsManagedSseEnabled { next.sqsManagedSseEnabled = sse }
        if let redrive = attributes.redrivePolicy { next.redrivePolicy = redrive.isRemoval ? nil : redrive }
        if let allow = attributes.redriveAllowPolicy {
            // The typed value obeys the limit the JSON parser checks: byQueue names 1–10 source queues.
            if case .byQueue(let arns) = allow, !(1...10).contains(arns.count) {
                throw BrokerError(.invalidAttributeValue,
                    "Invalid value for the parameter RedriveAllowPolicy. Reason: sourceQueueArns must list between 1 and 10 queue ARNs when redrivePermission is byQueue.")
            }
            next.redriveAllowPolicy = allow
        }
        if let cbd = attributes.contentBasedDeduplication { next.contentBasedDeduplication = cbd }
        if let scope = attributes.deduplicationScope { next.deduplicationScope = scope }
        if let limit = attributes.fifoThroughputLimit { next.fifoThroughputLimit = limit }
        if next.fifoQueue, next.fifoThroughputLimit == .perMessageGroupId, next.deduplicationScope == .queue {
            // AWS: high-throughput mode needs message-group deduplication.
            throw BrokerError(.invalidAttributeValue,
                "Invalid value for the parameter FifoThroughputLimit. Reason: perMessageGroupId is allowed only when DeduplicationScope is messageGroup.")
        }
        self = next
    }

    /// The value of one attribute as AWS reports it, or nil when AWS leaves it out.
    func awsValue(of name: QueueAttributeName) -> String? {
        switch name {
        case .visibilityTimeout: String(visibilityTimeout)
        case .delaySeconds: String(delaySeconds)
        case .maximumMessageSize: String(maximumMessageSize)
        case .messageRetentionPeriod: String(messageRetentionPeriod)
        case .receiveMessageWaitTimeSeconds: String(receiveMessageWaitTimeSeconds)
        case .policy: policy
        case .redrivePolicy: redrivePolicy?.json
        case .redriveAllowPolicy: redriveAllowPolicy?.json
        case .kmsMasterKeyId: kmsMasterKeyId
        case .kmsDataKeyReusePeriodSeconds: kmsMasterKeyId == nil ? nil : String(kmsDataKeyReusePeriodSeconds)
        // SSE-KMS replaces SSE-SQS: AWS then reports SqsManagedSseEnabled as false.
        case .sqsManagedSseEnabled: kmsMasterKeyId == nil ? String(sqsManagedSseEnabled) : "false"
        case .fifoQueue: fifoQueue ? "true" : nil
        case .contentBasedDeduplication: fifoQueue ? String(contentBasedDeduplication) : nil
        case .deduplicationScope: fifoQueue ? deduplicationScope.rawValue : nil
        case .fifoThroughputLimit: fifoQueue ? fifoThroughputLimit.rawValue : nil
        default: nil
        }
    }

    /// The typed view of these settings, every attribute filled in.
    var attributes: QueueAttributes {
        QueueAttributes(
            visibilityTimeout: .seconds(visibilityTimeout), delaySeconds: .seconds(delaySeconds),
            maximumMessageSize: maximumMessageSize, messageRetentionPeriod: .seconds(messageRetentionPeriod),
            receiveMessageWaitTimeSeconds: .seconds(receiveMessageWaitTimeSeconds), policy: policy,
            redrivePolicy: redrivePolicy, redriveAllowPolicy: redriveAllowPolicy, kmsMasterKeyId: kmsMasterKeyId,
            kmsDataKeyReusePeriodSeconds: .seconds(kmsDataKeyReusePeriodSeconds),
            sqsManagedSseEnabled: kmsMasterKeyId == nil && sqsManagedSseEnabled,
            fifoQueue: fifoQueue, contentBasedDeduplication: fifoQueue ? contentBasedDeduplication : nil,
            deduplicationScope: fifoQueue ? deduplicationScope : nil, fifoThroughputLimit: fifoQueue ? fifoThroughputLimit : nil)
    }
}

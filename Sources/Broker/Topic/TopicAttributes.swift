import Foundation

/// Topic attributes to set on CreateTopic (nil: AWS's default). SetTopicAttributes takes AWS's name/value pairs.
public struct TopicAttributes: Sendable, Hashable {
    /// `DisplayName`: up to 100 printable ASCII characters.
    public var displayName: String?
    /// `Policy`: stored and returned, not enforced.
    public var policy: String?
    /// `DeliveryPolicy`: retry policy for handler subscriptions (AWS's HTTP/S delivery policy JSON).
    public var deliveryPolicy: String?
    /// `FifoTopic`: set on creation only; the name must end in `.fifo`.
    public var fifoTopic: Bool?
    /// `ContentBasedDeduplication` (FIFO topics): SHA-256 of the message stands in for a missing deduplication id.
    public var contentBasedDeduplication: Bool?
    /// `FifoThroughputScope` (FIFO topics): `Topic` (default) or `MessageGroup`; with `MessageGroup`
    /// deduplication is per message group.
    public var fifoThroughputScope: String?
    /// `SignatureVersion`: `1` (default, SHA1withRSA) or `2` (SHA256withRSA): how envelopes are signed when the broker
    /// has a ``BrokerConfiguration/messageSigner``; without one they carry an unsigned placeholder.
    public var signatureVersion: String?
    /// `TracingConfig`: `PassThrough` (default) or `Active`.
    public var tracingConfig: String?
    /// `KmsMasterKeyId`: stored only.
    public var kmsMasterKeyId: String?

    /// Creates topic attributes; every attribute left nil takes AWS's default.
    public init(displayName: String? = nil, policy: String? = nil, deliveryPolicy: String? = nil, fifoTopic: Bool? = nil,
                contentBasedDeduplication: Bool? = nil, fifoThroughputScope: String? = nil,
                signatureVersion: String? = nil, tracingConfig: String? = nil, kmsMasterKeyId: String? = nil) {
        self.displayName = displayName
        self.policy = policy
        self.deliveryPolicy = deliveryPolicy
        self.fifoTopic = fifoTopic
        self.contentBasedDeduplication = contentBasedDeduplication
        self.fifoThroughputScope = fifoThroughputScope
        self.signatureVersion = signatureVersion
        self.tracingConfig = tracingConfig
        self.kmsMasterKeyId = kmsMasterKeyId
    }

    /// Parses AWS's string map as CreateTopic takes it.
    public init(awsAttributes: [String: String]) throws(BrokerError) {
        self.init()
        for (name, value) in awsAttributes { try set(name, value) }
    }

    mutating func set(_ name: String, _ value: String) throws(BrokerError) {
        switch name {
        case "DisplayName": displayName = value
        case "Policy": policy = value
        case "DeliveryPolicy": deliveryPolicy = value
        case "FifoTopic": fifoTopic = try TopicSettings.bool(value, name)
        case "ContentBasedDeduplication": contentBasedDeduplication = try TopicSettings.bool(value, name)
        case "FifoThroughputScope": fifoThroughputScope = value
        case "SignatureVersion": signatureVersion = value
        case "TracingConfig": tracingConfig = value
        case "KmsMasterKeyId": kmsMasterKeyId = value
        default: throw BrokerError(.invalidParameter, "Invalid parameter: AttributeName")
        }
    }
}

/// `FifoThroughputScope` of a FIFO topic, as the wire spells it. The public ``TopicAttributes`` keeps AWS's string,
/// so code written against it keeps compiling; a topic's settings hold it typed once validated.
enum FifoThroughputScope: String, Sendable {
    /// Throughput quota and deduplication across the topic (the default).
    case topic = "Topic"
    /// Throughput quota and deduplication per message group.
    case messageGroup = "MessageGroup"

    /// The deduplication scope the same rule has on a FIFO queue.
    var deduplicationScope: DeduplicationScope {
        switch self {
        case .topic: .queue
        case .messageGroup: .messageGroup
        }
    }
}

/// A topic's validated configuration.
struct TopicSettings: Sendable, Equatable {
    var displayName = ""
    var policy: String?
    var deliveryPolicy: DeliveryPolicy?
    var fifoTopic = false
    var contentBasedDeduplication = false
    /// The next three are nil until set: GetTopicAttributes lists them only then, as AWS does. Unset, they mean
    /// `Topic`, `1` and `PassThrough`.
    var fifoThroughputScope: FifoThroughputScope?
    var signatureVersion: String?
    var tracingConfig: String?
    var kmsMasterKeyId: String?

    static func bool(_ value: String, _ name: String) throws(BrokerError) -> Bool {
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default: throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: \(name): Invalid value [\(value)]. Must be true or false.")
        }
    }

    /// Applies attributes with AWS's checks; nothing changes on error.
    mutating func apply(_ attributes: TopicAttributes, creating: Bool) throws(BrokerError) {
        var next = self
        if let fifo = attributes.fifoTopic {
            if creating {
                next.fifoTopic = fifo
            } else {
                // AWS refuses the attribute itself once the topic exists, even with the value it already has.
                throw BrokerError(.invalidParameter, "Invalid parameter: AttributeName")
            }
        }
        if !next.fifoTopic {
            if attributes.contentBasedDeduplication == true {
                throw BrokerError(.invalidParameter, "Invalid parameter: ContentBasedDeduplication Reason: Content-based deduplication can only be set for FIFO topics")
            }
            if attributes.fifoThroughputScope != nil {
                throw BrokerError(.invalidParameter, "Invalid parameter: FifoThroughputScope Reason: FifoThroughputScope can only be set for FIFO topics")
            }
        }
        if let name = attributes.displayName {
            // Printable ASCII only: the name is an SMS sender's and an email's display name.
            guard name.count <= 100, name.utf8.allSatisfy({ (0x20...0x7E).contains($0) }) else {
                throw BrokerError(.invalidParameter, "Invalid parameter: DisplayName")
            }
            next.displayName = name
        }
        if let policy = attributes.policy {
            guard JSONValue.policyObject(policy) != nil else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Policy Error: null")
            }
            next.policy = policy
        }
        if let delivery = attributes.deliveryPolicy {
            next.deliveryPolicy = delivery.isEmpty ? nil : try DeliveryPolicy(json: delivery)
        }
        if let cbd = attributes.contentBasedDeduplication { next.contentBasedDeduplication = cbd }
        if let scope = attributes.fifoThroughputScope {
            guard let typed = FifoThroughputScope(rawValue: scope) else {
                throw BrokerError(.invalidParameter, "Invalid parameter: FifoThroughputScope Reason: Invalid value [\(scope)]. Must be Topic or MessageGroup.")
            }
            next.fifoThroughputScope = typed
        }
        if let version = attributes.signatureVersion {
            guard version == "1" || version == "2" else {
                throw BrokerError(.invalidParameter, "Invalid parameter: SignatureVersion Reason: Invalid value [\(version)]. Must be 1 or 2.")
            }
            next.signatureVersion = version
        }
        if let tracing = attributes.tracingConfig {
            guard tracing == "PassThrough" || tracing == "Active" else {
                throw BrokerError(.invalidParameter, "Invalid parameter: TracingConfig Reason: Invalid value [\(tracing)]. Must be PassThrough or Active.")
            }
            next.tracingConfig = tracing
        }
        if let kms = attributes.kmsMasterKeyId { next.kmsMasterKeyId = kms.isEmpty ? nil : kms }
        self = next
    }

    /// The AWS default access policy of a topic, as GetTopicAttributes returns it when none was set.
    static func defaultPolicy(topicArn: String, account: String) -> String {
        #"{"Version":"2008-10-17","Id":"__default_policy_ID","Statement":[{"Sid":"__default_statement_ID","Effect":"Allow","Principal":{"AWS":"*"},"Action":["SNS:GetTopicAttributes","SNS:SetTopicAttributes","SNS:AddPermission","SNS:RemovePermission","SNS:DeleteTopic","SNS:Subscribe","SNS:ListSubscriptionsByTopic","SNS:Publish"],"Resource":""#
            + topicArn + #"","Condition":{"StringEquals":{"AWS:SourceOwner":""# + account + #""}}}]}"#
    }
}

import Foundation

/// Subscription attributes to set on Subscribe (nil: default); SetSubscriptionAttributes takes name/value pairs.
public struct SubscriptionAttributes: Sendable, Hashable {
    /// `FilterPolicy`: JSON; empty string removes it.
    public var filterPolicy: String?
    /// `FilterPolicyScope`: `MessageAttributes` (default) or `MessageBody`. It may be set before any filter policy,
    /// as on AWS: the next policy takes it.
    public var filterPolicyScope: String?
    /// `RawMessageDelivery` (SQS subscriptions): deliver the message itself, attributes as SQS message attributes.
    public var rawMessageDelivery: Bool?
    /// `RedrivePolicy`: `{"deadLetterTargetArn":"arn:aws:sqs:…"}`, the subscription's dead-letter queue.
    public var redrivePolicy: String?
    /// `DeliveryPolicy`: retry policy for handler subscriptions.
    public var deliveryPolicy: String?

    /// Creates subscription attributes.
    public init(filterPolicy: String? = nil, filterPolicyScope: String? = nil, rawMessageDelivery: Bool? = nil,
                redrivePolicy: String? = nil, deliveryPolicy: String? = nil) {
        self.filterPolicy = filterPolicy
        self.filterPolicyScope = filterPolicyScope
        self.rawMessageDelivery = rawMessageDelivery
        self.redrivePolicy = redrivePolicy
        self.deliveryPolicy = deliveryPolicy
    }

    /// Parses AWS's string map.
    public init(awsAttributes: [String: String]) throws(BrokerError) {
        self.init()
        for (name, value) in awsAttributes { try set(name, value) }
    }

    mutating func set(_ name: String, _ value: String) throws(BrokerError) {
        switch name {
        case "FilterPolicy": filterPolicy = value
        case "FilterPolicyScope": filterPolicyScope = value
        case "RawMessageDelivery": rawMessageDelivery = try TopicSettings.bool(value, name)
        case "RedrivePolicy": redrivePolicy = value
        case "DeliveryPolicy": deliveryPolicy = value
        default: throw BrokerError(.invalidParameter, "Invalid parameter: AttributeName")
        }
    }
}

/// How a subscription's endpoint is reached.
public enum SubscriptionProtocol: String, Sendable, Hashable {
    /// An SQS queue of the same broker.
    case sqs
    /// An in-process handler, standing where a Lambda function would (endpoint: a Lambda-style ARN).
    case lambda
}

/// A subscription as ListSubscriptions reports it.
public struct SubscriptionInfo: Sendable, Hashable {
    /// `SubscriptionArn`.
    public let subscriptionArn: String
    /// `TopicArn`.
    public let topicArn: String
    /// `Protocol`.
    public let `protocol`: SubscriptionProtocol
    /// `Endpoint`: a queue ARN or a handler's Lambda-style ARN.
    public let endpoint: String
    /// `Owner`: the account id.
    public let owner: String
}

/// Delivery outcomes of one subscription, counted since it was created.
public struct DeliveryStatistics: Sendable, Hashable {
    /// Copies delivered.
    public var delivered = 0
    /// Failed attempts that were retried.
    public var retried = 0
    /// Copies that ended in the subscription's dead-letter queue.
    public var deadLettered = 0
    /// Copies that failed for good with no dead-letter queue (or a failing one), and were dropped.
    public var dropped = 0
    /// Copies the filter policy kept back.
    public var filteredOut = 0
    /// Why the last copy that failed for good (dead-lettered or dropped) failed. AWS adds nothing to a copy it
    /// moves to a dead-letter queue, so this is where the reason is kept.
    public var lastFailure: BrokerError?
}

/// A subscription's validated settings.
struct SubscriptionSettings: Sendable, Equatable {
    var filterPolicy: FilterPolicy?
    /// The scope of the current policy, or of the next one when none is set: AWS accepts `FilterPolicyScope` before
    /// any `FilterPolicy` (and lists it only once a policy exists).
    var filterPolicyScope: FilterPolicy.Scope = .messageAttributes
    var rawMessageDelivery = false
    var deadLetterTargetArn: String?
    var deliveryPolicy: DeliveryPolicy?

    /// `fifoSubscription`: a FIFO queue subscribed to a FIFO topic, whose dead-letter queue must be FIFO too.
    mutating func apply(_ attributes: SubscriptionAttributes, protocol: SubscriptionProtocol,
                        fifoSubscription: Bool = false) throws(BrokerError) {
        var next = self
        if let name = attributes.filterPolicyScope {
            next.filterPolicyScope = try FilterPolicy.Scope(validating: name)
        }
        let scope = next.filterPolicyScope
        if let json = attributes.filterPolicy {
            next.filterPolicy = json.trimmingCharacters(in: .whitespaces).isEmpty ? nil : try FilterPolicy(json: json, scope: scope)
        } else if let policy = filterPolicy, policy.scope != scope {
            next.filterPolicy = try FilterPolicy(json: policy.json, scope: scope)
        }
        if let raw = attributes.rawMessageDelivery {
            guard `protocol` == .sqs || !raw else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: RawMessageDelivery is supported only for the sqs, http, https and firehose protocols")
            }
            next.rawMessageDelivery = raw
        }
        if let redrive = attributes.redrivePolicy {
            if redrive.trimmingCharacters(in: .whitespaces).isEmpty {
                next.deadLetterTargetArn = nil
            } else {
                guard let object = PolicyJSON.parseObject(redrive) else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: RedrivePolicy: failed to parse JSON.")
                }
                guard let arn = object["deadLetterTargetArn"] as? String, Topic.isQueueArn(arn) else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: RedrivePolicy: deadLetterTargetArn is an invalid arn")
                }
                if fifoSubscription, !arn.hasSuffix(".fifo") {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: RedrivePolicy: must use a FIFO queue as DLQ for a FIFO Subscription to a FIFO Topic.")
                }
                next.deadLetterTargetArn = arn
            }
        }
        if let delivery = attributes.deliveryPolicy {
            next.deliveryPolicy = delivery.isEmpty ? nil : try DeliveryPolicy(json: delivery)
        }
        self = next
    }
}

/// A subscription in a topic's state. The handler and counters are shared with in-flight deliveries.
///
/// Immutable, and a class: a publish walks its topic's records, and copying a struct of this many fields retained
/// and released each of them per subscription. New settings replace the record (`with(settings:)`), keeping its
/// counters and resolved queue.
final class SubscriptionRecord: Sendable {
    let arn: String
    let `protocol`: SubscriptionProtocol
    let endpoint: String
    let settings: SubscriptionSettings
    let handler: (@Sendable (SNSNotification) async throws -> Void)?
    let statistics: LockedState<DeliveryStatistics>
    /// SQS subscriptions: the endpoint's queue, once looked up.
    let queue: ResolvedQueue

    init(arn: String, protocol: SubscriptionProtocol, endpoint: String, settings: SubscriptionSettings,
         handler: (@Sendable (SNSNotification) async throws -> Void)?, statistics: LockedState<DeliveryStatistics>,
         queue: ResolvedQueue = ResolvedQueue()) {
        self.arn = arn
        self.protocol = `protocol`
        self.endpoint = endpoint
        self.settings = settings
        self.handler = handler
        self.statistics = statistics
        self.queue = queue
    }

    func with(settings: SubscriptionSettings) -> SubscriptionRecord {
        SubscriptionRecord(arn: arn, protocol: `protocol`, endpoint: endpoint, settings: settings, handler: handler,
                           statistics: statistics, queue: queue)
    }

    func count(_ update: (inout DeliveryStatistics) -> Void) {
        statistics.withLock { update(&$0) }
    }
}

/// The queue an SQS subscription delivers to, looked up by ARN on first use and again only when the queue it
/// found has been deleted, instead of a registry lookup (ARN parsing, a second lock, a String hash) for every copy.
/// Held strongly (a weak reference would give every queue core a side table and slow each retain of it): a deleted
/// core drops its messages when it is deleted, so what a subscription keeps alive until its next delivery is small.
final class ResolvedQueue: Sendable {
    private let reference = LockedState<QueueCore?>(nil)

    func core(for arn: String, resolve: (String) -> QueueCore?, refresh: Bool = false) -> QueueCore? {
        if !refresh, let core = reference.withLock({ $0 }) { return core }
        let core = resolve(arn)
        reference.withLock { $0 = core }
        return core
    }
}

/// A handle to a subscription.
public struct Subscription: Sendable, Hashable {
    /// `SubscriptionArn`.
    public let arn: String
    /// The topic's ARN.
    public let topicArn: String
    /// `Protocol`.
    public let `protocol`: SubscriptionProtocol
    /// `Endpoint`.
    public let endpoint: String
    let topic: Topic

    /// Two handles are equal when they name the same subscription.
    public static func == (lhs: Subscription, rhs: Subscription) -> Bool { lhs.arn == rhs.arn }
    /// Hashes the ARN.
    public func hash(into hasher: inout Hasher) { hasher.combine(arn) }

    /// GetSubscriptionAttributes.
    public func attributes() throws(BrokerError) -> [String: String] {
        try topic.core.subscriptionAttributes(arn)
    }

    /// SetSubscriptionAttributes: one of FilterPolicy, FilterPolicyScope, RawMessageDelivery, RedrivePolicy,
    /// DeliveryPolicy.
    public func setAttribute(_ name: String, _ value: String) throws(BrokerError) {
        var attributes = SubscriptionAttributes()
        try attributes.set(name, value)
        try topic.core.updateSubscription(arn, attributes)
    }

    /// Delivery outcomes so far: delivered, retried, dead-lettered, dropped, filtered out.
    public func statistics() throws(BrokerError) -> DeliveryStatistics {
        try topic.core.subscriptionStatistics(arn)
    }
}

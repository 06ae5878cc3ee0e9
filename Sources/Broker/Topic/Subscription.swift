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
    /// `SubscriptionRoleArn`: the IAM role SNS assumes to write to a Firehose stream; required for `firehose`.
    public var subscriptionRoleArn: String?

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
        case "SubscriptionRoleArn": subscriptionRoleArn = value
        default: throw BrokerError(.invalidParameter, "Invalid parameter: AttributeName")
        }
    }
}

/// How a subscription's endpoint is reached.
public enum SubscriptionProtocol: String, Sendable, Hashable, CaseIterable {
    /// An SQS queue of the same broker.
    case sqs
    /// An in-process handler, standing where a Lambda function would (endpoint: a Lambda-style ARN); a Lambda ARN
    /// with no handler is captured in the outbox.
    case lambda
    /// An HTTP URL; confirmed by token, deliveries captured in the outbox.
    case http
    /// An HTTPS URL; confirmed by token, deliveries captured in the outbox.
    case https
    /// An email address: the message as an email's subject and text, captured in the outbox.
    case email
    /// An email address: the JSON envelope as an email's text, captured in the outbox.
    case emailJSON = "email-json"
    /// An E.164 phone number: a text message, captured in the outbox.
    case sms
    /// A platform endpoint ARN (mobile push): the platform's payload, captured in the outbox.
    case application
    /// A Kinesis Data Firehose delivery stream ARN, captured in the outbox.
    case firehose

    /// Protocols whose subscriptions wait for ConfirmSubscription, as AWS's do.
    var needsConfirmation: Bool {
        switch self {
        case .http, .https, .email, .emailJSON: true
        default: false
        }
    }
}

/// A subscription as ListSubscriptions reports it.
public struct SubscriptionInfo: Sendable, Hashable {
    /// `SubscriptionArn`.
    public let subscriptionArn: String
    /// `TopicArn`.
    public let topicArn: String
    /// `Protocol`.
    public let `protocol`: SubscriptionProtocol
    /// `Endpoint`: a queue ARN, a handler's Lambda-style ARN, a URL, an address, a phone number or an ARN.
    public let endpoint: String
    /// `Owner`: the account id.
    public let owner: String
    /// Whether the subscription waits for ConfirmSubscription; ListSubscriptions then shows its ARN as
    /// `PendingConfirmation`, as AWS does.
    public let isPendingConfirmation: Bool
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
    var subscriptionRoleArn: String?

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
            guard [.sqs, .http, .https, .firehose].contains(`protocol`) || !raw else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: RawMessageDelivery is supported only for the sqs, http, https and firehose protocols")
            }
            next.rawMessageDelivery = raw
        }
        if let redrive = attributes.redrivePolicy {
            if redrive.trimmingCharacters(in: .whitespaces).isEmpty {
                next.deadLetterTargetArn = nil
            } else {
                guard let object = JSONValue.policyObject(redrive) else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: RedrivePolicy: failed to parse JSON.")
                }
                guard let arn = object["deadLetterTargetArn"]?.stringValue, Topic.isQueueArn(arn) else {
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
        if let role = attributes.subscriptionRoleArn {
            guard role.hasPrefix("arn:"), role.split(separator: ":", omittingEmptySubsequences: false).count >= 6 else {
                throw BrokerError(.invalidParameter, "Invalid parameter: SubscriptionRoleArn Reason: invalid arn")
            }
            next.subscriptionRoleArn = role
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
    /// The confirmation token of a protocol that needs one, kept once confirmed so the same token confirms again.
    let confirmation: PendingConfirmation?
    /// Set while the subscription waits for ConfirmSubscription.
    var pending: PendingConfirmation? { confirmation?.confirmed == false ? confirmation : nil }
    /// `ConfirmationWasAuthenticated`: confirmed by a signed ConfirmSubscription with `AuthenticateOnUnsubscribe`,
    /// or a protocol that needs no confirmation.
    let authenticated: Bool
    /// HTTP/S: spaces posts by the delivery policy's `maxReceivesPerSecond`.
    let throttle = DeliveryThrottle()

    init(arn: String, protocol: SubscriptionProtocol, endpoint: String, settings: SubscriptionSettings,
         handler: (@Sendable (SNSNotification) async throws -> Void)?, statistics: LockedState<DeliveryStatistics>,
         queue: ResolvedQueue = ResolvedQueue(), confirmation: PendingConfirmation? = nil, authenticated: Bool = true) {
        self.arn = arn
        self.protocol = `protocol`
        self.endpoint = endpoint
        self.settings = settings
        self.handler = handler
        self.statistics = statistics
        self.queue = queue
        self.confirmation = confirmation
        self.authenticated = authenticated
    }

    func with(settings: SubscriptionSettings) -> SubscriptionRecord {
        SubscriptionRecord(arn: arn, protocol: `protocol`, endpoint: endpoint, settings: settings, handler: handler,
                           statistics: statistics, queue: queue, confirmation: confirmation, authenticated: authenticated)
    }

    func confirmed(authenticated: Bool) -> SubscriptionRecord {
        SubscriptionRecord(arn: arn, protocol: `protocol`, endpoint: endpoint, settings: settings, handler: handler,
                           statistics: statistics, queue: queue, confirmation: confirmation?.confirming(), authenticated: authenticated)
    }

    func count(_ update: (inout DeliveryStatistics) -> Void) {
        statistics.withLock { update(&$0) }
    }
}

/// A subscription's confirmation token and when it lapses.
struct PendingConfirmation: Sendable, Equatable {
    let token: String
    let expiresAt: Date
    var confirmed = false

    func confirming() -> PendingConfirmation {
        var next = self
        next.confirmed = true
        return next
    }

    /// AWS deletes a subscription left unconfirmed for three days.
    static let lifetime: TimeInterval = 3 * 24 * 3600
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

    /// Whether the subscription still waits for ConfirmSubscription (`http`, `https`, `email`, `email-json`).
    public func isPendingConfirmation() throws(BrokerError) -> Bool {
        try topic.core.record(arn).pending != nil
    }

    /// The token ConfirmSubscription takes, while the subscription is pending; nil once confirmed. The same token is
    /// in the `SubscriptionConfirmation` message in the outbox.
    public func confirmationToken() throws(BrokerError) -> String? {
        try topic.core.record(arn).pending?.token
    }

    /// The `SubscribeURL` of the subscription's `SubscriptionConfirmation` message, while it is pending.
    public func subscribeURL() throws(BrokerError) -> String? {
        try confirmationToken().map { topic.core.subscribeURL(token: $0) }
    }
}

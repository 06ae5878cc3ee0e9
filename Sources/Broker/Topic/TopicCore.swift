import Foundation

/// A topic's state, behind the topic's one lock.
struct TopicState {
    var settings: TopicSettings
    var tags: [String: String]
    var dataProtectionPolicy: String?
    var deleted = false
    var subscriptions: [SubscriptionRecord] = []
    var subscriptionsDeleted = 0
    var ids: IDGenerator
    /// FIFO topics: sequence numbers and deduplication, by the same rules as a FIFO queue's.
    var sequencer: FifoSequencer
    var timestamps = SNSTimestampCache()
    /// AWS's delivery failures, retries and duplicates, when turned on (`SNSRealism.swift`).
    var realism: TopicRealism?
    /// `NumberOfMessagesPublished`: publishes accepted, counted under the lock the publish takes anyway.
    var published = 0
    /// The outcomes of subscriptions since deleted, so the topic's counters stay cumulative.
    var unsubscribedCounts = NotificationCounts()
}

/// The shared core of one topic.
final class TopicCore: Sendable {
    let name: String
    let arn: String
    let isFifo: Bool
    let broker: BrokerContext
    let state: LockedState<TopicState>
    let envelopeFragments: EnvelopeFragments
    /// Recent publishes and delivery outcomes; nil when the broker keeps none.
    let history: TopicHistory?
    /// A durable broker's journal; nil in memory.
    let durable: DurableTopic?

    init(name: String, arn: String, settings: TopicSettings, tags: [String: String], seed: UInt64, broker: BrokerContext,
         durable: DurableTopic? = nil) {
        self.durable = durable
        self.name = name
        self.arn = arn
        self.isFifo = settings.fifoTopic
        self.broker = broker
        history = broker.topicHistoryLimit > 0 ? TopicHistory(capacity: broker.topicHistoryLimit, clock: broker.clock) : nil
        envelopeFragments = EnvelopeFragments(topicArn: arn, region: broker.region, endpoint: broker.snsEndpoint)
        var ids = IDGenerator(seed: seed)
        let first = 10_000_000_000_000_000_000 + ids.next() % 1_000_000_000_000_000
        state = LockedState(TopicState(settings: settings, tags: tags, ids: ids, sequencer: FifoSequencer(lastSequenceNumber: first)))
        if let realism = broker.snsRealism { setRealism(realism) }
    }

    func withLiveState<R>(_ body: (inout TopicState) throws(BrokerError) -> R) throws(BrokerError) -> R {
        try state.withLock { (state) throws(BrokerError) -> R in
            guard !state.deleted else { throw BrokerError.topicNotFound() }
            return try body(&state)
        }
    }

    // MARK: Subscriptions

    func subscribe(protocol: SubscriptionProtocol, endpoint: String, attributes: SubscriptionAttributes,
                   handler: (@Sendable (SNSNotification) async throws -> Void)?) throws(BrokerError) -> String {
        let fifoSubscription = isFifo && endpoint.hasSuffix(".fifo")
        var settings = SubscriptionSettings()
        try settings.apply(attributes, protocol: `protocol`, fifoSubscription: fifoSubscription)
        if `protocol` == .firehose, settings.subscriptionRoleArn == nil {
            throw BrokerError(.invalidParameter, "Invalid parameter: Invalid parameter: SubscriptionRoleArn Reason: Subscription role arn must be specified for Firehose endpoints")
        }
        let now = broker.clock.now
        // The confirmation is made after the lock: signing it takes about a millisecond and reads the topic's state.
        let (arn, confirmation) = try change { (state, log) throws(BrokerError) -> (String, (() -> SNSOutboxMessage)?) in
            Self.dropExpired(&state, now: now)
            // Subscribing the same endpoint again returns the same subscription, unless attributes differ.
            if handler == nil, let existing = state.subscriptions.first(where: { $0.protocol == `protocol` && $0.endpoint == endpoint }) {
                var requested = existing.settings
                try requested.apply(attributes, protocol: `protocol`, fifoSubscription: fifoSubscription)
                guard requested == existing.settings else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Subscription already exists with different attributes")
                }
                return (existing.arn, nil)
            }
            if settings.filterPolicy != nil { try Self.checkFilterPolicyLimit(state, adding: 1) }
            let arn = "\(self.arn):\(state.ids.uuidString())"
            var pending: PendingConfirmation?
            var confirmation: (() -> SNSOutboxMessage)?
            if `protocol`.needsConfirmation {
                let token = Self.token(&state.ids)
                pending = PendingConfirmation(token: token, expiresAt: now.addingTimeInterval(PendingConfirmation.lifetime))
                let messageId = state.ids.messageID().string
                let timestamp = state.timestamps.format(now)
                confirmation = { [self] in
                    confirmationMessage(protocol: `protocol`, endpoint: endpoint, subscriptionArn: arn, token: token,
                                        messageId: messageId, now: now, timestamp: timestamp)
                }
            }
            let record = SubscriptionRecord(arn: arn, protocol: `protocol`, endpoint: endpoint, settings: settings,
                                            handler: handler, statistics: LockedState(DeliveryStatistics()),
                                            confirmation: pending, authenticated: pending == nil)
            state.subscriptions.append(record)
            log.subscribed(record)
            return (arn, confirmation)
        }
        if let confirmation { send(confirmation()) }
        return arn
    }

    /// A confirmation token: 256 hex digits, the length of AWS's.
    static func token(_ ids: inout IDGenerator) -> String {
        var text = ""
        text.reserveCapacity(256)
        for _ in 0..<16 {
            let hex = String(ids.next(), radix: 16)
            text += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return text
    }

    /// AWS forgets a subscription left unconfirmed for three days; Broker does when the topic's subscriptions are
    /// next read.
    static func dropExpired(_ state: inout TopicState, now: Date) {
        guard state.subscriptions.contains(where: { $0.pending.map { $0.expiresAt <= now } ?? false }) else { return }
        state.subscriptions.removeAll { $0.pending.map { $0.expiresAt <= now } ?? false }
    }

    /// ConfirmSubscription: the subscription whose token this is, confirmed (again: the same answer).
    func confirm(token: String, authenticateOnUnsubscribe: Bool) throws(BrokerError) -> String {
        let now = broker.clock.now
        return try change { (state, log) throws(BrokerError) -> String in
            Self.dropExpired(&state, now: now)
            guard let index = state.subscriptions.firstIndex(where: { $0.confirmation?.token == token }) else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Token")
            }
            if state.subscriptions[index].pending != nil {
                state.subscriptions[index] = state.subscriptions[index].confirmed(authenticated: authenticateOnUnsubscribe)
                log.confirmed(arn: state.subscriptions[index].arn, authenticated: authenticateOnUnsubscribe)
            }
            return state.subscriptions[index].arn
        }
    }

    /// Where an endpoint confirms by GET, in AWS's form.
    func subscribeURL(token: String) -> String {
        "\(broker.snsEndpoint)/?Action=ConfirmSubscription&TopicArn=\(arn)&Token=\(token)"
    }

    /// False when there is no such subscription (or topic); throws only when a durable broker could not journal it.
    @discardableResult
    func unsubscribe(_ arn: String) throws(BrokerError) -> Bool {
        do throws(BrokerError) {
            return try change { state, log in
                guard let index = state.subscriptions.firstIndex(where: { $0.arn == arn }) else { return false }
                state.unsubscribedCounts.add(state.subscriptions.remove(at: index))
                state.subscriptionsDeleted += 1
                log.unsubscribed(arn: arn)
                return true
            }
        } catch where error.code == .notFound {
            return false
        }
    }

    func record(_ arn: String) throws(BrokerError) -> SubscriptionRecord {
        let now = broker.clock.now
        return try withLiveState { (state) throws(BrokerError) -> SubscriptionRecord in
            Self.dropExpired(&state, now: now)
            guard let record = state.subscriptions.first(where: { $0.arn == arn }) else {
                throw BrokerError.subscriptionNotFound()
            }
            return record
        }
    }

    func updateSubscription(_ arn: String, _ attributes: SubscriptionAttributes) throws(BrokerError) {
        try change { (state, log) throws(BrokerError) in
            guard let index = state.subscriptions.firstIndex(where: { $0.arn == arn }) else {
                throw BrokerError.subscriptionNotFound()
            }
            var settings = state.subscriptions[index].settings
            let hadPolicy = settings.filterPolicy != nil
            let record = state.subscriptions[index]
            try settings.apply(attributes, protocol: record.protocol,
                               fifoSubscription: isFifo && record.endpoint.hasSuffix(".fifo"))
            if settings.filterPolicy != nil, !hadPolicy { try Self.checkFilterPolicyLimit(state, adding: 1) }
            state.subscriptions[index] = state.subscriptions[index].with(settings: settings)
            log.subscriptionSettings(arn: arn, settings)
        }
    }

    /// AWS's default quota: 200 filter policies per topic.
    static let maximumFilterPolicies = 200

    static func checkFilterPolicyLimit(_ state: TopicState, adding: Int) throws(BrokerError) {
        let count = state.subscriptions.count { $0.settings.filterPolicy != nil }
        if count + adding > maximumFilterPolicies {
            throw BrokerError(.filterPolicyLimitExceeded, "Filter policy limit exceeded: a topic can have at most \(maximumFilterPolicies) filter policies.")
        }
    }

    func subscriptionStatistics(_ arn: String) throws(BrokerError) -> DeliveryStatistics {
        try record(arn).statistics.withLock { $0 }
    }

    func subscriptionAttributes(_ arn: String) throws(BrokerError) -> [String: String] {
        let record = try record(arn)
        let settings = record.settings
        var attributes: [String: String] = [
            "SubscriptionArn": record.arn, "TopicArn": self.arn, "Owner": broker.accountId,
            "Protocol": record.protocol.rawValue, "Endpoint": record.endpoint,
            "ConfirmationWasAuthenticated": String(record.authenticated),
            "PendingConfirmation": String(record.pending != nil),
            "RawMessageDelivery": String(settings.rawMessageDelivery),
            "SubscriptionPrincipal": "arn:aws:iam::\(broker.accountId):user/broker",
        ]
        if let policy = settings.filterPolicy {
            attributes["FilterPolicy"] = policy.json
            attributes["FilterPolicyScope"] = policy.scope.rawValue
        }
        if let dlq = settings.deadLetterTargetArn {
            attributes["RedrivePolicy"] = "{\"deadLetterTargetArn\":\"\(dlq)\"}"
        }
        if let delivery = settings.deliveryPolicy {
            attributes["DeliveryPolicy"] = delivery.json
        }
        if let role = settings.subscriptionRoleArn { attributes["SubscriptionRoleArn"] = role }
        if record.protocol == .http || record.protocol == .https {
            // The policy posts run under: the topic's http policy with the subscription's over it.
            let topicPolicy = state.withLock { $0.settings.deliveryPolicy }
            attributes["EffectiveDeliveryPolicy"] =
                DeliveryPolicy.effectiveHTTP(topic: topicPolicy, subscription: settings.deliveryPolicy).effectiveHTTPJSON
        } else if record.protocol == .lambda {
            attributes["EffectiveDeliveryPolicy"] = (settings.deliveryPolicy ?? .awsManaged).json
        }
        return attributes
    }

    func info(_ record: SubscriptionRecord) -> SubscriptionInfo {
        SubscriptionInfo(subscriptionArn: record.pending == nil ? record.arn : "PendingConfirmation", topicArn: arn,
                         protocol: record.protocol, endpoint: record.endpoint, owner: broker.accountId,
                         isPendingConfirmation: record.pending != nil)
    }

    // MARK: Attributes

    func attributes() throws(BrokerError) -> [String: String] {
        let now = broker.clock.now
        return try withLiveState { state in
            Self.dropExpired(&state, now: now)
            let settings = state.settings
            let pending = state.subscriptions.count { $0.pending != nil }
            var result: [String: String] = [
                "TopicArn": arn, "Owner": broker.accountId, "DisplayName": settings.displayName,
                "Policy": settings.policy ?? TopicSettings.defaultPolicy(topicArn: arn, account: broker.accountId),
                "SubscriptionsConfirmed": String(state.subscriptions.count - pending),
                "SubscriptionsPending": String(pending),
                "SubscriptionsDeleted": String(state.subscriptionsDeleted),
                "EffectiveDeliveryPolicy": settings.deliveryPolicy?.json ?? DeliveryPolicy.defaultTopicPolicyJSON,
            ]
            if let delivery = settings.deliveryPolicy { result["DeliveryPolicy"] = delivery.json }
            if let kms = settings.kmsMasterKeyId { result["KmsMasterKeyId"] = kms }
            if let version = settings.signatureVersion { result["SignatureVersion"] = version }
            if let tracing = settings.tracingConfig { result["TracingConfig"] = tracing }
            if isFifo {
                result["FifoTopic"] = "true"
                result["ContentBasedDeduplication"] = String(settings.contentBasedDeduplication)
                if let scope = settings.fifoThroughputScope { result["FifoThroughputScope"] = scope.rawValue }
            }
            return result
        }
    }
}

extension BrokerError {
    static func topicNotFound() -> BrokerError { BrokerError(.notFound, "Topic does not exist") }
    static func subscriptionNotFound() -> BrokerError { BrokerError(.notFound, "Subscription does not exist") }
}

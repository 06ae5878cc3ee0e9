import Foundation

/// The topics of one broker, by name.
struct TopicRegistry {
    var topics: [String: TopicCore] = [:]
    var created: UInt64 = 0
    /// The space's SNS state beside its topics (outbox, SMS, platform applications), shared by every view of the
    /// space.
    let sns = SNSSpace()
}

extension Broker {
    /// CreateTopic. Idempotent: the same name returns the existing topic, unless a given attribute differs from
    /// the topic's, or tags are given that are not exactly the topic's (`InvalidParameter`). Names: 1–256 of
    /// `[A-Za-z0-9_-]`; a FIFO topic's ends in `.fifo`.
    @discardableResult
    public func createTopic(named name: String, attributes: TopicAttributes = TopicAttributes(),
                            tags: [String: String] = [:]) throws(BrokerError) -> Topic {
        let fifo = attributes.fifoTopic ?? false
        let valid = Self.isResourceName(name, fifo: fifo, maximumLength: 256)
        if fifo, !(valid && name.hasSuffix(".fifo")) {
            throw BrokerError(.invalidParameter,
                "Invalid parameter: Fifo Topic names must end with .fifo and must be made up of only uppercase and lowercase ASCII letters, numbers, underscores, and hyphens, and must be between 1 and 256 characters long.")
        }
        guard valid else {
            throw BrokerError(.invalidParameter,
                "Invalid parameter: Topic Name")
        }
        try Topic.validate(tags)
        var settings = TopicSettings()
        try settings.apply(attributes, creating: true)
        let arn = "arn:aws:sns:\(configuration.region):\(configuration.accountId):\(name)"
        let context = topicContext
        var ticket: Result<JournalTicket, BrokerError>?
        let core = topicRegistry.withLock { registry -> TopicCore in
            if let existing = registry.topics[name] { return existing }
            registry.created += 1
            var seeds = IDGenerator(seed: topicSeed ^ (registry.created &* 0xD1B5_4A32_D192_ED03))
            let durable = directory.store.map { DurableTopic(store: $0, id: $0.makeQueueID()) }
            let core = TopicCore(name: name, arn: arn, settings: settings, tags: tags, seed: seeds.next(), broker: context,
                                 durable: durable)
            if let durable {
                // Under the registry lock, so the creation precedes every record of the topic in the journal.
                ticket = durable.store.appendCreation(of: core.creationImage(id: durable.id))
            }
            registry.topics[name] = core
            return core
        }
        if let ticket, let store = directory.store { try store.wait(for: ticket.get()) }
        // An existing topic: the attributes given must be the ones it has (`FifoTopic=false` on a standard topic
        // is), and tags, when given, must be exactly its tags.
        let (existing, existingTags) = try core.withLiveState { state in (state.settings, state.tags) }
        var requested = existing
        try requested.apply(attributes, creating: true)
        if requested != existing {
            throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
        }
        if !tags.isEmpty, tags != existingTags {
            throw BrokerError(.invalidParameter, "Invalid parameter: Tags Reason: Topic already exists with different tags")
        }
        return Topic(core: core, owner: self)
    }

    /// CreateTopic with AWS's string attribute map.
    @discardableResult
    public func createTopic(named name: String, awsAttributes: [String: String], tags: [String: String] = [:]) throws(BrokerError) -> Topic {
        try createTopic(named: name, attributes: TopicAttributes(awsAttributes: awsAttributes), tags: tags)
    }

    /// The topic an ARN names; `NotFound` otherwise, and `InvalidParameter` for text that is not an ARN at all.
    public func topic(arn: String) throws(BrokerError) -> Topic {
        try Self.validateArn(arn, parameter: "TopicArn")
        let prefix = "arn:aws:sns:\(configuration.region):\(configuration.accountId):"
        if arn.hasPrefix(prefix) {
            guard let core = topicRegistry.withLock({ $0.topics[String(arn.dropFirst(prefix.count))] }) else {
                throw BrokerError.topicNotFound()
            }
            return Topic(core: core, owner: self)
        }
        // A topic of another account in this region: found in its own space, and owned by its own view. A regional
        // endpoint knows nothing of another region's topics, as on AWS.
        guard let (key, name) = BrokerDirectory.parse(arn: arn, service: "sns"), key.region == configuration.region,
              directory.existingSpace(for: key) != nil else {
            throw BrokerError.topicNotFound()
        }
        let owner = view(of: key)
        guard let core = owner.topicRegistry.withLock({ $0.topics[name] }) else { throw BrokerError.topicNotFound() }
        return Topic(core: core, owner: owner)
    }

    /// DeleteTopic: its subscriptions go with it. Deleting a topic that does not exist succeeds, as on AWS. On a
    /// durable broker a deletion the journal could not store is not reported here (``deleteTopic(arn:)`` throws it).
    public func deleteTopic(_ topic: Topic) {
        try? deleteTopicDurably(topic)
    }

    /// DeleteTopic by ARN: `InvalidParameter` for text that is not an ARN; on a durable broker, the storage error
    /// when the deletion could not be journaled.
    public func deleteTopic(arn: String) throws(BrokerError) {
        try Self.validateArn(arn, parameter: "TopicArn")
        if let topic = try? topic(arn: arn) { try deleteTopicDurably(topic) }
    }

    private func deleteTopicDurably(_ topic: Topic) throws(BrokerError) {
        topicRegistry.withLock { registry in
            if registry.topics[topic.name] === topic.core { registry.topics[topic.name] = nil }
        }
        let wasLive = topic.core.state.withLock { state -> Bool in
            defer {
                state.deleted = true
                state.subscriptions.removeAll()
            }
            return !state.deleted
        }
        if wasLive, let durable = topic.core.durable {
            try durable.store.wait(for: durable.store.appendTopicDeletion(id: durable.id).get())
        }
    }

    /// SNS checks an ARN's shape before it looks anything up: `arn:partition:service:region:account:resource`.
    static func validateArn(_ arn: String, parameter: String) throws(BrokerError) {
        let elements = arn.utf8.split(separator: UInt8(ascii: ":"), omittingEmptySubsequences: false).count
        guard elements >= 6 else {
            throw BrokerError(.invalidParameter,
                "Invalid parameter: \(parameter) Reason: An ARN must have at least 6 elements, not \(elements)")
        }
    }

    /// ListTopics: topic ARNs in name order, 100 a page.
    public func listTopics(nextToken: String? = nil) throws(BrokerError) -> (topicArns: [String], nextToken: String?) {
        let arns = topicRegistry.withLock { $0.topics.values.map(\.arn) }.sorted()
        let page = try Paging.page(arns, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// ListSubscriptions: every subscription of every topic, 100 a page.
    public func listSubscriptions(nextToken: String? = nil) throws(BrokerError) -> (subscriptions: [SubscriptionInfo], nextToken: String?) {
        let cores = topicRegistry.withLock { $0.topics.values.sorted { $0.name < $1.name } }
        let now = clock.now
        let all = cores.flatMap { core in
            core.state.withLock { state in
                TopicCore.dropExpired(&state, now: now)
                return state.subscriptions
            }.map(core.info)
        }
        let page = try Paging.page(all, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// The subscription an ARN names.
    public func subscription(arn: String) throws(BrokerError) -> Subscription {
        try Self.validateArn(arn, parameter: "SubscriptionArn")
        let topicArn = String(arn.split(separator: ":").dropLast().joined(separator: ":"))
        guard let topic = try? topic(arn: topicArn) else { throw BrokerError.subscriptionNotFound() }
        let record = try topic.core.record(arn)
        return Subscription(arn: arn, topicArn: topicArn, protocol: record.protocol, endpoint: record.endpoint, topic: topic)
    }

    /// Unsubscribe. A subscription that no longer exists (or never did) is no error, as on AWS. On a durable
    /// broker an unsubscribe the journal could not store is not reported here (``unsubscribe(subscriptionArn:)``
    /// throws it).
    public func unsubscribe(_ subscription: Subscription) {
        _ = try? subscription.topic.core.unsubscribe(subscription.arn)
    }

    /// Unsubscribe by ARN: `InvalidParameter` for text that is not an ARN; an ARN of no subscription succeeds; on a
    /// durable broker, the storage error when the change could not be journaled.
    public func unsubscribe(subscriptionArn: String) throws(BrokerError) {
        try Self.validateArn(subscriptionArn, parameter: "SubscriptionArn")
        guard let subscription = try? subscription(arn: subscriptionArn) else { return }
        try subscription.topic.core.unsubscribe(subscription.arn)
    }

    /// Puts the topics a durable broker recovered in their accounts' registries, with their subscriptions; an SQS
    /// subscription finds its queue by ARN at its first delivery, as a new one does.
    func restore(_ restored: [RestoredTopic]) {
        guard let store = directory.store else { return }
        for image in restored {
            let owner = view(of: BrokerDirectory.Key(accountId: image.accountId, region: image.region))
            var settings = TopicSettings()
            if let attributes = try? TopicAttributes(awsAttributes: image.settings) {
                try? settings.apply(attributes, creating: true)
            }
            let context = owner.topicContext
            let arn = "arn:aws:sns:\(image.region):\(image.accountId):\(image.name)"
            let core = owner.topicRegistry.withLock { registry -> TopicCore in
                registry.created += 1
                // A fresh seed: the identifiers this topic gave out before the restart are not known, and a new
                // subscription ARN must not repeat one of them.
                var seeds = IDGenerator(seed: owner.topicSeed ^ (registry.created &* 0xD1B5_4A32_D192_ED03)
                    ^ SystemRandomNumberGenerator.seed())
                let core = TopicCore(name: image.name, arn: arn, settings: settings, tags: image.tags, seed: seeds.next(),
                                     broker: context, durable: DurableTopic(store: store, id: image.id))
                registry.topics[image.name] = core
                return core
            }
            core.restore(image)
        }
    }

    /// ConfirmSubscription by the topic's ARN, as a `SubscribeURL` names it: confirms the pending subscription whose
    /// token this is. `NotFound` for a topic that does not exist, `InvalidParameter` for a token of none.
    @discardableResult
    public func confirmSubscription(topicArn: String, token: String, authenticateOnUnsubscribe: Bool = false) throws(BrokerError) -> Subscription {
        try topic(arn: topicArn).confirmSubscription(token: token, authenticateOnUnsubscribe: authenticateOnUnsubscribe)
    }

    /// Waits until every handler delivery started so far has finished (retries waiting on the clock included, so
    /// with a ``ManualClock`` advance it first). For tests: publish, then `await broker.waitForDeliveries()`.
    public func waitForDeliveries() async {
        await deliveries.waitUntilIdle()
    }

    /// A durable broker restores its topics before its owner can set ``snsEndpoint`` (broker-server sets it once
    /// it listens), and a topic's links are fixed when it is made: each topic whose links name another endpoint is
    /// made again with the same state. Handles taken before the change keep the old topic, as for topics created
    /// before it.
    func retargetRestoredTopics() {
        for key in directory.keys {
            let owner = view(of: key)
            let context = owner.topicContext
            let stale = owner.topicRegistry.withLock { registry in
                registry.topics.values.filter { $0.broker.snsEndpoint != context.snsEndpoint }
            }
            for core in stale {
                // The registry is a leaf lock: each state is copied before it is taken, and the new topic is put in
                // only if the old one is still the topic of its name.
                let state = core.state.withLock { $0 }
                let remade = TopicCore(name: core.name, arn: core.arn, settings: state.settings, tags: state.tags, seed: 0,
                                       broker: context, durable: core.durable)
                remade.state.withLock { $0 = state }
                owner.topicRegistry.withLock { registry in
                    if registry.topics[core.name] === core { registry.topics[core.name] = remade }
                }
            }
        }
    }

    var topicContext: BrokerContext {
        BrokerContext(region: configuration.region, accountId: configuration.accountId, clock: clock,
                      resolveQueue: resolveQueue, deliveries: deliveries, sns: snsSpace,
                      httpTransport: configuration.httpTransport,
                      snsEndpoint: snsEndpoint ?? "https://sns.\(configuration.region).amazonaws.com",
                      signer: configuration.messageSigner, topicHistoryLimit: configuration.topicHistoryLimit,
                      snsRealism: configuration.snsRealism)
    }

    var topicSeed: UInt64 { seedValue ^ 0x7090_1C5E_ED00_0000 }
}

import Foundation

/// A durable topic's place in the broker's journal: the store and the number its records carry (drawn from the same
/// counter as queue numbers).
struct DurableTopic: Sendable {
    let store: BrokerStore
    let id: UInt64
    /// This topic's records that could not be stored.
    let failedRecords = FailedRecords()
}

/// The entries one change to a topic leaves, written as one record while the topic's lock is held. Disabled (and
/// free) on an in-memory topic.
struct TopicLog {
    enum Operation: UInt8 {
        /// Attributes, tags and data protection policy, all of them.
        case settings = 1
        case subscribed = 2
        case subscriptionSettings = 3
        case confirmed = 4
        case unsubscribed = 5
        /// A FIFO publish that took a deduplication id and a sequence number.
        case published = 6
    }

    private(set) var encoder: JournalEncoder?

    init(enabled: Bool) {
        encoder = enabled ? JournalEncoder(capacity: 256) : nil
    }

    var isEmpty: Bool { encoder?.bytes.isEmpty ?? true }

    /// Adds one entry; nothing on a disabled log. The encoder is taken out while it is written so its buffer stays
    /// uniquely owned.
    private mutating func entry(_ operation: Operation, _ body: (inout JournalEncoder) -> Void) {
        guard var bytes = encoder else { return }
        encoder = nil
        bytes.write(byte: operation.rawValue)
        body(&bytes)
        encoder = bytes
    }

    mutating func settings(_ state: TopicState) {
        entry(.settings) { encoder in
            Self.encodeSettings(state.settings.awsAttributes, tags: state.tags,
                                dataProtectionPolicy: state.dataProtectionPolicy, into: &encoder)
        }
    }

    /// Handler subscriptions are not journaled: a handler is code, which the application subscribes again at start.
    mutating func subscribed(_ record: SubscriptionRecord) {
        guard record.handler == nil else { return }
        entry(.subscribed) { Self.encode(RestoredTopic.Subscription(record), into: &$0) }
    }

    mutating func subscriptionSettings(arn: String, _ settings: SubscriptionSettings) {
        entry(.subscriptionSettings) { encoder in
            encoder.write(string: arn)
            Self.encode(settings, into: &encoder)
        }
    }

    mutating func confirmed(arn: String, authenticated: Bool) {
        entry(.confirmed) { encoder in
            encoder.write(string: arn)
            encoder.write(bool: authenticated)
        }
    }

    mutating func unsubscribed(arn: String) {
        entry(.unsubscribed) { $0.write(string: arn) }
    }

    mutating func published(_ deduplication: RestoredQueue.Deduplication) {
        entry(.published) { Self.encode(deduplication, into: &$0) }
    }

    // MARK: Encodings shared by records and snapshots

    static func encodeSettings(_ settings: [String: String], tags: [String: String], dataProtectionPolicy: String?,
                               into encoder: inout JournalEncoder) {
        encoder.write(count: settings.count)
        for (name, value) in settings.sorted(by: { $0.key < $1.key }) {
            encoder.write(string: name)
            encoder.write(string: value)
        }
        encoder.write(count: tags.count)
        for (key, value) in tags.sorted(by: { $0.key < $1.key }) {
            encoder.write(string: key)
            encoder.write(string: value)
        }
        encoder.write(optional: dataProtectionPolicy) { $0.write(string: $1) }
    }

    static func encode(_ settings: SubscriptionSettings, into encoder: inout JournalEncoder) {
        encoder.write(optional: settings.filterPolicy?.json) { $0.write(string: $1) }
        encoder.write(string: settings.filterPolicyScope.rawValue)
        encoder.write(bool: settings.rawMessageDelivery)
        encoder.write(optional: settings.deadLetterTargetArn) { $0.write(string: $1) }
        encoder.write(optional: settings.deliveryPolicy?.json) { $0.write(string: $1) }
        encoder.write(optional: settings.subscriptionRoleArn) { $0.write(string: $1) }
    }

    /// Policies were valid when they were journaled; one that no longer parses (a rule changed between versions) is
    /// dropped rather than failing the whole recovery.
    static func decodeSubscriptionSettings(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> SubscriptionSettings {
        var settings = SubscriptionSettings()
        let filter = try decoder.readPresence() ? try decoder.readString() : nil
        settings.filterPolicyScope = FilterPolicy.Scope(rawValue: try decoder.readString()) ?? .messageAttributes
        if let filter { settings.filterPolicy = try? FilterPolicy(json: filter, scope: settings.filterPolicyScope) }
        settings.rawMessageDelivery = try decoder.readBool()
        settings.deadLetterTargetArn = try decoder.readPresence() ? try decoder.readString() : nil
        if try decoder.readPresence() { settings.deliveryPolicy = try? DeliveryPolicy(json: try decoder.readString()) }
        settings.subscriptionRoleArn = try decoder.readPresence() ? try decoder.readString() : nil
        return settings
    }

    static func encode(_ subscription: RestoredTopic.Subscription, into encoder: inout JournalEncoder) {
        encoder.write(string: subscription.arn)
        encoder.write(string: subscription.protocol.rawValue)
        encoder.write(string: subscription.endpoint)
        encode(subscription.settings, into: &encoder)
        encoder.write(optional: subscription.confirmation) { encoder, confirmation in
            encoder.write(string: confirmation.token)
            encoder.write(date: confirmation.expiresAt)
            encoder.write(bool: confirmation.confirmed)
        }
        encoder.write(bool: subscription.authenticated)
    }

    static func decodeSubscription(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredTopic.Subscription {
        let arn = try decoder.readString()
        let name = try decoder.readString()
        guard let kind = SubscriptionProtocol(rawValue: name) else {
            throw JournalDecodingError(reason: "unknown subscription protocol \(name)", offset: 0)
        }
        let endpoint = try decoder.readString()
        let settings = try decodeSubscriptionSettings(&decoder)
        var confirmation: PendingConfirmation?
        if try decoder.readPresence() {
            confirmation = PendingConfirmation(token: try decoder.readString(), expiresAt: try decoder.readDate(),
                                               confirmed: try decoder.readBool())
        }
        return RestoredTopic.Subscription(arn: arn, protocol: kind, endpoint: endpoint, settings: settings,
                                          confirmation: confirmation, authenticated: try decoder.readBool())
    }

    static func encode(_ entry: RestoredQueue.Deduplication, into encoder: inout JournalEncoder) {
        encoder.write(string: entry.id)
        encoder.write(optional: entry.group) { $0.write(string: $1) }
        encoder.write(date: entry.record.expiresAt)
        encoder.write(fixed: entry.record.messageId.high)
        encoder.write(fixed: entry.record.messageId.low)
        encoder.write(fixed: entry.record.sequenceNumber)
    }

    static func decodeDeduplication(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredQueue.Deduplication {
        let id = try decoder.readString()
        let group = try decoder.readPresence() ? try decoder.readString() : nil
        let expiresAt = try decoder.readDate()
        let messageId = MessageID(high: try decoder.readFixed(), low: try decoder.readFixed())
        return RestoredQueue.Deduplication(id: id, group: group, record: DeduplicationRecord(
            expiresAt: expiresAt, messageId: messageId, sequenceNumber: try decoder.readFixed()))
    }
}

/// A topic as recovery rebuilt it from a snapshot and the records after it, before it becomes a ``TopicCore``.
struct RestoredTopic {
    struct Subscription {
        var arn: String
        var `protocol`: SubscriptionProtocol
        var endpoint: String
        var settings: SubscriptionSettings
        var confirmation: PendingConfirmation?
        var authenticated: Bool
    }

    var id: UInt64
    var accountId: String
    var region: String
    var name: String
    /// Records of this topic before this LSN are already in the image (a snapshot's).
    var asOfLSN: Journal.LSN = 0
    var settings: [String: String] = [:]
    var tags: [String: String] = [:]
    var dataProtectionPolicy: String?
    var lastSequenceNumber: UInt64 = 0
    var subscriptionsDeleted = 0
    var subscriptions: [Subscription] = []
    /// FIFO deduplication ids by group (empty for topic scope) and id: the latest taking of each.
    var deduplication: [String: RestoredQueue.Deduplication] = [:]

    var isFifo: Bool { settings["FifoTopic"] == "true" }

    /// Replays a topic record's entries. Each states an outcome, so replaying one twice gives the state of once.
    mutating func apply(_ decoder: inout JournalDecoder) throws(JournalDecodingError) {
        while !decoder.isAtEnd {
            let raw = try decoder.readByte()
            switch TopicLog.Operation(rawValue: raw) {
            case .settings:
                try decodeSettings(&decoder)
            case .subscribed:
                let subscription = try TopicLog.decodeSubscription(&decoder)
                if !subscriptions.contains(where: { $0.arn == subscription.arn }) { subscriptions.append(subscription) }
            case .subscriptionSettings:
                let arn = try decoder.readString()
                let settings = try TopicLog.decodeSubscriptionSettings(&decoder)
                if let index = subscriptions.firstIndex(where: { $0.arn == arn }) { subscriptions[index].settings = settings }
            case .confirmed:
                let arn = try decoder.readString()
                let authenticated = try decoder.readBool()
                if let index = subscriptions.firstIndex(where: { $0.arn == arn }) {
                    subscriptions[index].confirmation?.confirmed = true
                    subscriptions[index].authenticated = authenticated
                }
            case .unsubscribed:
                let arn = try decoder.readString()
                if let index = subscriptions.firstIndex(where: { $0.arn == arn }) {
                    subscriptions.remove(at: index)
                    subscriptionsDeleted += 1
                }
            case .published:
                remember(try TopicLog.decodeDeduplication(&decoder))
            case nil:
                throw JournalDecodingError(reason: "unknown topic entry \(raw)", offset: 0)
            }
        }
    }

    mutating func remember(_ entry: RestoredQueue.Deduplication) {
        lastSequenceNumber = max(lastSequenceNumber, entry.record.sequenceNumber)
        let key = (entry.group ?? "") + "\u{0}" + entry.id
        if let known = deduplication[key], known.record.expiresAt >= entry.record.expiresAt { return }
        deduplication[key] = entry
    }

    mutating func decodeSettings(_ decoder: inout JournalDecoder) throws(JournalDecodingError) {
        var values: [String: String] = [:]
        for _ in 0..<(try decoder.readCount()) { values[try decoder.readString()] = try decoder.readString() }
        var tags: [String: String] = [:]
        for _ in 0..<(try decoder.readCount()) { tags[try decoder.readString()] = try decoder.readString() }
        settings = values
        self.tags = tags
        dataProtectionPolicy = try decoder.readPresence() ? try decoder.readString() : nil
    }

    /// The whole topic: a created topic's record (no subscriptions yet) and a snapshot's image alike.
    func encode(into encoder: inout JournalEncoder) {
        encoder.write(varint: id)
        encoder.write(string: accountId)
        encoder.write(string: region)
        encoder.write(string: name)
        encoder.write(fixed: asOfLSN)
        TopicLog.encodeSettings(settings, tags: tags, dataProtectionPolicy: dataProtectionPolicy, into: &encoder)
        encoder.write(fixed: lastSequenceNumber)
        encoder.write(count: subscriptionsDeleted)
        encoder.write(count: subscriptions.count)
        for subscription in subscriptions { TopicLog.encode(subscription, into: &encoder) }
        encoder.write(count: deduplication.count)
        for entry in deduplication.values.sorted(by: { $0.record.sequenceNumber < $1.record.sequenceNumber }) {
            TopicLog.encode(entry, into: &encoder)
        }
    }

    static func decode(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredTopic {
        var image = RestoredTopic(id: try decoder.readVarint(), accountId: try decoder.readString(),
                                  region: try decoder.readString(), name: try decoder.readString())
        image.asOfLSN = try decoder.readFixed()
        try image.decodeSettings(&decoder)
        image.lastSequenceNumber = try decoder.readFixed()
        image.subscriptionsDeleted = try decoder.readCount()
        for _ in 0..<(try decoder.readCount()) { image.subscriptions.append(try TopicLog.decodeSubscription(&decoder)) }
        for _ in 0..<(try decoder.readCount()) { image.remember(try TopicLog.decodeDeduplication(&decoder)) }
        return image
    }
}

extension RestoredTopic.Subscription {
    init(_ record: SubscriptionRecord) {
        self.init(arn: record.arn, protocol: record.protocol, endpoint: record.endpoint, settings: record.settings,
                  confirmation: record.confirmation, authenticated: record.authenticated)
    }
}

extension TopicSettings {
    /// The settings as AWS names them, enough to make them again with `apply(_:creating: true)`.
    var awsAttributes: [String: String] {
        var values = ["DisplayName": displayName]
        if let policy { values["Policy"] = policy }
        if let deliveryPolicy { values["DeliveryPolicy"] = deliveryPolicy.json }
        if fifoTopic {
            values["FifoTopic"] = "true"
            values["ContentBasedDeduplication"] = String(contentBasedDeduplication)
        }
        if let fifoThroughputScope { values["FifoThroughputScope"] = fifoThroughputScope.rawValue }
        if let signatureVersion { values["SignatureVersion"] = signatureVersion }
        if let tracingConfig { values["TracingConfig"] = tracingConfig }
        if let kmsMasterKeyId { values["KmsMasterKeyId"] = kmsMasterKeyId }
        return values
    }
}

extension TopicCore {
    /// Runs `body` on the live state; on a durable topic, what `body` put in the log becomes one record, written
    /// under the topic's lock so records follow the order of the changes, and the call waits for the level's
    /// promise once the lock is released.
    func change<R>(_ body: (inout TopicState, inout TopicLog) throws(BrokerError) -> R) throws(BrokerError) -> R {
        guard let durable else {
            var log = TopicLog(enabled: false)
            return try withLiveState { (state) throws(BrokerError) -> R in try body(&state, &log) }
        }
        var ticket: Result<JournalTicket, BrokerError>?
        let result = try withLiveState { (state) throws(BrokerError) -> R in
            var log = TopicLog(enabled: true)
            let result = try body(&state, &log)
            if let bytes = log.encoder?.bytes, !bytes.isEmpty {
                ticket = durable.store.append(topic: durable.id, entries: bytes)
            }
            return result
        }
        if let ticket { try durable.store.wait(for: ticket.get()) }
        return result
    }

    /// A change to the topic's attributes, tags or data protection policy: the record holds all three as they are
    /// after it.
    func changeSettings<R>(_ body: (inout TopicState) throws(BrokerError) -> R) throws(BrokerError) -> R {
        try change { (state, log) throws(BrokerError) -> R in
            let result = try body(&state)
            log.settings(state)
            return result
        }
    }

    /// Journals a FIFO publish's deduplication entry. Written after the copies reached their queues, so a crash can
    /// leave a delivered copy whose entry is lost (a retry is delivered again: at least once) but never an entry
    /// whose copies are lost (a retry would be dropped as a duplicate of nothing). Replaying it is idempotent, so
    /// its place relative to a snapshot does not matter.
    func journalPublish(_ entry: RestoredQueue.Deduplication, durable: DurableTopic) throws(BrokerError) {
        var log = TopicLog(enabled: true)
        log.published(entry)
        guard let bytes = log.encoder?.bytes else { return }
        do throws(BrokerError) {
            try durable.store.wait(for: durable.store.append(topic: durable.id, entries: bytes).get())
        } catch {
            durable.failedRecords.note()
            throw error
        }
    }

    /// The topic as a snapshot holds it, copied under its lock; nil once deleted. Handler subscriptions are left
    /// out, as in the records.
    func snapshotImage(journalNextLSN: () -> Journal.LSN) -> RestoredTopic? {
        guard let durable else { return nil }
        let now = broker.clock.now
        return state.withLock { state -> RestoredTopic? in
            guard !state.deleted else { return nil }
            var image = RestoredTopic(id: durable.id, accountId: broker.accountId, region: broker.region, name: name)
            image.asOfLSN = journalNextLSN()
            image.settings = state.settings.awsAttributes
            image.tags = state.tags
            image.dataProtectionPolicy = state.dataProtectionPolicy
            image.lastSequenceNumber = state.sequencer.lastSequenceNumber
            image.subscriptionsDeleted = state.subscriptionsDeleted
            image.subscriptions = state.subscriptions.filter { $0.handler == nil }.map(RestoredTopic.Subscription.init)
            for entry in state.sequencer.history.liveEntries(now: now) {
                image.remember(RestoredQueue.Deduplication(id: entry.id, group: entry.group, record: entry.record))
            }
            return image
        }
    }

    /// The image of a topic just created, for its creation record.
    func creationImage(id: UInt64) -> RestoredTopic {
        state.withLock { state in
            var image = RestoredTopic(id: id, accountId: broker.accountId, region: broker.region, name: name)
            image.settings = state.settings.awsAttributes
            image.tags = state.tags
            image.dataProtectionPolicy = state.dataProtectionPolicy
            image.lastSequenceNumber = state.sequencer.lastSequenceNumber
            return image
        }
    }

    /// Puts a recovered topic's subscriptions, data protection policy, sequence numbers and deduplication window in
    /// place (attributes and tags were given to the initializer). Deduplication entries whose window has ended are
    /// left out.
    func restore(_ image: RestoredTopic) {
        let now = broker.clock.now
        state.withLock { state in
            state.dataProtectionPolicy = image.dataProtectionPolicy
            state.subscriptionsDeleted = image.subscriptionsDeleted
            state.subscriptions = image.subscriptions.map { subscription in
                SubscriptionRecord(arn: subscription.arn, protocol: subscription.protocol, endpoint: subscription.endpoint,
                                   settings: subscription.settings, handler: nil,
                                   statistics: LockedState(DeliveryStatistics()), confirmation: subscription.confirmation,
                                   authenticated: subscription.authenticated)
            }
            var history = DeduplicationTable()
            for entry in image.deduplication.values.sorted(by: { $0.record.expiresAt < $1.record.expiresAt })
            where entry.record.expiresAt > now {
                _ = history.recordUnlessDuplicate(id: entry.id, group: entry.group, now: .distantPast, record: entry.record)
            }
            if isFifo {
                state.sequencer = FifoSequencer(lastSequenceNumber: image.lastSequenceNumber, deduplication: history)
            }
        }
    }
}

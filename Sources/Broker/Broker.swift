import Foundation

/// Where a broker lives: region, account and the host its queue URLs name, plus the seed of its identifiers.
public struct BrokerConfiguration: Sendable {
    /// The region in URLs and ARNs. Default `us-east-1`.
    public var region: String
    /// The 12-digit account id in URLs and ARNs. Default `000000000000`.
    public var accountId: String
    /// The scheme and host of queue URLs; nil means `https://sqs.<region>.amazonaws.com`.
    public var queueURLHost: String?
    /// Seed for message ids, receipt handles and sequence numbers; nil picks a random seed. Tests that compare
    /// output across runs set one.
    public var seed: UInt64?
    /// In-flight messages a standard queue allows before a short poll fails with `OverLimit` (AWS: about 120,000).
    public var maximumInFlightMessages: Int
    /// How SNS posts to `http` and `https` subscriptions. Nil (the default): nothing leaves the process, and those
    /// deliveries are captured in the outbox like email and SMS. ``URLSessionSNSTransport`` posts for real, with
    /// retries on the delivery policy; a test can pass its own transport to see every post.
    public var httpTransport: (any SNSHTTPTransport)?
    /// Signs SNS envelopes (`Signature`, `SigningCertURL`) for real; nil keeps an unsigned placeholder. The
    /// `BrokerSigning` product has an RSA implementation.
    public var messageSigner: (any SNSMessageSigner)?

    /// Creates a configuration; every parameter defaults to AWS's value or Broker's convention.
    public init(region: String = "us-east-1", accountId: String = "000000000000", queueURLHost: String? = nil,
                seed: UInt64? = nil, maximumInFlightMessages: Int = 120_000, httpTransport: (any SNSHTTPTransport)? = nil,
                messageSigner: (any SNSMessageSigner)? = nil) {
        self.region = region
        self.accountId = accountId
        self.queueURLHost = queueURLHost
        self.seed = seed
        self.maximumInFlightMessages = maximumInFlightMessages
        self.httpTransport = httpTransport
        self.messageSigner = messageSigner
    }

    var queueURLBase: String { queueURLHost ?? "https://sqs.\(region).amazonaws.com" }
}

/// A process-local SQS and SNS: owns named queues and topics, on a clock the caller chooses.
///
/// ```swift
/// let clock = ManualClock()
/// let broker = Broker(clock: clock)
/// let queue = try broker.createQueue(named: "orders")
/// ```
///
/// A broker is one account in one region, as an AWS client sees it. ``scoped(accountId:region:)`` gives the same
/// broker as another account or region sees it; queues and topics of every account and region reach each other by
/// ARN and URL (cross-account sends, SNS to SQS across regions), and ``reset()`` empties them all.
public final class Broker: Sendable {
    /// The broker's configuration.
    public let configuration: BrokerConfiguration
    /// The clock every time-dependent behaviour reads.
    public let clock: any BrokerClock

    /// This account and region's queues, topics, move tasks and deliveries.
    let space: BrokerSpace
    /// Every account and region this broker and its scoped views share.
    let directory: BrokerDirectory

    /// A leaf lock: nothing else is locked while it is held, so queue locks may take it.
    var registry: LockedState<QueueRegistry> { space.registry }
    /// Dead-letter redrive tasks; also a leaf lock.
    var moveTasks: LockedState<MoveTaskRegistry> { space.moveTasks }
    /// Topics by name; a leaf lock.
    var topicRegistry: LockedState<TopicRegistry> { space.topicRegistry }
    /// Handler deliveries still running.
    var deliveries: DeliveryTracker { space.deliveries }
    var seedValue: UInt64 { space.seed }

    /// Creates a broker.
    public init(configuration: BrokerConfiguration = BrokerConfiguration(), clock: any BrokerClock = SystemClock()) {
        self.configuration = configuration
        self.clock = clock
        let seed = configuration.seed ?? SystemRandomNumberGenerator.seed()
        let key = BrokerDirectory.Key(accountId: configuration.accountId, region: configuration.region)
        self.directory = BrokerDirectory(root: key, seed: seed)
        self.space = directory.space(for: key)
    }

    private init(configuration: BrokerConfiguration, clock: any BrokerClock, directory: BrokerDirectory) {
        self.configuration = configuration
        self.clock = clock
        self.directory = directory
        self.space = directory.space(for: BrokerDirectory.Key(accountId: configuration.accountId, region: configuration.region))
    }

    // MARK: Accounts and regions

    /// The same broker as seen from another account and/or region (nil keeps this broker's): its own queues,
    /// topics, queue URLs and ARNs, on the same clock. Views of one account and region share their queues and topics,
    /// whichever view made them. A 12-digit account id and a region such as `eu-west-1` are required, else
    /// `InvalidParameterValue`.
    public func scoped(accountId: String? = nil, region: String? = nil) throws(BrokerError) -> Broker {
        let accountId = accountId ?? configuration.accountId
        let region = region ?? configuration.region
        guard accountId.utf8.count == 12, accountId.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
            throw BrokerError(.invalidParameterValue, "Value \(accountId) for parameter AccountId is invalid. Reason: An account id has 12 digits.")
        }
        guard BrokerDirectory.isRegion(region) else {
            throw BrokerError(.invalidParameterValue, "Value \(region) for parameter Region is invalid. Reason: A region is lowercase letters, digits and hyphens, such as us-east-1.")
        }
        return view(of: BrokerDirectory.Key(accountId: accountId, region: region))
    }

    /// This broker's view of an account and region whose names are known to be valid.
    func view(of key: BrokerDirectory.Key) -> Broker {
        if key.accountId == configuration.accountId, key.region == configuration.region { return self }
        var scoped = configuration
        scoped.accountId = key.accountId
        scoped.region = key.region
        return Broker(configuration: scoped, clock: clock, directory: directory)
    }

    /// Where clients reach this broker's SNS, for the `SubscribeURL` and `UnsubscribeURL` links SNS hands out:
    /// `broker-server` sets its own address (`http://127.0.0.1:4566`). Nil (the default) writes AWS's
    /// `https://sns.<region>.amazonaws.com`. Shared by every account and region; set it before creating topics.
    public var snsEndpoint: String? {
        get { directory.snsEndpoint.withLock { $0 } }
        set { directory.snsEndpoint.withLock { $0 = newValue } }
    }

    /// Every account and region this broker and its views have used, in order: for dashboards and listings.
    public var scopes: [(accountId: String, region: String)] {
        directory.keys.map { ($0.accountId, $0.region) }
    }

    /// Empties every account and region at once: every queue (waiting long polls return empty) and topic with its
    /// subscriptions is deleted, move tasks stop, the SNS outbox, SMS settings and platform applications go, and a
    /// name can be created again at once (no 60-second wait). For
    /// test suites that start each test clean without making a new broker. Handles held across a reset act on
    /// deleted queues and topics.
    public func reset() {
        for space in directory.allSpaces {
            let queues = space.registry.withLock { registry -> [QueueCore] in
                defer { registry = QueueRegistry() }
                return Array(registry.queues.values)
            }
            for core in queues { core.markDeleted() }
            let topics = space.topicRegistry.withLock { registry -> [TopicCore] in
                defer { registry.topics.removeAll() }
                return Array(registry.topics.values)
            }
            for core in topics {
                core.state.withLock { state in
                    state.deleted = true
                    state.subscriptions.removeAll()
                }
            }
            let tasks = space.moveTasks.withLock { tasks -> [MoveTaskRegistry.Record] in
                defer { tasks.records.removeAll() }
                return tasks.records
            }
            for task in tasks { task.wakeUp?.cancel() }
        }
        resetSNSState()
    }

    // MARK: Queues

    /// CreateQueue. Idempotent when every given attribute matches the existing queue; otherwise
    /// `QueueAlreadyExists` naming the attribute that differs. Within 60 s of deleting a queue of the same name:
    /// `QueueDeletedRecently`.
    @discardableResult
    public func createQueue(named name: String, attributes: QueueAttributes = QueueAttributes(),
                            tags: [String: String] = [:]) throws(BrokerError) -> Queue {
        let fifo = attributes.fifoQueue ?? false
        try Self.validateQueueName(name, fifo: fifo)
        try QueueTags.validate(tags)
        try QueueTags.validateCount(tags.count, queue: name)
        var settings = QueueSettings()
        try settings.apply(attributes, creating: true)
        let arn = queueArn(name)
        try RedriveValidation.validate(attributes, sourceArn: arn, sourceIsFifo: fifo, resolve: resolveQueue)
        let now = clock.now
        let outcome: Result<QueueCore, BrokerError> = registry.withLock { registry in
            if let existing = registry.queues[name] { return .success(existing) }
            if let deleted = registry.deletedAt[name], now.timeIntervalSince(deleted) < 60 {
                return .failure(BrokerError(.queueDeletedRecently,
                    "You must wait 60 seconds after deleting a queue before you can create another with the same name."))
            }
            registry.deletedAt[name] = nil
            registry.created += 1
            var seeds = IDGenerator(seed: seedValue ^ (registry.created &* 0x9E37_79B9_7F4A_7C15))
            let core = QueueCore(
                name: name, url: "\(configuration.queueURLBase)/\(configuration.accountId)/\(name)", arn: arn,
                settings: settings, tags: tags, seed: seeds.next(), clock: clock, senderId: configuration.accountId,
                inFlightLimit: configuration.maximumInFlightMessages, resolveQueue: resolveQueue)
            registry.queues[name] = core
            return .success(core)
        }
        let core = try outcome.get()
        // An existing queue: every attribute the caller gave must match (compared outside the registry lock).
        let existing = try core.read { state, _ in state.settings }
        for attribute in attributes.specifiedNames where existing.awsValue(of: attribute) != settings.awsValue(of: attribute) {
            throw BrokerError(.queueNameExists,
                "A queue already exists with the same name and a different value for attribute \(attribute.rawValue)")
        }
        return Queue(core: core, owner: self)
    }

    /// CreateQueue with AWS's string attribute map, as boto3 and the CLI send it.
    @discardableResult
    public func createQueue(named name: String, awsAttributes: [String: String],
                            tags: [String: String] = [:]) throws(BrokerError) -> Queue {
        try createQueue(named: name, attributes: QueueAttributes(awsAttributes: awsAttributes), tags: tags)
    }

    /// GetQueueUrl.
    public func getQueueUrl(queueName: String) throws(BrokerError) -> String {
        try queue(named: queueName).url
    }

    /// The queue with this name (case-sensitive).
    public func queue(named name: String) throws(BrokerError) -> Queue {
        guard let core = registry.withLock({ $0.queues[name] }) else { throw BrokerError.queueDoesNotExist() }
        return Queue(core: core, owner: self)
    }

    /// The queue a URL names (`…/<account>/<name>`); the host is not compared, as SDKs rewrite it.
    public func queue(url: String) throws(BrokerError) -> Queue {
        let parts = url.split(separator: "/", omittingEmptySubsequences: true)
        guard parts.count >= 2, parts[parts.count - 2] == configuration.accountId else {
            throw BrokerError.queueDoesNotExist()
        }
        return try queue(named: String(parts[parts.count - 1]))
    }

    /// The queue an ARN names (`arn:aws:sqs:<region>:<account>:<name>`), in this or any other account and region.
    public func queue(arn: String) throws(BrokerError) -> Queue {
        guard let core = resolveQueue(arn) else { throw BrokerError.queueDoesNotExist() }
        let owner = BrokerDirectory.parse(arn: arn, service: "sqs").map { view(of: $0.key) } ?? self
        return Queue(core: core, owner: owner)
    }

    /// The queue named by a URL, an ARN or a plain name.
    public func queue(_ reference: String) throws(BrokerError) -> Queue {
        if reference.hasPrefix("arn:") { return try queue(arn: reference) }
        if reference.contains("/") { return try queue(url: reference) }
        return try queue(named: reference)
    }

    /// One page of ListQueues.
    public struct ListQueuesPage: Sendable, Hashable {
        /// Queue URLs, in name order.
        public let queueUrls: [String]
        /// Pass to the next call for the next page; nil on the last page (and whenever `maxResults` was not given).
        public let nextToken: String?
    }

    /// ListQueues: names starting with `prefix` (case-sensitive), at most 1,000 without `maxResults`;
    /// with `maxResults` (1–1,000) paginated by `nextToken`.
    public func listQueues(prefix: String? = nil, maxResults: Int? = nil, nextToken: String? = nil) throws(BrokerError) -> ListQueuesPage {
        let names = registry.withLock { registry in
            registry.queues.keys.filter { name in prefix.map { name.hasPrefix($0) } ?? true }
        }
        return try page(of: names, maxResults: maxResults, nextToken: nextToken)
    }

    /// One page of queue URLs in name order: all (up to 1,000) without `maxResults`, else `maxResults` after the
    /// name `nextToken` encodes.
    func page(of names: [String], maxResults: Int?, nextToken: String?) throws(BrokerError) -> ListQueuesPage {
        if let maxResults, !(1...1_000).contains(maxResults) {
            throw BrokerError.invalidParameter("MaxResults", value: String(maxResults),
                                               reason: "MaxResults must be an integer between 1 and 1000.")
        }
        var after: String?
        if let nextToken {
            guard let data = Data(base64Encoded: nextToken), let name = String(data: data, encoding: .utf8) else {
                throw BrokerError.invalidParameter("NextToken", value: nextToken, reason: "Invalid NextToken value.")
            }
            after = name
        }
        let sorted = names.filter { name in after.map { name > $0 } ?? true }.sorted()
        let limit = maxResults ?? 1_000
        let page = Array(sorted.prefix(limit))
        let token = maxResults != nil && sorted.count > limit ? page.last.map { Data($0.utf8).base64EncodedString() } : nil
        return ListQueuesPage(queueUrls: page.map { "\(configuration.queueURLBase)/\(configuration.accountId)/\($0)" },
                              nextToken: token)
    }

    /// DeleteQueue: its messages go, its handles fail with `QueueDoesNotExist`, waiting long polls return empty,
    /// and its name cannot be reused for 60 seconds.
    public func deleteQueue(_ queue: Queue) throws(BrokerError) {
        let now = clock.now
        let removed = registry.withLock { registry -> Bool in
            guard registry.queues[queue.name] === queue.core else { return false }
            registry.queues[queue.name] = nil
            registry.deletedAt[queue.name] = now
            return true
        }
        guard removed else { throw BrokerError.queueDoesNotExist() }
        queue.core.markDeleted()
    }

    /// DeleteQueue by URL, ARN or name.
    public func deleteQueue(_ reference: String) throws(BrokerError) {
        try deleteQueue(queue(reference))
    }

    /// Every queue, in name order: for dashboards and failure messages.
    public var queues: [Queue] {
        registry.withLock { $0.queues.values.map { Queue(core: $0, owner: self) } }.sorted { $0.name < $1.name }
    }

    func queueArn(_ name: String) -> String {
        "arn:aws:sqs:\(configuration.region):\(configuration.accountId):\(name)"
    }

    /// Looks up a queue by ARN, in any account and region of this broker's directory; used by cores for dead-letter
    /// targets and by topics for deliveries (the registry locks are leaves).
    var resolveQueue: @Sendable (String) -> QueueCore? {
        let prefix = "arn:aws:sqs:\(configuration.region):\(configuration.accountId):"
        let registry = space.registry
        // Weak to the registries, not to the broker: a weak reference gives its object a side table, which sends
        // every retain and release of it down the runtime's slow path, and every queue handle holds the broker.
        return { [weak registry, weak directory] arn in
            if arn.hasPrefix(prefix) {
                guard let registry else { return nil }
                let name = String(arn.dropFirst(prefix.count))
                return registry.withLock { $0.queues[name] }
            }
            guard let directory, let (key, name) = BrokerDirectory.parse(arn: arn, service: "sqs"),
                  let space = directory.existingSpace(for: key) else { return nil }
            return space.registry.withLock { $0.queues[name] }
        }
    }

    /// Queue names: 1–80 characters of `[A-Za-z0-9_-]`; a FIFO queue's ends in `.fifo`, counted in the 80.
    static func validateQueueName(_ name: String, fifo: Bool) throws(BrokerError) {
        let stem = fifo && name.hasSuffix(".fifo") ? String(name.dropLast(5)) : name
        let valid = !stem.isEmpty && name.utf8.count <= 80 && stem.utf8.allSatisfy {
            MessageValidation.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
        if fifo, !(valid && name.hasSuffix(".fifo")) {
            throw BrokerError(.invalidParameterValue,
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        }
        if !valid {
            throw BrokerError(.invalidParameterValue,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
        }
    }
}

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
    /// How many history entries each topic keeps for ``Topic/recentPublishes(limit:)`` and
    /// ``Subscription/deliveries(limit:outcomes:)``: a publish is one entry, with what its own call decided for every
    /// subscription (filtered out, delivered to a queue); an outcome decided later (a handler, an HTTP post, an
    /// outbound copy, a failure) is one more. 0 keeps none and costs nothing. Default 256.
    public var topicHistoryLimit: Int = 256
    /// AWS's standard-queue behaviours (duplicates, disorder, sampling short polls) for every standard queue this
    /// broker creates; nil (the default) for none. See ``SQSRealism``; ``Queue/setRealism(_:)`` sets it per queue.
    public var sqsRealism: SQSRealism?
    /// AWS's SNS delivery failures, retries and duplicates for every topic this broker creates; nil (the default)
    /// for none. See ``SNSRealism``; ``Topic/setRealism(_:)`` sets it per topic.
    public var snsRealism: SNSRealism?

    /// Creates a configuration; every parameter defaults to AWS's value or Broker's convention.
    public init(region: String = "us-east-1", accountId: String = "000000000000", queueURLHost: String? = nil,
                seed: UInt64? = nil, maximumInFlightMessages: Int = 120_000, httpTransport: (any SNSHTTPTransport)? = nil,
                messageSigner: (any SNSMessageSigner)? = nil, topicHistoryLimit: Int = 256,
                sqsRealism: SQSRealism? = nil, snsRealism: SNSRealism? = nil) {
        self.topicHistoryLimit = topicHistoryLimit
        self.sqsRealism = sqsRealism
        self.snsRealism = snsRealism
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

    /// Creates a broker that keeps everything in memory.
    public convenience init(configuration: BrokerConfiguration = BrokerConfiguration(), clock: any BrokerClock = SystemClock()) {
        self.init(configuration: configuration, clock: clock, store: nil, report: nil)
    }

    /// Creates a broker on `storage`. With ``BrokerStorage/directory(_:durability:)`` the broker locks the
    /// directory, recovers the queues, messages, topics and subscriptions its journal holds (``recoveryReport`` says what), and journals
    /// every change from then on; `Docs/Durability.md` describes what each durability level promises. Throws when
    /// the directory is missing, not writable, locked by another broker, or holds a corrupt snapshot.
    public convenience init(configuration: BrokerConfiguration = BrokerConfiguration(), clock: any BrokerClock = SystemClock(),
                            storage: BrokerStorage) throws(BrokerError) {
        try self.init(configuration: configuration, clock: clock, storage: storage, snapshotThreshold: 64 << 20)
    }

    /// As the public initializer, with the journal bytes after which the first snapshot is due and the message slots
    /// a snapshot copies per hold of a queue's lock (tests and the crash test's child set both low, so that snapshots
    /// happen often and their copies are cut by the changes made meanwhile), and the file failures a test plans.
    package convenience init(configuration: BrokerConfiguration = BrokerConfiguration(), clock: any BrokerClock = SystemClock(),
                     storage: BrokerStorage, snapshotThreshold: Int,
                     snapshotSlotsPerHold: Int = QueueCore.snapshotSlotsPerHold,
                     journalFaults: JournalFaults? = nil) throws(BrokerError) {
        switch storage {
        case .memory:
            self.init(configuration: configuration, clock: clock, store: nil, report: nil)
        case .directory(let path, let durability):
            let (store, restored, topics, report) = try BrokerStore.open(path: path, durability: durability,
                                                                         snapshotThreshold: snapshotThreshold,
                                                                         snapshotSlotsPerHold: snapshotSlotsPerHold,
                                                                         faults: journalFaults)
            self.init(configuration: configuration, clock: clock, store: store, report: report)
            restore(restored)
            restore(topics)
            restoreMoveTasks()
        }
    }

    private init(configuration: BrokerConfiguration, clock: any BrokerClock, store: BrokerStore?, report: RecoveryReport?) {
        self.configuration = configuration
        self.clock = clock
        let seed = configuration.seed ?? SystemRandomNumberGenerator.seed()
        let key = BrokerDirectory.Key(accountId: configuration.accountId, region: configuration.region)
        self.directory = BrokerDirectory(root: key, seed: seed, store: store, recoveryReport: report)
        self.space = directory.space(for: key)
        if let store {
            store.setQueueSource { [weak directory] in
                guard let directory else { return [] }
                return directory.allSpaces.flatMap { space in space.registry.withLock { Array($0.queues.values) } }
            }
            store.setTopicSource { [weak directory] in
                guard let directory else { return [] }
                return directory.allSpaces.flatMap { space in space.topicRegistry.withLock { Array($0.topics.values) } }
            }
            attachMoveTasks(to: store)
        }
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
        set {
            directory.snsEndpoint.withLock { $0 = newValue }
            if directory.store != nil { retargetRestoredTopics() }
        }
    }

    /// Every account and region this broker and its views have used, in order: for dashboards and listings.
    public var scopes: [(accountId: String, region: String)] {
        directory.keys.map { ($0.accountId, $0.region) }
    }

    /// What this broker recovered from its directory when it started; nil for an in-memory broker.
    public var recoveryReport: RecoveryReport? { directory.recoveryReport }

    /// Runs `body`, whose calls change queues (sends, deletes, visibility changes, a topic's deliveries to its
    /// queues), and returns its result once their records meet the broker's ``Durability`` promise, suspending the
    /// task meanwhile instead of blocking its thread.
    ///
    /// A synchronous call on a durable broker blocks its thread until its record is on disk (at
    /// ``Durability/acknowledged``). Tasks run on a pool with one thread per core, so tasks that each block share a
    /// sync only with as many others as there are threads. Inside `body` the same calls hand their wait to this
    /// function instead, which suspends: a thousand tasks can then share one sync. At ``Durability/none`` it
    /// suspends until the records are handed to the kernel. In memory, and at ``Durability/interval(_:)``, whose
    /// calls never wait, it simply returns `body`'s result.
    ///
    /// ```swift
    /// let result = try await broker.awaitingDurability { try queue.deleteMessageBatch(entries) }
    /// ```
    ///
    /// Results inside `body` are not yet durable: act on them (tell a client, charge a card) only once this
    /// returns. Long polls woken by these calls see their messages only then, too.
    ///
    /// - Throws: the first `BrokerError` of `body`, or the storage error of a record that could not be stored (then
    ///   nothing after it in `body` is acknowledged either).
    public func awaitingDurability<R>(_ body: () throws(BrokerError) -> R) async throws(BrokerError) -> R {
        guard let store = directory.store, store.callsWait else { return try body() }
        return try await DurableDeferral.run(body)
    }

    /// Writes a snapshot of every queue and topic now and lets the journal delete the segments it covers (a durable broker
    /// also does this by itself as its journal grows). Nothing for an in-memory broker.
    public func snapshot() throws(BrokerError) {
        try directory.store?.takeSnapshot()
    }

    /// Whether a state-changing call waits for the disk before it returns (``Durability/acknowledged`` and
    /// ``Durability/none``): false in memory and at ``Durability/interval(_:)``. For the benchmark harness, which
    /// suspends only callers that wait.
    package var callsWaitForTheDisk: Bool { directory.store?.callsWait ?? false }

    /// The journal's counters (appends, records, writes, syncs) since the broker opened its directory; nil in
    /// memory. For the benchmark harness.
    package var journalStatistics: Journal.Statistics? { directory.store?.journal.statistics }

    /// The journal's appends, records and syncs since the broker opened its directory; nil in memory. For the
    /// wire server's tests and metrics.
    @_spi(BrokerServer)
    public var journalCounters: (appends: Int, records: Int, syncs: Int)? {
        journalStatistics.map { ($0.appends, $0.records, $0.syncs) }
    }

    /// Writes what is pending, closes a durable broker's journal and releases its directory, so another broker can
    /// open it; later changes fail. Nothing for an in-memory broker.
    public func closeStorage() {
        directory.store?.journal.close()
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
            for core in queues {
                if let durable = core.durable, case .success(let ticket) = durable.store.appendDeletion(id: durable.id) {
                    try? durable.store.wait(for: ticket)
                }
                core.markDeleted()
            }
            let topics = space.topicRegistry.withLock { registry -> [TopicCore] in
                defer { registry.topics.removeAll() }
                return Array(registry.topics.values)
            }
            for core in topics {
                core.state.withLock { state in
                    state.deleted = true
                    state.subscriptions.removeAll()
                }
                if let durable = core.durable, case .success(let ticket) = durable.store.appendTopicDeletion(id: durable.id) {
                    try? durable.store.wait(for: ticket)
                }
            }
            let tasks = space.moveTasks.withLock { tasks -> [MoveTaskRegistry.Record] in
                defer { tasks.records.removeAll() }
                return tasks.records
            }
            for task in tasks { task.wakeUp?.cancel() }
            journalForgotten(tasks)
        }
        resetSNSState()
    }
}

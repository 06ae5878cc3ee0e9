import Foundation

/// The queue operations of a broker: CreateQueue, GetQueueUrl, ListQueues, DeleteQueue, and ARN resolution.
extension Broker {
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
        var ticket: Result<JournalTicket, BrokerError>?
        let outcome: Result<QueueCore, BrokerError> = registry.withLock { registry in
            if let existing = registry.queues[name] { return .success(existing) }
            if let deleted = registry.deletedAt[name], now.timeIntervalSince(deleted) < 60 {
                return .failure(BrokerError(.queueDeletedRecently,
                    "You must wait 60 seconds after deleting a queue before you can create another with the same name."))
            }
            registry.deletedAt[name] = nil
            registry.created += 1
            var seeds = IDGenerator(seed: seedValue ^ (registry.created &* 0x9E37_79B9_7F4A_7C15))
            let durable = directory.store.map { DurableQueue(store: $0, id: $0.makeQueueID()) }
            let core = QueueCore(
                name: name, url: "\(configuration.queueURLBase)/\(configuration.accountId)/\(name)", arn: arn,
                settings: settings, tags: tags, seed: seeds.next(), clock: clock, senderId: configuration.accountId,
                inFlightLimit: configuration.maximumInFlightMessages, resolveQueue: resolveQueue, durable: durable)
            if let durable {
                // Under the registry lock, so the creation precedes every record of the queue in the journal.
                ticket = durable.store.appendCreation(of: core, id: durable.id, accountId: configuration.accountId,
                                                      region: configuration.region)
            }
            // The new core is reachable by no one else yet, so taking its lock here cannot meet the usual order.
            if let realism = configuration.sqsRealism { core.setRealism(realism) }
            registry.queues[name] = core
            return .success(core)
        }
        let core = try outcome.get()
        if let ticket, let failure = core.awaitDurable(ticket) { throw failure }
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
        if let durable = queue.core.durable, let failure = queue.core.awaitDurable(durable.store.appendDeletion(id: durable.id)) {
            throw failure
        }
    }

    /// DeleteQueue by URL, ARN or name.
    public func deleteQueue(_ reference: String) throws(BrokerError) {
        try deleteQueue(queue(reference))
    }

    /// Every queue, in name order: for dashboards and failure messages.
    public var queues: [Queue] {
        registry.withLock { $0.queues.values.map { Queue(core: $0, owner: self) } }.sorted { $0.name < $1.name }
    }

    /// Puts the queues a durable broker recovered in their accounts' registries.
    func restore(_ restored: [RestoredQueue]) {
        guard let store = directory.store else { return }
        for image in restored {
            let owner = view(of: BrokerDirectory.Key(accountId: image.accountId, region: image.region))
            var settings = QueueSettings()
            if let attributes = try? QueueAttributes(awsAttributes: image.settings) {
                try? settings.apply(attributes, creating: true)
            }
            owner.registry.withLock { registry in
                registry.created += 1
                var seeds = IDGenerator(seed: owner.seedValue ^ image.incarnation ^ (registry.created &* 0x9E37_79B9_7F4A_7C15)
                    ^ SystemRandomNumberGenerator.seed())
                let core = QueueCore(
                    name: image.name,
                    url: "\(owner.configuration.queueURLBase)/\(image.accountId)/\(image.name)",
                    arn: owner.queueArn(image.name), settings: settings, tags: image.tags, seed: seeds.next(),
                    clock: clock, senderId: image.accountId, inFlightLimit: configuration.maximumInFlightMessages,
                    resolveQueue: owner.resolveQueue, durable: DurableQueue(store: store, id: image.id),
                    restoring: image)
                registry.queues[image.name] = core
            }
        }
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
        let valid = isResourceName(name, fifo: fifo, maximumLength: 80)
        if fifo, !(valid && name.hasSuffix(".fifo")) {
            throw BrokerError(.invalidParameterValue,
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or underscores, must end with .fifo suffix and be 1 to 80 in length.")
        }
        if !valid {
            throw BrokerError(.invalidParameterValue,
                "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
        }
    }

    /// The name rule queues and topics share: 1 to `maximumLength` bytes of `[A-Za-z0-9_-]`, where a FIFO name's
    /// `.fifo` suffix counts in the length but not in the alphabet.
    static func isResourceName(_ name: String, fifo: Bool, maximumLength: Int) -> Bool {
        let stem = fifo && name.hasSuffix(".fifo") ? name.utf8.dropLast(5) : name.utf8[...]
        return !stem.isEmpty && name.utf8.count <= maximumLength && stem.allSatisfy {
            MessageValidation.isAlphanumeric($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_")
        }
    }
}

extension Queue {
    /// The broker (of the queue's own account and region) that made this handle, when it is still alive. The handle
    /// holds it untyped, so the queue room does not depend on the broker's.
    var broker: Broker? { owner as? Broker }
}

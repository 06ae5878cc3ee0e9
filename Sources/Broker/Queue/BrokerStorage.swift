import Foundation

/// Where a broker keeps its queues and messages.
public enum BrokerStorage: Sendable, Hashable {
    /// In memory only (the default): nothing survives the process, and no call waits for a disk.
    case memory
    /// In a journal in `path` (an existing, writable directory that no other broker uses), replayed at start.
    /// `durability` says how long a call that changed state waits for the disk; `Docs/Durability.md` states what each
    /// level promises.
    case directory(String, durability: Durability = .acknowledged)
}

/// What a durable broker recovered when it started.
public struct RecoveryReport: Sendable, Hashable {
    /// Queues restored.
    public var queues: Int
    /// Topics restored.
    public var topics: Int = 0
    /// Subscriptions restored, confirmed or pending.
    public var subscriptions: Int = 0
    /// Messages restored, in any state.
    public var messages: Int
    /// Journal records replayed after the snapshot.
    public var records: Int
    /// Whether a snapshot was loaded.
    public var loadedSnapshot: Bool
    /// Torn or corrupt bytes dropped from the end of the journal, one line each; empty after a clean shutdown.
    public var damage: [String]
}

/// A durable broker's journal and what its records mean: queue and topic records, created and deleted queues and
/// topics, snapshots.
///
/// Record kinds (the first payload byte): 1 a queue's entries (queue number, then ``QueueLog`` entries), 2 a created
/// queue, 3 a deleted queue, 4 a created topic (its whole image), 5 a topic's entries (topic number, then
/// ``TopicLog`` entries), 6 a deleted topic, 7 a message move task's start, progress or end. A snapshot holds every
/// queue's and topic's image and every move task, each with the LSN it was taken at.
final class BrokerStore: Sendable {
    enum Kind: UInt8 {
        case queue = 1
        case createQueue = 2
        case deleteQueue = 3
        case createTopic = 4
        case topic = 5
        case deleteTopic = 6
        case moveTask = 7
    }

    /// 2 added topics after the queues, 3 move tasks after the topics; versions 1 (queues only) and 2 are still read.
    static let snapshotVersion: UInt8 = 3

    struct Counters {
        var nextQueueID: UInt64 = 1
        /// The size of the last snapshot, the messages it held, and the journal's byte count when it was taken:
        /// what ``considerSnapshot()`` weighs the journal's growth against.
        var lastSnapshotBytes = 0
        var lastSnapshotMessages = 0
        /// The sizes (body and attributes) of the last snapshot's messages, summed.
        var lastSnapshotMessageBytes = 0
        /// The bytes the last snapshot's messages took in it, their receipt state included: the rest of it
        /// (queues' settings and tags, deduplication records, topics, move tasks) does not grow with the messages.
        var lastSnapshotMessageRecordBytes = 0
        var journalBytesAtSnapshot = 0
        /// The newest LSN a snapshot written since the store opened covers (0 before the first).
        var lastSnapshotLSN: Journal.LSN = 0
        /// Snapshots written since the store opened.
        var snapshotsWritten = 0
        /// Runs a snapshot that came due, off the appender's thread (tests hold it to run it when they choose). On a
        /// thread of its own, not a Dispatch queue: a queued snapshot waits while every worker thread of the global
        /// pool is blocked waiting for the disk or busy, and under sustained load could wait for as long as the load
        /// lasts. Snapshots are rare, so a thread each costs nothing that matters.
        var scheduleSnapshot: @Sendable (@escaping @Sendable () -> Void) -> Void = { work in
            Thread { work() }.start()
        }
        var queues: (@Sendable () -> [QueueCore])?
        /// Run between two holds of a queue's lock while a snapshot copies it, with the queue's name (tests change
        /// queues there).
        var betweenSnapshotHolds: (@Sendable (_ queue: String) -> Void)?
        var topics: (@Sendable () -> [TopicCore])?
        /// Every move task, each copied under its registry's lock with the journal's next LSN read there.
        var moveTasks: (@Sendable (_ nextLSN: () -> Journal.LSN) -> [RestoredMoveTask])?
    }

    let journal: Journal
    let durability: Durability
    /// Whether a call's records can make it wait: at `interval` none does, so a task need not be set up to
    /// suspend for them.
    let callsWait: Bool
    /// Journal bytes after which a snapshot is taken and older segments deleted.
    let snapshotThreshold: Int
    /// Message slots a snapshot copies per hold of a queue's lock (see `QueueCore.snapshotImage`); tests set it low,
    /// so that a snapshot's copy of a small queue is cut by the changes made between its holds.
    let snapshotSlotsPerHold: Int
    /// The message move tasks recovery found, oldest first, for the broker to put back and resume.
    let restoredMoveTasks: [RestoredMoveTask]
    private let counters: LockedState<Counters>

    private init(journal: Journal, durability: Durability, snapshotThreshold: Int, snapshotSlotsPerHold: Int, nextQueueID: UInt64,
                 restoredMoveTasks: [RestoredMoveTask]) {
        self.journal = journal
        self.restoredMoveTasks = restoredMoveTasks
        self.durability = durability
        if case .interval = durability { callsWait = false } else { callsWait = true }
        self.snapshotThreshold = snapshotThreshold
        self.snapshotSlotsPerHold = max(1, snapshotSlotsPerHold)
        var counters = Counters()
        counters.nextQueueID = nextQueueID
        self.counters = LockedState(counters)
        journal.setMark(afterBytes: snapshotThreshold)
    }

    /// Opens the journal in `path` and rebuilds every queue it holds.
    static func open(path: String, durability: Durability, snapshotThreshold: Int, snapshotSlotsPerHold: Int,
                     faults: JournalFaults? = nil)
        throws(BrokerError) -> (BrokerStore, [RestoredQueue], [RestoredTopic], RecoveryReport) {
        var options = Journal.Options()
        options.faults = faults
        let (journal, recovery) = try Journal.open(directory: path, durability: durability, options: options)
        var images: [UInt64: RestoredQueue] = [:]
        var topics: [UInt64: RestoredTopic] = [:]
        var moveTasks = RestoredMoveTasks()
        var nextQueueID: UInt64 = 1
        var damage = recovery.damage.map(\.description)
        if let snapshot = recovery.snapshot {
            do throws(JournalDecodingError) {
                var decoder = JournalDecoder(snapshot.bytes)
                let version = try decoder.readByte()
                guard (1...snapshotVersion).contains(version) else {
                    throw JournalDecodingError(reason: "unknown snapshot version", offset: 0)
                }
                nextQueueID = try decoder.readFixed()
                while try decoder.readPresence() {
                    let image = try decodeImage(&decoder, snapshotVersion: version)
                    images[image.id] = image
                }
                if version >= 2 {
                    while try decoder.readPresence() {
                        let image = try RestoredTopic.decode(&decoder)
                        topics[image.id] = image
                    }
                }
                if version >= 3 {
                    while try decoder.readPresence() { moveTasks.add(try RestoredMoveTask.decodeImage(&decoder)) }
                }
            } catch {
                journal.close()
                throw BrokerError.storageCorruptSnapshot(path, reason: error.description)
            }
        }
        // A snapshot's image of a queue (a topic, a move task) is as of the LSN at its first hold, later than the
        // snapshot's own LSN; records appended meanwhile may never have reached the disk before a crash. New records
        // must be numbered past every image's LSN, or the next recovery would skip them as already in the image.
        let imagesAsOf = (images.values.map(\.asOfLSN) + topics.values.map(\.asOfLSN)
            + moveTasks.tasks.compactMap { $0?.asOfLSN }).max() ?? 0
        if imagesAsOf > 0 { journal.reserve(through: imagesAsOf - 1) }
        var replayed = 0
        var moves: [RestoredQueue.PendingMove] = []
        for record in recovery.records {
            var decoder = JournalDecoder(record.payload)
            do throws(JournalDecodingError) {
                let raw = try decoder.readByte()
                switch Kind(rawValue: raw) {
                case .queue:
                    let id = try decoder.readVarint()
                    guard var image = images[id], record.lsn >= image.asOfLSN else { continue }
                    images[id] = nil  // keeps the image's storage unique while it changes
                    defer { images[id] = image }
                    try image.apply(&decoder, moves: &moves)
                case .createQueue:
                    let image = try decodeCreation(&decoder)
                    nextQueueID = max(nextQueueID, image.id + 1)
                    if images[image.id] == nil { images[image.id] = image }
                case .deleteQueue:
                    images[try decoder.readVarint()] = nil
                case .createTopic:
                    let image = try RestoredTopic.decode(&decoder)
                    nextQueueID = max(nextQueueID, image.id + 1)
                    if topics[image.id] == nil { topics[image.id] = image }
                case .topic:
                    let id = try decoder.readVarint()
                    guard var image = topics[id], record.lsn >= image.asOfLSN else { continue }
                    topics[id] = nil
                    defer { topics[id] = image }
                    try image.apply(&decoder)
                case .deleteTopic:
                    topics[try decoder.readVarint()] = nil
                case .moveTask:
                    try moveTasks.apply(&decoder, lsn: record.lsn)
                case nil:
                    throw JournalDecodingError(reason: "unknown record kind \(raw)", offset: 0)
                }
                replayed += 1
            } catch {
                damage.append("record \(record.lsn): \(error); skipped")
            }
        }
        // Dead-letter moves the crash cut in half: into the dead-letter queue, or back where they came from. A move
        // whose copy the dead-letter queue's image already holds was whole: a snapshot copied the source before the
        // move and the dead-letter queue after it, so the copy's record came before that queue's image and was
        // skipped, while the source's record of the move was replayed.
        var arrived: [UInt64: Set<MessageID>] = [:]
        for move in moves {
            if let target = images.values.first(where: { $0.arn == move.target }) {
                let ids = arrived[target.id] ?? Set(target.messages.values.lazy
                    .filter { $0.deadLetterQueueSourceArn != nil }.map(\.id))
                arrived[target.id] = ids
                if ids.contains(move.message.id) { continue }
                images[target.id]?.adopt(move)
            } else if let source = images.values.first(where: { $0.arn == move.source }) {
                images[source.id]?.adopt(move)
            }
        }
        // A queue or topic created while a snapshot was taken can be in its images with a number past the one
        // its header recorded.
        for id in Array(images.keys) + Array(topics.keys) { nextQueueID = max(nextQueueID, id + 1) }
        let restored = images.values.sorted { $0.id < $1.id }
        let restoredTopics = topics.values.sorted { $0.id < $1.id }
        var report = RecoveryReport(queues: restored.count, messages: restored.reduce(0) { $0 + $1.messages.count },
                                    records: replayed, loadedSnapshot: recovery.snapshot != nil, damage: damage)
        report.topics = restoredTopics.count
        report.subscriptions = restoredTopics.reduce(0) { $0 + $1.subscriptions.count }
        // A task whose source queue is gone cannot be listed (ListMessageMoveTasks needs the queue) nor resumed.
        let queueArns = Set(restored.map(\.arn))
        let restoredTasks = moveTasks.tasks.compactMap { $0 }.filter { queueArns.contains($0.sourceArn) }
        let store = BrokerStore(journal: journal, durability: durability, snapshotThreshold: snapshotThreshold,
                                snapshotSlotsPerHold: snapshotSlotsPerHold,
                                nextQueueID: nextQueueID, restoredMoveTasks: restoredTasks)
        return (store, restored, restoredTopics, report)
    }

    /// Tells the store how to find every queue, for snapshots.
    func setQueueSource(_ queues: @escaping @Sendable () -> [QueueCore]) {
        counters.withLock { $0.queues = queues }
    }

    /// Replaces how a snapshot that came due is run (tests).
    func setSnapshotScheduler(_ schedule: @escaping @Sendable (@escaping @Sendable () -> Void) -> Void) {
        counters.withLock { $0.scheduleSnapshot = schedule }
    }

    /// Has `body` run between every two holds of a queue's lock while a snapshot copies the queue, with the lock
    /// released: a test changes the queue there, where a sender would, to prove the copy comes back exact.
    func setSnapshotHoldHook(_ body: (@Sendable (_ queue: String) -> Void)?) {
        counters.withLock { $0.betweenSnapshotHolds = body }
    }

    /// What ``setSnapshotHoldHook(_:)`` set.
    var snapshotHoldHook: (@Sendable (_ queue: String) -> Void)? { counters.withLock { $0.betweenSnapshotHolds } }

    /// The size of the last snapshot taken since the store opened (0 before the first).
    var lastSnapshotBytes: Int { counters.withLock { $0.lastSnapshotBytes } }

    /// The messages the last snapshot held.
    var lastSnapshotMessages: Int { counters.withLock { $0.lastSnapshotMessages } }

    /// The newest LSN a snapshot written since the store opened covers (0 before the first).
    var lastSnapshotLSN: Journal.LSN { counters.withLock { $0.lastSnapshotLSN } }

    /// Snapshots written since the store opened.
    var snapshotsWritten: Int { counters.withLock { $0.snapshotsWritten } }

    /// Tells the store how to find every topic, for snapshots.
    func setTopicSource(_ topics: @escaping @Sendable () -> [TopicCore]) {
        counters.withLock { $0.topics = topics }
    }

    /// Tells the store how to copy every move task, for snapshots.
    func setMoveTaskSource(_ tasks: @escaping @Sendable (_ nextLSN: () -> Journal.LSN) -> [RestoredMoveTask]) {
        counters.withLock { $0.moveTasks = tasks }
    }

    /// The next queue or topic number (one counter for both).
    func makeQueueID() -> UInt64 {
        counters.withLock { counters in
            defer { counters.nextQueueID += 1 }
            return counters.nextQueueID
        }
    }

    // MARK: Records

    /// Queues a queue record (called under the queue's lock).
    func append(queue id: UInt64, entries: [UInt8]) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.queue.rawValue)
            encoder.write(varint: id)
            encoder.bytes.append(contentsOf: entries)
        }
    }

    /// Queues the record of a created queue.
    func appendCreation(of core: QueueCore, id: UInt64, accountId: String, region: String) -> Result<JournalTicket, BrokerError> {
        let (settings, tags, lastModified, lastSequence) = core.state.withLock {
            ($0.settings, $0.tags, $0.lastModified, $0.sequencer.lastSequenceNumber)
        }
        return write { encoder in
            encoder.write(byte: Kind.createQueue.rawValue)
            encoder.write(varint: id)
            encoder.write(string: accountId)
            encoder.write(string: region)
            encoder.write(string: core.name)
            encoder.write(fixed: core.incarnation)
            encoder.write(date: core.createdAt)
            encoder.write(fixed: lastSequence)
            QueueCore.encodeSettings(settings, tags: tags, lastModified: lastModified, into: &encoder)
        }
    }

    /// Queues the record of a deleted queue.
    func appendDeletion(id: UInt64) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.deleteQueue.rawValue)
            encoder.write(varint: id)
        }
    }

    /// Queues a topic record (called under the topic's lock, except a FIFO publish's entry).
    func append(topic id: UInt64, entries: [UInt8]) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.topic.rawValue)
            encoder.write(varint: id)
            encoder.bytes.append(contentsOf: entries)
        }
    }

    /// Queues the record of a created topic: its whole image, which has no subscriptions yet.
    func appendCreation(of image: RestoredTopic) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.createTopic.rawValue)
            image.encode(into: &encoder)
        }
    }

    /// Queues the record of a deleted topic (its subscriptions go with it).
    func appendTopicDeletion(id: UInt64) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.deleteTopic.rawValue)
            encoder.write(varint: id)
        }
    }

    /// Queues the record of a started move task (called under its registry's lock, as are the next two).
    func appendMoveTaskStart(_ task: RestoredMoveTask) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.moveTask.rawValue)
            encoder.write(byte: RestoredMoveTask.Operation.started.rawValue)
            task.encodeStart(into: &encoder)
        }
    }

    /// Queues the record of a move task's status and messages moved so far (a step, a cancel, its end).
    func appendMoveTaskState(handle: String, status: MessageMoveTask.Status, moved: Int,
                             failureReason: String?) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.moveTask.rawValue)
            encoder.write(byte: RestoredMoveTask.Operation.state.rawValue)
            encoder.write(string: handle)
            RestoredMoveTask.encodeState(status: status, moved: moved, failureReason: failureReason, into: &encoder)
        }
    }

    /// Queues the record of a move task `reset()` dropped.
    func appendMoveTaskForgotten(handle: String) -> Result<JournalTicket, BrokerError> {
        write { encoder in
            encoder.write(byte: Kind.moveTask.rawValue)
            encoder.write(byte: RestoredMoveTask.Operation.forgotten.rawValue)
            encoder.write(string: handle)
        }
    }

    /// Queues one record, which `body` encodes straight into the journal's buffer (under the journal's lock: it
    /// must only encode). The append that reaches the snapshot mark starts a snapshot in the background.
    private func write(_ body: (inout JournalEncoder) -> Void) -> Result<JournalTicket, BrokerError> {
        do throws(BrokerError) {
            let ticket = try journal.enqueueRecord(body)
            if ticket.marked { counters.withLock { $0.scheduleSnapshot }({ [self] in try? considerSnapshot() }) }
            return .success(ticket)
        } catch {
            return .failure(error)
        }
    }

    /// Waits for a record; inside ``Broker/awaitingDurability(_:)`` the wait is handed to the task instead.
    func wait(for ticket: JournalTicket) throws(BrokerError) {
        if let deferral = DurableDeferral.current, deferral.add(.init(store: self, ticket: ticket, finish: { _ in })) {
            return
        }
        try journal.wait(for: ticket)
    }

    // MARK: Snapshots

    /// Takes a snapshot if the journal holds at least as many bytes of dead records as of live state; otherwise sets
    /// the mark where that could first be so.
    ///
    /// A snapshot pays for rewriting everything live, and wins back what is dead: the records of messages deleted
    /// since, of receives superseded. Counting the bytes since the last snapshot alone (as the first snapshot has to,
    /// knowing nothing of the state yet) would rewrite a growing backlog every time it grew by its own size, winning
    /// nothing back. The live state is estimated from the messages resident now (their sizes, which every queue
    /// keeps summed, and the bytes per message the last snapshot's messages took beyond them) and the rest of the
    /// last snapshot, so a snapshot's cost stays at most one byte written per dead byte it removes, and the
    /// directory at about twice the live state plus the threshold.
    func considerSnapshot() throws(BrokerError) {
        let last = counters.withLock { $0 }
        guard last.lastSnapshotMessages > 0, let source = last.queues else { return try takeSnapshot() }
        // Per message, only what the messages' own encoding added beyond their sizes: spreading the fixed part over
        // them would count it once per message, and a first snapshot of few messages beside large settings would
        // put every later one off by as many times.
        let overhead = max(0, last.lastSnapshotMessageRecordBytes - last.lastSnapshotMessageBytes) / last.lastSnapshotMessages
        var live = max(0, last.lastSnapshotBytes - last.lastSnapshotMessageRecordBytes)
        for core in source() {
            let resident = core.resident
            live += resident.bytes + resident.messages * overhead
        }
        let onDisk = last.lastSnapshotBytes + max(0, journal.statistics.bytes - last.journalBytesAtSnapshot)
        if onDisk - live >= live { return try takeSnapshot() }
        journal.setMark(afterBytes: max(snapshotThreshold, 2 * live - onDisk))
    }

    /// Writes every queue's and topic's state and lets the journal drop the segments it covers. Each queue is
    /// locked only while its messages and their receive state are copied; the sort, the encoding and the file are
    /// written outside every queue lock.
    func takeSnapshot() throws(BrokerError) {
        // Dead records can outweigh the live state only once as many bytes as this snapshot took have been
        // journaled: the next look is no sooner (nor before the threshold).
        defer { journal.setMark(afterBytes: max(snapshotThreshold, counters.withLock { $0.lastSnapshotBytes })) }
        let (source, topicSource, taskSource, nextQueueID) = counters.withLock {
            ($0.queues, $0.topics, $0.moveTasks, $0.nextQueueID)
        }
        guard let source else { return }
        // The segment being written goes too once the snapshot covers it, so that after compaction the directory
        // holds the snapshot and the records after it, not up to a segment's worth of records it already covers.
        try journal.startNewSegment()
        let upTo = journal.nextLSN - 1
        let bytesAtSnapshot = journal.statistics.bytes
        var encoder = JournalEncoder(capacity: SnapshotOutput.pieceSize + (64 << 10))
        var written = 0
        var messages = 0
        var messageBytes = 0
        var messageRecordBytes = 0
        try journal.writeSnapshot(upTo: upTo) { (output: SnapshotOutput) throws(BrokerError) in
            // Written out a piece at a time as the encoding goes, so no buffer grows to the size of the state.
            let drain = { (encoder: inout JournalEncoder) throws(BrokerError) in
                try output.drain(&encoder, ifAtLeast: SnapshotOutput.pieceSize)
            }
            encoder.write(byte: Self.snapshotVersion)
            encoder.write(fixed: nextQueueID)
            // In the order the queues were made, so that one broker's snapshots copy its queues in one order.
            for core in source().sorted(by: { ($0.durable?.id ?? 0) < ($1.durable?.id ?? 0) }) {
                guard let image = core.snapshotImage(journalNextLSN: { journal.nextLSN }) else { continue }
                for message in image.live ?? [] { messageBytes += message.size }
                messages += image.live?.count ?? 0
                encoder.write(byte: 1)
                messageRecordBytes += try Self.encodeImage(image, into: &encoder, drain: drain)
            }
            encoder.write(byte: 0)
            for core in topicSource?() ?? [] {
                guard let image = core.snapshotImage(journalNextLSN: { journal.nextLSN }) else { continue }
                encoder.write(byte: 1)
                image.encode(into: &encoder)
                try drain(&encoder)
            }
            encoder.write(byte: 0)
            for task in taskSource?({ journal.nextLSN }) ?? [] {
                encoder.write(byte: 1)
                task.encodeImage(into: &encoder)
                try drain(&encoder)
            }
            encoder.write(byte: 0)
            try output.drain(&encoder)
            written = output.length
        }
        counters.withLock {
            $0.lastSnapshotBytes = written
            $0.lastSnapshotMessages = messages
            $0.lastSnapshotMessageBytes = messageBytes
            $0.lastSnapshotMessageRecordBytes = messageRecordBytes
            $0.journalBytesAtSnapshot = bytesAtSnapshot
            $0.lastSnapshotLSN = max($0.lastSnapshotLSN, upTo)
            $0.snapshotsWritten += 1
        }
    }

    /// Encodes a queue's image; `drain` is called every so many messages, to write out what is encoded so far.
    /// Returns the bytes its messages took.
    @discardableResult
    static func encodeImage(_ image: RestoredQueue, snapshotVersion version: UInt8 = snapshotVersion,
                            into encoder: inout JournalEncoder,
                            drain: (inout JournalEncoder) throws(BrokerError) -> Void = { _ in }) throws(BrokerError) -> Int {
        encoder.write(varint: image.id)
        encoder.write(string: image.accountId)
        encoder.write(string: image.region)
        encoder.write(string: image.name)
        encoder.write(fixed: image.incarnation)
        encoder.write(date: image.createdAt)
        encoder.write(fixed: image.asOfLSN)
        encoder.write(count: image.settings.count)
        for (name, value) in image.settings {
            encoder.write(string: name)
            encoder.write(string: value)
        }
        encoder.write(count: image.tags.count)
        for (key, value) in image.tags {
            encoder.write(string: key)
            encoder.write(string: value)
        }
        encoder.write(date: image.lastModified)
        encoder.write(optional: image.lastPurge) { $0.write(date: $1) }
        encoder.write(fixed: image.lastSequenceNumber)
        encoder.write(fixed: UInt64(image.lastGeneration))
        encoder.write(count: image.deduplication.count)
        for entry in image.deduplication {
            encoder.write(string: entry.id)
            encoder.write(optional: entry.group) { $0.write(string: $1) }
            encoder.write(date: entry.record.expiresAt)
            encoder.write(fixed: entry.record.messageId.high)
            encoder.write(fixed: entry.record.messageId.low)
            encoder.write(fixed: entry.record.sequenceNumber)
        }
        if let live = image.live, let states = image.liveStates, live.count == states.count {
            encoder.write(count: live.count)
            var bytes = 0
            for index in live.indices {
                let before = encoder.bytes.count
                QueueLog.encode(live[index], state: states[index], into: &encoder)
                bytes += encoder.bytes.count - before
                if index & 1023 == 1023 { try drain(&encoder) }
            }
            if version >= 3 { encodeReceiveAttempts(image, into: &encoder) }
            return bytes
        }
        let messages = image.orderedMessages
        encoder.write(count: messages.count)
        var bytes = 0
        for (index, message) in messages.enumerated() {
            let before = encoder.bytes.count
            QueueLog.encode(message, into: &encoder)
            bytes += encoder.bytes.count - before
            if index & 1023 == 1023 { try drain(&encoder) }
        }
        if version >= 3 { encodeReceiveAttempts(image, into: &encoder) }
        return bytes
    }

    /// The FIFO receive attempts after a queue image's messages (snapshot version 3 on).
    private static func encodeReceiveAttempts(_ image: RestoredQueue, into encoder: inout JournalEncoder) {
        encoder.write(count: image.receiveAttempts.count)
        for attempt in image.receiveAttempts.values { QueueLog.encode(attempt, into: &encoder) }
    }

    static func decodeImage(_ decoder: inout JournalDecoder,
                            snapshotVersion version: UInt8 = snapshotVersion) throws(JournalDecodingError) -> RestoredQueue {
        var image = RestoredQueue(id: try decoder.readVarint(), accountId: try decoder.readString(),
                                  region: try decoder.readString(), name: try decoder.readString(),
                                  incarnation: try decoder.readFixed(), createdAt: try decoder.readDate())
        image.asOfLSN = try decoder.readFixed()
        try image.decodeSettings(&decoder)
        image.lastPurge = try decoder.readPresence() ? try decoder.readDate() : nil
        image.lastSequenceNumber = try decoder.readFixed()
        image.lastGeneration = UInt32(truncatingIfNeeded: try decoder.readFixed())
        for _ in 0..<(try decoder.readCount()) {
            let id = try decoder.readString()
            let group = try decoder.readPresence() ? try decoder.readString() : nil
            let expiresAt = try decoder.readDate()
            let messageId = MessageID(high: try decoder.readFixed(), low: try decoder.readFixed())
            let sequence = try decoder.readFixed()
            image.deduplication.append(.init(id: id, group: group, record: DeduplicationRecord(
                expiresAt: expiresAt, messageId: messageId, sequenceNumber: sequence)))
        }
        let count = try decoder.readCount()
        // Each message takes more than a byte, so a count the bytes left cannot hold is refused before it reserves.
        guard count <= decoder.remaining else {
            throw JournalDecodingError(reason: "\(count) messages cannot fit in \(decoder.remaining) bytes", offset: 0)
        }
        image.messages.reserveCapacity(count)
        image.order.reserveCapacity(count)
        for _ in 0..<count {
            let message = try QueueLog.decodeMessage(&decoder)
            image.messages[message.key] = message
            image.order.append(message.key)
        }
        if version >= 3 {
            for _ in 0..<(try decoder.readCount()) {
                let attempt = try QueueLog.decodeReceiveAttempt(&decoder)
                image.receiveAttempts[attempt.id] = attempt
            }
        }
        return image
    }

    static func decodeCreation(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredQueue {
        var image = RestoredQueue(id: try decoder.readVarint(), accountId: try decoder.readString(),
                                  region: try decoder.readString(), name: try decoder.readString(),
                                  incarnation: try decoder.readFixed(), createdAt: try decoder.readDate())
        image.lastSequenceNumber = try decoder.readFixed()
        try image.decodeSettings(&decoder)
        return image
    }
}

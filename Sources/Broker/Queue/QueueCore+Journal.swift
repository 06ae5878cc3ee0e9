import Foundation
import Synchronization

/// A durable queue's place in the broker's journal: the store and the number its records carry.
struct DurableQueue: Sendable {
    let store: BrokerStore
    let id: UInt64
    /// This queue's records that could not be stored.
    let failedRecords = FailedRecords()
}

/// The records of one durable queue or topic that could not be stored, whose changes stay in memory, and how many of
/// them a snapshot has covered since.
///
/// A failed call's change is not rolled back: its caller was told it failed, and after a restart it is gone. That is
/// harmless except where a later call answers from it as if it were stored: a FIFO send or publish retried with the
/// same deduplication id is answered with the unstored original's id, reported sent, and lost at the next restart.
/// Such an answer first calls ``cover(with:)``.
final class FailedRecords: Sendable {
    private let failures = Atomic<UInt64>(0)
    private let covered = Atomic<UInt64>(0)

    /// Counts a record that could not be stored.
    func note() {
        failures.add(1, ordering: .releasing)
    }

    /// When any failure is not covered yet, writes a snapshot (every queue's and topic's state in memory, the failed
    /// changes included); throws the storage error if that cannot be written.
    func cover(with store: BrokerStore) throws(BrokerError) {
        let count = failures.load(ordering: .acquiring)
        guard count != covered.load(ordering: .acquiring) else { return }
        let from = store.journal.nextLSN
        do throws(BrokerError) {
            try store.takeSnapshot()
        } catch {
            // Another snapshot that began after this point (the due one, or a second cover) and refused this
            // one as older copied the state after the failures too.
            guard store.lastSnapshotLSN >= from else { throw error }
        }
        // Failures after the load above are not known to be covered: they keep the count ahead.
        covered.store(count, ordering: .releasing)
    }
}

extension QueueCore {
    /// Writes the critical section's log as one record, still under the queue's lock so records follow the order of
    /// the changes (lock order: queue, then journal). The caller waits for it with ``awaitDurable(_:)`` once the
    /// lock is released, so one sync serves every queue and caller that journaled meanwhile.
    func journal(_ state: inout QueueStateMachine) -> Result<JournalTicket, BrokerError>? {
        guard let durable, var log = state.log, !log.isEmpty else { return nil }
        state.log = nil  // the copy in `log` is then the only owner of its buffer
        if log.settingsChanged {
            log.count += 1
            log.encoder.write(byte: QueueLog.Operation.settings.rawValue)
            Self.encodeSettings(state.settings, tags: state.tags, lastModified: state.lastModified, into: &log.encoder)
        }
        let ticket = durable.store.append(queue: durable.id, entries: log.encoder.bytes)
        log.reset()
        state.log = log
        return ticket
    }

    /// The messages the queue holds (visible, in flight and delayed) and their sizes summed, for the snapshot
    /// schedule's estimate.
    var resident: (messages: Int, bytes: Int) { state.withLock { ($0.messages.count, $0.messages.bytes) } }

    /// Waits for a record written by ``journal(_:)``; returns the error when it could not be stored.
    func awaitDurable(_ ticket: Result<JournalTicket, BrokerError>) -> BrokerError? {
        guard let durable else { return nil }
        switch ticket {
        case .failure(let error): return error
        case .success(let ticket):
            do throws(BrokerError) {
                try durable.store.wait(for: ticket)
                return nil
            } catch {
                return error
            }
        }
    }

    static func encodeSettings(_ settings: QueueSettings, tags: [String: String], lastModified: Date,
                               into encoder: inout JournalEncoder) {
        var values: [(String, String)] = []
        for name in QueueAttributeName.allCases {
            if let value = settings.awsValue(of: name) { values.append((name.rawValue, value)) }
        }
        encoder.write(count: values.count)
        for (name, value) in values {
            encoder.write(string: name)
            encoder.write(string: value)
        }
        encoder.write(count: tags.count)
        for (key, value) in tags {
            encoder.write(string: key)
            encoder.write(string: value)
        }
        encoder.write(date: lastModified)
    }

    /// The queue's whole state for a snapshot, ready to encode; nil once deleted.
    ///
    /// The messages are copied under the queue's lock a run of slots at a time (`BrokerStore.snapshotSlotsPerHold`:
    /// ``snapshotSlotsPerHold`` unless a test sets another), not all in one hold: a million of them took the lock for
    /// 53–67 ms (measured at `739b1fb`), and every sender waited that long. The image is then fuzzy, each message as
    /// it was at the hold that copied it, and it is stamped with the journal's LSN at the first hold. Replay from
    /// there makes it exact: every change after that moment has a record at or past that LSN, and each record sets
    /// what it changes outright (a message whole, its receive state, its removal, a purge), so replaying one the
    /// image already reflects repeats it harmlessly, and a message the copy missed comes back with its send. A
    /// message copied before its change and one copied after both end at the state the last record gives it.
    func snapshotImage(journalNextLSN: () -> Journal.LSN) -> RestoredQueue? {
        // The queue's own ARN, arn:aws:sqs:REGION:ACCOUNT:NAME, names its account and region.
        let arnParts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard let durable, arnParts.count == 6 else { return nil }
        let (region, accountId) = (String(arnParts[3]), String(arnParts[4]))
        let run = durable.store.snapshotSlotsPerHold
        let betweenHolds = durable.store.snapshotHoldHook
        var live: [StoredMessage] = []
        var states: [QueueLog.MessageState] = []
        // Room for the next run is made before each hold, not in it: growing the copy of a million messages under
        // the lock moved 60 MB there, and a sender waited 30–45 ms for it.
        func makeRoom(for messages: Int) {
            guard live.capacity - live.count < messages else { return }
            let capacity = live.count + max(messages, live.count / 4)
            live.reserveCapacity(capacity)
            states.reserveCapacity(capacity)
        }
        makeRoom(for: resident.messages + run)
        // Each message with a copy of its receive state, which belongs to the lock.
        func copy(_ messages: MessageTable, slots: Range<Int>) {
            messages.forEach(inSlots: slots) { message in
                live.append(message)
                states.append(QueueLog.MessageState(message))
            }
        }
        // Under the lock: the queue's fields and the first run of messages. The encoding, a hundred bytes and more
        // per message, is done after, so that a sender waits for a copy of part of the queue, not for its image.
        let first: RestoredQueue? = state.withLock { state -> RestoredQueue? in
            guard !state.deleted else { return nil }
            let now = clock.now
            var image = RestoredQueue(id: durable.id, accountId: accountId, region: region, name: name,
                                      incarnation: incarnation, createdAt: createdAt)
            image.asOfLSN = journalNextLSN()
            image.settings = Self.settingsMap(state.settings)
            image.tags = state.tags
            image.lastModified = state.lastModified
            image.lastPurge = state.lastPurge
            image.lastSequenceNumber = state.sequencer.lastSequenceNumber
            image.lastGeneration = state.messages.lastGeneration
            image.deduplication = state.sequencer.history.liveEntries(now: now).map {
                RestoredQueue.Deduplication(id: $0.id, group: $0.group, record: $0.record)
            }
            copy(state.messages, slots: 0..<run)
            for (id, attempt) in state.receiveAttempts where attempt.expiresAt > now {
                image.receiveAttempts[id] = QueueLog.ReceiveAttempt(id, expiresAt: attempt.expiresAt,
                                                                    deliveries: attempt.deliveries)
            }
            return image
        }
        guard var image = first else { return nil }
        var next = run
        while true {
            makeRoom(for: run)
            betweenHolds?(name)
            state.letSleepersIn()
            let more = state.withLock { state -> Bool? in
                guard !state.deleted else { return nil }
                guard next < state.messages.slotCount else { return false }
                copy(state.messages, slots: next..<(next + run))
                next += run
                return true
            }
            guard let more else { return nil }
            if !more { break }
        }
        // Queue order is sorted out here, not under the lock: the keys it sorts by (enqueue time, sequence number)
        // never change once a message is stored, and a sort of a million messages would hold up every sender.
        var order = Array(live.indices)
        if isFifo {
            order.sort { (live[$0].sequenceNumber ?? 0) < (live[$1].sequenceNumber ?? 0) }
        } else {
            order.sort { live[$0].enqueuedAt < live[$1].enqueuedAt }
        }
        image.live = order.map { live[$0] }
        image.liveStates = order.map { states[$0] }
        return image
    }

    /// Slots of the message table a snapshot copies in one hold of the queue's lock (see
    /// ``snapshotImage(journalNextLSN:)``): about 5 ms of copying, so a sender waits at most that long. 4,096 slots
    /// (a quarter of a millisecond) cost the `interval` row with 128 threads on one queue a tenth or more of its
    /// throughput: each of a million-message queue's 250 holds had to be won against them; 16 holds cost nothing
    /// measurable (8 interleaved pairs, 822k and 833k msgs/s).
    package static let snapshotSlotsPerHold = 65_536

    static func settingsMap(_ settings: QueueSettings) -> [String: String] {
        var values: [String: String] = [:]
        for name in QueueAttributeName.allCases {
            if let value = settings.awsValue(of: name) { values[name.rawValue] = value }
        }
        return values
    }
}

/// A queue as recovery rebuilt it from a snapshot and the records after it, before it becomes a ``QueueCore``.
struct RestoredQueue {
    struct Deduplication {
        var id: String
        var group: String?
        var record: DeduplicationRecord
    }

    var id: UInt64
    var accountId: String
    var region: String
    var name: String
    var incarnation: UInt64
    var createdAt: Date
    /// A snapshot's messages in queue order, when the image was made from a live queue (``orderedMessages`` then
    /// returns them as they are); nil for an image being rebuilt from records.
    var live: [StoredMessage]?
    /// The receive state of each message of ``live``, copied under the queue's lock, for encoding outside it.
    var liveStates: [QueueLog.MessageState]?
    /// Records of this queue before this LSN are already in the image (a snapshot's).
    var asOfLSN: Journal.LSN = 0
    var settings: [String: String] = [:]
    var tags: [String: String] = [:]
    var lastModified = Date(timeIntervalSinceReferenceDate: 0)
    var lastPurge: Date?
    var lastSequenceNumber: UInt64 = 0
    var lastGeneration: UInt32 = 0
    var deduplication: [Deduplication] = []
    /// FIFO receive attempts a retry may still replay, by attempt id.
    var receiveAttempts: [String: QueueLog.ReceiveAttempt] = [:]
    /// Live messages by key, their receive state in their fields.
    var messages: [UInt64: StoredMessage] = [:]
    /// Keys in the order the messages entered (stale keys skipped).
    var order: [UInt64] = []

    var isFifo: Bool { settings[QueueAttributeName.fifoQueue.rawValue] == "true" }

    /// A dead-letter move whose second half (the dead-letter queue's copy) is not in the journal yet.
    struct PendingMove {
        var source: String
        var target: String
        var message: StoredMessage
    }

    var arn: String { "arn:aws:sqs:\(region):\(accountId):\(name)" }

    /// Applies the entries of one queue record (see ``QueueLog``); dead-letter moves out go to `moves` until the
    /// target's copy turns up.
    mutating func apply(_ decoder: inout JournalDecoder, moves: inout [PendingMove]) throws(JournalDecodingError) {
        while !decoder.isAtEnd {
            let raw = try decoder.readByte()
            switch QueueLog.Operation(rawValue: raw) {
            case .message:
                let message = try QueueLog.decodeMessage(&decoder)
                let deduplicates = try decoder.readBool()
                let group = try decoder.readPresence() ? try decoder.readString() : nil
                restore(message, deduplicates: deduplicates, group: group, moves: &moves)
            case .sent:
                let (message, deduplicates, group) = try QueueLog.decodeSent(&decoder)
                restore(message, deduplicates: deduplicates, group: group, moves: &moves)
            case .deadLettered:
                let target = try decoder.readString()
                let message = try QueueLog.decodeMessage(&decoder)
                messages[message.key] = nil
                moves.append(PendingMove(source: arn, target: target, message: message))
            case .receiveAttempt:
                let attempt = try QueueLog.decodeReceiveAttempt(&decoder)
                receiveAttempts[attempt.id] = attempt
            case .update:
                try QueueLog.decodeMutable(&decoder, into: updateTarget(key: try decoder.readFixed()))
            case .received:
                try QueueLog.decodeReceived(&decoder, into: updateTarget(key: try decoder.readFixed()))
            case .remove:
                messages[try decoder.readFixed()] = nil
            case .purge:
                lastPurge = try decoder.readDate()
                messages.removeAll()
                order.removeAll()
                deduplication.removeAll()
                receiveAttempts.removeAll()
            case .settings:
                try decodeSettings(&decoder)
            case nil:
                throw JournalDecodingError(reason: "unknown queue entry \(raw)", offset: 0)
            }
        }
    }

    /// The message an update entry names; one the records do not hold (its send was before a snapshot that had
    /// already dropped it) gets a placeholder that the update fills and nothing lists.
    private mutating func updateTarget(key: UInt64) -> StoredMessage {
        messages[key] ?? StoredMessage.make(
            key: key, id: MessageID(high: 0, low: 0), body: "", messageAttributes: [:], systemAttributes: [:],
            sentAt: .distantPast, enqueuedAt: .distantPast, groupId: nil, deduplicationId: nil, sequenceNumber: nil,
            deadLetterQueueSourceArn: nil, size: 0, receiveCount: 0, firstReceivedAt: nil)
    }

    /// A message a send or a move stored.
    private mutating func restore(_ message: StoredMessage, deduplicates: Bool, group: String?, moves: inout [PendingMove]) {
        lastGeneration = max(lastGeneration, UInt32(truncatingIfNeeded: message.key >> 32))
        if let sequence = message.sequenceNumber { lastSequenceNumber = max(lastSequenceNumber, sequence) }
        if deduplicates, let id = message.deduplicationId, let sequence = message.sequenceNumber {
            deduplication.append(Deduplication(id: id, group: group, record: DeduplicationRecord(
                expiresAt: message.sentAt.addingTimeInterval(FifoSequencer.deduplicationWindow),
                messageId: message.id, sequenceNumber: sequence)))
        }
        if messages.updateValue(message, forKey: message.key) == nil { order.append(message.key) }
        if let source = message.deadLetterQueueSourceArn, !moves.isEmpty {
            moves.removeAll { $0.source == source && $0.target == arn && $0.message.id == message.id }
        }
    }

    mutating func decodeSettings(_ decoder: inout JournalDecoder) throws(JournalDecodingError) {
        var values: [String: String] = [:]
        for _ in 0..<(try decoder.readCount()) { values[try decoder.readString()] = try decoder.readString() }
        var tags: [String: String] = [:]
        for _ in 0..<(try decoder.readCount()) { tags[try decoder.readString()] = try decoder.readString() }
        settings = values
        self.tags = tags
        lastModified = try decoder.readDate()
    }

    /// Finishes a dead-letter move the crash cut in half: the message enters this queue as the move would have put
    /// it (a new key; on a FIFO queue a new sequence number, its message id as deduplication id, and the move's time
    /// as enqueue time).
    mutating func adopt(_ move: PendingMove) {
        let slots = messages.keys.map { Int($0 & 0xFFFF_FFFF) }
        lastGeneration &+= 1
        let key = UInt64(lastGeneration) << 32 | UInt64((slots.max() ?? -1) + 1)
        var sequence: UInt64?
        if isFifo {
            lastSequenceNumber += 1
            sequence = lastSequenceNumber
        }
        let moved = move.message
        let copy = moved.copy(key: key, enqueuedAt: isFifo ? moved.receivedAt : moved.enqueuedAt, sequenceNumber: sequence,
                              deadLetterQueueSourceArn: move.source,
                              deduplicationId: isFifo ? moved.messageId : moved.deduplicationId)
        copy.state = .visible
        copy.receiptNonce = moved.receiptNonce
        messages[key] = copy
        order.append(key)
    }

    /// The live messages in the order they entered the queue: by sequence number on a FIFO queue.
    var orderedMessages: [StoredMessage] {
        if let live { return live }
        var seen = Set<UInt64>(minimumCapacity: order.count)
        var live: [StoredMessage] = []
        live.reserveCapacity(messages.count)
        for key in order where seen.insert(key).inserted {
            if let message = messages[key] { live.append(message) }
        }
        if isFifo {
            live.sort { ($0.sequenceNumber ?? 0) < ($1.sequenceNumber ?? 0) }
        }
        return live
    }
}

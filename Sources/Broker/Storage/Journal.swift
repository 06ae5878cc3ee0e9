import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// An append-only log of records in a directory: numbered segment files, snapshots that let old segments go, a lock
/// file that keeps a second journal out. `Docs/Durability.md` describes the files and the recovery rules.
///
/// Records are opaque bytes here; what they mean is the business of whoever appends and replays them. Each gets a
/// log sequence number (LSN), 1, 2, 3… in append order; a batch that failed to reach the disk burns its LSNs, so
/// numbers increase but may skip.
///
/// Appends from many threads share the disk's syncs (group commit): at the `acknowledged` level a caller whose
/// records arrive while a sync runs waits for the next one, which takes every record that queued up meanwhile.
package final class Journal: @unchecked Sendable {
    /// A log sequence number.
    package typealias LSN = UInt64

    /// Who writes and syncs a batch at the `acknowledged` and `none` levels.
    package enum CommitStrategy: Sendable {
        /// The first waiting appender writes and syncs everything queued, then wakes the others (no thread hop).
        case leader
        /// A dedicated thread writes and syncs; appenders hand it their records and wait.
        case flusherThread
    }

    /// Tuning; the defaults suit a broker.
    package struct Options: Sendable {
        /// A new segment starts once the current one is at least this large.
        package var segmentSize: Int = 64 << 20
        /// Group commit's leader or a flusher thread; `interval` always uses the thread.
        package var commit: CommitStrategy = .leader
        /// At the `interval` level, a buffer this large is written before its interval ends, bounding memory.
        package var intervalBufferLimit: Int = 8 << 20
        /// At the `acknowledged` level, the active segment is extended by written zeros this many bytes at a time,
        /// ahead of its records, so that most syncs find the file's size unchanged and `fdatasync` writes the data
        /// alone, not the file system's metadata too (on ext4 here: 135 µs a sync against 210 µs for a sync that
        /// grows the file). 0 turns it off. Recovery reads a zero tail as the end of the records.
        package var preallocation: Int = 1 << 20
        /// Whether the active segment's records are written with `O_DIRECT` where the platform and file system
        /// allow it (see `SegmentDirectWriter`); tests turn it off to cover the page cache's path too.
        package var directWrites: Bool = true
        /// Planned failures, for tests.
        package var faults: JournalFaults?

        /// The defaults.
        package init() {}
    }

    /// Whether the active segment is being written with `O_DIRECT` (for tests; read after ``flush()``, which orders
    /// it after the writer's last change).
    package var writesDirectly: Bool { core.writesDirectly }

    /// Counters since the journal was opened.
    package struct Statistics: Sendable, Equatable {
        /// `append` calls that succeeded.
        package var appends = 0
        /// Records in them.
        package var records = 0
        /// Framed bytes in them.
        package var bytes = 0
        /// `write` calls of record batches.
        package var writes = 0
        /// `fdatasync` calls on segments.
        package var syncs = 0
        /// Segments created.
        package var segmentsCreated = 0
    }

    private let core: JournalCore

    private init(core: JournalCore) {
        self.core = core
    }

    deinit {
        core.close()
    }

    /// Opens (or starts) the journal in `directory`, which must exist and be writable, and locks it.
    ///
    /// Returns the journal, ready to append after the last recovered record, and what was recovered: the newest
    /// snapshot and the records after it. A torn or corrupt record ends the readable log; the files are cut back
    /// to it before the first append, and ``Recovery/damage`` says what was dropped.
    package static func open(directory: String, durability: Durability,
                             options: Options = Options()) throws(BrokerError) -> (Journal, Recovery) {
        let core = try JournalCore.open(directory: directory, durability: durability, options: options)
        return (Journal(core: core.core), core.recovery)
    }

    /// Appends the records of `batch` and returns their LSNs, once the level's promise holds: on disk for
    /// `acknowledged`, handed to the kernel for `none`, in memory for `interval`.
    ///
    /// Throws if the records could not be stored (a full disk: ``BrokerError/Code/storageUnavailable``); then none
    /// of them is acknowledged, nothing acknowledged before is lost, and a later append may succeed.
    @discardableResult
    package func append(_ batch: JournalBatch) throws(BrokerError) -> Range<LSN> {
        try core.append(batch)
    }

    /// Numbers the records of `batch` and queues them for the disk without waiting: a caller that appends under its
    /// own lock (so that records follow the order of its state changes) waits with ``wait(for:)`` once it has
    /// released that lock, and callers that do so meanwhile share one sync.
    package func enqueue(_ batch: JournalBatch) throws(BrokerError) -> JournalTicket {
        try core.enqueue(batch)
    }

    /// As ``enqueue(_:)`` for one record, which `body` encodes straight into the journal's buffer (under its lock,
    /// so `body` must only encode).
    package func enqueueRecord(_ body: (inout JournalEncoder) -> Void) throws(BrokerError) -> JournalTicket {
        try core.enqueueRecord(body)
    }

    /// Sets a mark `bytes` of appended records from now: the append that reaches it gets a ticket whose
    /// ``JournalTicket/marked`` is true, once; nil clears it. A broker sets it to the bytes after which a snapshot
    /// is due, so its appenders learn that without a lock of their own.
    package func setMark(afterBytes bytes: Int?) {
        core.setMark(afterBytes: bytes)
    }

    /// The bytes of records still to append before the mark is reached; nil when no mark is set.
    package var bytesUntilMark: Int? { core.withState { $0.bytesUntilMark } }

    /// Gives no new record an LSN at or below `lsn` (see `JournalCore.reserve(through:)`).
    package func reserve(through lsn: LSN) {
        core.reserve(through: lsn)
    }

    /// Returns once the records of `ticket` meet the level's promise; throws if they could not be stored.
    package func wait(for ticket: JournalTicket) throws(BrokerError) {
        try core.wait(for: ticket)
    }

    /// As ``wait(for:)``, suspending the task instead of blocking its thread, so that many tasks on a few threads
    /// can share one sync.
    package func wait(for ticket: JournalTicket) async throws(BrokerError) {
        if let failure = await withCheckedContinuation({ (continuation: CheckedContinuation<BrokerError?, Never>) in
            core.whenDecided(ticket) { continuation.resume(returning: $0) }
        }) {
            throw failure
        }
    }

    /// Calls `done` with nil once the records of `ticket` meet the level's promise, or with the error when they could
    /// not be stored, without blocking: on the thread that decided them, or at once. `done` must not block.
    package func whenDecided(_ ticket: JournalTicket, _ done: @escaping @Sendable (BrokerError?) -> Void) {
        core.whenDecided(ticket, done)
    }

    /// Appends one record.
    @discardableResult
    package func append(_ payload: some Collection<UInt8>) throws(BrokerError) -> LSN {
        try core.append(JournalBatch(payload)).lowerBound
    }

    /// Writes and syncs everything appended so far, whatever the level: at `interval`, what the next tick would do.
    package func flush() throws(BrokerError) {
        try core.flush()
    }

    /// Writes what is pending and starts a new segment for later records: a snapshot taken next then lets every
    /// earlier segment go.
    package func startNewSegment() throws(BrokerError) {
        try core.startNewSegment()
    }

    /// Stores `bytes` as the state after record `lsn`, atomically, then deletes the segments that hold only records
    /// up to `lsn` and older snapshots. Appends go on meanwhile; they wait only for the short moment in which the
    /// list of segments is updated.
    package func writeSnapshot(upTo lsn: LSN, bytes: [UInt8]) throws(BrokerError) {
        try core.writeSnapshot(upTo: lsn) { (output: SnapshotOutput) throws(BrokerError) in
            var encoder = JournalEncoder(capacity: 0)
            encoder.bytes = bytes
            try output.drain(&encoder)
        }
    }

    /// As ``writeSnapshot(upTo:bytes:)``, with the bytes handed to the `SnapshotOutput` as `produce` encodes them,
    /// so a large state is never held whole. Snapshots are taken one at a time; `produce` runs in that turn.
    package func writeSnapshot(upTo lsn: LSN, produce: (SnapshotOutput) throws(BrokerError) -> Void) throws(BrokerError) {
        try core.writeSnapshot(upTo: lsn, produce: produce)
    }

    /// Flushes what is pending, closes the files and releases the directory's lock. Later appends throw.
    package func close() {
        core.close()
    }

    /// The LSN the next record will get.
    package var nextLSN: LSN { core.withState { $0.nextLSN } }

    /// Counters since open.
    package var statistics: Statistics { core.withState { $0.statistics } }

    /// The segment files' first LSNs, oldest first.
    package var segments: [LSN] { core.withState { $0.segments } }
}

/// Records queued by ``Journal/enqueue(_:)``, to wait for with ``Journal/wait(for:)``.
package struct JournalTicket: Sendable {
    /// Their log sequence numbers.
    package let lsns: Range<Journal.LSN>
    /// The pending batch they joined; nil when there is nothing to wait for (`interval`, or no records).
    let batch: UInt64?
    /// This append reached the mark set by ``Journal/setMark(afterBytes:)``.
    package var marked = false
}

/// What opening a journal recovered.
package struct Recovery: Sendable {
    /// The newest snapshot: the state after record `lsn`, as its writer encoded it.
    package var snapshot: (lsn: Journal.LSN, bytes: [UInt8])?
    /// The records after the snapshot, in order.
    package var records: RecoveredRecords
    /// What was dropped because it was torn or corrupt, in file order.
    package var damage: [JournalDamage]
    /// The LSN of the last record recovered (or of the snapshot, if no record follows it); 0 for a new journal.
    package var lastLSN: Journal.LSN
}

/// Bytes dropped from the end of the readable log.
package struct JournalDamage: Sendable, Equatable, CustomStringConvertible {
    /// The segment's file name.
    package var segment: String
    /// Where in it the dropped bytes start.
    package var offset: Int
    /// How many bytes were dropped from there to the segment's end.
    package var droppedBytes: Int
    /// Why reading stopped.
    package var reason: String

    /// One line for a log.
    package var description: String { "\(segment) at byte \(offset): \(reason); \(droppedBytes) bytes dropped" }
}

/// One recovered record.
package struct JournalRecord: Sendable {
    /// Its log sequence number.
    package var lsn: Journal.LSN
    /// Its payload, a slice of the segment read at open (no copy).
    package var payload: ArraySlice<UInt8>
}

/// The records recovered at open, in LSN order; iterating again starts again.
package struct RecoveredRecords: Sequence, Sendable {
    struct Segment: Sendable {
        var firstLSN: Journal.LSN
        var bytes: [UInt8]
        /// The end of the last whole record to yield.
        var end: Int
    }

    let segments: [Segment]
    /// Records up to this one are in the snapshot and skipped.
    let after: Journal.LSN

    /// How many records the sequence yields.
    package var count: Int {
        var total = 0
        for _ in self { total += 1 }
        return total
    }

    /// Walks the validated frames.
    package struct Iterator: IteratorProtocol {
        let records: RecoveredRecords
        var segment = 0
        var offset = JournalFormat.segmentHeaderSize
        var lsn: Journal.LSN = 0

        init(_ records: RecoveredRecords) {
            self.records = records
            lsn = records.segments.first?.firstLSN ?? 0
        }

        /// The next record.
        package mutating func next() -> JournalRecord? {
            while segment < records.segments.count {
                let current = records.segments[segment]
                if offset + JournalFormat.frameHeaderSize <= current.end {
                    let length = Int(JournalFormat.load32(current.bytes[...], offset))
                    let start = offset + JournalFormat.frameHeaderSize
                    offset = start + length
                    lsn += 1
                    if lsn - 1 <= records.after { continue }
                    return JournalRecord(lsn: lsn - 1, payload: current.bytes[start..<start + length])
                }
                segment += 1
                offset = JournalFormat.segmentHeaderSize
                if segment < records.segments.count { lsn = records.segments[segment].firstLSN }
            }
            return nil
        }
    }

    /// An iterator from the first record.
    package func makeIterator() -> Iterator { Iterator(self) }
}

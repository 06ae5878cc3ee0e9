import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The journal's machinery: the pending buffer and group commit behind one monitor, and the writer role that owns
/// the active segment's file. ``Journal`` is its handle, so the flusher thread (which holds the core) does not keep
/// a forgotten journal open.
final class JournalCore: @unchecked Sendable {
    typealias LSN = Journal.LSN

    /// A batch of framed records taken from the pending buffer by the writer.
    struct Batch {
        var bytes: [UInt8]
        var firstLSN: LSN
        var count: Int
        var id: UInt64
    }

    struct State {
        /// Framed records appended and not yet taken by the writer.
        var pending: [UInt8] = []
        var pendingRecords = 0
        /// An emptied buffer with capacity, swapped in when the writer takes `pending`.
        var spare: [UInt8] = []
        /// Appenders of the pending batch waiting for its outcome.
        var pendingWaiters = 0
        var nextLSN: LSN
        /// The id of the pending batch; every batch before it has been taken.
        var batchID: UInt64 = 0
        /// Batches with an id below this have an outcome.
        var decidedBatches: UInt64 = 0
        /// LSNs up to this one are written (or failed and burned).
        var writtenLSN: LSN
        /// LSNs up to this one are synced (or failed and burned).
        var syncedLSN: LSN
        /// Failed batches whose waiters have not all seen the failure, with how many still have to.
        var failures: [UInt64: (error: BrokerError, waiters: Int)] = [:]
        /// A thread is writing (the leader, the flusher, a flush or close).
        var writing = false
        /// At `interval`: the last background write failed; appends throw until one succeeds.
        var stickyError: BrokerError?
        /// At `interval`: a batch that failed to write, kept to retry before anything newer.
        var retry: Batch?
        /// Bytes to append before the next append is told it reached the mark (``setMark(afterBytes:)``); nil: no
        /// mark set.
        var bytesUntilMark: Int?
        var closed = false
        /// Someone asked the flusher thread to write and sync now.
        var flushRequested = false
        /// The next write starts a new segment (see ``JournalCore/startNewSegment()``).
        var rollRequested = false
        var flusherRunning = false
        /// Callers waiting without a thread (``JournalCore/whenDecided(_:_:)``), each for its batch; the records of
        /// every one of them are undecided.
        var asyncWaiters: [AsyncWaiter] = []
        /// The committer thread that writes for asynchronous waiters when no appender thread leads runs.
        var committerRunning = false
        /// Threads telling asynchronous waiters their outcome, outside the lock; `close` waits for them.
        var resuming = 0
        /// First LSNs of the segment files, oldest first; the last is the one being written.
        var segments: [LSN]
        var statistics = Journal.Statistics()
    }

    /// A caller that does not block a thread for its batch's outcome: told by whoever decides the batch.
    struct AsyncWaiter {
        var batch: UInt64
        var done: @Sendable (BrokerError?) -> Void
    }

    /// The segment being written; touched only by the thread holding the writer role (`State.writing`).
    struct ActiveSegment {
        var descriptor: Int32 = -1
        var path = ""
        var size = 0
        /// The file's length: past `size` it holds zeros written ahead of the records (``Journal/Options/preallocation``).
        var allocated = 0
        /// The LSN the next record written here gets.
        var nextLSN: LSN = 0
        /// Written since the last sync.
        var dirty = false
        /// A failed write could not be cut back: the next batch goes to a new segment.
        var broken = false
    }

    let directory: String
    let durability: Durability
    let options: Journal.Options
    let files: JournalFiles
    let monitor: JournalMonitor<State>
    /// Owned by the writer role.
    private var active: ActiveSegment
    /// Owned by the writer role: the active segment's direct writes.
    private let direct: SegmentDirectWriter
    private var lockDescriptor: Int32
    /// Serializes snapshot writers.
    private let snapshotLock = LockedState<Void>(())
    /// Held by `close` so a second close waits for the first.
    private let closeLock = LockedState<Bool>(false)

    init(directory: String, durability: Durability, options: Journal.Options, lockDescriptor: Int32,
         active: ActiveSegment, nextLSN: LSN, segments: [LSN]) {
        self.directory = directory
        self.durability = durability
        self.options = options
        self.files = JournalFiles(faults: options.faults)
        self.direct = SegmentDirectWriter(enabled: options.directWrites)
        self.lockDescriptor = lockDescriptor
        self.active = active
        monitor = JournalMonitor(State(nextLSN: nextLSN, writtenLSN: nextLSN - 1, syncedLSN: nextLSN - 1, segments: segments))
    }

    var writesDirectly: Bool { direct.descriptor >= 0 }

    func withState<R>(_ body: (State) -> R) -> R {
        monitor.lock()
        defer { monitor.unlock() }
        return body(monitor.state.pointee)
    }

    private var usesFlusherThread: Bool {
        if case .interval = durability { return true }
        return options.commit == .flusherThread
    }

    private var syncsBatches: Bool {
        if case .none = durability { return false }
        return true
    }

    func startFlusher() {
        guard usesFlusherThread else { return }
        monitor.lock()
        monitor.state.pointee.flusherRunning = true
        monitor.unlock()
        let thread = Thread { [self] in runFlusher() }
        thread.name = "broker-journal-flusher"
        thread.start()
    }

    // MARK: Appending

    func append(_ batch: JournalBatch) throws(BrokerError) -> Range<LSN> {
        let ticket = try enqueue(batch)
        try wait(for: ticket)
        return ticket.lsns
    }

    /// Puts the batch's records in the pending buffer and numbers them, without waiting for the disk; the caller
    /// must pass the ticket to ``wait(for:)`` (at `interval` that returns at once). Throws only when the journal is
    /// closed or an earlier background write failed.
    func enqueue(_ batch: JournalBatch) throws(BrokerError) -> JournalTicket {
        try enqueue(records: batch.count) { (pending: inout [UInt8]) throws(BrokerError) in
            pending.append(contentsOf: batch.bytes)
        }
    }

    /// As ``enqueue(_:)`` for one record that `body` encodes straight into the pending buffer, under the lock: no
    /// batch to allocate and copy on the way, which is what a durable queue's every change would otherwise pay.
    func enqueueRecord(_ body: (inout JournalEncoder) -> Void) throws(BrokerError) -> JournalTicket {
        try enqueue(records: 1) { (pending: inout [UInt8]) throws(BrokerError) in
            try JournalBatch.appendFrame(to: &pending, body)
        }
    }

    private func enqueue(records: Int, _ fill: (inout [UInt8]) throws(BrokerError) -> Void)
        throws(BrokerError) -> JournalTicket {
        let state = monitor.state
        monitor.lock()
        if state.pointee.closed {
            monitor.unlock()
            throw .storageClosed()
        }
        if let error = state.pointee.stickyError {
            monitor.unlock()
            throw error
        }
        let first = state.pointee.nextLSN
        guard records > 0 else {
            monitor.unlock()
            return JournalTicket(lsns: first..<first, batch: nil)
        }
        let before = state.pointee.pending.count
        do throws(BrokerError) {
            try fill(&state.pointee.pending)
        } catch {
            monitor.unlock()
            throw error
        }
        let added = state.pointee.pending.count - before
        state.pointee.pendingRecords += records
        state.pointee.nextLSN += LSN(records)
        let lsns = first..<state.pointee.nextLSN
        state.pointee.statistics.appends += 1
        state.pointee.statistics.records += records
        state.pointee.statistics.bytes += added
        var marked = false
        if let remaining = state.pointee.bytesUntilMark {
            marked = remaining <= added
            state.pointee.bytesUntilMark = marked ? nil : remaining - added
        }

        if case .interval = durability {
            if state.pointee.pending.count >= options.intervalBufferLimit {
                monitor.signal(.work)
                // Back-pressure: appenders outrunning the disk wait rather than grow the buffer without bound.
                while state.pointee.pending.count >= 2 * options.intervalBufferLimit,
                      !state.pointee.closed, state.pointee.stickyError == nil {
                    monitor.wait(.done)
                }
            }
            monitor.unlock()
            return JournalTicket(lsns: lsns, batch: nil, marked: marked)
        }

        let myBatch = state.pointee.batchID
        state.pointee.pendingWaiters += 1
        if usesFlusherThread { monitor.signal(.work) }
        monitor.unlock()
        return JournalTicket(lsns: lsns, batch: myBatch, marked: marked)
    }

    /// Sets the mark ``JournalTicket/marked`` reports: the append that brings the bytes appended from now to
    /// `bytes` or more is told so, once (nil clears the mark).
    func setMark(afterBytes bytes: Int?) {
        monitor.lock()
        monitor.state.pointee.bytesUntilMark = bytes.map { max(1, $0) }
        monitor.unlock()
    }

    /// Waits until the records of `ticket` meet the level's promise (on disk, or handed to the kernel), writing and
    /// syncing them itself when no other thread is: so appenders that enqueued under their own locks share one sync
    /// once they have released them. Throws when their write failed.
    func wait(for ticket: JournalTicket) throws(BrokerError) {
        guard let myBatch = ticket.batch else { return }
        let state = monitor.state
        monitor.lock()
        while state.pointee.decidedBatches <= myBatch {
            if !usesFlusherThread, !state.pointee.writing {
                // Leader: the pending batch is ours (ours is not decided and nobody is writing, so it was not taken).
                writePending(sync: syncsBatches, keepOnFailure: false)
                continue
            }
            monitor.wait(.done)
        }
        let failure = takeFailure(of: myBatch)
        monitor.unlock()
        if let failure { throw failure }
    }

    /// With the lock held, for a waiter of a decided batch: the batch's error, if its write failed (each waiter
    /// takes its share, so the record of the failure goes once every waiter has seen it).
    private func takeFailure(of batch: UInt64) -> BrokerError? {
        let state = monitor.state
        guard !state.pointee.failures.isEmpty, let failure = state.pointee.failures[batch] else { return nil }
        if failure.waiters <= 1 {
            state.pointee.failures[batch] = nil
        } else {
            state.pointee.failures[batch] = (failure.error, failure.waiters - 1)
        }
        return failure.error
    }

    /// Calls `done` once the records of `ticket` meet the level's promise (nil) or could not be stored (the error),
    /// without blocking the calling thread: an `async` caller suspends on it, so the cooperative pool's few threads
    /// keep running while a sync is under way. `done` runs on the thread that decided the batch (an appender that
    /// led the write, the flusher or the committer thread), or at once on this one if the batch is decided; it
    /// must not block for long.
    ///
    /// At the `leader` strategy nobody may be about to write, so a committer thread (started at the first such wait)
    /// writes and syncs for asynchronous waiters when no appender thread leads.
    func whenDecided(_ ticket: JournalTicket, _ done: @escaping @Sendable (BrokerError?) -> Void) {
        guard let myBatch = ticket.batch else { return done(nil) }
        let state = monitor.state
        monitor.lock()
        if state.pointee.decidedBatches > myBatch {
            let failure = takeFailure(of: myBatch)
            monitor.unlock()
            return done(failure)
        }
        state.pointee.asyncWaiters.append(AsyncWaiter(batch: myBatch, done: done))
        var startCommitter = false
        if !usesFlusherThread {
            if !state.pointee.committerRunning {
                state.pointee.committerRunning = true
                startCommitter = true
            } else if !state.pointee.writing {
                monitor.signal(.work)
            }
        }
        monitor.unlock()
        if startCommitter {
            let thread = Thread { [self] in runCommitter() }
            thread.name = "broker-journal-committer"
            thread.start()
        }
    }

    /// The committer thread (`leader` strategy): writes and syncs whenever asynchronous waiters wait and no thread
    /// is writing; exits when the journal closes.
    ///
    /// Tasks resumed by one sync need a moment of the pool's threads to make their next change; a sync begun at
    /// once would take only the few records that arrived during the last one, and the rest would wait for the sync
    /// after it (so each sync carried about half of the callers). So after a sync the committer waits until as many
    /// callers wait as the last sync released, but no longer than half that sync took, then takes them all.
    private func runCommitter() {
        let state = monitor.state
        var released = 0
        var lastRound: Int64 = 0
        var roundEnded: Int64 = 0
        monitor.lock()
        while !state.pointee.closed {
            let waiting = state.pointee.asyncWaiters.count
            if !state.pointee.writing, waiting > 0 {
                let held = JournalMonitor<State>.monotonicNanoseconds() - roundEnded
                if waiting < released, held < lastRound / 2 {
                    monitor.wait(.work, nanoseconds: lastRound / 2 - held)
                    continue
                }
                released = waiting
                let start = JournalMonitor<State>.monotonicNanoseconds()
                writePending(sync: syncsBatches, keepOnFailure: false)
                roundEnded = JournalMonitor<State>.monotonicNanoseconds()
                lastRound = roundEnded - start
                continue
            }
            monitor.wait(.work)
        }
        state.pointee.committerRunning = false
        monitor.unlock()
    }

    /// With the lock held and `writing` false: takes the pending batch (and a kept retry before it), writes it
    /// without the lock, and records the outcome. Returns with the lock held.
    ///
    /// `keepOnFailure` is the `interval` rule (its appenders have returned, so a failed batch is retried rather
    /// than lost); otherwise the batch's waiters get the error and its LSNs are burned.
    private func writePending(sync: Bool, keepOnFailure: Bool) {
        let state = monitor.state
        state.pointee.writing = true
        var batches: [Batch] = []
        if let retry = state.pointee.retry {
            batches.append(retry)
            state.pointee.retry = nil
        }
        let id = state.pointee.batchID
        let waiters = state.pointee.pendingWaiters
        var tookPending = false
        if state.pointee.pendingRecords > 0 {
            let count = state.pointee.pendingRecords
            // Moved, not copied: `pending` gets the spare buffer, so the batch's bytes have one owner and come back
            // as the next spare without a copy.
            let bytes = state.pointee.pending
            state.pointee.pending = state.pointee.spare
            state.pointee.spare = []
            batches.append(Batch(bytes: bytes, firstLSN: state.pointee.nextLSN - LSN(count), count: count, id: id))
            state.pointee.pendingRecords = 0
            tookPending = true
        }
        state.pointee.pendingWaiters = 0
        state.pointee.batchID += 1
        let rollNow = state.pointee.rollRequested
        state.pointee.rollRequested = false
        let nextAfterRound = state.pointee.nextLSN
        monitor.unlock()

        // Appenders framed their records and left the checksums to this thread, outside every lock.
        for index in batches.indices { batches[index].bytes.withUnsafeMutableBytes { JournalFormat.seal($0) } }

        // Where this round began, to cut the segment back to if any part of it fails.
        let roundStart = (segment: segmentFirstLSN, size: active.size, nextLSN: active.nextLSN)
        var failure: BrokerError?
        var written = 0
        var syncs = 0
        for batch in batches {
            do throws(BrokerError) {
                try writeBatch(batch)
                written += 1
            } catch {
                failure = error
                break
            }
        }
        if rollNow, failure == nil, active.descriptor >= 0 {
            // After this round's records, so that they stay in the segment a snapshot will cover. A roll that fails
            // fails no record (they are written; the roll syncs them first or the sync below does): the next write
            // tries a new segment again, and compaction keeps this one until a later snapshot.
            do throws(BrokerError) { try roll(to: nextAfterRound) } catch { active.broken = true }
        }
        if failure == nil, sync, active.dirty {
            do throws(BrokerError) {
                try files.syncData(active.descriptor, path: active.path)
                active.dirty = false
                syncs += 1
            } catch {
                failure = error
            }
        }
        if failure != nil {
            // Whatever this round wrote may or may not be on disk: cut it back, so no record whose appender was told
            // "failed" turns up after a restart, and a retry does not find half of itself already there.
            if active.descriptor >= 0, segmentFirstLSN == roundStart.segment, active.size > roundStart.size {
                rewind(toSize: roundStart.size)
                active.nextLSN = roundStart.nextLSN
            } else if segmentFirstLSN != roundStart.segment, active.descriptor >= 0 {
                // The round started a segment and failed in it: remove it whole, so no empty segment named by LSNs
                // a retry will write elsewhere is left behind; the next write starts a fresh one.
                closeDescriptor(active.descriptor)
                direct.detach()
                try? files.remove(active.path)
                let removed = segmentFirstLSN
                monitor.lock()
                monitor.state.pointee.segments.removeAll { $0 == removed }
                monitor.unlock()
                active = ActiveSegment()
            }
        }

        var returned: [UInt8]?
        if tookPending, failure == nil || !keepOnFailure, var bytes = batches.popLast()?.bytes {
            bytes.removeAll(keepingCapacity: true)
            returned = bytes
        }

        monitor.lock()
        if let returned, returned.capacity > state.pointee.spare.capacity { state.pointee.spare = returned }
        state.pointee.statistics.writes += written
        state.pointee.statistics.syncs += syncs
        let lastLSN = state.pointee.nextLSN - LSN(state.pointee.pendingRecords) - 1
        if let failure {
            if keepOnFailure {
                // Keep every unwritten batch, oldest first, as one retry.
                if let first = batches.first {
                    var merged = Batch(bytes: [], firstLSN: first.firstLSN, count: 0, id: first.id)
                    for batch in batches {
                        merged.bytes += batch.bytes
                        merged.count += batch.count
                    }
                    state.pointee.retry = merged
                }
                state.pointee.stickyError = failure
            } else {
                if waiters > 0 { state.pointee.failures[id] = (failure, waiters) }
                // Burned: decided, though not stored.
                state.pointee.writtenLSN = lastLSN
                state.pointee.syncedLSN = lastLSN
            }
        } else {
            state.pointee.stickyError = nil
            state.pointee.writtenLSN = lastLSN
            if sync { state.pointee.syncedLSN = lastLSN }
        }
        state.pointee.decidedBatches = id + 1
        if active.descriptor >= 0, state.pointee.segments.last != segmentFirstLSN {
            state.pointee.segments.append(segmentFirstLSN)
        }
        state.pointee.writing = false
        monitor.broadcast(.done)
        if !state.pointee.asyncWaiters.isEmpty { resumeAsyncWaiters() }
    }

    /// With the lock held, after a batch was decided: tells the asynchronous waiters of decided batches, outside the
    /// lock (a callback may append again), and wakes the committer for the rest. Returns with the lock held.
    private func resumeAsyncWaiters() {
        let state = monitor.state
        let decided = state.pointee.decidedBatches
        var ready: [(done: @Sendable (BrokerError?) -> Void, failure: BrokerError?)] = []
        state.pointee.asyncWaiters.removeAll { waiter in
            guard waiter.batch < decided else { return false }
            ready.append((waiter.done, takeFailure(of: waiter.batch)))
            return true
        }
        if !state.pointee.asyncWaiters.isEmpty { monitor.signal(.work) }
        guard !ready.isEmpty else { return }
        state.pointee.resuming += 1
        monitor.unlock()
        // The callbacks (and what they hold, which may be the last reference to the journal, whose release closes
        // it) live until this thread is no longer counted, so that a close they cause does not wait for itself.
        withExtendedLifetime(ready) {
            for (done, failure) in ready { done(failure) }
            monitor.lock()
            state.pointee.resuming -= 1
            if state.pointee.resuming == 0 { monitor.broadcast(.done) }
        }
    }

    /// The first LSN of the active segment (writer role only).
    private var segmentFirstLSN: LSN = 0

    /// Writes one batch to the active segment, starting a new segment first when the batch does not continue it,
    /// the current one is full, or a failed write left it broken.
    private func writeBatch(_ batch: Batch) throws(BrokerError) {
        if active.descriptor < 0 || active.broken || active.nextLSN != batch.firstLSN || active.size >= options.segmentSize {
            try roll(to: batch.firstLSN)
        }
        let start = active.size
        let grows = start + batch.bytes.count > active.allocated
        let directEnd = try direct.write(batch.bytes, at: start, segment: active.descriptor, path: active.path, files: files)
        if let directEnd {
            active.allocated = max(active.allocated, directEnd)
            if grows { preallocate(through: start + batch.bytes.count) }
        } else {
            preallocate(through: start + batch.bytes.count)
            try files.write(active.descriptor, batch.bytes, at: start, path: active.path)
        }
        active.size += batch.bytes.count
        active.allocated = max(active.allocated, active.size)
        active.nextLSN += LSN(batch.count)
        active.dirty = true
    }

    /// At `acknowledged`, when the records up to `end` would grow the file: writes zeros from the end of the records
    /// to `preallocation` bytes past `end`, so the syncs that follow find the size unchanged. The zeros start where
    /// the records do, so a disk with room for no more than the records gives its blocks to them first. A failure
    /// is left to the records' own write, which reports it; a zero tail of any length is harmless.
    ///
    /// After a direct write the zeros follow the records' last block and are written directly too: zeros written
    /// through the page cache would make each later direct write into them flush their pages first.
    private func preallocate(through end: Int) {
        guard durability == .acknowledged, options.preallocation > 0 else { return }
        let page = SegmentDirectWriter.block
        let target = (end + options.preallocation + page - 1) / page * page
        if direct.descriptor >= 0 {
            if active.allocated < target,
               direct.writeZeros(from: active.allocated, to: target, files: files, path: active.path) {
                active.allocated = target
            }
            return
        }
        guard end > active.allocated else { return }
        let zeros = [UInt8](repeating: 0, count: target - active.size)
        let written = zeros.withUnsafeBytes { raw -> Bool in
            guard let base = raw.baseAddress else { return false }
            var done = 0
            while done < raw.count {
                let result = pwrite(active.descriptor, base + done, raw.count - done, off_t(active.size + done))
                if result < 0, errno == EINTR { continue }
                if result <= 0 { return false }
                done += result
            }
            return true
        }
        if written { active.allocated = target }
    }

    /// Cuts the zeros written ahead of the records off the active segment, which is closing: a closed segment ends
    /// with its last record. A failure leaves them, which recovery reads as the end.
    private func trimPreallocation() {
        guard active.descriptor >= 0, active.allocated > active.size else { return }
        if (try? files.truncate(active.descriptor, to: active.size, path: active.path)) != nil {
            active.allocated = active.size
        }
    }

    private func rewind(toSize size: Int) {
        direct.forgetTail()
        do throws(BrokerError) {
            try files.truncate(active.descriptor, to: size, path: active.path)
            active.size = size
            active.allocated = size
        } catch {
            active.broken = true
        }
    }

    /// Closes the active segment (synced, if this level syncs) and starts `journal-<firstLSN>.log`.
    private func roll(to firstLSN: LSN) throws(BrokerError) {
        trimPreallocation()
        // Synced at every level: a closed segment is never synced again, and `flush()` promises everything.
        if active.descriptor >= 0, active.dirty {
            try files.syncData(active.descriptor, path: active.path)
            active.dirty = false
        }
        let path = directory + "/" + JournalFormat.segmentName(firstLSN: firstLSN)
        let descriptor = try files.open(path, flags: O_RDWR | O_CREAT | O_TRUNC)
        let header = JournalFormat.segmentHeader(firstLSN: firstLSN)
        do throws(BrokerError) {
            try files.write(descriptor, header, at: 0, path: path)
            try files.syncData(descriptor, path: path)
            try files.syncDirectory(directory)
        } catch {
            closeDescriptor(descriptor)
            try? files.remove(path)
            throw error
        }
        if active.descriptor >= 0 { closeDescriptor(active.descriptor) }
        active = ActiveSegment(descriptor: descriptor, path: path, size: header.count, allocated: header.count,
                               nextLSN: firstLSN)
        direct.attach(path, files: files)
        segmentFirstLSN = firstLSN
        monitor.lock()
        monitor.state.pointee.statistics.segmentsCreated += 1
        // Listed at once, not at the end of the round: a round can create two (its first write, then a roll for a
        // snapshot), and compaction must know both.
        if monitor.state.pointee.segments.last != firstLSN { monitor.state.pointee.segments.append(firstLSN) }
        monitor.unlock()
    }

    /// Sets the segment recovery left open for appending.
    func adopt(_ segment: ActiveSegment, firstLSN: LSN) {
        active = segment
        segmentFirstLSN = firstLSN
        if segment.descriptor >= 0 { direct.attach(segment.path, files: files) }
    }

    // MARK: The flusher thread

    private func runFlusher() {
        let state = monitor.state
        var intervalNanoseconds: Int64 = 0
        if case .interval(let interval) = durability {
            let (seconds, attoseconds) = interval.components
            intervalNanoseconds = max(1, seconds * 1_000_000_000 + attoseconds / 1_000_000_000)
        }
        monitor.lock()
        while true {
            let hasWork = state.pointee.pendingRecords > 0 || state.pointee.retry != nil || active.dirty
            if state.pointee.closed && !state.pointee.writing {
                if hasWork || state.pointee.flushRequested {
                    state.pointee.flushRequested = false
                    writePending(sync: true, keepOnFailure: intervalNanoseconds > 0)
                }
                break
            }
            if intervalNanoseconds > 0 {
                if !state.pointee.flushRequested && state.pointee.pending.count < options.intervalBufferLimit {
                    monitor.wait(.work, nanoseconds: intervalNanoseconds)
                }
                if state.pointee.closed { continue }
                state.pointee.flushRequested = false
                if state.pointee.pendingRecords > 0 || state.pointee.retry != nil || active.dirty || state.pointee.rollRequested {
                    writePending(sync: true, keepOnFailure: true)
                } else {
                    monitor.broadcast(.done)
                }
            } else {
                if state.pointee.pendingRecords == 0 && !state.pointee.flushRequested {
                    monitor.wait(.work)
                    continue
                }
                let sync = syncsBatches || state.pointee.flushRequested
                state.pointee.flushRequested = false
                writePending(sync: sync, keepOnFailure: false)
            }
        }
        state.pointee.flusherRunning = false
        monitor.broadcast(.done)
        monitor.unlock()
    }

    // MARK: Flush and close

    /// Moves the next LSN past `lsn` if it is not already, before anything is appended: a snapshot's images may be
    /// as of LSNs whose records a crash kept from the disk (appended while the snapshot was copying, never written),
    /// and a number an image counts as already applied must not be given to a new record.
    func reserve(through lsn: LSN) {
        monitor.lock()
        defer { monitor.unlock() }
        let state = monitor.state
        guard state.pointee.nextLSN <= lsn else { return }
        state.pointee.nextLSN = lsn + 1
        state.pointee.writtenLSN = max(state.pointee.writtenLSN, lsn)
        state.pointee.syncedLSN = max(state.pointee.syncedLSN, lsn)
    }

    func flush() throws(BrokerError) {
        let state = monitor.state
        monitor.lock()
        defer { monitor.unlock() }
        let target = state.pointee.nextLSN - 1
        if usesFlusherThread {
            // A round that began before this call may have missed our records: wait for one that began after a
            // request was standing (the flusher clears the request as it begins a round).
            var requested = false
            while state.pointee.flusherRunning, state.pointee.syncedLSN < target || state.pointee.rollRequested {
                if requested, !state.pointee.flushRequested, !state.pointee.writing { break }
                if !state.pointee.flushRequested {
                    state.pointee.flushRequested = true
                    monitor.signal(.work)
                }
                requested = true
                monitor.wait(.done)
            }
        } else {
            while state.pointee.writing { monitor.wait(.done) }
            if state.pointee.closed { return }
            writePending(sync: true, keepOnFailure: false)
        }
        if let error = state.pointee.stickyError { throw error }
        if state.pointee.syncedLSN < target { throw .storageClosed() }
    }

    /// Writes what is pending and starts a new segment for what comes after, so that a snapshot taken next covers
    /// every earlier segment, the one that was being written too, and compaction leaves only the snapshot and the
    /// records after it.
    func startNewSegment() throws(BrokerError) {
        monitor.lock()
        monitor.state.pointee.rollRequested = true
        monitor.unlock()
        try flush()
        // The flush may return as the round that took the request begins (its records were synced by the one
        // before): the roll is done once no round is under way.
        monitor.lock()
        while monitor.state.pointee.writing { monitor.wait(.done) }
        monitor.unlock()
    }

    func close() {
        closeLock.withLock { alreadyClosed in
            guard !alreadyClosed else { return }
            alreadyClosed = true
            let state = monitor.state
            monitor.lock()
            state.pointee.closed = true
            if state.pointee.committerRunning { monitor.broadcast(.work) }
            if state.pointee.flusherRunning {
                monitor.signal(.work)
                while state.pointee.flusherRunning {
                    monitor.signal(.work)
                    monitor.wait(.done)
                }
            } else {
                while state.pointee.writing { monitor.wait(.done) }
                if state.pointee.pendingRecords > 0 || active.dirty {
                    writePending(sync: true, keepOnFailure: false)
                }
            }
            // Every asynchronous waiter has been told when close returns, also those another thread was telling.
            while state.pointee.resuming > 0 { monitor.wait(.done) }
            monitor.unlock()
            // A snapshot being written gives up at its next piece (it sees `closed`); none touches the directory
            // once its lock is released below, when another broker may open it.
            snapshotLock.withLock { _ in }
            if active.descriptor >= 0 {
                trimPreallocation()
                direct.detach()
                closeDescriptor(active.descriptor)
                active.descriptor = -1
            }
            if lockDescriptor >= 0 {
                flock(lockDescriptor, LOCK_UN)
                closeDescriptor(lockDescriptor)
                lockDescriptor = -1
            }
        }
    }

    // MARK: Snapshots

    func writeSnapshot(upTo lsn: LSN, produce: (SnapshotOutput) throws(BrokerError) -> Void) throws(BrokerError) {
        try snapshotLock.withLock { (_) throws(BrokerError) in
            let (closed, next) = withState { ($0.closed, $0.nextLSN) }
            if closed { throw .storageClosed() }
            guard lsn < next else { throw .storageInvalidSnapshot("LSN \(lsn) has not been appended yet (the next is \(next))") }
            let names = try files.list(directory)
            let existing = names.compactMap { JournalFormat.lsn(in: $0, prefix: "snapshot-", suffix: ".snap") }
            if let newest = existing.max(), newest > lsn {
                throw .storageInvalidSnapshot("a newer snapshot (after LSN \(newest)) exists")
            }

            let temporary = directory + "/" + JournalFormat.temporarySnapshotName(lsn: lsn)
            let final = directory + "/" + JournalFormat.snapshotName(lsn: lsn)
            let descriptor = try files.open(temporary, flags: O_WRONLY | O_CREAT | O_TRUNC)
            do throws(BrokerError) {
                // The payload streams out behind the header's place; the header, which holds its length and
                // checksum, goes in last.
                let output = SnapshotOutput(files: files, descriptor: descriptor, path: temporary,
                                            offset: JournalFormat.snapshotHeaderSize,
                                            closed: { [unowned self] in withState { $0.closed } })
                try produce(output)
                let header = JournalFormat.snapshotHeader(lsn: lsn, payloadLength: output.length,
                                                          payloadChecksum: output.checksum)
                try files.write(descriptor, header, at: 0, path: temporary)
                try files.syncAll(descriptor, path: temporary)
                closeDescriptor(descriptor)
            } catch {
                closeDescriptor(descriptor)
                try? files.remove(temporary)
                throw error
            }
            try files.rename(temporary, to: final)
            try files.syncDirectory(directory)

            // The snapshot is durable: what it covers can go. A crash from here on leaves extra files that the next
            // open skips and deletes.
            let covered: [LSN] = withState { state in
                JournalCore.coveredSegments(state.segments, upTo: lsn)
            }
            monitor.lock()
            monitor.state.pointee.segments.removeAll { covered.contains($0) }
            monitor.unlock()
            for first in covered { try? files.remove(directory + "/" + JournalFormat.segmentName(firstLSN: first)) }
            for older in existing where older < lsn { try? files.remove(directory + "/" + JournalFormat.snapshotName(lsn: older)) }
        }
    }

    /// The segments (by first LSN, ascending) holding only records up to `lsn`: each but the last, whose successor
    /// starts at or before `lsn + 1`. The last segment is being written and always stays.
    static func coveredSegments(_ segments: [LSN], upTo lsn: LSN) -> [LSN] {
        guard segments.count > 1 else { return [] }
        var covered: [LSN] = []
        for index in 0..<(segments.count - 1) where segments[index + 1] <= lsn + 1 {
            covered.append(segments[index])
        }
        return covered
    }
}

/// Where a snapshot's payload goes while it is being encoded: written out piece by piece, so that a snapshot of a
/// large state needs no buffer of its size (a million resident messages would take 175 MB, and the pages of a fresh
/// buffer that large cost the kernel more to hand out than the encoding costs).
package final class SnapshotOutput {
    /// A payload is written out whenever this much of it is buffered.
    package static let pieceSize = 1 << 20

    private let files: JournalFiles
    private let descriptor: Int32
    private let path: String
    private var offset: Int
    private var state: UInt32 = ~0
    /// Payload bytes written so far.
    private(set) var length = 0
    /// The CRC-32C of the payload written so far.
    var checksum: UInt32 { ~state }

    private let closed: () -> Bool

    init(files: JournalFiles, descriptor: Int32, path: String, offset: Int, closed: @escaping () -> Bool) {
        self.files = files
        self.descriptor = descriptor
        self.path = path
        self.offset = offset
        self.closed = closed
    }

    /// Writes `encoder`'s bytes as the next part of the payload and empties it, keeping its memory, if at least
    /// `minimum` bytes are buffered.
    package func drain(_ encoder: inout JournalEncoder, ifAtLeast minimum: Int = 0) throws(BrokerError) {
        let count = encoder.bytes.count
        guard count > 0, count >= minimum else { return }
        // A journal closing meanwhile waits for this snapshot: give up rather than make it wait for the rest.
        if closed() { throw .storageClosed() }
        let failure: BrokerError? = encoder.bytes.withUnsafeBytes { raw in
            state = CRC32C.update(state, raw)
            do throws(BrokerError) {
                try files.write(descriptor, raw, at: offset, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
        offset += count
        length += count
        encoder.bytes.removeAll(keepingCapacity: true)
    }
}

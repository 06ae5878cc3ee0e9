import Foundation

extension Broker {
    /// Messages a task without `MaxNumberOfMessagesPerSecond` moves per step ("system-optimized" on AWS).
    static let unpacedMovesPerStep = 10_000

    /// StartMessageMoveTask: moves the messages of a dead-letter queue back to their original source queues, or to
    /// `destinationArn`, at most `maxNumberOfMessagesPerSecond` (1–500) a second of the broker's clock. The first
    /// step runs at the clock's next tick (on a ``ManualClock``: the next `advance`, `advance(by: .zero)` included).
    /// - Returns: the `TaskHandle`.
    @discardableResult
    public func startMessageMoveTask(sourceArn: String, destinationArn: String? = nil,
                                     maxNumberOfMessagesPerSecond: Int? = nil) throws(BrokerError) -> String {
        if let rate = maxNumberOfMessagesPerSecond, !(1...500).contains(rate) {
            throw BrokerError.invalidParameter("MaxNumberOfMessagesPerSecond", value: String(rate),
                                               reason: "MaxNumberOfMessagesPerSecond must be between 1 and 500.")
        }
        guard let source = resolveQueue(sourceArn) else {
            throw BrokerError(.resourceNotFound, "The resource that you specified for the SourceArn parameter doesn't exist.")
        }
        guard try !deadLetterSources(of: source).isEmpty else {
            throw BrokerError(.invalidParameterValue, "Source queue must be configured as a Dead Letter Queue.")
        }
        if let destinationArn {
            guard let destination = resolveQueue(destinationArn) else {
                throw BrokerError(.resourceNotFound, "The resource that you specified for the DestinationArn parameter doesn't exist.")
            }
            guard destination.isFifo == source.isFifo else {
                throw BrokerError(.invalidParameterValue, "The source queue and the destination queue must be of the same type.")
            }
        }
        let toMove = try source.read { state, _ in state.liveCount }
        let now = clock.now
        let store = directory.store
        let (handle, ticket) = try moveTasks.withLock {
            (tasks) throws(BrokerError) -> (String, Result<JournalTicket, BrokerError>?) in
            if tasks.records.contains(where: { $0.sourceArn == sourceArn && ($0.status == .running || $0.status == .cancelling) }) {
                throw BrokerError(.unsupportedOperation,
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
            }
            // A restored broker's generator starts where a new one does, so it may draw a handle it drew before.
            var handle: String
            repeat {
                handle = Data("\(tasks.ids.uuidString())|\(sourceArn)".utf8).base64EncodedString()
            } while tasks.records.contains { $0.handle == handle }
            let record = MoveTaskRegistry.Record(handle: handle, sourceArn: sourceArn, destinationArn: destinationArn,
                                                 rate: maxNumberOfMessagesPerSecond, toMove: toMove, started: now)
            // Journaled under the registry's lock so that a task's records are in the order of its changes.
            let ticket = store?.appendMoveTaskStart(RestoredMoveTask(record))
            if case .failure(let error) = ticket { throw error }
            tasks.records.append(record)
            return (handle, ticket)
        }
        if let store, let ticket, case .success(let written) = ticket {
            do throws(BrokerError) {
                try store.wait(for: written)
            } catch {
                // Not acknowledged: the task does not start.
                moveTasks.withLock { $0.records.removeAll { $0.handle == handle } }
                throw error
            }
        }
        scheduleMoveStep(handle, at: now)
        return handle
    }

    /// ListMessageMoveTasks: the most recent tasks of a source queue, newest first; `maxResults` 1–10, default 1.
    public func listMessageMoveTasks(sourceArn: String, maxResults: Int = 1) throws(BrokerError) -> [MessageMoveTask] {
        guard (1...10).contains(maxResults) else {
            throw BrokerError.invalidParameter("MaxResults", value: String(maxResults), reason: "MaxResults must be between 1 and 10.")
        }
        guard resolveQueue(sourceArn) != nil else {
            throw BrokerError(.resourceNotFound, "The resource that you specified for the SourceArn parameter doesn't exist.")
        }
        return moveTasks.withLock { tasks in
            Array(tasks.records.filter { $0.sourceArn == sourceArn }.reversed().prefix(maxResults).map(\.snapshot))
        }
    }

    /// CancelMessageMoveTask: the task stops at its next step (status CANCELLING, then CANCELLED). Messages already
    /// moved stay moved.
    /// - Returns: `ApproximateNumberOfMessagesMoved` so far.
    @discardableResult
    public func cancelMessageMoveTask(taskHandle: String) throws(BrokerError) -> Int {
        let now = clock.now
        let (moved, ticket) = try moveTasks.withLock {
            (tasks) throws(BrokerError) -> (Int, Result<JournalTicket, BrokerError>?) in
            guard let index = tasks.records.firstIndex(where: { $0.handle == taskHandle }) else {
                throw BrokerError(.resourceNotFound, "The task handle \(taskHandle) does not exist.")
            }
            guard tasks.records[index].status == .running else {
                throw BrokerError(.unsupportedOperation, "Only a task in status RUNNING can be cancelled.")
            }
            tasks.records[index].status = .cancelling
            tasks.records[index].wakeUp?.cancel()
            return (tasks.records[index].moved, journalMoveTaskState(tasks.records[index]))
        }
        scheduleMoveStep(taskHandle, at: now)
        if let ticket, let error = settleMoveTaskRecord(ticket) { throw error }
        return moved
    }

    /// ListDeadLetterSourceQueues: URLs of the queues whose redrive policy names `queue` as dead-letter queue,
    /// paginated like ListQueues.
    public func listDeadLetterSourceQueues(_ queue: Queue, maxResults: Int? = nil,
                                           nextToken: String? = nil) throws(BrokerError) -> ListQueuesPage {
        let sources = try deadLetterSources(of: queue.core).map(\.name)
        return try page(of: sources, maxResults: maxResults, nextToken: nextToken)
    }

    func deadLetterSources(of target: QueueCore) throws(BrokerError) -> [QueueCore] {
        guard !target.isDeleted else { throw BrokerError.queueDoesNotExist() }
        return queues.map(\.core).filter { core in
            (try? core.read { state, _ in state.settings.redrivePolicy?.deadLetterTargetArn == target.arn }) ?? false
        }
    }

    private func scheduleMoveStep(_ handle: String, at deadline: Date) {
        // Strong: a view from `scoped(accountId:region:)` is often dropped right after it starts a task, and the task
        // must still run. It holds the view only until the task ends (completed, cancelled or failed).
        let wakeUp = clock.schedule(at: deadline) { self.runMoveStep(handle) }
        moveTasks.withLock { tasks in
            if let index = tasks.records.firstIndex(where: { $0.handle == handle }) { tasks.records[index].wakeUp = wakeUp }
        }
    }

    /// One step of a task: move up to a second's worth of messages, then schedule the next second.
    private func runMoveStep(_ handle: String) {
        guard let record = moveTasks.withLock({ tasks in tasks.records.first { $0.handle == handle } }) else { return }
        func finish(_ status: MessageMoveTask.Status, reason: String? = nil, moved: Int = 0) {
            let ticket = moveTasks.withLock { tasks -> Result<JournalTicket, BrokerError>? in
                guard let index = tasks.records.firstIndex(where: { $0.handle == handle }) else { return nil }
                tasks.records[index].moved += moved
                tasks.records[index].status = status
                tasks.records[index].failureReason = reason
                tasks.records[index].wakeUp = nil
                return journalMoveTaskState(tasks.records[index])
            }
            // The task has ended either way; a record that could not be stored leaves it running after a restart,
            // which then resumes it.
            if let ticket { _ = settleMoveTaskRecord(ticket) }
        }
        switch record.status {
        case .cancelling: return finish(.cancelled)
        case .running: break
        case .completed, .cancelled, .failed: return
        }
        guard let source = resolveQueue(record.sourceArn) else {
            return finish(.failed, reason: "AWS.SimpleQueueService.NonExistentQueue")
        }
        let budget = record.rate ?? Self.unpacedMovesPerStep
        // Copy, then remove: a crash between the two leaves a message in both queues, never in neither.
        let picked = source.pickForMove(max: min(budget, record.toMove - record.moved))
        var moved = 0
        for delivery in picked {
            let destination = (record.destinationArn ?? delivery.message.deadLetterQueueSourceArn).flatMap(resolveQueue)
            guard let destination, destination.acceptRedriven(delivery.message) else {
                source.finishMove(picked[..<moved])
                source.releaseMove(picked[moved...])
                return finish(.failed, reason: "AWS.SimpleQueueService.NonExistentQueue", moved: moved)
            }
            moved += 1
        }
        source.finishMove(picked)
        let remaining = (try? source.read { state, _ in state.liveCount }) ?? 0
        if record.moved + moved >= record.toMove || remaining == 0 {
            return finish(.completed, moved: moved)
        }
        let ticket = moveTasks.withLock { tasks -> Result<JournalTicket, BrokerError>? in
            guard let index = tasks.records.firstIndex(where: { $0.handle == handle }) else { return nil }
            tasks.records[index].moved += moved
            return journalMoveTaskState(tasks.records[index])
        }
        if let ticket, let error = settleMoveTaskRecord(ticket) {
            // The journal refuses records (a full disk, a closed broker): the task stops here rather than move
            // messages whose count it cannot keep. A restart resumes it from its last stored progress.
            moveTasks.withLock { tasks in
                guard let index = tasks.records.firstIndex(where: { $0.handle == handle }) else { return }
                tasks.records[index].status = .failed
                tasks.records[index].failureReason = error.message
                tasks.records[index].wakeUp = nil
            }
            return
        }
        scheduleMoveStep(handle, at: clock.now.addingTimeInterval(1))
    }

    // MARK: Durability

    /// Queues the record of a task's status and count, on a durable broker (called under the registry's lock, so the
    /// task's records follow the order of its changes); nil in memory.
    private func journalMoveTaskState(_ record: MoveTaskRegistry.Record) -> Result<JournalTicket, BrokerError>? {
        guard let store = directory.store else { return nil }
        return store.appendMoveTaskState(handle: record.handle, status: record.status, moved: record.moved,
                                         failureReason: record.failureReason)
    }

    /// Waits for a move task's record outside the registry's lock; the storage error when it could not be stored.
    private func settleMoveTaskRecord(_ ticket: Result<JournalTicket, BrokerError>) -> BrokerError? {
        guard let store = directory.store else { return nil }
        switch ticket {
        case .failure(let error): return error
        case .success(let written):
            do throws(BrokerError) {
                try store.wait(for: written)
                return nil
            } catch {
                return error
            }
        }
    }

    /// Lets a durable broker's snapshots see every account's and region's move tasks.
    func attachMoveTasks(to store: BrokerStore) {
        store.setMoveTaskSource { [weak directory] nextLSN in
            guard let directory else { return [] }
            return directory.allSpaces.flatMap { space in
                space.moveTasks.withLock { tasks in
                    // Read under the lock: every record of these tasks below it is already in their state.
                    let asOf = nextLSN()
                    return tasks.records.map { record in
                        var image = RestoredMoveTask(record)
                        image.asOfLSN = asOf
                        return image
                    }
                }
            }
        }
    }

    /// Puts the move tasks a durable broker recovered back in their accounts' registries, oldest first; a task that
    /// was running (or being cancelled) takes its next step at the clock's next tick, from the count it had moved.
    func restoreMoveTasks() {
        guard let store = directory.store else { return }
        for task in store.restoredMoveTasks {
            guard let (key, _) = BrokerDirectory.parse(arn: task.sourceArn, service: "sqs") else { continue }
            let owner = view(of: key)
            owner.moveTasks.withLock { tasks in
                tasks.records.append(MoveTaskRegistry.Record(
                    handle: task.handle, sourceArn: task.sourceArn, destinationArn: task.destinationArn, rate: task.rate,
                    toMove: task.toMove, started: task.started, moved: task.moved, status: task.status,
                    failureReason: task.failureReason))
            }
            if task.status == .running || task.status == .cancelling {
                owner.scheduleMoveStep(task.handle, at: clock.now)
            }
        }
    }

    /// Journals that `reset()` dropped these tasks, so that a restart does not bring them back.
    func journalForgotten(_ tasks: [MoveTaskRegistry.Record]) {
        guard let store = directory.store, !tasks.isEmpty else { return }
        for task in tasks {
            if case .success(let ticket) = store.appendMoveTaskForgotten(handle: task.handle) {
                try? store.wait(for: ticket)
            }
        }
    }
}

/// A message move task as the journal holds it: the fields it started with, its status and count, and (in a
/// snapshot) the LSN its state was copied at.
struct RestoredMoveTask: Sendable {
    var handle: String
    var sourceArn: String
    var destinationArn: String?
    var rate: Int?
    var toMove: Int
    var started: Date
    var moved = 0
    var status = MessageMoveTask.Status.running
    var failureReason: String?
    /// The task's records before this LSN are already in this state (a snapshot's).
    var asOfLSN: Journal.LSN = 0

    init(handle: String, sourceArn: String, destinationArn: String?, rate: Int?, toMove: Int, started: Date) {
        self.handle = handle
        self.sourceArn = sourceArn
        self.destinationArn = destinationArn
        self.rate = rate
        self.toMove = toMove
        self.started = started
    }

    init(_ record: MoveTaskRegistry.Record) {
        self.init(handle: record.handle, sourceArn: record.sourceArn, destinationArn: record.destinationArn,
                  rate: record.rate, toMove: record.toMove, started: record.started)
        moved = record.moved
        status = record.status
        failureReason = record.failureReason
    }

    /// Record entries (the byte after the record kind).
    enum Operation: UInt8 {
        case started = 1
        case state = 2
        case forgotten = 3
    }

    /// Status bytes; the journal's own numbering, so that renaming a case never changes the format.
    static func byte(of status: MessageMoveTask.Status) -> UInt8 {
        switch status {
        case .running: 0
        case .completed: 1
        case .cancelling: 2
        case .cancelled: 3
        case .failed: 4
        }
    }

    static func status(of byte: UInt8) throws(JournalDecodingError) -> MessageMoveTask.Status {
        switch byte {
        case 0: .running
        case 1: .completed
        case 2: .cancelling
        case 3: .cancelled
        case 4: .failed
        default: throw JournalDecodingError(reason: "unknown move task status \(byte)", offset: 0)
        }
    }

    /// The fields a task starts with: handle, source ARN, destination ARN?, rate?, messages to move, start time.
    func encodeStart(into encoder: inout JournalEncoder) {
        encoder.write(string: handle)
        encoder.write(string: sourceArn)
        encoder.write(optional: destinationArn) { $0.write(string: $1) }
        encoder.write(optional: rate) { $0.write(count: $1) }
        encoder.write(count: toMove)
        encoder.write(date: started)
    }

    static func decodeStart(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredMoveTask {
        RestoredMoveTask(handle: try decoder.readString(), sourceArn: try decoder.readString(),
                         destinationArn: try decoder.readPresence() ? try decoder.readString() : nil,
                         rate: try decoder.readPresence() ? try decoder.readCount() : nil,
                         toMove: try decoder.readCount(), started: try decoder.readDate())
    }

    /// The fields a step or a cancel changes (after the handle): status, messages moved so far, failure reason?.
    static func encodeState(status: MessageMoveTask.Status, moved: Int, failureReason: String?,
                            into encoder: inout JournalEncoder) {
        encoder.write(byte: byte(of: status))
        encoder.write(count: moved)
        encoder.write(optional: failureReason) { $0.write(string: $1) }
    }

    mutating func decodeState(_ decoder: inout JournalDecoder) throws(JournalDecodingError) {
        status = try Self.status(of: try decoder.readByte())
        moved = try decoder.readCount()
        failureReason = try decoder.readPresence() ? try decoder.readString() : nil
    }

    /// A snapshot's task: the LSN its state was copied at, the start fields, then the state.
    func encodeImage(into encoder: inout JournalEncoder) {
        encoder.write(fixed: asOfLSN)
        encodeStart(into: &encoder)
        Self.encodeState(status: status, moved: moved, failureReason: failureReason, into: &encoder)
    }

    static func decodeImage(_ decoder: inout JournalDecoder) throws(JournalDecodingError) -> RestoredMoveTask {
        let asOf: Journal.LSN = try decoder.readFixed()
        var task = try decodeStart(&decoder)
        try task.decodeState(&decoder)
        task.asOfLSN = asOf
        return task
    }
}

/// The move tasks recovery is rebuilding, in the order they started.
struct RestoredMoveTasks {
    private(set) var tasks: [RestoredMoveTask?] = []
    private var index: [String: Int] = [:]

    mutating func add(_ task: RestoredMoveTask) {
        if let at = index[task.handle] {
            tasks[at] = task
        } else {
            index[task.handle] = tasks.count
            tasks.append(task)
        }
    }

    /// Applies a move-task record (after its kind byte) with LSN `lsn`; records a snapshot already holds are
    /// skipped, and each record states an outcome, so replaying one twice changes nothing.
    mutating func apply(_ decoder: inout JournalDecoder, lsn: Journal.LSN) throws(JournalDecodingError) {
        let raw = try decoder.readByte()
        switch RestoredMoveTask.Operation(rawValue: raw) {
        case .started:
            let task = try RestoredMoveTask.decodeStart(&decoder)
            if index[task.handle] == nil { add(task) }
        case .state:
            let handle = try decoder.readString()
            guard let at = index[handle], var task = tasks[at], lsn >= task.asOfLSN else { return }
            try task.decodeState(&decoder)
            tasks[at] = task
        case .forgotten:
            let handle = try decoder.readString()
            if let at = index[handle], let task = tasks[at], lsn >= task.asOfLSN { tasks[at] = nil }
        case nil:
            throw JournalDecodingError(reason: "unknown move task entry \(raw)", offset: 0)
        }
    }
}

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
        let handle: String = try moveTasks.withLock { (tasks) throws(BrokerError) -> String in
            if tasks.records.contains(where: { $0.sourceArn == sourceArn && ($0.status == .running || $0.status == .cancelling) }) {
                throw BrokerError(.unsupportedOperation,
                    "There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
            }
            let handle = Data("\(tasks.ids.uuidString())|\(sourceArn)".utf8).base64EncodedString()
            tasks.records.append(.init(handle: handle, sourceArn: sourceArn, destinationArn: destinationArn,
                                       rate: maxNumberOfMessagesPerSecond, toMove: toMove, started: now))
            return handle
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
        let moved: Int = try moveTasks.withLock { (tasks) throws(BrokerError) -> Int in
            guard let index = tasks.records.firstIndex(where: { $0.handle == taskHandle }) else {
                throw BrokerError(.resourceNotFound, "The task handle \(taskHandle) does not exist.")
            }
            guard tasks.records[index].status == .running else {
                throw BrokerError(.unsupportedOperation, "Only a task in status RUNNING can be cancelled.")
            }
            tasks.records[index].status = .cancelling
            tasks.records[index].wakeUp?.cancel()
            return tasks.records[index].moved
        }
        scheduleMoveStep(taskHandle, at: now)
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
            moveTasks.withLock { tasks in
                guard let index = tasks.records.firstIndex(where: { $0.handle == handle }) else { return }
                tasks.records[index].moved += moved
                tasks.records[index].status = status
                tasks.records[index].failureReason = reason
                tasks.records[index].wakeUp = nil
            }
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
        let taken = source.takeForMove(max: min(budget, record.toMove - record.moved))
        var moved = 0
        for (index, message) in taken.enumerated() {
            let destination = (record.destinationArn ?? message.deadLetterQueueSourceArn).flatMap(resolveQueue)
            guard let destination, destination.acceptRedriven(message) else {
                source.putBack(Array(taken[index...]))
                return finish(.failed, reason: "AWS.SimpleQueueService.NonExistentQueue", moved: moved)
            }
            moved += 1
        }
        let remaining = (try? source.read { state, _ in state.liveCount }) ?? 0
        if record.moved + moved >= record.toMove || remaining == 0 {
            return finish(.completed, moved: moved)
        }
        moveTasks.withLock { tasks in
            if let index = tasks.records.firstIndex(where: { $0.handle == handle }) { tasks.records[index].moved += moved }
        }
        scheduleMoveStep(handle, at: clock.now.addingTimeInterval(1))
    }
}

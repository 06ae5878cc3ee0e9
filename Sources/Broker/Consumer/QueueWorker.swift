import Foundation

/// How a ``QueueWorker`` treats a message whose handler failed.
public enum FailurePolicy: Sendable, Hashable {
    /// Leave it in flight: it comes back when its visibility timeout lapses (AWS's behaviour, the default).
    case leaveForVisibilityTimeout
    /// Release it now (visibility 0).
    case releaseImmediately
    /// Make it visible again after a fixed delay.
    case delay(Duration)
    /// Make it visible after `base × 2^(receiveCount − 1)`, at most `maximum`, with full jitter when asked.
    case exponentialBackoff(base: Duration, maximum: Duration, jitter: Bool)
}

/// When a ``QueueWorker`` deletes a message.
public enum Acknowledgement: Sendable, Hashable {
    /// After the handler returns (the default).
    case onSuccess
    /// After the handler finishes, even when it threw.
    case always
    /// Never by itself: the handler calls ``ReceivedMessage/acknowledge()``.
    case manual
}

/// Configuration of a ``QueueWorker``.
public struct QueueWorkerConfiguration: Sendable {
    /// Messages handled at once; a receive asks only for as many as there are free slots. Default 10.
    /// AWS's consumers use 2–1,000; 1 is allowed for deterministic tests.
    public var concurrency: Int
    /// `MaxNumberOfMessages` per receive: 1–10. Default 10.
    public var receiveBatchSize: Int
    /// Long-poll wait per receive: 0–20 s. Default 20 s.
    public var waitTimeSeconds: Duration
    /// Visibility timeout of each receive; nil uses the queue's.
    public var visibilityTimeout: Duration?
    /// While a handler runs, extend its messages' visibility; stops the moment the handler ends. Nil: no heartbeat.
    public var heartbeat: Heartbeat?
    /// What a failure does to the message.
    public var failurePolicy: FailurePolicy
    /// When messages are deleted.
    public var acknowledgement: Acknowledgement
    /// FIFO queues: after a failure, skip only the rest of the failed message's group in that batch (true), or the
    /// rest of the batch (false, the default, as Powertools does).
    public var skipGroupOnError: Bool
    /// System attributes each receive asks for besides `ApproximateReceiveCount` and `MessageGroupId`, which the
    /// worker always reads; `[.all]` for every one. Default none: building them costs about a microsecond a message.
    /// Message attributes are always all returned.
    public var messageSystemAttributeNames: [MessageSystemAttributeName]

    /// Creates a configuration.
    public init(concurrency: Int = 10, receiveBatchSize: Int = 10, waitTimeSeconds: Duration = .seconds(20),
                visibilityTimeout: Duration? = nil, heartbeat: Heartbeat? = nil,
                failurePolicy: FailurePolicy = .leaveForVisibilityTimeout, acknowledgement: Acknowledgement = .onSuccess,
                skipGroupOnError: Bool = false, messageSystemAttributeNames: [MessageSystemAttributeName] = []) {
        self.concurrency = concurrency
        self.receiveBatchSize = receiveBatchSize
        self.waitTimeSeconds = waitTimeSeconds
        self.visibilityTimeout = visibilityTimeout
        self.heartbeat = heartbeat
        self.failurePolicy = failurePolicy
        self.acknowledgement = acknowledgement
        self.skipGroupOnError = skipGroupOnError
        self.messageSystemAttributeNames = messageSystemAttributeNames
    }

    /// A visibility heartbeat: while a handler runs, its messages' visibility timeout is set to ``extension``
    /// (counted from then) every ``interval``, so a handler longer than the visibility timeout keeps its messages.
    ///
    /// A ``QueueWorker`` refuses a heartbeat whose interval is not positive or whose extension is not longer than
    /// its interval: the messages would become visible between two beats.
    public struct Heartbeat: Sendable, Hashable {
        /// Time between two extensions, on the broker's clock; the first comes one interval after the handler starts.
        public var interval: Duration
        /// The visibility timeout each beat sets, counted from the beat: longer than ``interval``.
        public var `extension`: Duration

        /// Creates a heartbeat.
        public init(interval: Duration, extension: Duration) {
            self.interval = interval
            self.extension = `extension`
        }
    }
}

/// An error a handler throws for a message that can never succeed: the worker moves it to the queue's dead-letter
/// queue at once (a copy is sent there and the original deleted) instead of waiting for `maxReceiveCount`.
public struct NonRetryableError: Error, Sendable {
    /// Why the message can never succeed.
    public let reason: String

    /// Creates the error.
    public init(_ reason: String) {
        self.reason = reason
    }
}

/// A message handed to a ``QueueWorker`` handler.
public struct ReceivedMessage: Sendable {
    /// The message as received: every message attribute; of the system attributes, `ApproximateReceiveCount`,
    /// `MessageGroupId` and those in ``QueueWorkerConfiguration/messageSystemAttributeNames``.
    public let message: Message
    /// The queue it came from.
    public let queue: Queue

    /// The body.
    public var body: String { message.body }
    /// The message id.
    public var messageId: String { message.messageId }
    /// `ApproximateReceiveCount`, this receive included.
    public var receiveCount: Int { message.receiveCount ?? 1 }

    /// Deletes the message now (manual acknowledgement).
    public func acknowledge() throws(BrokerError) {
        try queue.deleteMessage(receiptHandle: message.receiptHandle)
    }

    /// Changes the message's visibility timeout, counted from now.
    public func changeVisibility(_ timeout: Duration) throws(BrokerError) {
        try queue.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: timeout)
    }

    /// The delete a success owes.
    var pendingDelete: ConsumerRuntime.PendingDelete {
        ConsumerRuntime.PendingDelete(id: message.stored.id, receiptHandle: message.receiptHandle)
    }
}

/// A long-running queue poller, as SQS client libraries provide: per-message or batch handlers under a concurrency
/// limit, with back-pressure, a visibility heartbeat, a failure policy and acknowledgement modes.
///
/// Retries are the queue's job: the worker never counts them; the queue's `maxReceiveCount` and redrive policy
/// decide when a message goes to the dead-letter queue.
public final class QueueWorker: QueueConsumer, Sendable {
    /// The handler shapes a worker runs.
    enum Handler: Sendable {
        case message(@Sendable (ReceivedMessage) async throws -> Void)
        /// Returns the ids of failed messages; throwing fails them all.
        case batch(@Sendable ([ReceivedMessage]) async throws -> Set<String>)
    }

    /// The polled queue.
    public let queue: Queue
    /// The configuration.
    public let configuration: QueueWorkerConfiguration
    private let handler: Handler
    private let broker: Broker
    /// What each receive asks for: the configured system attributes plus those the worker reads itself.
    private let systemAttributeNames: [MessageSystemAttributeName]
    let runtime: ConsumerRuntime

    /// A worker that runs `handler` once per message.
    public convenience init(queue: Queue, broker: Broker, configuration: QueueWorkerConfiguration = QueueWorkerConfiguration(),
                            handler: @escaping @Sendable (ReceivedMessage) async throws -> Void) throws(BrokerError) {
        try self.init(queue: queue, broker: broker, configuration: configuration, handler: .message(handler))
    }

    /// A worker that runs `handler` once per received batch; it returns the ids of the messages that failed.
    public convenience init(queue: Queue, broker: Broker, configuration: QueueWorkerConfiguration = QueueWorkerConfiguration(),
                            batchHandler: @escaping @Sendable ([ReceivedMessage]) async throws -> Set<String>) throws(BrokerError) {
        try self.init(queue: queue, broker: broker, configuration: configuration, handler: .batch(batchHandler))
    }

    init(queue: Queue, broker: Broker, configuration: QueueWorkerConfiguration, handler: Handler) throws(BrokerError) {
        guard (1...1_000).contains(configuration.concurrency) else {
            throw BrokerError(.invalidParameterValue, "concurrency must be between 1 and 1000.")
        }
        guard (1...10).contains(configuration.receiveBatchSize) else {
            throw BrokerError(.invalidParameterValue, "receiveBatchSize must be between 1 and 10.")
        }
        _ = try MessageValidation.wholeSeconds(configuration.waitTimeSeconds, parameter: "WaitTimeSeconds", range: 0...20,
                                               reason: "Must be >= 0 and <= 20, if provided.")
        if let heartbeat = configuration.heartbeat, heartbeat.interval <= .zero || heartbeat.extension <= heartbeat.interval {
            throw BrokerError(.invalidParameterValue, "The heartbeat must extend visibility by more than its interval.")
        }
        self.queue = queue
        self.configuration = configuration
        self.handler = handler
        self.broker = broker
        var names = configuration.messageSystemAttributeNames
        for name in [MessageSystemAttributeName.approximateReceiveCount, .messageGroupId] where !names.contains(name) {
            names.append(name)
        }
        systemAttributeNames = names
        runtime = ConsumerRuntime(queue: queue, clock: broker.clock, slots: configuration.concurrency)
    }

    // MARK: Lifecycle

    /// Events in order: started, received, processed, failed, empty poll, delete failed, released, stopped. One
    /// reader.
    ///
    /// Reading this property turns event delivery on (a worker nobody watches builds no events): read it before
    /// ``start()`` or ``run()`` to see every event. `started` and `stopped` are always delivered.
    public var events: AsyncStream<ConsumerEvent> { runtime.events }

    /// Counters so far.
    public var statistics: ConsumerStatistics { runtime.statistics }

    /// Polls until the calling task is cancelled (running handlers are cancelled; nothing unacknowledged is deleted)
    /// or ``stop(drainTimeout:)`` is called; returns once no handler runs. Throws when the worker already runs or
    /// has stopped.
    public func run() async throws(BrokerError) {
        try await runtime.run(receiver: poolReceiver) { [self] in await pollLoop() }
    }

    /// Starts ``run()`` on a task of its own.
    public func start() {
        Task { try? await run() }
    }

    /// Stops polling, lets running handlers finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them; returns when the worker has stopped. ``QueueConsumer/stop()`` allows 30 seconds.
    public func stop(drainTimeout: Duration) async {
        await runtime.stop(drainTimeout: drainTimeout)
    }

    /// Stops receiving until ``resume()``; running handlers go on.
    public func pause() { runtime.pause() }

    /// Receives again after ``pause()``.
    public func resume() { runtime.resume() }

    // MARK: Polling

    private func pollLoop() async {
        // Polling may end between two long polls, with the timer the last served one left armed.
        defer { queue.core.cancelIdleTimer() }
        let batchSize = configuration.receiveBatchSize
        let wait = configuration.waitTimeSeconds
        while true {
            let slots = await runtime.acquire(maximum: batchSize)
            guard slots > 0 else { return }
            var messages: [Message]
            do {
                // A short poll first: while it runs, the pool leaves pending deletes to this loop (one batch per
                // round); only a poll that may wait sends them first. An error of the extra short poll (a short
                // poll's OverLimit, say) is left to the configured receive to raise or not.
                if wait > .zero {
                    messages = (try? await receive(slots, wait: .zero)) ?? []
                    if messages.isEmpty {
                        await runtime.pollerWillWait()
                        messages = try await receive(slots, wait: wait)
                    }
                } else {
                    messages = try await receive(slots, wait: .zero)
                    if messages.isEmpty { await runtime.pollerWillWait() }
                }
            } catch {
                runtime.received([], unusedSlots: slots)
                return
            }
            runtime.received(jobs(for: messages), unusedSlots: slots - messages.count)
            if messages.isEmpty {
                runtime.emit(.emptyPoll) { $0.emptyPolls += 1 }
                if wait == .zero {
                    // A short poll found nothing: idle a second of the broker's clock instead of spinning.
                    do { try await runtime.clock.sleep(for: .seconds(1)) } catch { return }
                }
            }
        }
    }

    /// Pool workers receive for themselves while receives find messages (see ``ConsumerRuntime``'s pool).
    private var poolReceiver: ConsumerRuntime.PoolReceiver {
        ConsumerRuntime.PoolReceiver(batchSize: configuration.receiveBatchSize) { [self] slots in
            guard let messages = try? await receive(slots, wait: .zero) else { return nil }
            return (jobs(for: messages), messages.count)
        }
    }

    private func receive(_ count: Int, wait: Duration) async throws -> [Message] {
        try await queue.receiveMessages(maxNumberOfMessages: count, visibilityTimeout: configuration.visibilityTimeout,
                                        waitTimeSeconds: wait, messageAttributeNames: ["All"],
                                        messageSystemAttributeNames: systemAttributeNames)
    }

    /// Counts a received batch and makes the runtime's pool jobs for it: one per message, or one for the whole
    /// batch when it must run in order (FIFO) or goes to a batch handler.
    private func jobs(for messages: [Message]) -> [ConsumerRuntime.Job] {
        guard !messages.isEmpty else { return [] }
        let batch = messages.map { ReceivedMessage(message: $0, queue: queue) }
        runtime.emit(batch, as: { .received(messageId: $0.messageId) }) { $0.received += batch.count }
        switch handler {
        case .batch(let handle):
            return [{ [self] in
                await runBatch(batch, handle)
                return ConsumerRuntime.JobOutcome(slots: batch.count)
            }]
        case .message(let handle) where queue.isFifo:
            // In order within each group; after a failure nothing later in the group (or batch) runs.
            return [{ [self] in
                var stoppedGroups = Set<String>()
                var stopAll = false
                for message in batch {
                    let group = message.message.messageGroupId ?? ""
                    if stopAll || stoppedGroups.contains(group) || Task.isCancelled || runtime.isStopping {
                        // Never started (after a failure, or at shutdown): release it at once. Its group stays
                        // blocked while a failed message is in flight, so order holds; the receive still counts
                        // towards maxReceiveCount, as on AWS.
                        try? message.changeVisibility(.zero)
                        runtime.emit(.released(messageId: message.messageId)) { $0.released += 1 }
                        runtime.release(1)
                        continue
                    }
                    if await !runOne(message, handle) {
                        if configuration.skipGroupOnError { stoppedGroups.insert(group) } else { stopAll = true }
                    }
                    runtime.release(1)
                }
                return ConsumerRuntime.JobOutcome(slots: 0)
            }]
        case .message(let handle):
            return batch.map { message in { [self] in await runPooled(message, handle) } }
        }
    }

    /// Runs the handler on one message; a success's delete is left to the pool, which batches it with others.
    private func runPooled(_ message: ReceivedMessage, _ handle: @Sendable (ReceivedMessage) async throws -> Void) async -> ConsumerRuntime.JobOutcome {
        if let error = await invoke(message, handle) {
            settleFailure(message, error: error)
            return ConsumerRuntime.JobOutcome(slots: 1)
        }
        if configuration.acknowledgement == .manual {
            runtime.emit(.processed(messageId: message.messageId)) { $0.processed += 1 }
            return ConsumerRuntime.JobOutcome(slots: 1)
        }
        return ConsumerRuntime.JobOutcome(slots: 1, delete: message.pendingDelete)
    }

    /// Runs the handler on one message and settles it; returns whether it succeeded.
    private func runOne(_ message: ReceivedMessage, _ handle: @Sendable (ReceivedMessage) async throws -> Void) async -> Bool {
        if let error = await invoke(message, handle) {
            settleFailure(message, error: error)
            return false
        }
        settleSuccess([message])
        return true
    }

    /// Runs the handler under the heartbeat; returns its error, if any.
    private func invoke(_ message: ReceivedMessage, _ handle: @Sendable (ReceivedMessage) async throws -> Void) async -> (any Error)? {
        let heartbeat = configuration.heartbeat == nil ? nil : startHeartbeat(for: [message])
        var failure: (any Error)?
        do { try await handle(message) } catch { failure = error }
        await stopHeartbeat(heartbeat)
        return failure
    }

    private func runBatch(_ batch: [ReceivedMessage], _ handle: @Sendable ([ReceivedMessage]) async throws -> Set<String>) async {
        let heartbeat = startHeartbeat(for: batch)
        let failed: Result<Set<String>, any Error>
        do { failed = .success(try await handle(batch)) } catch { failed = .failure(error) }
        await stopHeartbeat(heartbeat)
        switch failed {
        case .success(let ids):
            settleSuccess(batch.filter { !ids.contains($0.messageId) })
            for message in batch where ids.contains(message.messageId) {
                settleFailure(message, error: BatchItemFailed())
            }
        case .failure(let error):
            for message in batch { settleFailure(message, error: error) }
        }
    }

    private struct BatchItemFailed: Error, CustomStringConvertible {
        var description: String { "reported as failed by the batch handler" }
    }

    // MARK: Settling

    private func settleSuccess(_ messages: [ReceivedMessage]) {
        if configuration.acknowledgement == .manual {
            for message in messages { runtime.emit(.processed(messageId: message.messageId)) { $0.processed += 1 } }
            return
        }
        let deleted = runtime.delete(messages.map(\.pendingDelete))
        for message in messages where deleted.contains(message.messageId) {
            runtime.emit(.processed(messageId: message.messageId)) { $0.processed += 1 }
        }
    }

    private func settleFailure(_ message: ReceivedMessage, error: any Error) {
        runtime.emit(.failed(messageId: message.messageId, error: String(describing: error))) { $0.failed += 1 }
        // Cancelled at shutdown: the handler did not finish, so neither acknowledgement nor failure policy applies;
        // the message stays as it is, unacknowledged.
        if error is CancellationError || Task.isCancelled { return }
        if let nonRetryable = error as? NonRetryableError, moveToDeadLetterQueue(message, reason: nonRetryable.reason) {
            return
        }
        if configuration.acknowledgement == .always {
            _ = runtime.delete([message.pendingDelete])
            return
        }
        let visibility: Duration?
        switch configuration.failurePolicy {
        case .leaveForVisibilityTimeout: visibility = nil
        case .releaseImmediately: visibility = .zero
        case .delay(let delay): visibility = delay
        case .exponentialBackoff(let base, let maximum, let jitter):
            let exponent = min(30, max(0, message.receiveCount - 1))
            let seconds = min(maximum.timeInterval, base.timeInterval * pow(2, Double(exponent)))
            visibility = .seconds(Int((jitter ? Double.random(in: 0...seconds) : seconds).rounded()))
        }
        if let visibility { try? message.changeVisibility(visibility) }
    }

    /// Sends a copy to the queue's dead-letter queue and deletes the original; false when the queue has none.
    private func moveToDeadLetterQueue(_ message: ReceivedMessage, reason: String) -> Bool {
        guard let arn = try? queue.configuration().redrivePolicy?.deadLetterTargetArn,
              let dlq = try? broker.queue(arn: arn) else { return false }
        var attributes = message.message.messageAttributes
        if attributes.count < MessageValidation.maximumAttributes { attributes["NonRetryableReason"] = .string(reason) }
        let group = message.message.messageGroupId
        let request = SendMessageRequest(body: message.body, messageAttributes: attributes, messageGroupId: group,
                                         messageDeduplicationId: dlq.isFifo ? message.messageId : nil)
        guard (try? dlq.sendMessage(request)) != nil else { return false }
        _ = runtime.delete([message.pendingDelete])
        return true
    }

    // MARK: Heartbeat

    private func startHeartbeat(for messages: [ReceivedMessage]) -> Task<Void, Never>? {
        guard let heartbeat = configuration.heartbeat else { return nil }
        let clock = runtime.clock
        return Task {
            while !Task.isCancelled {
                do { try await clock.sleep(for: heartbeat.interval) } catch { return }
                for message in messages { try? message.changeVisibility(heartbeat.extension) }
            }
        }
    }

    /// Stops the heartbeat and waits for it, so no extension can follow the settlement (a delete, say).
    private func stopHeartbeat(_ heartbeat: Task<Void, Never>?) async {
        heartbeat?.cancel()
        await heartbeat?.value
    }
}

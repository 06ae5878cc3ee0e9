import Foundation

/// Configuration of an ``EventSourceMapping``, with Lambda's names, defaults and limits.
public struct EventSourceMappingConfiguration: Sendable {
    /// `BatchSize`: 1–10,000 (FIFO queues: 1–10). Default 10.
    public var batchSize: Int
    /// `MaximumBatchingWindowInSeconds`: 0–300 s, at least 1 s when `batchSize` > 10, none on FIFO queues.
    public var maximumBatchingWindow: Duration
    /// `ScalingConfig.MaximumConcurrency`: batches handled at once. AWS allows 2–1,000; Broker also allows 1, for
    /// deterministic tests. Default 5 (Lambda's initial poller count).
    public var maximumConcurrency: Int
    /// `FilterCriteria`: up to 5 EventBridge-style patterns over the record (`body`, `attributes`,
    /// `messageAttributes`); a record is kept when any matches. Records no pattern matches are deleted, as on AWS.
    public var filterPatterns: [String]
    /// `FunctionResponseTypes: ["ReportBatchItemFailures"]`.
    public var reportBatchItemFailures: Bool
    /// The function timeout: at most the queue's visibility timeout (Lambda refuses the mapping otherwise).
    /// Default 3 s, Lambda's default.
    public var functionTimeout: Duration

    /// Creates a configuration with Lambda's defaults.
    public init(batchSize: Int = 10, maximumBatchingWindow: Duration = .zero, maximumConcurrency: Int = 5,
                filterPatterns: [String] = [], reportBatchItemFailures: Bool = false,
                functionTimeout: Duration = .seconds(3)) {
        self.batchSize = batchSize
        self.maximumBatchingWindow = maximumBatchingWindow
        self.maximumConcurrency = maximumConcurrency
        self.filterPatterns = filterPatterns
        self.reportBatchItemFailures = reportBatchItemFailures
        self.functionTimeout = functionTimeout
    }
}

/// Lambda's SQS event source mapping, in process: polls a queue, hands batches of records to a handler, and
/// settles each batch exactly as Lambda does.
///
/// - A normal return deletes the whole batch (with `reportBatchItemFailures`, all but the listed records).
/// - A throw or a timeout deletes nothing: the records come back after their visibility timeout, their receive
///   count grows, and the queue's redrive policy moves them to the DLQ. The mapping never changes visibility.
/// - Records no filter pattern matches are deleted without reaching the handler.
public final class EventSourceMapping: QueueConsumer, Sendable {
    /// The mapped queue.
    public let queue: Queue
    /// The configuration.
    public let configuration: EventSourceMappingConfiguration
    private let handler: @Sendable (SQSEvent) async throws -> SQSBatchResponse?
    private let filters: [FilterPolicy]
    private let region: String
    let runtime: ConsumerRuntime

    /// Validates the configuration as Lambda's CreateEventSourceMapping does.
    public init(queue: Queue, broker: Broker, configuration: EventSourceMappingConfiguration = EventSourceMappingConfiguration(),
                handler: @escaping @Sendable (SQSEvent) async throws -> SQSBatchResponse?) throws(BrokerError) {
        func invalid(_ message: String) -> BrokerError { BrokerError(.invalidParameterValue, message) }
        let limit = queue.isFifo ? 10 : 10_000
        guard (1...limit).contains(configuration.batchSize) else {
            throw invalid("BatchSize must be between 1 and \(limit) for \(queue.isFifo ? "FIFO" : "standard") queues.")
        }
        let (window, fraction) = configuration.maximumBatchingWindow.components
        guard fraction == 0, (0...300).contains(window) else {
            throw invalid("MaximumBatchingWindowInSeconds must be a whole number of seconds between 0 and 300.")
        }
        if queue.isFifo, window > 0 {
            throw invalid("Batching window is not supported for FIFO queues.")
        }
        if configuration.batchSize > 10, window < 1 {
            throw invalid("Maximum batch window in seconds must be greater than 0 if maximum batch size is greater than 10.")
        }
        guard (1...1_000).contains(configuration.maximumConcurrency) else {
            throw invalid("MaximumConcurrency must be between 2 and 1000 (Broker also allows 1).")
        }
        guard configuration.filterPatterns.count <= 5 else {
            throw invalid("FilterCriteria can contain at most 5 filters.")
        }
        let visibility = try queue.configuration().visibilityTimeout ?? .seconds(30)
        guard configuration.functionTimeout > .zero, configuration.functionTimeout <= visibility else {
            throw invalid("Queue visibility timeout: \(visibility.components.seconds) seconds is less than Function timeout: \(configuration.functionTimeout.components.seconds) seconds")
        }
        var filters: [FilterPolicy] = []
        for pattern in configuration.filterPatterns {
            do throws(BrokerError) {
                filters.append(try FilterPolicy(json: pattern, scope: .messageBody))
            } catch {
                throw invalid("Invalid filter pattern definition: \(error.message)")
            }
        }
        self.queue = queue
        self.configuration = configuration
        self.handler = handler
        self.filters = filters
        self.region = broker.configuration.region
        runtime = ConsumerRuntime(queue: queue, clock: broker.clock, slots: configuration.maximumConcurrency)
    }

    // MARK: Lifecycle

    /// Events in order: started, received, processed, failed, timed out, filtered out, batch completed, empty poll,
    /// delete failed, released, stopped. One reader.
    ///
    /// Reading this property turns event delivery on (a mapping nobody watches builds no events): read it before
    /// ``start()`` or ``run()`` to see every event. `started` and `stopped` are always delivered.
    public var events: AsyncStream<ConsumerEvent> { runtime.events }

    /// Counters so far.
    public var statistics: ConsumerStatistics { runtime.statistics }

    /// Polls until the calling task is cancelled (running handlers are cancelled; nothing unacknowledged is deleted)
    /// or ``stop(drainTimeout:)`` is called; returns once no handler runs. Throws when the mapping already runs or
    /// has stopped.
    public func run() async throws(BrokerError) {
        try await runtime.run { [self] in await pollLoop() }
    }

    /// Starts ``run()`` on a task of its own.
    public func start() {
        Task { try? await run() }
    }

    /// Stops polling, lets running batches finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them; returns when the mapping has stopped. Records gathered but not yet handed to the handler are released
    /// (visibility 0). ``QueueConsumer/stop()`` allows 30 seconds.
    public func stop(drainTimeout: Duration) async {
        await runtime.stop(drainTimeout: drainTimeout)
    }

    /// Stops taking new batches until ``resume()`` (Lambda's `Enabled: false`); running batches go on.
    public func pause() { runtime.pause() }

    /// Takes batches again after ``pause()``.
    public func resume() { runtime.resume() }

    // MARK: Polling

    private func pollLoop() async {
        // Polling may end between two long polls, with the timer the last served one left armed.
        defer { queue.core.cancelIdleTimer() }
        var carried: [SQSEventRecord] = []
        while await runtime.acquire(maximum: 1) == 1 {
            guard let batch = await assembleBatch(&carried) else {
                runtime.release(1)
                release(carried)
                return
            }
            let kept = await applyFilters(batch)
            guard !kept.isEmpty else {
                runtime.release(1)
                continue
            }
            runtime.spawn { [self] in
                await invoke(kept)
                runtime.release(1)
            }
        }
        release(carried)
    }

    /// Receives until the batch is full, the window has passed, or the 6 MB payload cap is reached. Returns nil
    /// when polling must end (stop, cancellation, queue deleted).
    private func assembleBatch(_ carried: inout [SQSEventRecord]) async -> [SQSEventRecord]? {
        let clock = runtime.clock
        let window = configuration.maximumBatchingWindow
        let deadline = window > .zero ? clock.now.adding(window) : nil
        var batch = carried
        carried = []
        var bytes = batch.reduce(0) { $0 + $1.payloadSize }
        while batch.count < configuration.batchSize {
            var wait = 20
            if let deadline {
                let remaining = deadline.timeIntervalSince(clock.now)
                if remaining <= 0, !batch.isEmpty { break }
                wait = max(0, min(20, Int(remaining.rounded(.up))))
            } else if !batch.isEmpty {
                break
            }
            let messages: [Message]
            do {
                messages = try await queue.receiveMessages(
                    maxNumberOfMessages: min(10, configuration.batchSize - batch.count),
                    waitTimeSeconds: .seconds(wait), messageAttributeNames: ["All"], messageSystemAttributeNames: [.all])
            } catch {
                carried = batch
                return nil
            }
            if messages.isEmpty {
                runtime.emit(.emptyPoll) { $0.emptyPolls += 1 }
                // Nothing gathered: back to the poll loop, which honours pause and stop and starts a fresh window
                // (re-polling here would ignore pause, and past the window's deadline would spin on 0 s receives).
                if batch.isEmpty { return runtime.isStopping ? nil : batch }
                continue
            }
            for message in messages {
                let record = SQSEventRecord(message, queueArn: queue.arn, region: region)
                runtime.emit(.received(messageId: record.messageId)) { $0.received += 1 }
                if bytes + record.payloadSize > Self.payloadLimit, !batch.isEmpty {
                    carried.append(record)
                } else {
                    bytes += record.payloadSize
                    batch.append(record)
                }
            }
            if !carried.isEmpty { break }
        }
        return batch
    }

    /// Lambda's synchronous invocation payload limit, which the records' metadata counts against.
    static let payloadLimit = 6 * 1_024 * 1_024

    /// Deletes the records no filter matches, as Lambda does, and returns the rest.
    private func applyFilters(_ batch: [SQSEventRecord]) async -> [SQSEventRecord] {
        guard !filters.isEmpty else { return batch }
        var kept: [SQSEventRecord] = []
        var dropped: [SQSEventRecord] = []
        for record in batch {
            var input = FilterInput(attributes: [:], body: Self.filterDocument(record))
            if filters.contains(where: { $0.matches(&input) }) { kept.append(record) } else { dropped.append(record) }
        }
        delete(dropped)
        for record in dropped { runtime.emit(.filteredOut(messageId: record.messageId)) { $0.filteredOut += 1 } }
        return kept
    }

    /// The record as the filter sees it: `body` parsed when it is JSON, else the string.
    ///
    /// The only JSON the consumers write by string interpolation, kept whole in this one function so that a JSON
    /// writer can replace it without touching the rest of the mapping.
    static func filterDocument(_ record: SQSEventRecord) -> String {
        let body = record.body.trimmingCharacters(in: .whitespacesAndNewlines)
        let isJSON = (body.hasPrefix("{") || body.hasPrefix("[")) && JSONValue.isPolicyJSON(body)
        let bodyJSON = isJSON ? body : JSONText.quoted(record.body)
        let attributes = JSONValue.object(record.attributes.keys.sorted().map { ($0, .string(record.attributes[$0] ?? "")) })
        let messageAttributes = JSONValue.object(record.messageAttributes.keys.sorted().map { name in
            let value = record.messageAttributes[name]
            return (name, .object([("stringValue", .string(value?.stringValue ?? "")), ("dataType", .string(value?.dataType ?? ""))]))
        })
        // A JSON body goes in as sent; the filter reads it with its own parser, as it always has.
        return "{\"body\":\(bodyJSON),\"attributes\":\(attributes.jsonText),\"messageAttributes\":\(messageAttributes.jsonText)}"
    }

    // MARK: Invocation

    private func invoke(_ batch: [SQSEventRecord]) async {
        let event = SQSEvent(records: batch)
        let handler = handler
        let ids = batch.map(\.messageId)
        let outcome = await Timeout.run(configuration.functionTimeout, clock: runtime.clock) { try await handler(event) }
        var keep = Set<String>()
        switch outcome {
        case .timedOut:
            runtime.emit(.timedOut(messageIds: ids)) { $0.timedOut += 1 }
            keep = Set(ids)
        case .finished(.failure(let error)):
            keep = Set(ids)
            for id in ids { runtime.emit(.failed(messageId: id, error: String(describing: error))) { $0.failed += 1 } }
        case .finished(.success(let response)):
            if configuration.reportBatchItemFailures, let response {
                if let failed = response.failedIds(in: Set(ids)) {
                    keep = failed
                    for id in ids where failed.contains(id) {
                        runtime.emit(.failed(messageId: id, error: "reported in batchItemFailures")) { $0.failed += 1 }
                    }
                } else {
                    keep = Set(ids)
                    for id in ids {
                        runtime.emit(.failed(messageId: id, error: "invalid partial batch response: the whole batch fails")) { $0.failed += 1 }
                    }
                }
            }
        }
        let done = batch.filter { !keep.contains($0.messageId) }
        let deleted = delete(done)
        for record in done where deleted.contains(record.messageId) {
            runtime.emit(.processed(messageId: record.messageId)) { $0.processed += 1 }
        }
        runtime.emit(.batchCompleted(size: batch.count, deleted: deleted.count, failed: keep.count))
    }

    /// DeleteMessageBatch in chunks of 10; returns the ids deleted and reports the failures.
    @discardableResult
    private func delete(_ records: [SQSEventRecord]) -> Set<String> {
        runtime.delete(records.map { ConsumerRuntime.PendingDelete(messageId: $0.messageId, receiptHandle: $0.receiptHandle) })
    }

    /// Releases records fetched but never handed to the handler (visibility 0), at shutdown.
    private func release(_ records: [SQSEventRecord]) {
        for record in records {
            try? queue.changeMessageVisibility(receiptHandle: record.receiptHandle, visibilityTimeout: .zero)
            runtime.emit(.released(messageId: record.messageId)) { $0.released += 1 }
        }
    }
}

import Benchmark
import Broker
import Foundation

// The regression suite: broker-bench's scenarios at fixed sizes, for package-benchmark.
//
// CI checks malloc counts only (`swift package --package-path Benchmarks benchmark thresholds check` against
// Thresholds/): they are the same on every machine and every run, where time on a shared 2-core machine is not.
// Wall-clock time and throughput are measured for reading, with tolerances so wide that they never fail a check.
//
// Scenarios that never wait run on a ManualClock (deterministic); the long poll and the consumer need SystemClock.
// Every benchmark checks its own result with `precondition`, so a broken broker crashes the run instead of
// reporting a fast wrong answer.

/// Tolerances: malloc counts may move by 5% (10% where scheduling decides how often a consumer polls); time never fails.
private func thresholds(mallocPercent: Double = 5) -> [BenchmarkMetric: BenchmarkThresholds] {
    let never = BenchmarkThresholds(relative: [.p90: 1e12])
    return [
        .mallocCountTotal: BenchmarkThresholds(relative: [.p90: mallocPercent]),
        .wallClock: never,
        .throughput: never,
    ]
}

private func configuration(scaling: BenchmarkScalingFactor = .kilo, maxDuration: Duration = .seconds(1),
                           maxIterations: Int = 1_000, mallocPercent: Double = 5,
                           extraMetrics: [BenchmarkMetric] = []) -> Benchmark.Configuration {
    Benchmark.Configuration(
        metrics: [.wallClock, .throughput, .mallocCountTotal] + extraMetrics,
        warmupIterations: 3,
        scalingFactor: scaling,
        maxDuration: maxDuration,
        maxIterations: maxIterations,
        thresholds: thresholds(mallocPercent: mallocPercent))
}

private let attributes = QueueAttributes(visibilityTimeout: .seconds(43_200))
private let entryIds = (0..<10).map { String($0) }

/// A 100-byte body whose first 12 characters are the sequence number.
private func body(_ seq: Int, size: Int = 100) -> String {
    var text = String(seq)
    text = String(repeating: "0", count: max(0, 12 - text.utf8.count)) + text
    return text + String(repeating: "x", count: size - 12)
}

private func sequence(of message: Message) -> Int {
    Int(message.body.prefix(12))!
}

// MARK: Synchronous calls
// Broker's synchronous calls throw `BrokerError` (typed throws). Swift 6.3.1's optimizer crashed ("While splitting
// coroutine") on async functions of this package that call them directly, so async code here calls them through
// these non-inlined wrappers.

@inline(never) private func send(_ queue: Queue, _ text: String) throws {
    try queue.sendMessage(text)
}

@inline(never) private func sendBatch(_ queue: Queue, _ entries: [SendMessageBatchRequestEntry]) throws -> Bool {
    try queue.sendMessageBatch(entries).failed.isEmpty
}

@inline(never) private func delete(_ queue: Queue, _ handle: String) throws {
    try queue.deleteMessage(receiptHandle: handle)
}

@inline(never) private func deleteBatch(_ queue: Queue, _ messages: [Message]) throws -> Bool {
    let entries = messages.enumerated().map { DeleteMessageBatchRequestEntry(id: entryIds[$0.offset], receiptHandle: $0.element.receiptHandle) }
    return try queue.deleteMessageBatch(entries).failed.isEmpty
}

@inline(never) private func depth(_ queue: Queue) throws -> Int {
    try queue.statistics().approximateNumberOfMessages
}

@inline(never) private func publish(_ topic: Topic, _ seq: Int) throws {
    try topic.publish(orderEvent(seq), messageAttributes: eventAttributes[seq % 4])
}

@inline(never) private func makeQueue(_ broker: Broker, _ name: String) throws -> Queue {
    try broker.createQueue(named: name, attributes: attributes)
}

@inline(never) private func deleteQueue(_ broker: Broker, _ queue: Queue) throws {
    try broker.deleteQueue(queue)
}

@inline(never) private func makeWorker(_ queue: Queue, _ broker: Broker, _ tally: Tally) throws -> QueueWorker {
    try QueueWorker(queue: queue, broker: broker, configuration: QueueWorkerConfiguration(concurrency: 10)) { message in
        tally.insert(sequence(of: message.message))
    }
}

/// Sends `count` messages in batches of 10 (setup, unmeasured where it is called before `startMeasurement`).
private func fill(_ queue: Queue, count: Int, from first: Int = 0) throws {
    var seq = first
    while seq < first + count {
        let entries = (0..<min(10, first + count - seq)).map {
            SendMessageBatchRequestEntry(id: entryIds[$0], body: body(seq + $0))
        }
        let result = try queue.sendMessageBatch(entries)
        precondition(result.failed.isEmpty, "fill failed")
        seq += entries.count
    }
}

/// One batch of `size`: send, receive, check, delete.
private func sendReceiveDelete(_ queue: Queue, first: Int, size: Int, groups: [String]? = nil) async throws {
    let entries = (0..<size).map { index in
        let seq = first + index
        return SendMessageBatchRequestEntry(id: entryIds[index], body: body(seq),
                                            messageGroupId: groups.map { $0[seq % $0.count] },
                                            messageDeduplicationId: groups == nil ? nil : String(seq))
    }
    let sent = try sendBatch(queue, entries)
    precondition(sent, "send failed")
    var received = 0
    while received < size {
        let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
        precondition(!messages.isEmpty, "messages lost")
        let deleted = try deleteBatch(queue, messages)
        precondition(deleted, "delete failed")
        received += messages.count
    }
    precondition(received == size, "received \(received) of \(size)")
}

/// A topic with 4 subscriptions: 2 filtered (attributes or body), 1 raw, 1 envelope. The broker is returned too:
/// a topic resolves its subscribers through the broker, which it does not keep alive.
private func fanoutTopology(bodyScope: Bool) throws -> (Topic, [Queue], Broker) {
    let broker = Broker(clock: ManualClock())
    let topic = try broker.createTopic(named: "order-events")
    let policies = [#"{"eventType":["order.created","order.refunded"]}"#, #"{"eventType":["order.created","order.cancelled"]}"#]
    var queues: [Queue] = []
    for index in 0..<4 {
        let queue = try broker.createQueue(named: "subscriber-\(index)", attributes: attributes)
        var subscription = SubscriptionAttributes()
        if index < 2 {
            subscription.filterPolicy = policies[index]
            if bodyScope { subscription.filterPolicyScope = "MessageBody" }
        } else {
            subscription.rawMessageDelivery = index == 2
        }
        try topic.subscribe(queue, attributes: subscription)
        queues.append(queue)
    }
    return (topic, queues, broker)
}

private let eventTypes = ["order.created", "order.refunded", "order.cancelled", "order.shipped"]
private let eventAttributes = eventTypes.map { ["eventType": MessageAttributeValue.string($0)] }

/// A ~300-byte JSON order event.
private func orderEvent(_ seq: Int) -> String {
    let type = eventTypes[seq % 4]
    let head = #"{"orderId":"ord-\#(seq)","eventType":"\#(type)","customer":{"id":"c-1042","tier":"gold"},"currency":"EUR","total":129.95,"items":[{"sku":"SKU-1","qty":2}],"note":""#
    return head + String(repeating: "x", count: max(0, 298 - head.utf8.count)) + #""}"#
}

/// Which event types (`seq % 4`) each subscription gets: the two filters, then raw and envelope (everything).
private let subscribedTypes: [Set<Int>] = [[0, 1], [0, 2], [0, 1, 2, 3], [0, 1, 2, 3]]

/// Publishes 10 events and drains every subscription queue of exactly what its filter lets through.
private func publishAndDrain(_ topic: Topic, _ queues: [Queue], first: Int) async throws {
    for seq in first..<(first + 10) {
        try publish(topic, seq)
    }
    for (index, queue) in queues.enumerated() {
        let expected = (first..<(first + 10)).filter { subscribedTypes[index].contains($0 % 4) }.count
        var received = 0
        while received < expected {
            let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
            precondition(!messages.isEmpty, "fan-out copies lost on subscription \(index)")
            let deleted = try deleteBatch(queue, messages)
            precondition(deleted, "delete failed")
            received += messages.count
        }
        precondition(received == expected, "subscription \(index): \(received) copies, expected \(expected)")
    }
}

/// Counts sequence numbers across threads (the consumer benchmark's handler).
private final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var seen = Set<Int>()

    func insert(_ seq: Int) {
        lock.lock()
        defer { lock.unlock() }
        precondition(seen.insert(seq).inserted, "message \(seq) handled twice")
    }

    func reset() {
        lock.lock()
        defer { lock.unlock() }
        seen.removeAll(keepingCapacity: true)
    }

    var count: Int {
        lock.lock()
        defer { lock.unlock() }
        return seen.count
    }
}

// MARK: Bodies
// Each benchmark's body is a function of its own: small closures keep the optimizer's coroutine splitting simple
// (Swift 6.3.1 crashed splitting one large async closure that held them all).

private func singleBody(_ benchmark: Benchmark, _ queue: Queue) async throws {
    for seq in benchmark.scaledIterations {
        try send(queue, body(seq))
        let messages = try await queue.receiveMessages()
        precondition(messages.count == 1 && sequence(of: messages[0]) == seq, "message \(seq) not received once")
        try delete(queue, messages[0].receiptHandle)
    }
}

private func batchBody(_ benchmark: Benchmark, _ queue: Queue) async throws {
    for first in stride(from: 0, to: benchmark.scaledIterations.count, by: 10) {
        try await sendReceiveDelete(queue, first: first, size: 10)
    }
}

private let groupIds = (0..<10).map { "g\($0)" }

private func fifoBody(_ benchmark: Benchmark, _ queue: Queue) async throws {
    // Sequence numbers keep growing across iterations: deduplication ids must not repeat within 5 minutes.
    let count = benchmark.scaledIterations.count
    let base = fifoCounter.next(count)
    for first in stride(from: base, to: base + count, by: 10) {
        try await sendReceiveDelete(queue, first: first, size: 10, groups: groupIds)
    }
}

private func fanoutBody(_ benchmark: Benchmark, _ topology: (Topic, [Queue], Broker)) async throws {
    for first in stride(from: 0, to: benchmark.scaledIterations.count, by: 10) {
        try await publishAndDrain(topology.0, topology.1, first: first)
    }
}

private func longPollBody(_ benchmark: Benchmark, _ queue: Queue) async throws {
    let waiter = Task { try await queue.receiveMessages(maxNumberOfMessages: 1, waitTimeSeconds: .seconds(20)) }
    try await Task.sleep(for: .milliseconds(1))
    benchmark.startMeasurement()
    try send(queue, body(0))
    let messages = try await waiter.value
    benchmark.stopMeasurement()
    precondition(messages.count == 1, "the long poll returned \(messages.count) messages")
    try delete(queue, messages[0].receiptHandle)
}

private func processedCount(_ events: AsyncStream<ConsumerEvent>, until target: Int) async -> Int {
    var processed = 0
    for await event in events {
        if case .processed = event {
            processed += 1
            if processed == target { break }
        }
    }
    return processed
}

private func consumerBody(_ benchmark: Benchmark, _ broker: Broker) async throws {
    let count = benchmark.scaledIterations.count
    let queue = try makeQueue(broker, "work-\(consumerCounter.next(1))")
    try fill(queue, count: count)
    let tally = Tally()
    let worker = try makeWorker(queue, broker, tally)
    benchmark.startMeasurement()
    worker.start()
    let processed = await processedCount(worker.events, until: count)
    benchmark.stopMeasurement()
    await worker.stop(drainTimeout: .seconds(1))
    precondition(processed == count && tally.count == count, "handled \(tally.count), processed \(processed) of \(count)")
    try deleteQueue(broker, queue)
}

private func depthBody(_ benchmark: Benchmark, _ queue: Queue, resident: Int) async throws {
    let count = benchmark.scaledIterations.count
    let base = depthCounter.next(count) + resident
    for first in stride(from: base, to: base + count, by: 10) {
        try await sendReceiveDelete(queue, first: first, size: 10)
    }
    let remaining = try depth(queue)
    precondition(remaining == resident, "depth changed to \(remaining)")
}

private func fillBody(_ benchmark: Benchmark) throws {
    let queue = try Broker(clock: ManualClock()).createQueue(named: "fill", attributes: attributes)
    benchmark.startMeasurement()
    try fill(queue, count: 10_000)
    benchmark.stopMeasurement()
    let depth = try queue.statistics().approximateNumberOfMessages
    precondition(depth == 10_000, "fill lost messages")
}

private func standardQueue() throws -> Queue {
    try Broker(clock: ManualClock()).createQueue(named: "bench", attributes: attributes)
}

private func fifoQueue() throws -> Queue {
    try Broker(clock: ManualClock()).createQueue(named: "bench.fifo", attributes: QueueAttributes(visibilityTimeout: .seconds(43_200), fifoQueue: true))
}

private func filledQueue(_ resident: Int) throws -> Queue {
    let queue = try standardQueue()
    try fill(queue, count: resident)
    return queue
}

let benchmarks: @Sendable () -> Void = {
    // Standard queue: 1,000 messages an iteration, one at a time or in batches of 10.
    Benchmark("SendReceiveDelete.Single", configuration: configuration()) { benchmark, queue in
        try await singleBody(benchmark, queue)
    } setup: {
        try standardQueue()
    }
    Benchmark("SendReceiveDelete.Batch10", configuration: configuration()) { benchmark, queue in
        try await batchBody(benchmark, queue)
    } setup: {
        try standardQueue()
    }

    // FIFO: 10 groups, batches of 10.
    Benchmark("FIFO.Groups10.Batch10", configuration: configuration()) { benchmark, queue in
        try await fifoBody(benchmark, queue)
    } setup: {
        try fifoQueue()
    }

    // Fan-out: 1,000 publishes an iteration to 4 subscriptions (2 filtered, raw, envelope), every copy drained.
    Benchmark("Fanout.Subscriptions4.AttributeFilter", configuration: configuration(maxDuration: .seconds(2))) { benchmark, topology in
        try await fanoutBody(benchmark, topology)
    } setup: {
        try fanoutTopology(bodyScope: false)
    }
    Benchmark("Fanout.Subscriptions4.BodyFilter", configuration: configuration(maxDuration: .seconds(2))) { benchmark, topology in
        try await fanoutBody(benchmark, topology)
    } setup: {
        try fanoutTopology(bodyScope: true)
    }

    // Long poll: a receive parked in a 20 s long poll (SystemClock), then a send; measured from the send to the
    // receive's return (the waiter parks during a 1 ms sleep before measurement starts).
    Benchmark("LongPoll.WakeUp", configuration: configuration(scaling: .one, maxIterations: 300, mallocPercent: 10)) { benchmark, queue in
        try await longPollBody(benchmark, queue)
    } setup: {
        try Broker(clock: SystemClock()).createQueue(named: "long-poll", attributes: attributes)
    }

    // Consumer: a QueueWorker (concurrency 10, empty handler) drains 1,000 messages filled before measurement.
    Benchmark("Consumer.QueueWorker.Concurrency10.Drain1000",
              configuration: configuration(maxDuration: .seconds(2), maxIterations: 100, mallocPercent: 10)) { benchmark, broker in
        try await consumerBody(benchmark, broker)
    } setup: {
        Broker(clock: SystemClock())
    }

    // Depth: batches of 10 with 1,000 and 100,000 messages resident.
    Benchmark("DepthSweep.Resident1000.Batch10", configuration: configuration()) { benchmark, queue in
        try await depthBody(benchmark, queue, resident: 1_000)
    } setup: {
        try filledQueue(1_000)
    }
    Benchmark("DepthSweep.Resident100000.Batch10", configuration: configuration()) { benchmark, queue in
        try await depthBody(benchmark, queue, resident: 100_000)
    } setup: {
        try filledQueue(100_000)
    }

    // Memory: allocations to hold 10,000 resident 100-byte messages (mallocBytesCount / 10,000 ≈ bytes per message,
    // the sends' transient allocations included).
    Benchmark("Memory.Fill10000", configuration: configuration(scaling: .one, maxIterations: 50, extraMetrics: [.mallocBytesCount])) { benchmark in
        try fillBody(benchmark)
    }
}

/// Hands out increasing numbers across iterations (FIFO deduplication ids, fresh queue names).
private final class Counter: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0

    func next(_ count: Int) -> Int {
        lock.lock()
        defer { lock.unlock() }
        defer { value += count }
        return value
    }
}

private let fifoCounter = Counter()
private let consumerCounter = Counter()
private let depthCounter = Counter()

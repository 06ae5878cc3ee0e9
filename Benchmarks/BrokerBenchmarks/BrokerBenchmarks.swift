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
    precondition(try queue.sendMessageBatch(entries).failed.isEmpty, "send failed")
    var received = 0
    while received < size {
        let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
        precondition(!messages.isEmpty, "messages lost")
        let deletes = messages.enumerated().map { DeleteMessageBatchRequestEntry(id: entryIds[$0.offset], receiptHandle: $0.element.receiptHandle) }
        precondition(try queue.deleteMessageBatch(deletes).failed.isEmpty, "delete failed")
        received += messages.count
    }
    precondition(received == size, "received \(received) of \(size)")
}

/// A topic with 4 subscriptions: 2 filtered (attributes or body), 1 raw, 1 envelope.
private func fanoutTopology(bodyScope: Bool) throws -> (Topic, [Queue]) {
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
    return (topic, queues)
}

private let eventTypes = ["order.created", "order.refunded", "order.cancelled", "order.shipped"]
private let eventAttributes = eventTypes.map { ["eventType": MessageAttributeValue.string($0)] }

/// A ~300-byte JSON order event.
private func orderEvent(_ seq: Int) -> String {
    let type = eventTypes[seq % 4]
    let head = #"{"orderId":"ord-\#(seq)","eventType":"\#(type)","customer":{"id":"c-1042","tier":"gold"},"currency":"EUR","total":129.95,"items":[{"sku":"SKU-1","qty":2}],"note":""#
    return head + String(repeating: "x", count: max(0, 298 - head.utf8.count)) + #""}"#
}

/// Publishes 10 events and drains every subscription queue of what it should hold (5, 5, 10, 10).
private func publishAndDrain(_ topic: Topic, _ queues: [Queue], first: Int) async throws {
    for seq in first..<(first + 10) {
        try topic.publish(orderEvent(seq), messageAttributes: eventAttributes[seq % 4])
    }
    for (index, queue) in queues.enumerated() {
        let expected = index < 2 ? 5 : 10
        var received = 0
        while received < expected {
            let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
            precondition(!messages.isEmpty, "fan-out copies lost on subscription \(index)")
            let deletes = messages.enumerated().map { DeleteMessageBatchRequestEntry(id: entryIds[$0.offset], receiptHandle: $0.element.receiptHandle) }
            precondition(try queue.deleteMessageBatch(deletes).failed.isEmpty, "delete failed")
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

let benchmarks: @Sendable () -> Void = {
    // MARK: Standard queue

    Benchmark("SendReceiveDelete.Single", configuration: configuration()) { benchmark, queue in
        for seq in benchmark.scaledIterations {
            try queue.sendMessage(body(seq))
            let messages = try await queue.receiveMessages()
            precondition(messages.count == 1 && sequence(of: messages[0]) == seq, "message \(seq) not received once")
            try queue.deleteMessage(receiptHandle: messages[0].receiptHandle)
        }
    } setup: {
        try Broker(clock: ManualClock()).createQueue(named: "bench", attributes: attributes)
    }

    Benchmark("SendReceiveDelete.Batch10", configuration: configuration()) { benchmark, queue in
        for first in stride(from: 0, to: benchmark.scaledIterations.count, by: 10) {
            try await sendReceiveDelete(queue, first: first, size: 10)
        }
    } setup: {
        try Broker(clock: ManualClock()).createQueue(named: "bench", attributes: attributes)
    }

    // MARK: FIFO

    Benchmark("FIFO.Groups10.Batch10", configuration: configuration()) { benchmark, queue in
        // Sequence numbers keep growing across iterations: deduplication ids must not repeat within 5 minutes.
        let base = fifoCounter.next(benchmark.scaledIterations.count)
        for first in stride(from: base, to: base + benchmark.scaledIterations.count, by: 10) {
            try await sendReceiveDelete(queue, first: first, size: 10, groups: (0..<10).map { "g\($0)" })
        }
    } setup: {
        try Broker(clock: ManualClock()).createQueue(named: "bench.fifo", attributes: QueueAttributes(visibilityTimeout: .seconds(43_200), fifoQueue: true))
    }

    // MARK: Fan-out

    Benchmark("Fanout.Subscriptions4.AttributeFilter", configuration: configuration(maxDuration: .seconds(2))) { benchmark, topology in
        for first in stride(from: 0, to: benchmark.scaledIterations.count, by: 10) {
            try await publishAndDrain(topology.0, topology.1, first: first)
        }
    } setup: {
        try fanoutTopology(bodyScope: false)
    }

    Benchmark("Fanout.Subscriptions4.BodyFilter", configuration: configuration(maxDuration: .seconds(2))) { benchmark, topology in
        for first in stride(from: 0, to: benchmark.scaledIterations.count, by: 10) {
            try await publishAndDrain(topology.0, topology.1, first: first)
        }
    } setup: {
        try fanoutTopology(bodyScope: true)
    }

    // MARK: Long poll

    // One round: a receive parked in a 20 s long poll (SystemClock), then a send; measured from the send to the
    // receive's return. The waiter is registered before measurement starts (a short sleep lets it park).
    Benchmark("LongPoll.WakeUp", configuration: configuration(scaling: .one, maxIterations: 300, mallocPercent: 10)) { benchmark, queue in
        let waiter = Task { try await queue.receiveMessages(maxNumberOfMessages: 1, waitTimeSeconds: .seconds(20)) }
        try await Task.sleep(for: .milliseconds(1))
        benchmark.startMeasurement()
        try queue.sendMessage(body(0))
        let messages = try await waiter.value
        benchmark.stopMeasurement()
        precondition(messages.count == 1, "the long poll returned \(messages.count) messages")
        try queue.deleteMessage(receiptHandle: messages[0].receiptHandle)
    } setup: {
        try Broker(clock: SystemClock()).createQueue(named: "long-poll", attributes: attributes)
    }

    // MARK: Consumer

    // A QueueWorker (concurrency 10, empty handler) drains 1,000 messages filled before measurement starts.
    Benchmark("Consumer.QueueWorker.Concurrency10.Drain1000",
              configuration: configuration(scaling: .kilo, maxDuration: .seconds(2), maxIterations: 100, mallocPercent: 10)) { benchmark, broker in
        let queue = try broker.createQueue(named: "work-\(consumerCounter.next(1))", attributes: attributes)
        try fill(queue, count: benchmark.scaledIterations.count)
        let tally = Tally()
        let worker = try QueueWorker(queue: queue, broker: broker, configuration: QueueWorkerConfiguration(concurrency: 10)) { message in
            tally.insert(sequence(of: message.message))
        }
        benchmark.startMeasurement()
        worker.start()
        var processed = 0
        for await event in worker.events {
            if case .processed = event {
                processed += 1
                if processed == benchmark.scaledIterations.count { break }
            }
        }
        benchmark.stopMeasurement()
        await worker.stop(drainTimeout: .seconds(1))
        precondition(tally.count == benchmark.scaledIterations.count, "handled \(tally.count) of \(benchmark.scaledIterations.count)")
        try broker.deleteQueue(queue)
    } setup: {
        Broker(clock: SystemClock())
    }

    // MARK: Depth

    for resident in [1_000, 100_000] {
        Benchmark("DepthSweep.Resident\(resident).Batch10", configuration: configuration()) { benchmark, queue in
            let base = depthCounter.next(benchmark.scaledIterations.count) + resident
            for first in stride(from: base, to: base + benchmark.scaledIterations.count, by: 10) {
                try await sendReceiveDelete(queue, first: first, size: 10)
            }
            precondition(try queue.statistics().approximateNumberOfMessages == resident, "depth changed")
        } setup: {
            let queue = try Broker(clock: ManualClock()).createQueue(named: "deep", attributes: attributes)
            try fill(queue, count: resident)
            return queue
        }
    }

    // Allocations to hold 10,000 resident 100-byte messages (mallocBytesCount / 10,000 ≈ bytes per message,
    // transient allocations of the sends included).
    Benchmark("Memory.Fill10000", configuration: configuration(scaling: .one, maxIterations: 50, extraMetrics: [.mallocBytesCount])) { benchmark in
        let queue = try Broker(clock: ManualClock()).createQueue(named: "fill", attributes: attributes)
        benchmark.startMeasurement()
        try fill(queue, count: 10_000)
        benchmark.stopMeasurement()
        precondition(try queue.statistics().approximateNumberOfMessages == 10_000, "fill lost messages")
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

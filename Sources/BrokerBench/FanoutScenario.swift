import Broker
import Foundation

/// The shape of a fan-out run.
struct FanoutShape {
    var subscriptions: Int
    var bodyScope: Bool
    var publishBatch: Bool
    var batch: Int
    var bodySize: Int
    var clock: ClockChoice
    var quiet: Bool

    var variant: String {
        var parts = ["subscriptions=\(subscriptions)", bodyScope ? "filter=body" : "filter=attributes"]
        parts.append(publishBatch ? "publish-batch=\(batch)" : "publish=1,drain-every=\(batch)")
        parts.append("size=\(bodySize)")
        return parts.joined(separator: ",")
    }
}

/// One subscription of the fan-out topology and which publishes it should get.
private struct FanoutSubscription {
    enum Kind { case filtered(Set<Int>), raw, envelope }
    let kind: Kind
    let queue: Queue

    /// Whether the publish with event type `type` (an index into `Payload.eventTypes`) reaches this subscription.
    func receives(type: Int) -> Bool {
        if case .filtered(let types) = kind { return types.contains(type) }
        return true
    }

    var label: String {
        switch kind {
        case .filtered: "filtered"
        case .raw: "raw"
        case .envelope: "envelope"
        }
    }
}

/// A topic with N SQS subscriptions — by default 2 filtered on the `eventType` attribute (or, with `--body-scope`,
/// on the body's `eventType`), 1 raw and 1 with SNS's envelope — publishes ~300-byte JSON order events, and every
/// copy is received and deleted from its queue on the same thread. One iteration publishes `batch` messages and then
/// drains each queue of exactly the copies it should have got.
func runFanout(_ shape: FanoutShape, budget: Budget) async throws -> RunResult {
    let broker = makeBroker(shape.clock)
    let topic = try broker.createTopic(named: "order-events")
    let filters: [(json: String, types: Set<Int>)] = [
        (#"{"eventType":["order.created","order.refunded"]}"#, [0, 1]),
        (#"{"eventType":["order.created","order.cancelled"]}"#, [0, 2]),
    ]
    var subscriptions: [FanoutSubscription] = []
    for index in 0..<shape.subscriptions {
        let queue = try broker.createQueue(named: "subscriber-\(index)", attributes: benchQueueAttributes(fifo: false))
        let kind: FanoutSubscription.Kind
        var attributes = SubscriptionAttributes()
        switch index {
        case 0, 1:
            kind = .filtered(filters[index].types)
            attributes.filterPolicy = filters[index].json
            if shape.bodyScope { attributes.filterPolicyScope = "MessageBody" }
        default:
            let raw = index % 2 == 0
            kind = raw ? .raw : .envelope
            attributes.rawMessageDelivery = raw
        }
        try topic.subscribe(queue, attributes: attributes)
        subscriptions.append(FanoutSubscription(kind: kind, queue: queue))
    }
    let attributeSets = Payload.eventTypes.map { ["eventType": MessageAttributeValue.string($0)] }
    let batch = shape.batch
    let events = Payload.OrderEvents(size: shape.bodySize)

    var verifier = Verifier()
    var seen = subscriptions.map { _ in SeenSet(capacity: RunBudget(budget).messageLimit ?? 1 << 20) }
    var expected = [Int](repeating: 0, count: subscriptions.count)
    var received = [Int](repeating: 0, count: subscriptions.count)
    var histogram = Histogram()
    var entries: [PublishBatchRequestEntry] = []
    var deleteEntries: [DeleteMessageBatchRequestEntry] = []
    deleteEntries.reserveCapacity(10)
    let progress = Progress("fanout \(shape.variant)", enabled: !shape.quiet)
    let cpuStart = processCPUNanoseconds()
    let run = RunBudget(budget)
    var published = 0
    var iterationStart = run.start

    while !run.isSpent(sent: published, now: iterationStart) {
        // Publish.
        if shape.publishBatch {
            entries.removeAll(keepingCapacity: true)
            for index in 0..<batch {
                let seq = published + index
                entries.append(PublishBatchRequestEntry(id: Names.entryIds[index], request: PublishRequest(
                    message: events.event(seq: seq),
                    messageAttributes: attributeSets[seq % attributeSets.count])))
            }
            let result = try topic.publishBatch(entries)
            if let first = result.failed.first { verifier.fail("PublishBatch failed: \(first.code) \(first.message)") }
        } else {
            for index in 0..<batch {
                let seq = published + index
                try topic.publish(events.event(seq: seq),
                                  messageAttributes: attributeSets[seq % attributeSets.count])
            }
        }
        for seq in published..<(published + batch) {
            for (index, subscription) in subscriptions.enumerated() where subscription.receives(type: seq % Payload.eventTypes.count) {
                expected[index] += 1
            }
        }
        published += batch

        // Drain every queue of exactly what it should hold.
        for (index, subscription) in subscriptions.enumerated() {
            var empties = 0
            while received[index] < expected[index] {
                let messages = try await subscription.queue.receiveMessages(maxNumberOfMessages: 10)
                if messages.isEmpty {
                    empties += 1
                    if empties > 3 {
                        verifier.fail("\(subscription.label) subscription \(index): \(expected[index] - received[index]) copies missing")
                        received[index] = expected[index]
                    }
                    continue
                }
                deleteEntries.removeAll(keepingCapacity: true)
                for (offset, message) in messages.enumerated() {
                    let copy = Payload.inspectCopy(message.body)
                    if let seq = copy.seq {
                        if !seen[index].insert(seq) { verifier.fail("subscription \(index) got publish \(seq) twice") }
                        if !subscription.receives(type: seq % Payload.eventTypes.count) {
                            verifier.fail("filtered subscription \(index) got publish \(seq) (\(Payload.eventTypes[seq % 4]))")
                        }
                    } else {
                        verifier.fail("subscription \(index) got a message that was never published")
                    }
                    switch subscription.kind {
                    case .raw:
                        if copy.isEnvelope { verifier.fail("raw subscription \(index) got a wrapped body") }
                    case .envelope, .filtered:
                        if !copy.isEnvelope { verifier.fail("subscription \(index) got a body without SNS's envelope") }
                    }
                    deleteEntries.append(DeleteMessageBatchRequestEntry(id: Names.entryIds[offset], receiptHandle: message.receiptHandle))
                }
                let result = try subscription.queue.deleteMessageBatch(deleteEntries)
                if let first = result.failed.first { verifier.fail("DeleteMessageBatch failed: \(first.code) \(first.message)") }
                received[index] += messages.count
            }
        }
        let now = nanosecondsNow()
        histogram.record(now &- iterationStart)
        iterationStart = now
        progress.tick(published, unit: "publishes", now: now)
    }
    let end = iterationStart
    let cpuSeconds = Double(processCPUNanoseconds() - cpuStart) / 1e9
    progress.finish()

    for (index, subscription) in subscriptions.enumerated() {
        let statistics = try subscription.queue.statistics()
        verifier.check(statistics.approximateNumberOfMessages == 0 && statistics.approximateNumberOfMessagesNotVisible == 0,
                       "subscription \(index) has \(statistics.approximateNumberOfMessages) extra copies")
        verifier.check(seen[index].count == expected[index], "subscription \(index): expected \(expected[index]) copies, got \(seen[index].count) distinct")
    }
    let seconds = Double(end - run.start) / 1e9
    let copies = expected.reduce(0, +)
    let row = Row(scenario: "fanout", variant: shape.variant, unit: "publishes/s",
                  throughput: Double(published) / seconds, count: published, seconds: seconds,
                  latency: histogram.summary,
                  latencyOf: "one iteration: \(batch) publishes, then every copy received and deleted",
                  extras: [("copies per publish", Double(copies) / Double(max(published, 1))),
                           ("copies/s", Double(copies) / seconds),
                           ("publishes per CPU-second", Double(published) / cpuSeconds)])
    return RunResult(rows: [row], failures: verifier.all)
}

import Broker
import Foundation

// An online shop's order pipeline inside one process, with the failure handling it would have on AWS:
//
//   order-events (topic) ─┬─ payment-queue       order.created, order.refunded   → payment worker (idempotent)
//                         ├─ inventory-queue     order.created, order.cancelled  → inventory worker
//                         ├─ notification-queue  everything                      → Lambda-style mapping
//                         └─ analytics-queue     everything                      → a slow worker that falls behind
//
// Every queue has a dead-letter queue after 3 receives. A few orders carry bad data: payment fails them three times,
// SQS moves them to payment-queue-dlq on the fourth receive, the handler is "fixed", a message move task sends them
// back, and they are charged exactly once. Time runs on a ScaledClock, so visibility timeouts pass in a blink.

// MARK: - Options

struct Options {
    var orders = 40
    var failureRate = 0.1
    var fifo = false
    var speed = 20.0

    static let usage = """
        usage: broker-demo [--orders N] [--failure-rate R] [--fifo] [--speed X]
          --orders N        orders to place (1–10000, default 40)
          --failure-rate R  share of orders with bad payment data (0–1, default 0.1)
          --fifo            use a FIFO topic and FIFO queues (ordered per order, deduplicated)
          --speed X         broker seconds per real second (1–1000, default 20)
        """

    static func parse(_ arguments: [String]) -> Options? {
        var options = Options()
        var rest = arguments[...]
        while let flag = rest.popFirst() {
            switch flag {
            case "--fifo": options.fifo = true
            case "--orders": guard let v = rest.popFirst().flatMap(Int.init), (1...10_000).contains(v) else { return nil }; options.orders = v
            case "--failure-rate": guard let v = rest.popFirst().flatMap(Double.init), (0...1).contains(v) else { return nil }; options.failureRate = v
            case "--speed": guard let v = rest.popFirst().flatMap(Double.init), (1...1_000).contains(v) else { return nil }; options.speed = v
            default: return nil
            }
        }
        return options
    }
}

guard let options = Options.parse(Array(CommandLine.arguments.dropFirst())) else {
    print(Options.usage)
    exit(CommandLine.arguments.contains("--help") ? 0 : 2)
}

// MARK: - The domain

/// What the shop publishes. A bad order has its amount as text, the way a buggy client might send it.
struct OrderEvent: Codable, Sendable {
    var type: String
    var orderId: String
    var amount: AmountField
}

/// An amount that is a number, or (bad data) a string.
enum AmountField: Codable, Sendable {
    case number(Double)
    case text(String)

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if let value = try? container.decode(Double.self) { self = .number(value) } else { self = .text(try container.decode(String.self)) }
    }

    func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .number(let value): try container.encode(value)
        case .text(let value): try container.encode(value)
        }
    }
}

struct BadAmount: Error, CustomStringConvertible {
    let orderId: String
    var description: String { "order \(orderId): amount is not a number" }
}

/// The shop's books, shared by the handlers.
actor Ledger {
    private(set) var charges: [String: Int] = [:]
    private(set) var fixed = false

    func charge(_ orderId: String) { charges[orderId, default: 0] += 1 }
    func fix() { fixed = true }
    var doubleCharges: Int { charges.values.filter { $0 > 1 }.count }
    var chargedOrders: Int { charges.count }
}

// MARK: - Topology

let clock = ScaledClock(speed: options.speed)
let broker = Broker(clock: clock)
let suffix = options.fifo ? ".fifo" : ""
let topic = try broker.createTopic(named: "order-events" + suffix, attributes: TopicAttributes(
    fifoTopic: options.fifo ? true : nil, contentBasedDeduplication: options.fifo ? true : nil))

/// A queue with its own dead-letter queue (maxReceiveCount 3), subscribed to the topic through `filter`.
func pipelineQueue(_ name: String, visibility: Int, filter: [String]?) throws -> (queue: Queue, dlq: Queue) {
    let fifo: Bool? = options.fifo ? true : nil
    let dlq = try broker.createQueue(named: "\(name)-dlq\(suffix)", attributes: QueueAttributes(fifoQueue: fifo))
    let queue = try broker.createQueue(named: name + suffix, attributes: QueueAttributes(
        visibilityTimeout: .seconds(visibility),
        redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3),
        fifoQueue: fifo, contentBasedDeduplication: fifo))
    let policy = filter.map { types in #"{"event_type":[\#(types.map { "\"\($0)\"" }.joined(separator: ","))]}"# }
    try topic.subscribe(queue, attributes: SubscriptionAttributes(filterPolicy: policy))
    return (queue, dlq)
}

let payment = try pipelineQueue("payment-queue", visibility: 10, filter: ["order.created", "order.refunded"])
let inventory = try pipelineQueue("inventory-queue", visibility: 30, filter: ["order.created", "order.cancelled"])
let notification = try pipelineQueue("notification-queue", visibility: 30, filter: nil)
let analytics = try pipelineQueue("analytics-queue", visibility: 60, filter: nil)

// MARK: - Consumers

let ledger = Ledger()
let idempotency = IdempotencyStore(clock: clock)

/// Payment: decodes the SNS envelope, refuses bad amounts until fixed, and charges once per order however often
/// the event is delivered.
let paymentWorker = try QueueWorker(queue: payment.queue, broker: broker,
                                    configuration: QueueWorkerConfiguration(concurrency: 4, skipGroupOnError: true)) { message in
    let event = try message.decode(OrderEvent.self, from: .auto)
    guard event.type == "order.created" else { return }
    if case .text = event.amount, await !ledger.fixed { throw BadAmount(orderId: event.orderId) }
    try await idempotency.run(key: "charge:\(event.orderId)") { await ledger.charge(event.orderId) }
}

let inventoryWorker = try QueueWorker(queue: inventory.queue, broker: broker,
                                      configuration: QueueWorkerConfiguration(concurrency: 2)) { message in
    _ = try message.decode(OrderEvent.self, from: .auto)
}

/// Notifications run as a Lambda function would: batches of up to 10 records.
let notificationMapping = try EventSourceMapping(queue: notification.queue, broker: broker,
                                                 configuration: EventSourceMappingConfiguration(batchSize: 10)) { event in
    for record in event.records { _ = try record.payload(.auto) }
    return nil
}

/// Analytics is slow (a second of work per event) and runs one at a time: it falls behind without slowing payments.
let analyticsWorker = try QueueWorker(queue: analytics.queue, broker: broker,
                                      configuration: QueueWorkerConfiguration(concurrency: 1)) { _ in
    try await clock.sleep(for: .seconds(1))
}

paymentWorker.start()
inventoryWorker.start()
notificationMapping.start()
analyticsWorker.start()

// MARK: - Live table

let interactive = isatty(STDOUT_FILENO) == 1
let rows: [(String, Queue, Queue, @Sendable () -> Int)] = [
    ("payment", payment.queue, payment.dlq, { paymentWorker.statistics.processed }),
    ("inventory", inventory.queue, inventory.dlq, { inventoryWorker.statistics.processed }),
    ("notification", notification.queue, notification.dlq, { notificationMapping.statistics.processed }),
    ("analytics", analytics.queue, analytics.dlq, { analyticsWorker.statistics.processed }),
]
var drawnLines = 0

func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
}

@MainActor func table(_ phase: String) throws -> [String] {
    var lines = ["[\(phase)]", pad("queue", 14) + pad("visible", 9) + pad("inflight", 10) + pad("delayed", 9)
        + pad("dlq", 6) + pad("processed", 11) + "oldest"]
    for (name, queue, dlq, processed) in rows {
        let stats = try queue.statistics()
        let age = stats.oldestMessageAge.map { "\($0.components.seconds)s" } ?? "-"
        lines.append(pad(name, 14) + pad("\(stats.approximateNumberOfMessages)", 9)
            + pad("\(stats.approximateNumberOfMessagesNotVisible)", 10) + pad("\(stats.approximateNumberOfMessagesDelayed)", 9)
            + pad("\(try dlq.statistics().approximateNumberOfMessages)", 6) + pad("\(processed())", 11) + age)
    }
    return lines
}

@MainActor func show(_ phase: String) throws {
    let lines = try table(phase)
    if interactive {
        // Redraw in place: move up over the last table and overwrite it.
        if drawnLines > 0 { print("\u{1B}[\(drawnLines)A", terminator: "") }
        for line in lines { print("\u{1B}[2K" + line) }
        drawnLines = lines.count
    } else {
        print(lines.joined(separator: "\n"))
    }
}

/// Refreshes the table until `done` holds (checked every quarter of a real second), or gives up after `limit`
/// broker seconds so the demo can never hang.
@MainActor func watch(_ phase: String, limit: Int = 600, until done: () async throws -> Bool) async throws -> Bool {
    let deadline = clock.now.addingTimeInterval(TimeInterval(limit))
    var ticks = 0
    while clock.now < deadline {
        if try await done() { try show(phase); return true }
        if interactive || ticks % 8 == 0 { try show(phase) }
        ticks += 1
        try await clock.sleep(for: .seconds(0.25 * options.speed))
    }
    try show(phase + " — gave up waiting")
    return false
}

// MARK: - Run

print("broker-demo: \(options.orders) orders, failure rate \(options.failureRate), \(options.fifo ? "FIFO" : "standard") topic, speed ×\(Int(options.speed))\n")

let badCount = Int((Double(options.orders) * options.failureRate).rounded())
let badOrders = Set((0..<badCount).map { "order-\(($0 * options.orders / max(badCount, 1) + 2) % options.orders)" })
let encoder = JSONEncoder()

/// The JSON body of one event; a bad order's amount is text.
func body(_ type: String, _ index: Int) throws -> String {
    let orderId = "order-\(index)"
    let amount: AmountField = badOrders.contains(orderId) ? .text("twelve") : .number(Double(10 + index))
    return String(decoding: try encoder.encode(OrderEvent(type: type, orderId: orderId, amount: amount)), as: UTF8.self)
}

var published = 0
for index in 0..<options.orders {
    var events = ["order.created"]
    if index % 7 == 3 { events.append("order.cancelled") }
    if index % 11 == 5 { events.append("order.refunded") }
    for type in events {
        try topic.publish(try body(type, index), messageAttributes: ["event_type": .string(type)],
                          messageGroupId: options.fifo ? "order-\(index)" : nil)
        published += 1
    }
}
// A client retry: the same order.created again. FIFO topics deduplicate it; on a standard topic it arrives twice
// and the idempotency store keeps the second delivery from charging again.
try topic.publish(try body("order.created", 0), messageAttributes: ["event_type": .string("order.created")],
                  messageGroupId: options.fifo ? "order-0" : nil)

let goodOrders = options.orders - badOrders.count
let failedIntoDLQ = try await watch("processing; bad orders fail into payment-queue-dlq") {
    let paymentStats = try payment.queue.statistics()
    let charged = await ledger.chargedOrders
    return try payment.dlq.statistics().approximateNumberOfMessages == badOrders.count
        && paymentStats.approximateNumberOfMessages + paymentStats.approximateNumberOfMessagesNotVisible == 0
        && charged == goodOrders
}

// The fix ships: payments accept text amounts. Move the dead letters back to payment-queue.
await ledger.fix()
if !badOrders.isEmpty { try broker.startMessageMoveTask(sourceArn: payment.dlq.arn) }
let redriven = try await watch("fixed; redriving payment-queue-dlq") {
    let charged = await ledger.chargedOrders
    return try charged == options.orders && payment.dlq.statistics().approximateNumberOfMessages == 0
}
let drained = try await watch("waiting for the slow analytics consumer") {
    let stats = try analytics.queue.statistics()
    return stats.approximateNumberOfMessages + stats.approximateNumberOfMessagesNotVisible == 0
}

await paymentWorker.stop(drainTimeout: .seconds(30))
await inventoryWorker.stop(drainTimeout: .seconds(30))
await notificationMapping.stop(drainTimeout: .seconds(30))
await analyticsWorker.stop(drainTimeout: .seconds(30))

// MARK: - Summary

let charges = await ledger.charges
let doubleCharges = await ledger.doubleCharges
let moveTask = try broker.listMessageMoveTasks(sourceArn: payment.dlq.arn).first
print("""

    Summary
    - \(published + 1) events published to \(topic.name) (one of them a client retry of order-0).
    - Filter policies routed them: payment got created/refunded, inventory created/cancelled, notification and analytics everything.
    - \(badOrders.count) order(s) with a text amount failed payment 3 times each and moved to payment-queue-dlq on the 4th receive\(failedIntoDLQ ? "" : " (not all did in time)").
    - After the fix a move task (\(moveTask?.status.rawValue ?? "not needed")) sent them back; \(charges.count) of \(options.orders) orders are charged\(redriven ? "" : " (incomplete)").
    - Double charges: \(doubleCharges)\(options.fifo ? " (the FIFO topic dropped the retry)" : " (the idempotency store absorbed the retried delivery)").
    - Analytics processed \(analyticsWorker.statistics.processed) events one at a time and \(drained ? "caught up" : "was still behind") — payments never waited for it.
    """)
exit(failedIntoDLQ && redriven && drained && doubleCharges == 0 ? 0 : 1)

import Broker
import Foundation

// An online shop's order pipeline, with the failure handling it would have on AWS:
//
//   order-events (topic) ─┬─ payment-queue       order.created, order.refunded   → payment worker (idempotent)
//                         ├─ inventory-queue     order.created, order.cancelled  → inventory worker
//                         ├─ notification-queue  everything                      → Lambda-style mapping
//                         └─ analytics-queue     everything                      → a slow worker that falls behind
//
// Every queue has a dead-letter queue after 3 receives. A few orders carry bad data: payment fails them three times,
// SQS moves them to payment-queue-dlq on the fourth receive, the handler is "fixed", a message move task sends them
// back, and they are charged exactly once.

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

/// The order pipeline on a broker the caller gives: `broker-demo` runs it on a broker of its own, `broker-server
/// --demo` on the broker it serves, so the console shows it running.
public struct OrderPipeline: Sendable {
    /// How the pipeline reports its progress.
    public enum Output: Sendable {
        /// A table of the queues, redrawn in place on a terminal (`interactive`) or printed every two seconds.
        case table(interactive: Bool)
        /// One line per phase, for a process whose standard output is a log.
        case phases
    }

    let broker: Broker
    let options: DemoOptions
    let output: Output
    /// Broker seconds per real second of the broker's clock, so the table refreshes four times a real second.
    let speed: Double

    /// A pipeline on `broker`, whose clock runs `speed` broker seconds per real second. With
    /// ``DemoOptions/dataDirectory`` the broker must be the durable one in that directory's `broker` folder.
    public init(broker: Broker, options: DemoOptions, output: Output, speed: Double) {
        self.broker = broker
        self.options = options
        self.output = output
        self.speed = speed
    }

    /// Opens (or creates) the durable broker of a data directory, in its `broker` folder; the demo's own records sit
    /// beside it.
    public static func durableBroker(in directory: String, clock: any BrokerClock) throws -> Broker {
        let path = directory + "/broker"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return try Broker(clock: clock, storage: .directory(path, durability: .acknowledged))
    }

    /// Creates the topology (idempotently, so a run on a data directory finds what an earlier run made), places the
    /// orders not placed yet, runs the consumers until every order is charged, redrives the dead letters, and prints
    /// a summary. Returns whether every step finished and no order was charged twice.
    public func run() async throws -> Bool {
        let clock = broker.clock
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

        // MARK: Consumers

        let durable = options.dataDirectory != nil
        let ledger = try Ledger(directory: options.dataDirectory)
        let idempotency = IdempotencyStore(clock: clock)

        /// Payment: decodes the SNS envelope, refuses bad amounts until fixed, and charges once per order however
        /// often the event is delivered.
        let paymentWorker = try QueueWorker(queue: payment.queue, broker: broker,
                                            configuration: QueueWorkerConfiguration(concurrency: 4, skipGroupOnError: true)) { message in
            let event = try message.decode(OrderEvent.self, from: .auto)
            guard event.type == "order.created" else { return }
            if case .text = event.amount, await !ledger.fixed { throw BadAmount(orderId: event.orderId) }
            try await idempotency.run(key: "charge:\(event.orderId)") {
                let before = await ledger.chargedOrders
                try await ledger.charge(event.orderId)
                if durable, await ledger.chargedOrders > before { Self.line("charged \(event.orderId)") }
            }
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

        /// Analytics is slow (a second of work per event) and runs one at a time: it falls behind without slowing
        /// payments.
        let analyticsWorker = try QueueWorker(queue: analytics.queue, broker: broker,
                                              configuration: QueueWorkerConfiguration(concurrency: 1)) { _ in
            try await clock.sleep(for: .seconds(1))
        }

        paymentWorker.start()
        inventoryWorker.start()
        notificationMapping.start()
        analyticsWorker.start()

        // MARK: Progress

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

        func table(_ phase: String) throws -> [String] {
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

        var announced: String?
        func show(_ phase: String) throws {
            switch output {
            case .phases:
                if announced != phase { Self.line("[\(phase)]") }
                announced = phase
            case .table(interactive: true):
                let lines = try table(phase)
                // Redraw in place: move up over the last table and overwrite it.
                if drawnLines > 0 { print("\u{1B}[\(drawnLines)A", terminator: "") }
                for line in lines { print("\u{1B}[2K" + line) }
                drawnLines = lines.count
            case .table(interactive: false):
                Self.line(try table(phase).joined(separator: "\n"))
            }
        }

        var redraws: Bool {
            if case .table(interactive: true) = output { return true }
            return false
        }

        /// Refreshes the progress until `done` holds (checked every quarter of a real second), or gives up after
        /// `limit` broker seconds so the demo can never hang.
        func watch(_ phase: String, limit: Int = 600, until done: () async throws -> Bool) async throws -> Bool {
            let deadline = clock.now.addingTimeInterval(TimeInterval(limit))
            var ticks = 0
            while clock.now < deadline {
                if try await done() { try show(phase); return true }
                if redraws || ticks % 8 == 0 { try show(phase) }
                ticks += 1
                try await clock.sleep(for: .seconds(0.25 * speed))
            }
            try show(phase + " — gave up waiting")
            return false
        }

        // MARK: Run

        Self.line("broker-demo: \(options.orders) orders, failure rate \(options.failureRate), \(options.fifo ? "FIFO" : "standard") topic, speed ×\(Int(speed))\n")

        let badCount = Int((Double(options.orders) * options.failureRate).rounded())
        let badOrders = Set((0..<badCount).map { "order-\(($0 * options.orders / max(badCount, 1) + 2) % options.orders)" })
        let encoder = JSONEncoder()

        /// The JSON body of one event; a bad order's amount is text.
        func body(_ type: String, _ index: Int) throws -> String {
            let orderId = "order-\(index)"
            let amount: AmountField = badOrders.contains(orderId) ? .text("twelve") : .number(Double(10 + index))
            return String(decoding: try encoder.encode(OrderEvent(type: type, orderId: orderId, amount: amount)), as: UTF8.self)
        }

        // With a data directory, the orders already placed (published) by an earlier run are not placed again. An
        // order is recorded after its publish returns: a kill between the two places it twice, and the payment
        // worker's ledger absorbs the second order.created.
        let placedLog = try options.dataDirectory.map { try AppendLog(path: $0 + "/orders-placed.log") }
        let alreadyPlaced = Set(placedLog?.lines ?? [])
        if durable, !alreadyPlaced.isEmpty {
            Self.line("broker-demo: resuming: \(alreadyPlaced.count) of \(options.orders + 1) publishes already made")
        }

        var published = 0
        for index in 0..<options.orders where !alreadyPlaced.contains("order-\(index)") {
            var events = ["order.created"]
            if index % 7 == 3 { events.append("order.cancelled") }
            if index % 11 == 5 { events.append("order.refunded") }
            for type in events {
                try topic.publish(try body(type, index), messageAttributes: ["event_type": .string(type)],
                                  messageGroupId: options.fifo ? "order-\(index)" : nil)
                published += 1
            }
            try placedLog?.append("order-\(index)")
        }
        // A client retry: the same order.created again. FIFO topics deduplicate it; on a standard topic it arrives
        // twice and the idempotency store keeps the second delivery from charging again.
        if !alreadyPlaced.contains("retry") {
            try topic.publish(try body("order.created", 0), messageAttributes: ["event_type": .string("order.created")],
                              messageGroupId: options.fifo ? "order-0" : nil)
            try placedLog?.append("retry")
            published += 1
        }

        let goodOrders = options.orders - badOrders.count
        var failedIntoDLQ = true
        if await !ledger.fixed {
            failedIntoDLQ = try await watch("processing; bad orders fail into payment-queue-dlq") {
                let paymentStats = try payment.queue.statistics()
                let charged = await ledger.chargedOrders
                // At least: an order placed twice across a kill fails into the DLQ twice.
                return try payment.dlq.statistics().approximateNumberOfMessages >= badOrders.count
                    && paymentStats.approximateNumberOfMessages + paymentStats.approximateNumberOfMessagesNotVisible == 0
                    && charged == goodOrders
            }
        }

        // The fix ships: payments accept text amounts. Move the dead letters back to payment-queue.
        try await ledger.fix()
        if durable { Self.line("payment fixed") }
        if try payment.dlq.statistics().approximateNumberOfMessages > 0 {
            let running = try broker.listMessageMoveTasks(sourceArn: payment.dlq.arn).first.map { $0.status == .running } ?? false
            if !running { try broker.startMessageMoveTask(sourceArn: payment.dlq.arn) }
        }
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

        // MARK: Summary

        let charges = await ledger.charges
        let doubleCharges = await ledger.doubleCharges
        let moveTask = try broker.listMessageMoveTasks(sourceArn: payment.dlq.arn).first
        Self.line("""

            Summary
            - \(durable ? "\(published) events published to \(topic.name) in this run; \(alreadyPlaced.count) orders (or the retry) were placed by an earlier run" : "\(published) events published to \(topic.name) (one of them a client retry of order-0)").
            - Filter policies routed them: payment got created/refunded, inventory created/cancelled, notification and analytics everything.
            - \(badOrders.count) order(s) with a text amount failed payment 3 times each and moved to payment-queue-dlq on the 4th receive\(failedIntoDLQ ? "" : " (not all did in time)").
            - After the fix a move task (\(moveTask?.status.rawValue ?? "not needed")) sent them back; \(charges.count) of \(options.orders) orders are charged\(redriven ? "" : " (incomplete)").
            - Double charges: \(doubleCharges)\(options.fifo ? " (the FIFO topic dropped the retry)" : " (the idempotency store absorbed the retried delivery)").
            - Analytics processed \(analyticsWorker.statistics.processed) events one at a time and \(drained ? "caught up" : "was still behind") — payments never waited for it.
            """)
        return failedIntoDLQ && redriven && drained && doubleCharges == 0
    }

    /// One line to standard output, flushed: a parent reading a pipe sees it at once.
    static func line(_ text: String) {
        print(text)
        fflush(nil)
    }
}

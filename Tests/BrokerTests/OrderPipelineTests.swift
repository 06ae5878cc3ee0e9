import Foundation
import Testing

@testable import Broker

/// The order pipeline, end to end on the manual clock: a topic fans order events out to a payment queue filtered to
/// the events payments care about; a payment worker charges each order once (an idempotency store keyed by order id
/// absorbs duplicate deliveries); a poison order retries until the queue's redrive policy parks it in the DLQ; once
/// the bug is fixed, a message move task returns it and it is charged exactly once.
struct OrderPipelineTests {
    private typealias Kit = ConsumerTestKit

    private struct OrderEvent: Codable, Sendable, Hashable {
        var orderId: String
        var amount: Int
    }

    private struct PaymentDeclined: Error {}

    /// Charges made, per order, and handler runs, per order.
    private final class Ledger: Sendable {
        private let state = LockedState((charges: [String: Int](), attempts: [String: Int]()))
        func attempt(_ orderId: String) { state.withLock { $0.attempts[orderId, default: 0] += 1 } }
        func charge(_ orderId: String) -> String {
            state.withLock { $0.charges[orderId, default: 0] += 1 }
            return "charge-\(orderId)"
        }
        var charges: [String: Int] { state.withLock { $0.charges } }
        var attempts: [String: Int] { state.withLock { $0.attempts } }
    }

    private func publish(_ topic: Topic, _ order: OrderEvent, type: String) throws {
        let json = String(decoding: try JSONEncoder().encode(order), as: UTF8.self)
        try topic.publish(json, messageAttributes: ["event_type": .string(type)])
    }

    @Test func poisonOrderIsParkedInTheDLQRedrivenAfterTheFixAndEveryOrderIsChargedOnce() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "order-events")
        let dlq = try broker.createQueue(named: "payment-dlq")
        let payments = try broker.createQueue(named: "payment-queue", attributes: QueueAttributes(
            visibilityTimeout: .seconds(30),
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3)))
        try topic.subscribe(payments, attributes: SubscriptionAttributes(
            filterPolicy: #"{"event_type":["order.created","order.refunded"]}"#))

        let fixed = LockedState(false)
        let ledger = Ledger()
        let store = IdempotencyStore(clock: clock)
        let worker = try QueueWorker(queue: payments, broker: broker) { message in
            let order = try message.decode(OrderEvent.self, from: .auto)
            ledger.attempt(order.orderId)
            if order.orderId == "bad-1", !fixed.withLock({ $0 }) { throw PaymentDeclined() }
            _ = try await store.run(key: order.orderId) { ledger.charge(order.orderId) }
        }
        let log = EventLog(worker.events)

        try publish(topic, OrderEvent(orderId: "o-1", amount: 10), type: "order.created")
        try publish(topic, OrderEvent(orderId: "bad-1", amount: 99), type: "order.created")
        try publish(topic, OrderEvent(orderId: "o-2", amount: 20), type: "order.created")
        try publish(topic, OrderEvent(orderId: "o-2", amount: 20), type: "order.created")   // a duplicate delivery
        try publish(topic, OrderEvent(orderId: "o-3", amount: 30), type: "order.shipped")   // not for payments
        try publish(topic, OrderEvent(orderId: "o-4", amount: -5), type: "order.refunded")
        #expect(Kit.depth(payments) == (5, 0, 0))

        worker.start()
        #expect(await Kit.eventually { log.processed.count == 4 && log.failed.count == 1 })
        #expect(ledger.charges == ["o-1": 1, "o-2": 1, "o-4": 1])
        #expect(ledger.attempts["o-2"] == 2)
        #expect(ledger.attempts["o-3"] == nil)

        // bad-1 fails on its first three receives, each after the last one's visibility timeout.
        for receive in 2...3 {
            clock.advance(by: .seconds(30))
            #expect(await Kit.eventually { log.failed.count == receive })
            #expect(ledger.attempts["bad-1"] == receive)
        }
        // The fourth receive finds it has used up maxReceiveCount: the queue moves it to the DLQ.
        clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { Kit.depth(dlq) == (1, 0, 0) })
        #expect(Kit.total(payments) == 0)
        await Kit.settle()
        #expect(ledger.attempts["bad-1"] == 3)
        #expect(ledger.charges["bad-1"] == nil)

        // Fixed: redrive the DLQ back to its source; the worker charges it once.
        fixed.withLock { $0 = true }
        let task = try broker.startMessageMoveTask(sourceArn: dlq.arn)
        #expect(!task.isEmpty)
        clock.advance(by: .zero)
        #expect(await Kit.eventually { log.processed.count == 5 })
        #expect(ledger.charges == ["o-1": 1, "o-2": 1, "o-4": 1, "bad-1": 1])
        #expect(ledger.attempts["bad-1"] == 4)
        #expect(try broker.listMessageMoveTasks(sourceArn: dlq.arn).first?.status == .completed)
        #expect(Kit.total(payments) == 0)
        #expect(Kit.total(dlq) == 0)

        // A late duplicate of a charged order, within the hour, is absorbed too.
        try publish(topic, OrderEvent(orderId: "o-1", amount: 10), type: "order.created")
        #expect(await Kit.eventually { log.processed.count == 6 })
        #expect(ledger.charges["o-1"] == 1)
        #expect(ledger.attempts["o-1"] == 2)

        await worker.stop(drainTimeout: .zero)
        #expect(Kit.total(payments) == 0)
        #expect(Kit.total(dlq) == 0)
        #expect(await Kit.eventually { clock.pendingWakeUps == 0 })
    }

    @Test func pipelineRunsTheSameWayUnderAnEventSourceMappingWithPartialBatchResponses() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "order-events")
        let dlq = try broker.createQueue(named: "payment-dlq")
        let payments = try broker.createQueue(named: "payment-queue", attributes: QueueAttributes(
            visibilityTimeout: .seconds(30),
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3)))
        try topic.subscribe(payments, attributes: SubscriptionAttributes(
            filterPolicy: #"{"event_type":["order.created","order.refunded"]}"#))
        let fixed = LockedState(false)
        let ledger = Ledger()
        let store = IdempotencyStore(clock: clock)
        let mapping = try EventSourceMapping(queue: payments, broker: broker, configuration: .init(
            reportBatchItemFailures: true, functionTimeout: .seconds(10))) { event in
            var failures: [SQSBatchResponse.BatchItemFailure] = []
            for record in event.records {
                do {
                    let order = try record.decode(OrderEvent.self)
                    ledger.attempt(order.orderId)
                    if order.orderId == "bad-1", !fixed.withLock({ $0 }) { throw PaymentDeclined() }
                    _ = try await store.run(key: order.orderId) { ledger.charge(order.orderId) }
                } catch {
                    failures.append(.init(itemIdentifier: record.messageId))
                }
            }
            return SQSBatchResponse(batchItemFailures: failures)
        }
        let log = EventLog(mapping.events)
        try publish(topic, OrderEvent(orderId: "o-1", amount: 10), type: "order.created")
        try publish(topic, OrderEvent(orderId: "bad-1", amount: 99), type: "order.created")
        try publish(topic, OrderEvent(orderId: "o-2", amount: 20), type: "order.created")
        try publish(topic, OrderEvent(orderId: "o-2", amount: 20), type: "order.created")
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 4, deleted: 3, failed: 1)])
        for batch in 2...3 {
            clock.advance(by: .seconds(30))
            #expect(await Kit.eventually { log.batches.count == batch })
        }
        clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { Kit.depth(dlq) == (1, 0, 0) })
        fixed.withLock { $0 = true }
        try broker.startMessageMoveTask(sourceArn: dlq.arn)
        clock.advance(by: .zero)
        #expect(await Kit.eventually { log.processed.count == 4 })
        #expect(ledger.charges == ["o-1": 1, "o-2": 1, "bad-1": 1])
        #expect(ledger.attempts["bad-1"] == 4)
        await mapping.stop(drainTimeout: .zero)
        #expect(Kit.total(payments) == 0)
        #expect(Kit.total(dlq) == 0)
    }
}

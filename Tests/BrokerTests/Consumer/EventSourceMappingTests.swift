import Foundation
import Testing

@testable import Broker

/// Lambda's SQS event source mapping, in process: configuration limits, the record shape, what a return, a throw, a
/// timeout and a partial batch response delete, filter criteria, the batching window, concurrency, pause, drain and
/// cancellation. Everything runs on a `ManualClock`; nothing sleeps.
struct EventSourceMappingTests {
    private typealias Kit = ConsumerTestKit

    private struct Fixture {
        let broker: Broker
        let clock: ManualClock
        let queue: Queue
    }

    private func fixture(visibility: Duration = .seconds(30), fifo: Bool = false,
                         maxReceiveCount: Int? = nil) throws -> (Fixture, dlq: Queue?) {
        let (broker, clock) = makeBroker()
        var dlq: Queue?
        var redrive: RedrivePolicy?
        if let maxReceiveCount {
            let target = try broker.createQueue(named: fifo ? "esm-dlq.fifo" : "esm-dlq",
                                                attributes: QueueAttributes(fifoQueue: fifo ? true : nil))
            dlq = target
            redrive = RedrivePolicy(deadLetterTargetArn: target.arn, maxReceiveCount: maxReceiveCount)
        }
        let queue = try broker.createQueue(named: fifo ? "esm.fifo" : "esm", attributes: QueueAttributes(
            visibilityTimeout: visibility, redrivePolicy: redrive, fifoQueue: fifo ? true : nil))
        return (Fixture(broker: broker, clock: clock, queue: queue), dlq)
    }

    /// What a handler saw, invocation by invocation.
    private final class Invocations: Sendable {
        private let state = LockedState<[SQSEvent]>([])
        func record(_ event: SQSEvent) -> Int { state.withLock { $0.append(event); return $0.count } }
        var events: [SQSEvent] { state.withLock { $0 } }
        var count: Int { state.withLock { $0.count } }
        var bodies: [[String]] { events.map { $0.records.map(\.body) } }
    }

    // MARK: Configuration

    struct ConfigurationCase: Sendable, CustomTestStringConvertible {
        let name: String
        var fifo = false
        var visibility = Duration.seconds(30)
        let configuration: EventSourceMappingConfiguration
        var testDescription: String { name }
    }

    static let invalidConfigurations: [ConfigurationCase] = [
        ConfigurationCase(name: "batchSize 0", configuration: .init(batchSize: 0)),
        ConfigurationCase(name: "batchSize 10001", configuration: .init(batchSize: 10_001, maximumBatchingWindow: .seconds(1))),
        ConfigurationCase(name: "FIFO batchSize 11", fifo: true, configuration: .init(batchSize: 11)),
        ConfigurationCase(name: "window 301 s", configuration: .init(maximumBatchingWindow: .seconds(301))),
        ConfigurationCase(name: "window -1 s", configuration: .init(maximumBatchingWindow: .seconds(-1))),
        ConfigurationCase(name: "window 1.5 s", configuration: .init(maximumBatchingWindow: .milliseconds(1_500))),
        ConfigurationCase(name: "FIFO window 1 s", fifo: true, configuration: .init(maximumBatchingWindow: .seconds(1))),
        ConfigurationCase(name: "batchSize 11 without window", configuration: .init(batchSize: 11)),
        ConfigurationCase(name: "batchSize 10000 without window", configuration: .init(batchSize: 10_000)),
        ConfigurationCase(name: "maximumConcurrency 0", configuration: .init(maximumConcurrency: 0)),
        ConfigurationCase(name: "maximumConcurrency 1001", configuration: .init(maximumConcurrency: 1_001)),
        ConfigurationCase(name: "6 filters", configuration: .init(filterPatterns: (1...6).map { #"{"body":["v\#($0)"]}"# })),
        ConfigurationCase(name: "filter that is not JSON", configuration: .init(filterPatterns: ["{not json"])),
        ConfigurationCase(name: "functionTimeout 31 s over visibility 30 s", configuration: .init(functionTimeout: .seconds(31))),
        ConfigurationCase(name: "functionTimeout 61 s over visibility 60 s", visibility: .seconds(60),
                          configuration: .init(functionTimeout: .seconds(61))),
        ConfigurationCase(name: "functionTimeout 3 s over visibility 2 s", visibility: .seconds(2),
                          configuration: .init()),
        ConfigurationCase(name: "functionTimeout 0", configuration: .init(functionTimeout: .zero)),
    ]

    @Test(arguments: invalidConfigurations)
    func invalidConfigurationIsRefusedWithInvalidParameterValue(_ testCase: ConfigurationCase) throws {
        let (f, _) = try fixture(visibility: testCase.visibility, fifo: testCase.fifo)
        expectBrokerError(.invalidParameterValue) {
            _ = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: testCase.configuration) { _ in nil }
        }
    }

    static let validConfigurations: [ConfigurationCase] = [
        ConfigurationCase(name: "defaults", configuration: .init()),
        ConfigurationCase(name: "batchSize 1", configuration: .init(batchSize: 1)),
        ConfigurationCase(name: "batchSize 10 without window", configuration: .init(batchSize: 10)),
        ConfigurationCase(name: "batchSize 11 with window 1 s", configuration: .init(batchSize: 11, maximumBatchingWindow: .seconds(1))),
        ConfigurationCase(name: "batchSize 10000 with window 300 s",
                          configuration: .init(batchSize: 10_000, maximumBatchingWindow: .seconds(300))),
        ConfigurationCase(name: "FIFO batchSize 10", fifo: true, configuration: .init(batchSize: 10)),
        ConfigurationCase(name: "FIFO defaults", fifo: true, configuration: .init()),
        ConfigurationCase(name: "maximumConcurrency 1 (Broker's deviation)", configuration: .init(maximumConcurrency: 1)),
        ConfigurationCase(name: "maximumConcurrency 2", configuration: .init(maximumConcurrency: 2)),
        ConfigurationCase(name: "maximumConcurrency 1000", configuration: .init(maximumConcurrency: 1_000)),
        ConfigurationCase(name: "5 filters", configuration: .init(filterPatterns: (1...5).map { #"{"body":["v\#($0)"]}"# })),
        ConfigurationCase(name: "functionTimeout equal to visibility", configuration: .init(functionTimeout: .seconds(30))),
        ConfigurationCase(name: "functionTimeout 900 s under visibility 900 s", visibility: .seconds(900),
                          configuration: .init(functionTimeout: .seconds(900))),
    ]

    @Test(arguments: validConfigurations)
    func validConfigurationIsAccepted(_ testCase: ConfigurationCase) throws {
        let (f, _) = try fixture(visibility: testCase.visibility, fifo: testCase.fifo)
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: testCase.configuration) { _ in nil }
        #expect(mapping.configuration.batchSize == testCase.configuration.batchSize)
        #expect(mapping.queue == f.queue)
    }

    @Test func defaultsAreLambdas() {
        let configuration = EventSourceMappingConfiguration()
        #expect(configuration.batchSize == 10)
        #expect(configuration.maximumBatchingWindow == .zero)
        #expect(configuration.filterPatterns.isEmpty)
        #expect(configuration.reportBatchItemFailures == false)
        #expect(configuration.functionTimeout == .seconds(3))
    }

    // MARK: Record shape

    @Test func handlerReceivesLambdasRecordShapeFromAStandardQueue() async throws {
        let clock = ManualClock()
        let broker = Broker(configuration: BrokerConfiguration(region: "eu-west-1", accountId: "123456789012", seed: 7),
                            clock: clock)
        let queue = try broker.createQueue(named: "shape")
        let sentAt = clock.now
        let withAttributes = try queue.sendMessage(#"{"orderId":"o-1"}"#, messageAttributes: [
            "kind": .string("order"), "priority": .number(3), "blob": .binary(Data([1, 2, 3])),
        ])
        let plain = try queue.sendMessage("plain text")
        clock.advance(by: .seconds(2))
        let receivedAt = clock.now

        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: queue, broker: broker) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        let records = try #require(invocations.events.first).records
        try #require(records.count == 2)
        let first = records[0]
        let second = records[1]

        #expect(first.messageId == withAttributes.messageId)
        #expect(!first.receiptHandle.isEmpty)
        #expect(first.body == #"{"orderId":"o-1"}"#)
        #expect(first.md5OfBody == withAttributes.md5OfMessageBody)
        #expect(first.md5OfMessageAttributes == withAttributes.md5OfMessageAttributes)
        #expect(first.md5OfMessageAttributes != nil)
        #expect(first.eventSource == "aws:sqs")
        #expect(first.eventSourceARN == "arn:aws:sqs:eu-west-1:123456789012:shape")
        #expect(first.eventSourceARN == queue.arn)
        #expect(first.awsRegion == "eu-west-1")
        #expect(first.attributes == [
            "ApproximateReceiveCount": "1",
            "SentTimestamp": Kit.milliseconds(sentAt),
            "SenderId": "123456789012",
            "ApproximateFirstReceiveTimestamp": Kit.milliseconds(receivedAt),
        ])
        #expect(first.messageAttributes["kind"]?.stringValue == "order")
        #expect(first.messageAttributes["kind"]?.dataType == "String")
        #expect(first.messageAttributes["priority"]?.stringValue == "3")
        #expect(first.messageAttributes["priority"]?.dataType == "Number")
        #expect(first.messageAttributes["blob"]?.binaryValue == Data([1, 2, 3]))
        #expect(first.messageAttributes["blob"]?.dataType == "Binary")
        #expect(first.messageAttributes["blob"]?.stringValue == nil)

        // Without message attributes there is no md5OfMessageAttributes.
        #expect(second.messageId == plain.messageId)
        #expect(second.messageAttributes.isEmpty)
        #expect(second.md5OfMessageAttributes == nil)
        #expect(second.md5OfBody == plain.md5OfMessageBody)
        #expect(second.receiptHandle != first.receiptHandle)

        await mapping.stop(drainTimeout: .zero)
        #expect(Kit.total(queue) == 0)
    }

    @Test func fifoRecordsCarryGroupDeduplicationIdAndSequenceNumber() async throws {
        let (f, _) = try fixture(fifo: true)
        let sent = try f.queue.sendMessage("first", messageGroupId: "customer-1", messageDeduplicationId: "dedup-1")
        let sentSecond = try f.queue.sendMessage("second", messageGroupId: "customer-1", messageDeduplicationId: "dedup-2")
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.processed.count == 2 })
        let records = invocations.events.flatMap(\.records)
        try #require(records.count == 2)
        #expect(records.map(\.body) == ["first", "second"])
        let record = records[0]
        #expect(record.attributes["MessageGroupId"] == "customer-1")
        #expect(record.attributes["MessageDeduplicationId"] == "dedup-1")
        #expect(record.attributes["SequenceNumber"] == sent.sequenceNumber)
        #expect(records[1].attributes["SequenceNumber"] == sentSecond.sequenceNumber)
        #expect(Set(record.attributes.keys) == [
            "ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp",
            "MessageGroupId", "MessageDeduplicationId", "SequenceNumber",
        ])
        #expect(record.eventSourceARN == f.queue.arn)
        await mapping.stop(drainTimeout: .zero)
        #expect(Kit.total(f.queue) == 0)
    }

    @Test func recordsReadFromADeadLetterQueueNameTheirSourceQueue() async throws {
        let (f, dlqQueue) = try fixture(maxReceiveCount: 1)
        let dlq = try #require(dlqQueue)
        try f.queue.sendMessage("poison")
        _ = try await f.queue.receiveMessages(waitTimeSeconds: .zero)
        f.clock.advance(by: .seconds(30))
        _ = try await f.queue.receiveMessages(waitTimeSeconds: .zero)
        #expect(Kit.depth(dlq) == (1, 0, 0))
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: dlq, broker: f.broker) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        let record = try #require(invocations.events.first?.records.first)
        #expect(record.body == "poison")
        #expect(record.attributes["DeadLetterQueueSourceArn"] == f.queue.arn)
        #expect(record.eventSourceARN == dlq.arn)
        await mapping.stop(drainTimeout: .zero)
        #expect(Kit.total(dlq) == 0)
    }

    // MARK: Success, failure, timeout

    @Test func normalReturnDeletesTheWholeBatch() async throws {
        let (f, _) = try fixture()
        for index in 1...7 { try f.queue.sendMessage("m\(index)") }
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 7, deleted: 7, failed: 0)])
        #expect(invocations.bodies == [(1...7).map { "m\($0)" }])
        #expect(Set(log.processed) == Set(invocations.events[0].records.map(\.messageId)))
        #expect(mapping.statistics.processed == 7)
        #expect(mapping.statistics.received == 7)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
        #expect(await Kit.eventually { log.finished })
        #expect(log.events.first == .started)
        #expect(log.events.last == .stopped)
    }

    @Test func throwDeletesNothingAndTheBatchReturnsAfterItsVisibilityTimeoutThenGoesToTheDLQ() async throws {
        let (f, dlqQueue) = try fixture(visibility: .seconds(30), maxReceiveCount: 3)
        let dlq = try #require(dlqQueue)
        try f.queue.sendMessage("a")
        try f.queue.sendMessage("b")
        let invocations = Invocations()
        struct HandlerFailed: Error {}
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker) { event in
            _ = invocations.record(event)
            throw HandlerFailed()
        }
        let log = EventLog(mapping.events)
        let start = f.clock.now
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 2, deleted: 0, failed: 2)])
        #expect(Kit.depth(f.queue) == (0, 2, 0))

        for receive in 2...3 {
            // Not a moment before the visibility timeout: the mapping never changes visibility.
            f.clock.advance(by: .seconds(29))
            await Kit.settle()
            #expect(invocations.count == receive - 1)
            #expect(Kit.depth(f.queue) == (0, 2, 0))
            f.clock.advance(by: .seconds(1))
            #expect(await Kit.eventually { log.batches.count == receive })
            #expect(f.clock.now == start.addingTimeInterval(Double(receive - 1) * 30))
        }
        let counts = invocations.events.map { $0.records.map { $0.attributes["ApproximateReceiveCount"] } }
        #expect(counts == [["1", "1"], ["2", "2"], ["3", "3"]])
        #expect(invocations.bodies.map(Set.init) == Array(repeating: ["a", "b"], count: 3))
        #expect(mapping.statistics.processed == 0)
        #expect(mapping.statistics.failed == 6)

        // The receive after the third moves both to the DLQ; the handler never sees a fourth receive.
        f.clock.advance(by: .seconds(30))
        #expect(await Kit.eventually { Kit.depth(dlq) == (2, 0, 0) })
        #expect(Kit.total(f.queue) == 0)
        await Kit.settle()
        #expect(invocations.count == 3)
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func timeoutDeletesNothingCancelsTheHandlerAndTheBatchReturnsAfterItsVisibilityTimeout() async throws {
        let (f, _) = try fixture(visibility: .seconds(30))
        try f.queue.sendMessage("slow")
        let invocations = Invocations()
        let observedCancellation = LockedState(false)
        let (never, _) = AsyncStream.makeStream(of: Int.self)
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            maximumConcurrency: 1, functionTimeout: .seconds(3))) { event in
            if invocations.record(event) == 1 {
                for await _ in never {}
                observedCancellation.withLock { $0 = Task.isCancelled }
            }
            return nil
        }
        let log = EventLog(mapping.events)
        let start = f.clock.now
        mapping.start()
        // With one slot taken, the only wake-up is the function timeout.
        #expect(await Kit.eventually { invocations.count == 1 && f.clock.pendingWakeUps == 1 })
        f.clock.advance(by: .seconds(2))
        await Kit.settle()
        #expect(log.timedOut.isEmpty)
        f.clock.advance(by: .seconds(1))
        #expect(await Kit.eventually { log.batches.count == 1 })
        let id = try #require(invocations.events.first?.records.first?.messageId)
        #expect(log.timedOut == [[id]])
        #expect(log.batches == [.batchCompleted(size: 1, deleted: 0, failed: 1)])
        #expect(mapping.statistics.timedOut == 1)
        #expect(await Kit.eventually { observedCancellation.withLock { $0 } })
        #expect(Kit.depth(f.queue) == (0, 1, 0))

        // Back after the visibility timeout (30 s from the receive), then the handler returns and it is deleted.
        f.clock.advance(by: .seconds(26))
        await Kit.settle()
        #expect(invocations.count == 1)
        f.clock.advance(by: .seconds(1))
        #expect(await Kit.eventually { log.processed == [id] })
        #expect(f.clock.now == start.addingTimeInterval(30))
        #expect(invocations.events.last?.records.first?.attributes["ApproximateReceiveCount"] == "2")
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    // MARK: Partial batch responses

    enum PartialResponse: String, CaseIterable, Sendable {
        case secondListed, secondListedInJSON, emptyList, emptyListInJSON, nilList, nullListInJSON, emptyObjectInJSON
        case nilResponse, allListed, duplicateIdentifiers, unknownIdentifier, emptyIdentifier, nilIdentifier
        case nullIdentifierInJSON, misspelledKeyInJSON, extraKeyInJSON, invalidJSON, listNotAnArrayInJSON
        case entryNotAnObjectInJSON, oneGoodOneUnknown

        func response(_ ids: [String]) -> SQSBatchResponse? {
            typealias Failure = SQSBatchResponse.BatchItemFailure
            switch self {
            case .secondListed: return SQSBatchResponse(batchItemFailures: [Failure(itemIdentifier: ids[1])])
            case .secondListedInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":"\#(ids[1])"}]}"#)
            case .emptyList: return SQSBatchResponse(batchItemFailures: [])
            case .emptyListInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":[]}"#)
            case .nilList: return SQSBatchResponse(batchItemFailures: nil)
            case .nullListInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":null}"#)
            case .emptyObjectInJSON: return SQSBatchResponse(json: "{}")
            case .nilResponse: return nil
            case .allListed: return SQSBatchResponse(batchItemFailures: ids.map { Failure(itemIdentifier: $0) })
            case .duplicateIdentifiers:
                return SQSBatchResponse(batchItemFailures: [ids[0], ids[0], ids[2], ids[0]].map { Failure(itemIdentifier: $0) })
            case .unknownIdentifier: return SQSBatchResponse(batchItemFailures: [Failure(itemIdentifier: "not-in-this-batch")])
            case .emptyIdentifier: return SQSBatchResponse(batchItemFailures: [Failure(itemIdentifier: "")])
            case .nilIdentifier: return SQSBatchResponse(batchItemFailures: [Failure(itemIdentifier: nil)])
            case .nullIdentifierInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":null}]}"#)
            case .misspelledKeyInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifer":"\#(ids[1])"}]}"#)
            case .extraKeyInJSON:
                return SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":"\#(ids[1])","reason":"x"}]}"#)
            case .invalidJSON: return SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":"\#(ids[1])"}"#)
            case .listNotAnArrayInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":"\#(ids[1])"}"#)
            case .entryNotAnObjectInJSON: return SQSBatchResponse(json: #"{"batchItemFailures":["\#(ids[1])"]}"#)
            case .oneGoodOneUnknown:
                return SQSBatchResponse(batchItemFailures: [Failure(itemIdentifier: ids[1]), Failure(itemIdentifier: "unknown")])
            }
        }

        /// The records that stay on the queue.
        func kept(_ ids: [String]) -> Set<String> {
            switch self {
            case .secondListed, .secondListedInJSON: [ids[1]]
            case .emptyList, .emptyListInJSON, .nilList, .nullListInJSON, .emptyObjectInJSON, .nilResponse: []
            case .duplicateIdentifiers: [ids[0], ids[2]]
            case .allListed, .unknownIdentifier, .emptyIdentifier, .nilIdentifier, .nullIdentifierInJSON,
                 .misspelledKeyInJSON, .extraKeyInJSON, .invalidJSON, .listNotAnArrayInJSON, .entryNotAnObjectInJSON,
                 .oneGoodOneUnknown:
                Set(ids)
            }
        }
    }

    @Test(arguments: PartialResponse.allCases)
    func partialBatchResponseFollowsLambdasValidationTable(_ kind: PartialResponse) async throws {
        let (f, _) = try fixture()
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            reportBatchItemFailures: true)) { event in
            let number = invocations.record(event)
            return number == 1 ? kind.response(event.records.map(\.messageId)) : nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        let ids = try #require(invocations.events.first).records.map(\.messageId)
        try #require(ids.count == 3)
        let kept = kind.kept(ids)
        #expect(log.batches == [.batchCompleted(size: 3, deleted: 3 - kept.count, failed: kept.count)])
        #expect(Set(log.processed) == Set(ids).subtracting(kept))
        #expect(Set(log.failed) == kept)
        #expect(Kit.depth(f.queue) == (0, kept.count, 0))

        // Exactly the kept records come back, after their visibility timeout, with a higher receive count.
        f.clock.advance(by: .seconds(30))
        if kept.isEmpty {
            await Kit.settle()
            #expect(invocations.count == 1)
        } else {
            #expect(await Kit.eventually { log.batches.count == 2 })
            let again = invocations.events[1].records
            #expect(Set(again.map(\.messageId)) == kept)
            #expect(again.allSatisfy { $0.attributes["ApproximateReceiveCount"] == "2" })
        }
        #expect(await Kit.eventually { Kit.total(f.queue) == 0 })
        await mapping.stop(drainTimeout: .zero)
    }

    @Test(arguments: [PartialResponse.secondListed, .allListed, .unknownIdentifier, .invalidJSON, .nilIdentifier])
    func partialResponseIsIgnoredWhenReportBatchItemFailuresIsOff(_ kind: PartialResponse) async throws {
        let (f, _) = try fixture()
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            reportBatchItemFailures: false)) { event in
            kind.response(event.records.map(\.messageId))
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 3, deleted: 3, failed: 0)])
        #expect(log.failed.isEmpty)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func throwWithReportBatchItemFailuresKeepsTheWholeBatch() async throws {
        let (f, _) = try fixture()
        for index in 1...3 { try f.queue.sendMessage("m\(index)") }
        struct Boom: Error {}
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            reportBatchItemFailures: true)) { _ in throw Boom() }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 3, deleted: 0, failed: 3)])
        #expect(Kit.depth(f.queue) == (0, 3, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func fifoPartialResponseIsTakenLiterallyAsOnAWS() async throws {
        // AWS leaves it to the function to fail the rest of a group after a failure; a response naming only the
        // failed record lets later records of its group be deleted, out of order (the documented footgun).
        let (f, _) = try fixture(fifo: true)
        var ids: [String: String] = [:]
        for body in ["g1", "g2", "g3"] {
            ids[body] = try f.queue.sendMessage(body, messageGroupId: "g", messageDeduplicationId: body).messageId
        }
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            reportBatchItemFailures: true)) { event in
            SQSBatchResponse(batchItemFailures: event.records.filter { $0.body == "g2" }.map { .init(itemIdentifier: $0.messageId) })
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(log.batches == [.batchCompleted(size: 3, deleted: 2, failed: 1)])
        #expect(Set(log.processed) == [ids["g1"], ids["g3"]])
        #expect(Kit.depth(f.queue) == (0, 1, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func batchResponseJSONParsing() {
        let listed = SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}"#)
        #expect(listed.batchItemFailures?.map(\.itemIdentifier) == ["a", "b"])
        #expect(listed.failedIds(in: ["a", "b", "c"]) == ["a", "b"])
        #expect(SQSBatchResponse(json: "{}").batchItemFailures == nil)
        #expect(SQSBatchResponse(json: "{}").failedIds(in: ["a"]) == [])
        #expect(SQSBatchResponse(json: "not json").failedIds(in: ["a"]) == nil)
        #expect(SQSBatchResponse(json: "[]").failedIds(in: ["a"]) == nil)
        #expect(SQSBatchResponse(json: #"{"batchItemFailures":[{"ItemIdentifier":"a"}]}"#).failedIds(in: ["a"]) == nil)
        #expect(SQSBatchResponse(json: #"{"batchItemFailures":[{"itemIdentifier":5}]}"#).failedIds(in: ["a"]) == nil)
        #expect(SQSBatchResponse(batchItemFailures: [.init(itemIdentifier: "a"), .init(itemIdentifier: "a")])
            .failedIds(in: ["a", "b"]) == ["a"])
    }

    // MARK: Filter criteria

    @Test func recordsNoFilterMatchesAreDeletedAndReportedFilteredOut() async throws {
        let (f, _) = try fixture()
        let created = try f.queue.sendMessage(#"{"event_type":"order.created","id":1}"#)
        let shipped = try f.queue.sendMessage(#"{"event_type":"order.shipped","id":2}"#)
        let plain = try f.queue.sendMessage("order.created")
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            filterPatterns: [#"{"body":{"event_type":["order.created"]}}"#])) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 && log.filteredOut.count == 2 })
        #expect(invocations.events.flatMap(\.records).map(\.messageId) == [created.messageId])
        #expect(Set(log.filteredOut) == [shipped.messageId, plain.messageId])
        #expect(log.processed == [created.messageId])
        #expect(mapping.statistics.filteredOut == 2)
        // Filtered-out records are deleted, as Lambda does: nothing comes back, even after the visibility timeout.
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        f.clock.advance(by: .seconds(60))
        await Kit.settle()
        #expect(invocations.count == 1)
        #expect(Kit.total(f.queue) == 0)
        await mapping.stop(drainTimeout: .zero)
    }

    struct FilterCase: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        var attributes: [String: MessageAttributeValue] = [:]
        let patterns: [String]
        let kept: Bool
        var testDescription: String { name }
    }

    static let filterCases: [FilterCase] = [
        FilterCase(name: "plain body, plain-string pattern", body: "hello", patterns: [#"{"body":["hello"]}"#], kept: true),
        FilterCase(name: "plain body, other plain string", body: "goodbye", patterns: [#"{"body":["hello"]}"#], kept: false),
        FilterCase(name: "plain body, prefix pattern", body: "hello world", patterns: [#"{"body":[{"prefix":"hello"}]}"#], kept: true),
        FilterCase(name: "plain body, JSON pattern: dropped", body: "hello",
                   patterns: [#"{"body":{"greeting":["hello"]}}"#], kept: false),
        FilterCase(name: "JSON body, plain-string pattern: dropped", body: #"{"greeting":"hello"}"#,
                   patterns: [#"{"body":["hello"]}"#], kept: false),
        FilterCase(name: "JSON body, matching JSON pattern", body: #"{"greeting":"hello"}"#,
                   patterns: [#"{"body":{"greeting":["hello"]}}"#], kept: true),
        FilterCase(name: "JSON body, non-matching JSON pattern", body: #"{"greeting":"bye"}"#,
                   patterns: [#"{"body":{"greeting":["hello"]}}"#], kept: false),
        FilterCase(name: "JSON body, nested numeric pattern", body: #"{"order":{"amount":150}}"#,
                   patterns: [#"{"body":{"order":{"amount":[{"numeric":[">",100]}]}}}"#], kept: true),
        FilterCase(name: "JSON body, field missing", body: #"{"other":1}"#,
                   patterns: [#"{"body":{"greeting":[{"exists":true}]}}"#], kept: false),
        FilterCase(name: "filters are OR-ed", body: #"{"greeting":"bye"}"#,
                   patterns: [#"{"body":{"greeting":["hello"]}}"#, #"{"body":{"greeting":["bye"]}}"#], kept: true),
        FilterCase(name: "plain body, metadata-only pattern", body: "hello",
                   patterns: [#"{"attributes":{"ApproximateReceiveCount":["1"]}}"#], kept: true),
        FilterCase(name: "JSON body, metadata-only pattern", body: #"{"a":1}"#,
                   patterns: [#"{"attributes":{"SenderId":["000000000000"]}}"#], kept: true),
        FilterCase(name: "message attribute pattern", body: "x", attributes: ["kind": .string("order")],
                   patterns: [#"{"messageAttributes":{"kind":{"stringValue":["order"]}}}"#], kept: true),
        FilterCase(name: "message attribute pattern, other value", body: "x", attributes: ["kind": .string("refund")],
                   patterns: [#"{"messageAttributes":{"kind":{"stringValue":["order"]}}}"#], kept: false),
    ]

    @Test(arguments: filterCases)
    func filterCriteriaFollowLambdasBodyFormatRules(_ testCase: FilterCase) async throws {
        let (f, _) = try fixture()
        let sent = try f.queue.sendMessage(testCase.body, messageAttributes: testCase.attributes)
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            filterPatterns: testCase.patterns)) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { log.processed.count + log.filteredOut.count == 1 })
        if testCase.kept {
            #expect(log.processed == [sent.messageId])
            #expect(invocations.events.flatMap(\.records).map(\.body) == [testCase.body])
        } else {
            #expect(log.filteredOut == [sent.messageId])
            #expect(invocations.count == 0)
        }
        // Either way the message is gone: processed, or dropped and deleted.
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    // MARK: Batching window

    @Test func batchingWindowGathersMessagesSentOverTimeIntoOneBatchInvokedWhenTheWindowEnds() async throws {
        let (f, _) = try fixture()
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            batchSize: 20, maximumBatchingWindow: .seconds(5), functionTimeout: .seconds(10))) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
        let start = f.clock.now
        for (index, gap) in [0, 1, 2].enumerated() {
            f.clock.advance(by: .seconds(gap))
            try f.queue.sendMessage("m\(index + 1)")
            #expect(await Kit.eventually { mapping.statistics.received == index + 1 && Kit.waiters(f.queue) == 1 })
        }
        // t+3: still gathering at t+4.
        f.clock.advance(by: .seconds(1))
        await Kit.settle()
        #expect(invocations.count == 0)
        #expect(Kit.depth(f.queue) == (0, 3, 0))
        f.clock.advance(by: .seconds(1))
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(invocations.bodies == [["m1", "m2", "m3"]])
        #expect(f.clock.now == start.addingTimeInterval(5))
        #expect(log.batches == [.batchCompleted(size: 3, deleted: 3, failed: 0)])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func fullBatchIsInvokedBeforeTheWindowEnds() async throws {
        let (f, _) = try fixture()
        for index in 1...25 { try f.queue.sendMessage("m\(index)") }
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            batchSize: 20, maximumBatchingWindow: .seconds(300), maximumConcurrency: 1)) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        let start = f.clock.now
        mapping.start()
        #expect(await Kit.eventually { log.batches.count == 1 })
        #expect(invocations.events[0].records.count == 20)
        #expect(f.clock.now == start)
        // The remaining five wait for the window.
        #expect(await Kit.eventually { mapping.statistics.received == 25 })
        await Kit.settle()
        #expect(invocations.count == 1)
        f.clock.advance(by: .seconds(300))
        #expect(await Kit.eventually { log.batches.count == 2 })
        #expect(invocations.events[1].records.count == 5)
        #expect(Set(invocations.events.flatMap(\.records).map(\.body)).count == 25)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func idleMappingWithABatchingWindowWaitsOnTheClockInsteadOfSpinning() async throws {
        let (f, _) = try fixture()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            batchSize: 20, maximumBatchingWindow: .seconds(5))) { _ in nil }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
        for round in 1...4 {
            f.clock.advance(by: .seconds(5))
            #expect(await Kit.eventually { mapping.statistics.emptyPolls >= round && Kit.waiters(f.queue) == 1 })
        }
        await Kit.settle()
        // One empty poll per window, not a busy loop of zero-second polls.
        #expect(mapping.statistics.emptyPolls == 4)
        try f.queue.sendMessage("late")
        f.clock.advance(by: .seconds(5))
        #expect(await Kit.eventually { log.processed.count == 1 })
        await mapping.stop(drainTimeout: .zero)
        #expect(Kit.total(f.queue) == 0)
    }

    @Test func stopWhileGatheringABatchReleasesTheGatheredRecordsUnstarted() async throws {
        let (f, _) = try fixture()
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            batchSize: 20, maximumBatchingWindow: .seconds(5))) { event in
            _ = invocations.record(event)
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
        let first = try f.queue.sendMessage("first")
        let second = try f.queue.sendMessage("second")
        #expect(await Kit.eventually { mapping.statistics.received == 2 && Kit.waiters(f.queue) == 1 })
        #expect(Kit.depth(f.queue) == (0, 2, 0))
        await mapping.stop(drainTimeout: .zero)
        #expect(await Kit.eventually { log.finished })
        // Fetched, never handed to the handler: released at once (visibility 0), not left for the timeout.
        #expect(invocations.count == 0)
        #expect(Set(log.released) == [first.messageId, second.messageId])
        #expect(mapping.statistics.released == 2)
        #expect(Kit.depth(f.queue) == (2, 0, 0))
        #expect(f.clock.pendingWakeUps == 0)
    }

    // MARK: Concurrency, pause, stop, cancellation

    @Test(arguments: [1, 2, 3])
    func maximumConcurrencyBoundsTheBatchesRunningAtOnce(_ concurrency: Int) async throws {
        let (f, _) = try fixture()
        for index in 1...5 { try f.queue.sendMessage("m\(index)") }
        let gate = Gate()
        let probe = ConcurrencyProbe()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            batchSize: 1, maximumConcurrency: concurrency, functionTimeout: .seconds(30))) { _ in
            probe.enter()
            defer { probe.leave() }
            try await gate.wait()
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { gate.waiting == concurrency })
        await Kit.settle()
        #expect(probe.running == concurrency)
        #expect(Kit.depth(f.queue) == (5 - concurrency, concurrency, 0))
        gate.open()
        #expect(await Kit.eventually { log.processed.count == 5 })
        #expect(probe.maximum == concurrency)
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func pauseStopsNewBatchesUntilResume() async throws {
        let (f, _) = try fixture()
        try f.queue.sendMessage("first")
        let gate = Gate()
        let invocations = Invocations()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            maximumConcurrency: 1, functionTimeout: .seconds(30))) { event in
            if invocations.record(event) == 1 { try await gate.wait() }
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { gate.waiting == 1 })
        mapping.pause()
        try f.queue.sendMessage("second")
        gate.open()
        #expect(await Kit.eventually { log.processed.count == 1 })
        await Kit.settle()
        f.clock.advance(by: .seconds(120))
        await Kit.settle()
        #expect(invocations.count == 1)
        #expect(Kit.depth(f.queue) == (1, 0, 0))
        mapping.resume()
        #expect(await Kit.eventually { log.processed.count == 2 })
        #expect(invocations.bodies == [["first"], ["second"]])
        #expect(Kit.depth(f.queue) == (0, 0, 0))
        await mapping.stop(drainTimeout: .zero)
    }

    @Test func stopWithADrainTimeoutLetsTheRunningBatchFinish() async throws {
        let (f, _) = try fixture()
        try f.queue.sendMessage("in flight")
        let gate = Gate()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
            maximumConcurrency: 1, functionTimeout: .seconds(30))) { _ in
            try await gate.wait()
            return nil
        }
        let log = EventLog(mapping.events)
        mapping.start()
        #expect(await Kit.eventually { gate.waiting == 1 })
        let stopped = LockedState(false)
        let stopping = Task {
            await mapping.stop(drainTimeout: .seconds(10))
            stopped.withLock { $0 = true }
        }
        // The function timeout and the drain deadline.
        #expect(await Kit.eventually { f.clock.pendingWakeUps == 2 })
        f.clock.advance(by: .seconds(9))
        await Kit.settle()
        #expect(!stopped.withLock { $0 })
        try f.queue.sendMessage("after stop")
        gate.open()
        await stopping.value
        #expect(await Kit.eventually { log.finished })
        #expect(log.processed.count == 1)
        #expect(log.batches == [.batchCompleted(size: 1, deleted: 1, failed: 0)])
        #expect(log.events.last == .stopped)
        // The message sent after stop was never received.
        #expect(Kit.depth(f.queue) == (1, 0, 0))
        #expect(await Kit.eventually { f.clock.pendingWakeUps == 0 })
    }

    @Test func cancellingTheRunTaskEndsPollingAndCancelsTheHandlerWithNothingDeleted() async throws {
        for _ in 0..<20 {
            let (f, _) = try fixture()
            try f.queue.sendMessage("a")
            try f.queue.sendMessage("b")
            let gate = Gate()
            let handlerCancelled = LockedState(false)
            let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
                functionTimeout: .seconds(30))) { _ in
                do {
                    try await gate.wait()
                } catch {
                    handlerCancelled.withLock { $0 = true }
                    throw error
                }
                return nil
            }
            let log = EventLog(mapping.events)
            let run = Task { try await mapping.run() }
            #expect(await Kit.eventually { gate.waiting == 1 && Kit.waiters(f.queue) == 1 })
            run.cancel()
            try await run.value
            // run() returns once the cancelled batch has been settled, as a failure: nothing deleted. (Like a
            // timeout, the settlement does not wait for the handler's own code to notice the cancellation.)
            #expect(mapping.statistics.inFlight == 0)
            #expect(mapping.statistics.processed == 0)
            #expect(mapping.statistics.failed == 2)
            #expect(Kit.depth(f.queue) == (0, 2, 0))
            #expect(await Kit.eventually { handlerCancelled.withLock { $0 } })
            #expect(await Kit.eventually { log.finished })
            #expect(log.batches == [.batchCompleted(size: 2, deleted: 0, failed: 2)])
            #expect(log.processed.isEmpty)
            #expect(log.events.last == .stopped)
            // No long poll, function timeout or drain deadline is left behind.
            #expect(await Kit.eventually { f.clock.pendingWakeUps == 0 })
            #expect(Kit.waiters(f.queue) == 0)
            // Unacknowledged, the batch comes back after its visibility timeout.
            f.clock.advance(by: .seconds(30))
            #expect(Kit.depth(f.queue) == (2, 0, 0))
        }
    }

    @Test func runTwiceIsRefusedAndStopBeforeRunEndsTheEventStream() async throws {
        let (f, _) = try fixture()
        let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker) { _ in nil }
        let log = EventLog(mapping.events)
        let run = Task { try await mapping.run() }
        #expect(await Kit.eventually { Kit.waiters(f.queue) == 1 })
        await expectBrokerErrorAsync(.unsupportedOperation) { try await mapping.run() }
        await mapping.stop(drainTimeout: .zero)
        try await run.value
        #expect(await Kit.eventually { log.finished })
        await expectBrokerErrorAsync(.unsupportedOperation) { try await mapping.run() }

        let never = try EventSourceMapping(queue: f.queue, broker: f.broker) { _ in nil }
        let neverLog = EventLog(never.events)
        await never.stop(drainTimeout: .zero)
        #expect(await Kit.eventually { neverLog.finished })
        await expectBrokerErrorAsync(.unsupportedOperation) { try await never.run() }
        neverLog.cancel()
    }

    @Test func startAndStopRacesNeverLoseOrDuplicateAMessage() async throws {
        for iteration in 0..<50 {
            let (f, _) = try fixture()
            for index in 1...4 { try f.queue.sendMessage("m\(index)") }
            let seen = LockedState<[String]>([])
            let mapping = try EventSourceMapping(queue: f.queue, broker: f.broker, configuration: .init(
                batchSize: 2, maximumConcurrency: 2)) { event in
                seen.withLock { $0 += event.records.map(\.messageId) }
                await Task.yield()
                return nil
            }
            let log = EventLog(mapping.events)
            mapping.start()
            await Kit.settle(iteration % 10 * 3)
            await mapping.stop(drainTimeout: iteration.isMultiple(of: 2) ? .zero : .seconds(5))
            #expect(await Kit.eventually { log.finished })
            let processed = log.processed
            // Every processed record was handed to the handler, once; everything else is still on the queue.
            #expect(Set(processed).count == processed.count)
            #expect(Set(processed).isSubset(of: Set(seen.withLock { $0 })))
            #expect(Kit.total(f.queue) == 4 - processed.count)
            #expect(await Kit.eventually { f.clock.pendingWakeUps == 0 })
        }
    }
}

import Foundation
import Testing

@testable import Broker

// MARK: - Decoding and idempotency helpers

/// The SNS envelope type, `payload(_:)` and `decode(_:from:)` over raw, JSON and envelope bodies (including envelopes
/// Broker's own topics write), and the in-memory idempotency store on the manual clock.
struct ConsumerHelperTests {
    /// Any body, as the helpers read it.
    private struct Body: SQSMessageBody {
        var body: String
    }

    // MARK: SNS envelope variants

    /// A standard-topic notification as SQS receives it (pretty-printed, with signature fields and attributes).
    static let standardEnvelope = """
        {
          "Type" : "Notification",
          "MessageId" : "95df01b4-ee98-5cb9-9903-4c221d41eb5e",
          "TopicArn" : "arn:aws:sns:us-east-1:123456789012:order-events",
          "Subject" : "New order",
          "Message" : "{\\"orderId\\":\\"o-1\\",\\"amount\\":42}",
          "Timestamp" : "2026-01-01T00:00:00.000Z",
          "SignatureVersion" : "1",
          "Signature" : "EXAMPLEpH+DcEwjAPg8O9mY8dReBSwksfg2S7WKQcikcNKWLQjwu6A4VbeS0QHVCkhRS7fUQvi2egU3N858fiTDN6bkkOxYDVrY0Ad8L10Hs3zH81mtnPk5uvvolIC1CXGu43obcgFxeL3khZl8IKvO61GWB6jI9b5+gLPoBc1Q=",
          "SigningCertURL" : "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
          "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:order-events:c9135db0",
          "MessageAttributes" : {
            "event_type" : {"Type":"String","Value":"order.created"},
            "priority" : {"Type":"Number","Value":"3"}
          }
        }
        """

    /// A FIFO-topic notification: a sequence number and no signature fields.
    static let fifoEnvelope = """
        {
          "Type" : "Notification",
          "MessageId" : "c6b2ce3a-34d7-5a2c-a4e8-2a8c4e1e5fb8",
          "SequenceNumber" : "10000000000000003000",
          "TopicArn" : "arn:aws:sns:us-east-1:123456789012:order-events.fifo",
          "Message" : "{\\"orderId\\":\\"o-2\\",\\"amount\\":7}",
          "Timestamp" : "2026-01-01T00:00:01.000Z",
          "UnsubscribeURL" : "https://sns.us-east-1.amazonaws.com/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:123456789012:order-events.fifo:2f1e"
        }
        """

    /// A notification whose `Message` is plain text, without a subject.
    static let plainTextEnvelope = """
        {"Type":"Notification","MessageId":"m-3","TopicArn":"arn:aws:sns:us-east-1:123456789012:alerts","Message":"disk almost full","Timestamp":"2026-01-01T00:00:02.000Z","SignatureVersion":"1","Signature":"c2ln","SigningCertURL":"https://example.com/cert.pem","UnsubscribeURL":"https://example.com/unsubscribe"}
        """

    /// Lambda's direct SNS event spelling: `SigningCertUrl` / `UnsubscribeUrl`.
    static let lambdaCasingEnvelope = """
        {"Type":"Notification","MessageId":"m-4","TopicArn":"arn:aws:sns:us-east-1:123456789012:alerts","Subject":null,"Message":"hello","Timestamp":"2026-01-01T00:00:03.000Z","SignatureVersion":"1","Signature":"c2ln","SigningCertUrl":"https://example.com/lambda-cert.pem","UnsubscribeUrl":"https://example.com/lambda-unsubscribe"}
        """

    @Test(arguments: ConsumerMode.allCases)
    func stopBetweenTwoLongPollsLeavesNoWakeUpOnTheClock(_ mode: ConsumerMode) async throws {
        for round in 0..<20 {
            // On any clock but the manual one, the timer a served long poll armed is left to fire at the end of
            // its wait period; a consumer whose polling ends cancels it.
            let (broker, clock) = makeBroker(forwarding: true)
            let queue = try broker.createQueue(named: "stop-between-polls")
            let gate = Gate()
            let consumer: any QueueConsumer = switch mode {
            case .queueWorker:
                try QueueWorker(queue: queue, broker: broker, configuration: .init(concurrency: 1)) { _ in
                    try await gate.wait()
                }
            case .eventSourceMapping:
                try EventSourceMapping(queue: queue, broker: broker, configuration: .init(
                    maximumConcurrency: 1, functionTimeout: .seconds(30))) { _ in
                    try await gate.wait()
                    return nil
                }
            }
            // The mapping's function timeout waits on the clock too.
            let handlerWakeUps = mode == .eventSourceMapping ? 1 : 0
            consumer.start()
            #expect(await ConsumerTestKit.eventually { ConsumerTestKit.waiters(queue) == 1 }, "round \(round)")
            try queue.sendMessage("m")
            #expect(await ConsumerTestKit.eventually { gate.waiting == 1 }, "round \(round)")
            // The only slot is taken, so polling waits for it with no long poll registered: the timer is idle.
            // The mapping arms its function timeout beside the handler, so that wake-up may land a moment after
            // the handler reached the gate: wait for it rather than for a fixed number of yields.
            await ConsumerTestKit.settle(200)
            #expect(ConsumerTestKit.waiters(queue) == 0, "round \(round)")
            #expect(await ConsumerTestKit.eventually { clock.pendingWakeUps == 1 + handlerWakeUps }, "round \(round)")
            await consumer.stop(drainTimeout: .zero)
            #expect(await ConsumerTestKit.eventually { clock.pendingWakeUps == 0 }, "round \(round)")
            // The cancelled handler deleted nothing.
            #expect(ConsumerTestKit.depth(queue) == (0, 1, 0), "round \(round)")
        }
    }

    @Test func standardEnvelopeDecodesEveryFieldIncludingSignatureAndAttributes() throws {
        let envelope = try #require(Body(body: Self.standardEnvelope).snsEnvelope)
        #expect(envelope.type == "Notification")
        #expect(envelope.messageId == "95df01b4-ee98-5cb9-9903-4c221d41eb5e")
        #expect(envelope.topicArn == "arn:aws:sns:us-east-1:123456789012:order-events")
        #expect(envelope.subject == "New order")
        #expect(envelope.message == #"{"orderId":"o-1","amount":42}"#)
        #expect(envelope.timestamp == "2026-01-01T00:00:00.000Z")
        #expect(envelope.sequenceNumber == nil)
        #expect(envelope.signatureVersion == "1")
        #expect(envelope.signature?.hasPrefix("EXAMPLEpH+") == true)
        #expect(envelope.signingCertURL == "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem")
        #expect(envelope.unsubscribeURL?.hasSuffix("SubscriptionArn=arn:aws:sns:us-east-1:123456789012:order-events:c9135db0") == true)
        #expect(envelope.messageAttributes?["event_type"]?.type == "String")
        #expect(envelope.messageAttributes?["event_type"]?.value == "order.created")
        #expect(envelope.messageAttributes?["priority"]?.type == "Number")
        #expect(envelope.messageAttributes?["priority"]?.value == "3")
    }

    @Test func fifoEnvelopeHasASequenceNumberAndNoSignatureFields() throws {
        let envelope = try #require(Body(body: Self.fifoEnvelope).snsEnvelope)
        #expect(envelope.sequenceNumber == "10000000000000003000")
        #expect(envelope.signatureVersion == nil)
        #expect(envelope.signature == nil)
        #expect(envelope.signingCertURL == nil)
        #expect(envelope.subject == nil)
        #expect(envelope.messageAttributes == nil)
        #expect(try Body(body: Self.fifoEnvelope).decode(Order.self) == Order(orderId: "o-2", amount: 7))
    }

    @Test func envelopeWithAPlainTextMessageKeepsTheTextAndHasNoSubject() throws {
        let body = Body(body: Self.plainTextEnvelope)
        let envelope = try #require(body.snsEnvelope)
        #expect(envelope.message == "disk almost full")
        #expect(envelope.subject == nil)
        #expect(try body.payload(.auto) == "disk almost full")
        #expect(try body.payload(.snsEnvelope) == "disk almost full")
        #expect(throws: DecodingError.self) { try body.decode(Order.self) }
    }

    @Test func lambdaCasingOfTheURLFieldsIsReadIntoTheSameProperties() throws {
        let envelope = try #require(Body(body: Self.lambdaCasingEnvelope).snsEnvelope)
        #expect(envelope.signingCertURL == "https://example.com/lambda-cert.pem")
        #expect(envelope.unsubscribeURL == "https://example.com/lambda-unsubscribe")
        #expect(envelope.subject == nil)
        #expect(envelope.message == "hello")
    }

    @Test func envelopeWithoutARequiredFieldIsNotAnEnvelope() throws {
        // No Message: `.auto` falls back to the body, `.snsEnvelope` throws.
        let missingMessage = Body(body: #"{"Type":"Notification","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Timestamp":"t"}"#)
        #expect(missingMessage.snsEnvelope == nil)
        #expect(try missingMessage.payload(.auto) == missingMessage.body)
        #expect(throws: DecodingError.self) { try missingMessage.payload(.snsEnvelope) }
    }

    // MARK: payload(_:) and decode(_:from:)

    struct PayloadCase: Sendable, CustomTestStringConvertible {
        let name: String
        let body: String
        let auto: String
        var testDescription: String { name }
    }

    static let payloadCases: [PayloadCase] = [
        PayloadCase(name: "raw text", body: "hello", auto: "hello"),
        PayloadCase(name: "raw JSON", body: #"{"orderId":"o-9","amount":1}"#, auto: #"{"orderId":"o-9","amount":1}"#),
        PayloadCase(name: "JSON mentioning TopicArn", body: #"{"TopicArn":"arn:aws:sns:us-east-1:1:t","Type":"Other"}"#,
                    auto: #"{"TopicArn":"arn:aws:sns:us-east-1:1:t","Type":"Other"}"#),
        PayloadCase(name: "subscription confirmation",
                    body: #"{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"confirm","Timestamp":"t"}"#,
                    auto: #"{"Type":"SubscriptionConfirmation","MessageId":"m","TopicArn":"arn:aws:sns:us-east-1:1:t","Message":"confirm","Timestamp":"t"}"#),
        PayloadCase(name: "standard envelope", body: standardEnvelope, auto: #"{"orderId":"o-1","amount":42}"#),
        PayloadCase(name: "FIFO envelope", body: fifoEnvelope, auto: #"{"orderId":"o-2","amount":7}"#),
        PayloadCase(name: "plain-text envelope", body: plainTextEnvelope, auto: "disk almost full"),
        PayloadCase(name: "envelope with leading whitespace", body: "\n  " + plainTextEnvelope, auto: "disk almost full"),
        PayloadCase(name: "empty body", body: "", auto: ""),
    ]

    @Test(arguments: payloadCases)
    func payloadAutoUnwrapsEnvelopesAndPassesOtherBodiesThrough(_ testCase: PayloadCase) throws {
        let body = Body(body: testCase.body)
        #expect(try body.payload(.auto) == testCase.auto)
        #expect(try body.payload() == testCase.auto)
        #expect(try body.payload(.raw) == testCase.body)
        #expect(try body.payload(.json) == testCase.body)
    }

    @Test func payloadSnsEnvelopeOfARawBodyThrows() {
        #expect(throws: DecodingError.self) { try Body(body: "hello").payload(.snsEnvelope) }
        #expect(throws: DecodingError.self) { try Body(body: #"{"orderId":"o-1"}"#).payload(.snsEnvelope) }
    }

    @Test func decodeReadsJSONInsideAnEnvelopeAndInARawBody() throws {
        let envelope = Body(body: Self.standardEnvelope)
        #expect(try envelope.decode(Order.self, from: .auto) == Order(orderId: "o-1", amount: 42))
        #expect(try envelope.decode(Order.self, from: .snsEnvelope) == Order(orderId: "o-1", amount: 42))
        // `.raw` and `.json` read the body itself: an envelope is not an Order.
        #expect(throws: DecodingError.self) { try envelope.decode(Order.self, from: .raw) }
        #expect(throws: DecodingError.self) { try envelope.decode(Order.self, from: .json) }

        let raw = Body(body: #"{"orderId":"o-5","amount":5}"#)
        for format in [PayloadFormat.auto, .raw, .json] {
            #expect(try raw.decode(Order.self, from: format) == Order(orderId: "o-5", amount: 5))
        }
        #expect(throws: DecodingError.self) { try raw.decode(Order.self, from: .snsEnvelope) }
    }

    @Test func decodeUsesTheGivenDecoder() throws {
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let body = Body(body: #"{"order_id":"o-7","amount":70}"#)
        #expect(try body.decode(Order.self, decoder: decoder) == Order(orderId: "o-7", amount: 70))
        #expect(throws: DecodingError.self) { try body.decode(Order.self) }
    }

    // MARK: Envelopes Broker's topics write

    @Test(arguments: [false, true])
    func topicToQueueToWorkerDecodesThePublishedObjectWithAuto(_ rawDelivery: Bool) async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "order-events")
        let queue = try broker.createQueue(named: "orders")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: rawDelivery))
        let order = Order(orderId: "o-42", amount: 4_200)
        try topic.publish(String(decoding: try JSONEncoder().encode(order), as: UTF8.self), subject: "order")

        let decoded = LockedState<[Order]>([])
        let envelopes = LockedState<[SNSEnvelope?]>([])
        let worker = try QueueWorker(queue: queue, broker: broker) { message in
            envelopes.withLock { $0.append(message.snsEnvelope) }
            let value = try message.decode(Order.self, from: .auto)
            decoded.withLock { $0.append(value) }
        }
        let log = EventLog(worker.events)
        worker.start()
        #expect(await ConsumerTestKit.eventually { log.processed.count == 1 })
        #expect(decoded.withLock { $0 } == [order])
        let envelope = envelopes.withLock { $0.first } ?? nil
        if rawDelivery {
            #expect(envelope == nil)
        } else {
            let envelope = try #require(envelope)
            #expect(envelope.topicArn == topic.arn)
            #expect(envelope.subject == "order")
            #expect(envelope.signature != nil)
            #expect(envelope.signingCertURL != nil)
            #expect(envelope.sequenceNumber == nil)
        }
        await worker.stop(drainTimeout: .zero)
        #expect(await ConsumerTestKit.eventually { log.finished })
        #expect(ConsumerTestKit.total(queue) == 0)
    }

    @Test func fifoTopicEnvelopeHasASequenceNumberAndNoSignatureAndDecodes() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "order-events.fifo", attributes: TopicAttributes(fifoTopic: true))
        let queue = try broker.createQueue(named: "orders.fifo", attributes: QueueAttributes(fifoQueue: true))
        try topic.subscribe(queue)
        let published = try topic.publish(#"{"orderId":"o-1","amount":1}"#, messageGroupId: "g", messageDeduplicationId: "d-1")
        let message = try #require(try await queue.receiveMessages(waitTimeSeconds: .zero).first)
        let envelope = try #require(message.snsEnvelope)
        #expect(envelope.sequenceNumber == published.sequenceNumber)
        #expect(envelope.signature == nil && envelope.signatureVersion == nil && envelope.signingCertURL == nil)
        #expect(envelope.topicArn == topic.arn)
        #expect(try message.decode(Order.self) == Order(orderId: "o-1", amount: 1))
    }

    // MARK: IdempotencyStore

    @Test func secondRunWithTheSameKeyReturnsTheCachedResultWithoutRunningTheBody() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock)
        let runs = LockedState(0)
        let first = try await store.run(key: "order-1") { runs.withLock { $0 += 1 }; return "charged-1" }
        let second = try await store.run(key: "order-1") { runs.withLock { $0 += 1 }; return "charged-2" }
        let other = try await store.run(key: "order-2") { runs.withLock { $0 += 1 }; return "charged-3" }
        #expect(first == "charged-1")
        #expect(second == "charged-1")
        #expect(other == "charged-3")
        #expect(runs.withLock { $0 } == 2)
    }

    @Test func recordExpiresAfterAnHourOfClockTimeAndTheBodyRunsAgain() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock)
        let runs = LockedState(0)
        @Sendable func charge() -> Int { runs.withLock { $0 += 1; return $0 } }
        #expect(try await store.run(key: "k") { charge() } == 1)
        clock.advance(by: .seconds(3_599))
        #expect(try await store.run(key: "k") { charge() } == 1)
        clock.advance(by: .seconds(1))
        #expect(try await store.run(key: "k") { charge() } == 2)
        // The new record has a fresh hour.
        clock.advance(by: .seconds(3_599))
        #expect(try await store.run(key: "k") { charge() } == 2)
        #expect(runs.withLock { $0 } == 2)
    }

    @Test func customExpiryIsHonoured() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock, expiry: .seconds(60))
        let runs = LockedState(0)
        @Sendable func charge() -> Int { runs.withLock { $0 += 1; return $0 } }
        #expect(try await store.run(key: "k") { charge() } == 1)
        clock.advance(by: .seconds(59))
        #expect(try await store.run(key: "k") { charge() } == 1)
        clock.advance(by: .seconds(1))
        #expect(try await store.run(key: "k") { charge() } == 2)
    }

    struct ChargeFailed: Error {}

    @Test func throwingRunDropsTheRecordSoARetryRuns() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock)
        let runs = LockedState(0)
        await #expect(throws: ChargeFailed.self) {
            try await store.run(key: "k") { () async throws -> String in
                runs.withLock { $0 += 1 }
                throw ChargeFailed()
            }
        }
        #expect(try await store.run(key: "k") { runs.withLock { $0 += 1 }; return "ok" } == "ok")
        #expect(try await store.run(key: "k") { runs.withLock { $0 += 1 }; return "again" } == "ok")
        #expect(runs.withLock { $0 } == 2)
    }

    @Test func cachedResultOfAnotherTypeIsAResultTypeMismatch() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock)
        _ = try await store.run(key: "k") { 42 }
        await #expect(throws: IdempotencyError.resultTypeMismatch(key: "k")) {
            _ = try await store.run(key: "k") { "text" }
        }
    }

    @Test func concurrentDuplicateWaitsForTheFirstAndSharesItsResult() async throws {
        for iteration in 0..<50 {
            let (_, clock) = makeBroker()
            let store = IdempotencyStore(clock: clock, inProgress: .wait)
            let gate = Gate()
            let runs = LockedState(0)
            let first = Task {
                try await store.run(key: "k") { () async throws -> String in
                    runs.withLock { $0 += 1 }
                    try await gate.wait()
                    return "first-\(iteration)"
                }
            }
            #expect(await ConsumerTestKit.eventually { gate.waiting == 1 })
            let duplicateStarted = LockedState(false)
            let duplicate = Task {
                duplicateStarted.withLock { $0 = true }
                return try await store.run(key: "k") { () async throws -> String in
                    runs.withLock { $0 += 1 }
                    return "duplicate"
                }
            }
            #expect(await ConsumerTestKit.eventually { duplicateStarted.withLock { $0 } })
            await ConsumerTestKit.settle(iteration % 5 * 20)
            #expect(runs.withLock { $0 } == 1)
            gate.open()
            #expect(try await first.value == "first-\(iteration)")
            #expect(try await duplicate.value == "first-\(iteration)")
            #expect(runs.withLock { $0 } == 1)
        }
    }

    @Test func waitingDuplicateRunsItselfWhenTheFirstThrows() async throws {
        let (_, clock) = makeBroker()
        let store = IdempotencyStore(clock: clock, inProgress: .wait)
        let gate = Gate()
        let runs = LockedState(0)
        let first = Task {
            try await store.run(key: "k") { () async throws -> String in
                runs.withLock { $0 += 1 }
                try await gate.wait()
                throw ChargeFailed()
            }
        }
        #expect(await ConsumerTestKit.eventually { gate.waiting == 1 })
        let duplicate = Task {
            try await store.run(key: "k") { () async throws -> String in
                runs.withLock { $0 += 1 }
                return "second"
            }
        }
        await ConsumerTestKit.settle(200)
        gate.open()
        await #expect(throws: ChargeFailed.self) { try await first.value }
        #expect(try await duplicate.value == "second")
        #expect(runs.withLock { $0 } == 2)
    }

    @Test func concurrentDuplicateThrowsInProgressUnderTheFailPolicy() async throws {
        for _ in 0..<50 {
            let (_, clock) = makeBroker()
            let store = IdempotencyStore(clock: clock, inProgress: .fail)
            let gate = Gate()
            let first = Task {
                try await store.run(key: "order-1") { () async throws -> Int in
                    try await gate.wait()
                    return 1
                }
            }
            #expect(await ConsumerTestKit.eventually { gate.waiting == 1 })
            await #expect(throws: IdempotencyError.inProgress(key: "order-1")) {
                _ = try await store.run(key: "order-1") { 2 }
            }
            // Another key is not affected.
            #expect(try await store.run(key: "order-2") { 3 } == 3)
            gate.open()
            #expect(try await first.value == 1)
            // Once complete, the duplicate gets the kept result.
            #expect(try await store.run(key: "order-1") { 4 } == 1)
        }
    }

    @Test func manyConcurrentCallersWithOneKeyRunTheBodyOnce() async throws {
        for _ in 0..<20 {
            let (_, clock) = makeBroker()
            let store = IdempotencyStore(clock: clock)
            let runs = LockedState(0)
            let results = try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<16 {
                    group.addTask {
                        try await store.run(key: "k") { () async throws -> Int in
                            await Task.yield()
                            return runs.withLock { $0 += 1; return $0 }
                        }
                    }
                }
                var all: [Int] = []
                for try await value in group { all.append(value) }
                return all
            }
            #expect(results == Array(repeating: 1, count: 16))
            #expect(runs.withLock { $0 } == 1)
        }
    }
}

import Foundation
import Testing

@testable import Broker

/// Publish and PublishBatch rules, and what a delivered copy carries, as AWS has them.
@Suite struct TopicPublishTests {
    @Test("MessageStructure=json: a protocol's entry that is not a string is ignored and default is delivered")
    func nonStringProtocolEntryFallsBackToDefault() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        try topic.publish(PublishRequest(message: #"{"default": "plain", "sqs": {"nested": "object"}}"#, messageStructure: "json"))
        #expect(try await queue.receiveMessages().first?.body == "plain")
    }

    @Test("MessageStructure=json needs a default entry (a string)", arguments: [
        #"{"sqs": "only"}"#, #"{"default": {"a": 1}, "sqs": "x"}"#,
    ])
    func messageStructureJsonNeedsADefault(message: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let error = expectBrokerError(.invalidParameter) {
            try topic.publish(PublishRequest(message: message, messageStructure: "json"))
        }
        #expect(error?.message == "Invalid parameter: Message Structure - No default entry in JSON message body")
    }

    @Test("A custom data type needs a label after the dot", arguments: [
        ("String.", false), ("Number.", false), ("Binary.", false), (".String", false),
        ("String.custom", true), ("Number.int", true), ("String", true),
    ])
    func customDataTypeNeedsALabel(dataType: String, accepted: Bool) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let value = dataType.hasPrefix("Binary") ? MessageAttributeValue(dataType: dataType, binaryValue: Data([1]))
            : MessageAttributeValue(dataType: dataType, stringValue: "1")
        if accepted {
            try topic.publish("m", messageAttributes: ["a": value])
        } else {
            let error = expectBrokerError(.parameterValueInvalid) { try topic.publish("m", messageAttributes: ["a": value]) }
            #expect(error?.message == "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
        }
    }

    @Test("PublishBatch's own errors use SNS's wording", arguments: [
        (0, false, false, "EmptyBatchRequestException", "The batch request doesn't contain any entries."),
        (11, false, false, "TooManyEntriesInBatchRequestException", "The batch request contains more entries than permissible."),
        (3, true, false, "BatchEntryIdsNotDistinctException", "Two or more batch entries in the request have the same Id."),
        (2, false, true, "InvalidBatchEntryIdException", "The Id of a batch entry in the batch request contains an impermissible character."),
    ])
    func publishBatchErrorsUseSNSWording(count: Int, repeated: Bool, badId: Bool, code: String, message: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let entries = (0..<count).map { index in
            PublishBatchRequestEntry(id: repeated ? "same" : badId && index == 1 ? "some id" : "e\(index)",
                                     request: PublishRequest(message: "m\(index)"))
        }
        do {
            _ = try topic.publishBatch(entries)
            Issue.record("expected \(code)")
        } catch {
            #expect(error.code.name == code)
            #expect(error.message == message)
        }
    }

    @Test("PublishBatch fails the whole request for a FIFO entry without MessageGroupId")
    func fifoEntryWithoutGroupFailsTheWholeBatch() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true, contentBasedDeduplication: true))
        let queue = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        try topic.subscribe(queue)
        let error = expectBrokerError(.invalidParameter) {
            _ = try topic.publishBatch([
                PublishBatchRequestEntry(id: "1", request: PublishRequest(message: "a", messageGroupId: "g")),
                PublishBatchRequestEntry(id: "2", request: PublishRequest(message: "b")),
            ])
        }
        #expect(error?.message == "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
        #expect(try await queue.receiveMessages().isEmpty)
    }

    @Test("PublishBatch fails the whole request for a malformed message attribute")
    func malformedAttributeFailsTheWholeBatch() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        expectBrokerError(.parameterValueInvalid) {
            _ = try topic.publishBatch([
                PublishBatchRequestEntry(id: "1", request: PublishRequest(message: "a")),
                PublishBatchRequestEntry(id: "2", request: PublishRequest(message: "b", messageAttributes: [
                    "n": MessageAttributeValue(dataType: "Number", stringValue: "not a number"),
                ])),
            ])
        }
        #expect(try await queue.receiveMessages().isEmpty)
    }

    @Test("PublishBatch counts attributes toward the 256 KiB total")
    func batchTotalCountsAttributes() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let half = String(repeating: "x", count: 131_072)
        let error = expectBrokerError(.snsBatchRequestTooLong) {
            _ = try topic.publishBatch([
                PublishBatchRequestEntry(id: "1", request: PublishRequest(message: half)),
                PublishBatchRequestEntry(id: "2", request: PublishRequest(message: String(half.dropLast(10)),
                                                                         messageAttributes: ["attr": .string("0123456789")])),
            ])
        }
        #expect(error?.code.name == "BatchRequestTooLongException")
    }

    @Test("A FIFO topic's copy in a standard queue carries no MessageGroupId; in a FIFO queue it does")
    func fifoTopicToStandardQueueSetsNoGroup() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true, contentBasedDeduplication: true))
        let standard = try broker.createQueue(named: "standard")
        let fifo = try broker.createQueue(named: "q.fifo", attributes: QueueAttributes(fifoQueue: true))
        try topic.subscribe(standard)
        try topic.subscribe(fifo)
        try topic.publish("m", messageGroupId: "g")
        let inStandard = try #require(try await standard.receiveMessages(messageSystemAttributeNames: [.messageGroupId]).first)
        #expect(inStandard.attributes[.messageGroupId] == nil)
        let inFifo = try #require(try await fifo.receiveMessages(messageSystemAttributeNames: [.messageGroupId]).first)
        #expect(inFifo.attributes[.messageGroupId] == "g")
    }
}

@Suite struct StringArrayAttributeTests {
    @Test("A String.Array value that is not a JSON array is published; filters read a scalar as one value", arguments: [
        ("100", true), ("one hundred", false), ("[oops", false), (#"[100, "x"]"#, true),
    ])
    func stringArrayThatIsNotAnArrayIsPublished(value: String, matches: Bool) async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(filterPolicy: #"{"price": [100, 500]}"#))
        try topic.publish("m", messageAttributes: ["price": MessageAttributeValue(dataType: "String.Array", stringValue: value)])
        #expect(try await queue.receiveMessages().count == (matches ? 1 : 0))
    }
}

import Foundation
import Testing

@testable import Broker

/// The request types keep a few fields under another stored name (so the compiler's memberwise initializer builds
/// them in place); these pin that the public names still read, write and compare those fields, and that what is set
/// through them is what the queue or topic acts on.
@Suite struct RequestValueTests {
    @Test func delaySecondsSetAfterInitDelaysTheMessage() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        var request = SendMessageRequest(body: "later")
        request.delaySeconds = .seconds(30)
        #expect(request.delaySeconds == .seconds(30))
        #expect(request != SendMessageRequest(body: "later"))
        #expect(request == SendMessageRequest(body: "later", delaySeconds: .seconds(30)))
        try queue.sendMessage(request)
        #expect(try await MessageTestKit.receiveNow(queue).isEmpty)
        clock.advance(by: .seconds(30))
        #expect(try await MessageTestKit.receiveNow(queue).map(\.body) == ["later"])
    }

    @Test func batchEntryIdSetAfterInitNamesTheResult() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        var entry = SendMessageBatchRequestEntry(id: "first", body: "m", delaySeconds: .seconds(5))
        entry.id = "renamed"
        #expect(entry.id == "renamed")
        #expect(entry.message.delaySeconds == .seconds(5))
        #expect(entry == SendMessageBatchRequestEntry(id: "renamed", message: SendMessageRequest(body: "m", delaySeconds: .seconds(5))))
        let result = try queue.sendMessageBatch([entry])
        #expect(result.successful.map(\.id) == ["renamed"])
        #expect(result.failed.isEmpty)
    }

    @Test func messageStructureSetAfterInitPicksThePerProtocolBody() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
        var request = PublishRequest(message: #"{"default":"d","sqs":"for sqs"}"#)
        #expect(request.messageStructure == nil)
        request.messageStructure = "json"
        #expect(request == PublishRequest(message: #"{"default":"d","sqs":"for sqs"}"#, messageStructure: "json"))
        var entry = PublishBatchRequestEntry(id: "a", request: request)
        entry.id = "b"
        let result = try topic.publishBatch([entry])
        #expect(result.successful.map(\.id) == ["b"])
        #expect(try await MessageTestKit.receiveNow(queue).map(\.body) == ["for sqs"])
    }
}

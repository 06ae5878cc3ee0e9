import Testing

import Broker

/// The README's example, compiled and run, so the first code a newcomer copies keeps working.
@Suite struct ReadmeExampleTests {
    @Test func readmeExampleSendsReceivesAndDeletes() async throws {
        let clock = ManualClock()
        let broker = Broker(clock: clock)
        let dlq = try broker.createQueue(named: "orders-dlq")
        let orders = try broker.createQueue(named: "orders", attributes: QueueAttributes(
            visibilityTimeout: .seconds(30),
            redrivePolicy: RedrivePolicy(deadLetterTargetArn: dlq.arn, maxReceiveCount: 3)))

        try orders.sendMessage(#"{"orderId":"1001"}"#, messageAttributes: ["eventType": .string("order.created")])
        let messages = try await orders.receiveMessages(maxNumberOfMessages: 10, waitTimeSeconds: .seconds(20))
        for message in messages {
            try orders.deleteMessage(receiptHandle: message.receiptHandle)
        }
        clock.advance(by: .seconds(30))

        #expect(messages.map(\.body) == [#"{"orderId":"1001"}"#])
        let statistics = try orders.statistics()
        #expect(statistics.approximateNumberOfMessages + statistics.approximateNumberOfMessagesNotVisible == 0)
        #expect(clock.pendingWakeUps == 0)
    }
}

import Broker
import Foundation

// A producer and a consumer on an `orders` queue with a dead-letter queue. One order carries bad data: the
// consumer fails it three times, and the fourth receive moves it to `orders-dlq`, exactly as SQS would.

let broker = Broker()
let deadLetters = try broker.createQueue(named: "orders-dlq")
let orders = try broker.createQueue(named: "orders", attributes: QueueAttributes(
    visibilityTimeout: .seconds(30),
    redrivePolicy: RedrivePolicy(deadLetterTargetArn: deadLetters.arn, maxReceiveCount: 3)))

func log(_ line: String) { print(line) }

log("queue \(orders.name) → dead letters to \(deadLetters.name) after 3 receives")

let orderBodies = [
    #"{"orderId":"1001","amount":25.00}"#,
    #"{"orderId":"1002","amount":12.50}"#,
    #"{"orderId":"1003","amount":"twelve"}"#,
    #"{"orderId":"1004","amount":99.99}"#,
]

let producer = Task {
    for body in orderBodies {
        let sent = try orders.sendMessage(body, messageAttributes: ["eventType": .string("order.created")])
        log("producer  sent     \(body)  id \(sent.messageId.prefix(8))")
    }
}

/// Parses an order; the one with a text amount fails, the way a real bug would.
func process(_ body: String) throws -> Double {
    struct BadOrder: Error, CustomStringConvertible { let description: String }
    guard let data = body.data(using: .utf8),
          let object = try JSONSerialization.jsonObject(with: data) as? [String: Any],
          let amount = object["amount"] as? Double
    else { throw BadOrder(description: "amount is not a number") }
    return amount
}

var processed = 0
while try processed < orderBodies.count - 1 || deadLetters.statistics().approximateNumberOfMessages == 0 {
    let messages = try await orders.receiveMessages(
        maxNumberOfMessages: 10, waitTimeSeconds: .seconds(1), messageSystemAttributeNames: [.approximateReceiveCount])
    for message in messages {
        let attempt = message.receiveCount ?? 0
        do {
            let amount = try process(message.body)
            try orders.deleteMessage(receiptHandle: message.receiptHandle)
            processed += 1
            log("consumer  charged  \(amount) for \(message.body)  (receive \(attempt))")
        } catch {
            log("consumer  FAILED   \(message.body)  (receive \(attempt)): \(error) — released for retry")
            // Release now instead of waiting out the visibility timeout, so the retry comes at once.
            try orders.changeMessageVisibility(receiptHandle: message.receiptHandle, visibilityTimeout: .zero)
        }
    }
}
try await producer.value

for message in try await deadLetters.receiveMessages(
    maxNumberOfMessages: 10, messageSystemAttributeNames: [.approximateReceiveCount, .deadLetterQueueSourceArn]) {
    log("dead letter       \(message.body)  receive count \(message.receiveCount ?? 0) (this receive included), from \(message.attributes[.deadLetterQueueSourceArn] ?? "?")")
}
let stats = try orders.statistics()
log("done: \(processed) orders charged; \(orders.name) holds \(stats.approximateNumberOfMessages) messages, \(deadLetters.name) holds 1")

@_spi(BrokerServer) import Broker
import Foundation

/// `GET /_broker/sns/outbox`: the SNS deliveries that would have left the machine (emails, texts, push
/// notifications, Firehose records, Lambda invocations, HTTP POSTs and subscription confirmations), oldest first,
/// as JSON. Query parameters filter: `endpoint`, `phoneNumber`, `topicArn`, `protocol`, `subscriptionArn`; `accountId`
/// and `region` choose the account and region (the server's own by default). `DELETE` empties that outbox.
enum SNSOutboxRoute {
    static let path: Substring = "/_broker/sns/outbox"

    /// The answer for a request to the outbox's path; nil for any other request.
    static func response(to request: WireRequest, broker: Broker) -> WireResponse? {
        guard request.path == path else { return nil }
        let parameters = request.queryString.flatMap { QueryCodec.parseForm($0.utf8) } ?? [:]
        let scoped: Broker
        do {
            scoped = try broker.scoped(accountId: parameters["accountId"], region: parameters["region"])
        } catch {
            return json(status: 400, .object([("error", .string(error.message))]))
        }
        switch request.method {
        case "GET":
            let filter = SNSOutboxFilter(endpoint: parameters["endpoint"] ?? parameters["phoneNumber"],
                                         topicArn: parameters["topicArn"],
                                         protocol: parameters["protocol"] ?? (parameters["phoneNumber"] != nil ? "sms" : nil),
                                         subscriptionArn: parameters["subscriptionArn"])
            return json(status: 200, .object([("messages", .array(scoped.outbox(matching: filter).map(encode)))]))
        case "DELETE":
            scoped.clearOutbox()
            return json(status: 200, .object([("status", .string("ok"))]))
        default:
            return json(status: 405, .object([("error", .string("Use GET to read the outbox or DELETE to empty it."))]))
        }
    }

    static func encode(_ message: SNSOutboxMessage) -> JSONValue {
        var fields: [(key: String, value: JSONValue)] = [
            ("type", .string(message.kind.rawValue)), ("protocol", .string(message.protocol)),
            ("endpoint", .string(message.endpoint)), ("messageId", .string(message.messageId)),
            ("timestamp", .string(message.timestamp.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true)))),
        ]
        if let arn = message.subscriptionArn { fields.append(("subscriptionArn", .string(arn))) }
        if let arn = message.topicArn { fields.append(("topicArn", .string(arn))) }
        if let subject = message.subject { fields.append(("subject", .string(subject))) }
        fields.append(("body", .string(message.body)))
        if !message.attributes.isEmpty {
            fields.append(("attributes", .object(message.attributes.sorted { $0.key < $1.key }.map { ($0.key, .string($0.value)) })))
        }
        return .object(fields)
    }

    private static func json(status: Int, _ value: JSONValue) -> WireResponse {
        WireResponse(status: status, headers: [("Content-Type", "application/json")], body: value.jsonBytes)
    }
}

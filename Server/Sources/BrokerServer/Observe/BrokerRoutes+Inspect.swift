@_spi(BrokerServer) import Broker
import Foundation

/// The look-inside endpoints: a queue's messages without receiving them, and a topic's recent delivery outcomes.
///
/// - `GET /_broker/queues/{account}/{name}/messages[?region=R&state=visible,inFlight,delayed&limit=N]`:
///   ``Queue/peek(states:limit:where:)``, which changes nothing (no receive count, no visibility change).
/// - `GET /_broker/topics/{account}/{name}/deliveries[?region=R&limit=N]`: ``Topic/recentDeliveries(limit:outcomes:)``.
///
/// The region defaults to the server's own. Answers hold at most ``maximumLimit`` entries, so a request's cost is
/// bounded by the queue's size for the read and by the limit for the answer.
extension BrokerRoutes {
    /// The most entries one answer holds (and the default when no `limit` is given, ``defaultLimit``).
    static let maximumLimit = 1_000
    static let defaultLimit = 100

    /// The answer for a look-inside path; nil when the path is not one.
    func inspectResponse(to request: WireRequest, path: Substring) -> WireResponse? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false)
        // "", "_broker", "queues"|"topics", account, name, "messages"|"deliveries"
        guard parts.count == 6, parts[1] == "_broker",
              (parts[2] == "queues" && parts[5] == "messages") || (parts[2] == "topics" && parts[5] == "deliveries")
        else { return nil }
        guard request.method == "GET" else {
            return Self.json(status: 405, .object([("error", .string("Use GET."))]), allow: "GET")
        }
        let query = Self.queryParameters(request.queryString)
        let limit: Int
        if let text = query["limit"] {
            guard let value = Int(text), (0...Self.maximumLimit).contains(value) else {
                return Self.notFound("limit must be a whole number from 0 to \(Self.maximumLimit).", status: 400)
            }
            limit = value
        } else {
            limit = Self.defaultLimit
        }
        let region = query["region"] ?? broker.configuration.region
        guard let scoped = try? broker.scoped(accountId: String(parts[3]), region: region) else {
            return Self.notFound("No account \(parts[3]) in region \(region).")
        }
        let name = String(parts[4])
        if parts[2] == "queues" {
            var states = Set(PeekedMessage.State.allCases)
            if let text = query["state"] {
                var chosen = Set<PeekedMessage.State>()
                for word in text.split(separator: ",") {
                    guard let state = Self.states[String(word)] else {
                        return Self.notFound("state must be visible, inFlight or delayed, comma-separated.", status: 400)
                    }
                    chosen.insert(state)
                }
                states = chosen
            }
            guard let queue = try? scoped.queue(named: name), let messages = try? queue.peek(states: states, limit: limit)
            else { return Self.notFound("No queue \(name) in account \(parts[3]), region \(region).") }
            return Self.json(status: 200, .object([("queue", .string(queue.arn)),
                                                   ("messages", .array(messages.map(Self.encode)))]))
        }
        let arn = "arn:aws:sns:\(region):\(parts[3]):\(name)"
        guard let topic = try? scoped.topic(arn: arn) else {
            return Self.notFound("No topic \(name) in account \(parts[3]), region \(region).")
        }
        let deliveries = topic.recentDeliveries(limit: limit)
        return Self.json(status: 200, .object([("topic", .string(arn)),
                                               ("deliveries", .array(deliveries.map(Self.encode)))]))
    }

    private static let states: [String: PeekedMessage.State] = [
        "visible": .visible, "inFlight": .inFlight, "delayed": .delayed,
    ]

    private static func notFound(_ message: String, status: Int = 404) -> WireResponse {
        json(status: status, .object([("error", .string(message))]))
    }

    /// The decoded `name=value` pairs of a query string; the last of a repeated name wins.
    private static func queryParameters(_ query: Substring?) -> [String: String] {
        var parameters: [String: String] = [:]
        for pair in (query ?? "").split(separator: "&") {
            let sides = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let decode = { (text: Substring) in
                text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(text)
            }
            parameters[decode(sides[0])] = sides.count > 1 ? decode(sides[1]) : ""
        }
        return parameters
    }

    private static func milliseconds(_ date: Date) -> JSONValue {
        .number(JSONNumber(Int((date.timeIntervalSince1970 * 1000).rounded(.down))))
    }

    private static func encode(_ message: PeekedMessage) -> JSONValue {
        let state = switch message.state {
        case .visible: "visible"
        case .inFlight: "inFlight"
        case .delayed: "delayed"
        }
        return .object([
            ("messageId", .string(message.messageId)),
            ("state", .string(state)),
            ("body", .string(message.body)),
            ("receiveCount", .number(JSONNumber(message.receiveCount))),
            ("sentTimestamp", milliseconds(message.sentTimestamp)),
            ("firstReceiveTimestamp", message.firstReceiveTimestamp.map(milliseconds) ?? .null),
            ("visibleAt", milliseconds(message.visibleAt)),
            ("messageGroupId", message.messageGroupId.map(JSONValue.string) ?? .null),
            ("sequenceNumber", message.sequenceNumber.map(JSONValue.string) ?? .null),
            ("messageAttributes", .object(message.messageAttributes.sorted { $0.key < $1.key }.map { name, value in
                var fields: [(key: String, value: JSONValue)] = [("DataType", .string(value.dataType))]
                if let text = value.stringValue { fields.append(("StringValue", .string(text))) }
                if let data = value.binaryValue { fields.append(("BinaryValue", .string(data.base64EncodedString()))) }
                return (key: name, value: .object(fields))
            })),
        ])
    }

    private static func encode(_ delivery: SubscriptionDelivery) -> JSONValue {
        let outcome = switch delivery.outcome {
        case .delivered: "delivered"
        case .filteredOut: "filteredOut"
        case .retried: "retried"
        case .failed: "failed"
        case .deadLettered: "deadLettered"
        }
        return .object([
            ("messageId", .string(delivery.messageId)),
            ("subscriptionArn", .string(delivery.subscriptionArn)),
            ("outcome", .string(outcome)),
            ("reason", delivery.reason.map(JSONValue.string) ?? .null),
            ("timestamp", milliseconds(delivery.timestamp)),
        ])
    }
}

@_spi(BrokerServer) import Broker
import Foundation

/// Broker's own JSON endpoints beside the AWS protocols, for people, dashboards and test harnesses:
///
/// - `GET /_broker/health`: status, version, uptime and counts.
/// - `GET /_broker/queues`: every queue of every account and region with its depths, FIFO or not, and its DLQ.
/// - `GET /_broker/topics`: every topic of every account and region with its subscriptions, their filter policies
///   and delivery outcomes.
/// - `GET /_broker/queues/{account}/{name}/messages` and `/_broker/topics/{account}/{name}/deliveries`: a queue's
///   messages without receiving them, a topic's recent delivery outcomes (`BrokerRoutes+Inspect.swift`).
/// - `GET /_broker/metrics`: Prometheus text (``ServerMetrics``).
/// - `POST /_broker/reset`: empties every account and region (answered by ``WireService``).
///
/// They read through the library's public API only, and are served after the same cross-site and Host checks as
/// the AWS API (``AccessPolicy``), so a page of another origin can neither read nor change anything.
struct BrokerRoutes: Sendable {
    let broker: Broker
    let metrics: ServerMetrics
    /// When the server started, for the uptime.
    let started: ContinuousClock.Instant

    /// The server's version, as `/_broker/health` reports it.
    static let version = "0.1.0"

    static let paths: Set<Substring> = ["/_broker/health", "/_broker/queues", "/_broker/topics", "/_broker/metrics"]

    /// The answer for a request to one of these paths; nil for any other request.
    func response(to request: WireRequest) -> WireResponse? {
        let path = request.path.count > 1 && request.path.hasSuffix("/") ? request.path.dropLast() : request.path
        guard Self.paths.contains(path) else { return inspectResponse(to: request, path: path) }
        guard request.method == "GET" else {
            return Self.json(status: 405, .object([("error", .string("Use GET."))]), allow: "GET")
        }
        switch path {
        case "/_broker/health": return Self.json(status: 200, health())
        case "/_broker/queues":
            // Queue URLs as SDKs reach them through this server, as GetQueueUrl answers them.
            let host = request.header("host").flatMap { $0.isEmpty ? nil : $0 } ?? request.defaultHost
            return Self.json(status: 200, .object([("queues", .array(queues(baseURL: "http://\(host)")))]))
        case "/_broker/topics": return Self.json(status: 200, .object([("topics", .array(topics()))]))
        default:
            return WireResponse(status: 200, headers: [("Content-Type", "text/plain; version=0.0.4; charset=utf-8"),
                                                       ("Cache-Control", "no-store")],
                                body: Array(metrics.exposition(of: broker).utf8))
        }
    }

    /// Every account and region with the broker scoped to it.
    private var scopes: [(accountId: String, region: String, broker: Broker)] {
        broker.scopes.compactMap { scope in
            (try? broker.scoped(accountId: scope.accountId, region: scope.region)).map { (scope.accountId, scope.region, $0) }
        }
    }

    func health() -> JSONValue {
        var queues = 0, messages = 0, topics = 0, subscriptions = 0
        for scope in scopes {
            for queue in scope.broker.queues {
                queues += 1
                if let statistics = try? queue.statistics() {
                    messages += statistics.approximateNumberOfMessages + statistics.approximateNumberOfMessagesNotVisible
                        + statistics.approximateNumberOfMessagesDelayed
                }
            }
            let listed = TopicListing.topics(of: scope.broker)
            topics += listed.count
            subscriptions += listed.reduce(0) { $0 + $1.subscriptions.count }
        }
        let uptime = ContinuousClock.now - started
        return .object([
            ("status", .string("ok")),
            ("version", .string(Self.version)),
            ("uptimeSeconds", .number(JSONNumber(Int(uptime.components.seconds)))),
            ("accountId", .string(broker.configuration.accountId)),
            ("region", .string(broker.configuration.region)),
            ("counts", .object([
                ("scopes", .number(JSONNumber(broker.scopes.count))),
                ("queues", .number(JSONNumber(queues))),
                ("messages", .number(JSONNumber(messages))),
                ("topics", .number(JSONNumber(topics))),
                ("subscriptions", .number(JSONNumber(subscriptions))),
            ])),
        ])
    }

    func queues(baseURL: String) -> [JSONValue] {
        scopes.flatMap { scope in
            scope.broker.queues.compactMap { queue -> JSONValue? in
                guard let statistics = try? queue.statistics() else { return nil }
                let redrive = (try? queue.configuration())?.redrivePolicy
                var fields: [(key: String, value: JSONValue)] = [
                    ("account", .string(scope.accountId)), ("region", .string(scope.region)),
                    ("name", .string(queue.name)), ("url", .string("\(baseURL)/\(scope.accountId)/\(queue.name)")),
                    ("arn", .string(queue.arn)),
                    ("fifo", .bool(queue.isFifo)),
                    ("visible", .number(JSONNumber(statistics.approximateNumberOfMessages))),
                    ("inFlight", .number(JSONNumber(statistics.approximateNumberOfMessagesNotVisible))),
                    ("delayed", .number(JSONNumber(statistics.approximateNumberOfMessagesDelayed))),
                    ("oldestMessageAgeSeconds",
                     statistics.oldestMessageAge.map { .number(JSONNumber(Int($0.components.seconds))) } ?? .null),
                ]
                fields.append(("deadLetterQueue", redrive.map { policy in
                    .object([("arn", .string(policy.deadLetterTargetArn)),
                             ("name", .string(String(policy.deadLetterTargetArn.split(separator: ":").last ?? ""))),
                             ("maxReceiveCount", .number(JSONNumber(policy.maxReceiveCount)))])
                } ?? .null))
                return .object(fields)
            }
        }
    }

    func topics() -> [JSONValue] {
        scopes.flatMap { scope in
            TopicListing.topics(of: scope.broker).map { entry -> JSONValue in
                .object([
                    ("account", .string(scope.accountId)), ("region", .string(scope.region)),
                    ("name", .string(entry.topic.name)), ("arn", .string(entry.topic.arn)),
                    ("fifo", .bool(entry.topic.isFifo)),
                    ("subscriptions", .array(entry.subscriptions.map(Self.encode))),
                ])
            }
        }
    }

    private static func encode(_ entry: TopicListing.SubscriptionEntry) -> JSONValue {
        let info = entry.info
        var fields: [(key: String, value: JSONValue)] = [
            ("arn", .string(info.subscriptionArn)), ("protocol", .string(info.protocol.rawValue)),
            ("endpoint", .string(info.endpoint)), ("pendingConfirmation", .bool(info.isPendingConfirmation)),
        ]
        let attributes = entry.attributes ?? [:]
        // The policy as a JSON object, as it was set; its text if it ever fails to parse.
        fields.append(("filterPolicy", attributes["FilterPolicy"].map { text in
            (try? JSONParser.parse(text)) ?? .string(text)
        } ?? .null))
        fields.append(("filterPolicyScope", attributes["FilterPolicyScope"].map(JSONValue.string) ?? .null))
        fields.append(("rawMessageDelivery", .bool(attributes["RawMessageDelivery"] == "true")))
        if let statistics = entry.statistics {
            fields.append(("statistics", .object([
                ("delivered", .number(JSONNumber(statistics.delivered))),
                ("retried", .number(JSONNumber(statistics.retried))),
                ("deadLettered", .number(JSONNumber(statistics.deadLettered))),
                ("dropped", .number(JSONNumber(statistics.dropped))),
                ("filteredOut", .number(JSONNumber(statistics.filteredOut))),
            ])))
        }
        return .object(fields)
    }

    static func json(status: Int, _ value: JSONValue, allow: String? = nil) -> WireResponse {
        var headers = [("Content-Type", "application/json"), ("Cache-Control", "no-store")]
        if let allow { headers.append(("Allow", allow)) }
        return WireResponse(status: status, headers: headers, body: value.jsonBytes)
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Logging
import NIOHTTP1
import Testing

/// Broker's own endpoints: `/_broker/health`, `/_broker/queues`, `/_broker/topics` and `/_broker/metrics` show what
/// the broker holds, in every account and region, and are as closed to other sites' pages as the AWS API.
@Suite("Observability endpoints")
struct ObservabilityTests {
    static let host = ("Host", "127.0.0.1:4566")

    static func sqs(_ service: WireService, _ operation: String, _ body: String) async -> WireResponse {
        await service.respond(to: WireRequest(method: "POST", uri: "/", headers: [
            ("X-Amz-Target", "AmazonSQS.\(operation)"), ("Content-Type", "application/x-amz-json-1.0"), host,
        ], body: Array(body.utf8)))
    }

    static func sns(_ service: WireService, _ form: String) async -> WireResponse {
        await service.respond(to: WireRequest(method: "POST", uri: "/", headers: [
            ("Content-Type", "application/x-www-form-urlencoded"), host,
        ], body: Array(("Version=2010-03-31&" + form).utf8)))
    }

    static func get(_ service: WireService, _ path: String, _ headers: [(String, String)] = []) async -> WireResponse {
        await service.respond(to: WireRequest(method: "GET", uri: path, headers: [host] + headers.map { ($0.0, $0.1) }))
    }

    static func json(_ response: WireResponse) throws -> JSONValue {
        try JSONParser.parse(response.body)
    }

    // MARK: JSON endpoints

    @Test("Health reports status, version, uptime and counts of every account and region")
    func healthReportsCounts() async throws {
        let broker = Broker(configuration: BrokerConfiguration(accountId: "111111111111"))
        let orders = try broker.createQueue(named: "orders")
        try orders.sendMessage("one")
        try orders.sendMessage("two")
        let other = try broker.scoped(accountId: "222222222222", region: "eu-west-1")
        _ = try other.createQueue(named: "audit")
        let topic = try other.createTopic(named: "events")
        _ = try topic.subscribe(try other.queue(named: "audit"))
        let service = WireService(broker: broker)

        let response = await Self.get(service, "/_broker/health")
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/json")
        let health = try Self.json(response)
        #expect(health["status"]?.string == "ok")
        #expect(health["version"]?.string == BrokerRoutes.version)
        #expect(health["uptimeSeconds"]?.int == 0)
        #expect(health["accountId"]?.string == "111111111111")
        #expect(health["counts"]?["scopes"]?.int == 2)
        #expect(health["counts"]?["queues"]?.int == 2)
        #expect(health["counts"]?["messages"]?.int == 2)
        #expect(health["counts"]?["topics"]?.int == 1)
        #expect(health["counts"]?["subscriptions"]?.int == 1)
    }

    @Test("Queues lists every account and region with visible, in-flight and delayed counts, FIFO and dead-letter queue")
    func queuesShowCountsAndDeadLetterQueues() async throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        _ = await Self.sqs(service, "CreateQueue", #"{"QueueName":"orders-dlq"}"#)
        _ = await Self.sqs(service, "CreateQueue", #"""
            {"QueueName":"orders","Attributes":{"RedrivePolicy":"{\"deadLetterTargetArn\":\"arn:aws:sqs:us-east-1:000000000000:orders-dlq\",\"maxReceiveCount\":\"3\"}"}}
            """#)
        let url = "http://127.0.0.1:4566/000000000000/orders"
        for body in ["a", "b", "c"] {
            #expect(await Self.sqs(service, "SendMessage", #"{"QueueUrl":"\#(url)","MessageBody":"\#(body)"}"#).status == 200)
        }
        _ = await Self.sqs(service, "SendMessage", #"{"QueueUrl":"\#(url)","MessageBody":"later","DelaySeconds":60}"#)
        _ = await Self.sqs(service, "ReceiveMessage", #"{"QueueUrl":"\#(url)","MaxNumberOfMessages":2}"#)
        let tokyo = try broker.scoped(accountId: "333333333333", region: "ap-northeast-1")
        _ = try tokyo.createQueue(named: "jobs.fifo", awsAttributes: ["FifoQueue": "true"])

        let listed = try Self.json(await Self.get(service, "/_broker/queues"))["queues"]?.array ?? []
        #expect(listed.count == 3)
        let orders = try #require(listed.first { $0["name"]?.string == "orders" })
        #expect(orders["account"]?.string == "000000000000")
        #expect(orders["url"]?.string == url)
        #expect(orders["region"]?.string == "us-east-1")
        #expect(orders["visible"]?.int == 1)
        #expect(orders["inFlight"]?.int == 2)
        #expect(orders["delayed"]?.int == 1)
        #expect(orders["fifo"]?.bool == false)
        #expect(orders["oldestMessageAgeSeconds"]?.int != nil)
        #expect(orders["deadLetterQueue"]?["name"]?.string == "orders-dlq")
        #expect(orders["deadLetterQueue"]?["maxReceiveCount"]?.int == 3)
        let dlq = try #require(listed.first { $0["name"]?.string == "orders-dlq" })
        #expect(dlq["deadLetterQueue"] == .null)
        #expect(dlq["oldestMessageAgeSeconds"] == .null)
        let jobs = try #require(listed.first { $0["name"]?.string == "jobs.fifo" })
        #expect(jobs["account"]?.string == "333333333333")
        #expect(jobs["region"]?.string == "ap-northeast-1")
        #expect(jobs["fifo"]?.bool == true)
    }

    @Test("Topics lists subscriptions with protocol, endpoint, filter policy, scope and delivery outcomes")
    func topicsShowSubscriptions() async throws {
        let broker = Broker()
        let topic = try broker.createTopic(named: "orders")
        let audit = try broker.createQueue(named: "audit")
        _ = try topic.subscribe(audit, attributes: SubscriptionAttributes(
            filterPolicy: #"{"kind":["refund"]}"#, filterPolicyScope: "MessageBody"))
        _ = try topic.subscribe(protocol: "email", endpoint: "ops@example.com")
        try topic.publish(#"{"kind":"refund"}"#)
        try topic.publish(#"{"kind":"sale"}"#)
        await broker.waitForDeliveries()
        _ = try broker.scoped(region: "eu-central-1").createTopic(named: "alerts")
        let service = WireService(broker: broker)

        let response = await Self.get(service, "/_broker/topics")
        #expect(response.status == 200)
        let listed = try Self.json(response)["topics"]?.array ?? []
        #expect(listed.count == 2)
        let alerts = try #require(listed.first { $0["name"]?.string == "alerts" })
        #expect(alerts["region"]?.string == "eu-central-1")
        #expect(alerts["subscriptions"] == .array([]))
        let orders = try #require(listed.first { $0["name"]?.string == "orders" })
        #expect(orders["region"]?.string == "us-east-1")
        #expect(orders["arn"]?.string == topic.arn)
        let subscriptions = orders["subscriptions"]?.array ?? []
        #expect(subscriptions.count == 2)
        let sqs = try #require(subscriptions.first { $0["protocol"]?.string == "sqs" })
        #expect(sqs["endpoint"]?.string == audit.arn)
        #expect(sqs["filterPolicy"]?["kind"] == .array([.string("refund")]))
        #expect(sqs["filterPolicyScope"]?.string == "MessageBody")
        #expect(sqs["statistics"]?["delivered"]?.int == 1)
        #expect(sqs["statistics"]?["filteredOut"]?.int == 1)
        let email = try #require(subscriptions.first { $0["protocol"]?.string == "email" })
        #expect(email["pendingConfirmation"]?.bool == true)
        #expect(email["endpoint"]?.string == "ops@example.com")
        #expect(email["filterPolicy"] == .null)
    }

    @Test("A queue's messages are shown with their state, receive count and attributes, and peeking changes nothing")
    func queueMessagesArePeekedWithoutReceiving() async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        _ = try queue.sendMessage(SendMessageRequest(body: "first", messageAttributes: ["kind": .string("order")]))
        _ = try queue.sendMessage("second")
        _ = try queue.sendMessage("later", delaySeconds: .seconds(60))
        let received = try await queue.receiveMessages(maxNumberOfMessages: 1)
        let service = WireService(broker: broker)

        let all = try Self.json(await Self.get(service, "/_broker/queues/000000000000/orders/messages"))
        let messages = all["messages"]?.array ?? []
        #expect(messages.compactMap { $0["body"]?.string } == ["first", "second", "later"])
        #expect(messages.compactMap { $0["state"]?.string } == ["inFlight", "visible", "delayed"])
        #expect(messages.first?["receiveCount"]?.int == 1)
        #expect(messages.first?["messageAttributes"]?["kind"]?["StringValue"]?.string == "order")
        #expect(messages.first?["messageId"]?.string == received.first?.messageId)

        let visible = try Self.json(await Self.get(service, "/_broker/queues/000000000000/orders/messages?state=visible&limit=5"))
        #expect((visible["messages"]?.array ?? []).compactMap { $0["body"]?.string } == ["second"])
        // Nothing changed: the visible message is still the next one received, for the first time.
        let next = try await queue.receiveMessages(maxNumberOfMessages: 1, messageSystemAttributeNames: [.approximateReceiveCount])
        #expect(next.map(\.body) == ["second"])
        #expect(next.first?.attributes[.approximateReceiveCount] == "1")

        #expect(await Self.get(service, "/_broker/queues/000000000000/missing/messages").status == 404)
        #expect(await Self.get(service, "/_broker/queues/000000000000/orders/messages?limit=1001").status == 400)
        #expect(await Self.get(service, "/_broker/queues/000000000000/orders/messages?state=gone").status == 400)
        #expect(await service.respond(to: WireRequest(method: "DELETE", uri: "/_broker/queues/000000000000/orders/messages",
                                                      headers: [Self.host])).status == 405)
    }

    @Test("A topic's recent deliveries name each subscription's outcome")
    func topicDeliveriesShowOutcomes() async throws {
        let broker = Broker()
        let topic = try broker.createTopic(named: "order-events")
        let matched = try broker.createQueue(named: "payments")
        let filtered = try broker.createQueue(named: "analytics")
        _ = try topic.subscribe(matched)
        _ = try topic.subscribe(filtered, attributes: SubscriptionAttributes(filterPolicy: #"{"kind":["refund"]}"#))
        _ = try topic.publish("placed", messageAttributes: ["kind": .string("order")])
        let service = WireService(broker: broker)

        let answer = try Self.json(await Self.get(service, "/_broker/topics/000000000000/order-events/deliveries"))
        let outcomes = (answer["deliveries"]?.array ?? []).compactMap { $0["outcome"]?.string }
        #expect(outcomes.sorted() == ["delivered", "filteredOut"])
        #expect(await Self.get(service, "/_broker/topics/000000000000/nothing/deliveries").status == 404)
    }

    @Test("The endpoints answer only GET")
    func endpointsAnswerOnlyGet() async {
        let service = WireService(broker: Broker())
        let response = await service.respond(to: WireRequest(method: "DELETE", uri: "/_broker/queues", headers: [Self.host]))
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET")
    }

    static let crossSite: [(String, String)] = [("Origin", "https://evil.example"), ("Sec-Fetch-Site", "cross-site"),
                                                 ("Origin", "null")]

    @Test("A page of another site can read none of the endpoints",
          arguments: ["/_broker/health", "/_broker/queues", "/_broker/topics", "/_broker/metrics",
                      "/_broker/queues/000000000000/secret-orders/messages",
                      "/_broker/topics/000000000000/secret-topic/deliveries"])
    func crossSiteReadsAreRefused(_ path: String) async throws {
        let broker = Broker()
        _ = try broker.createQueue(named: "secret-orders")
        _ = try broker.createTopic(named: "secret-topic")
        let service = WireService(broker: broker, access: AccessPolicy())
        for header in Self.crossSite {
            let response = await Self.get(service, path, [header])
            #expect(response.status == 403, "\(header)")
            #expect(response.text.contains("AccessDenied"))
            #expect(!response.text.contains("secret-orders"))
        }
        // A rebound host name is refused too, and a page on loopback is served.
        #expect(await service.respond(to: WireRequest(method: "GET", uri: path, headers: [("Host", "evil.example:4566")])).status == 403)
        #expect(await Self.get(service, path, [("Origin", "http://localhost:3000"), ("Sec-Fetch-Site", "same-site")]).status == 200)
    }

    @Test("Over a real connection the endpoints answer JSON, and a cross-site request is refused")
    func endpointsOverTheWire() async throws {
        try await withServer { server, client in
            _ = try server.broker.createQueue(named: "orders")
            let health = try await client.send(method: .GET, uri: "/_broker/health", headers: [])
            #expect(health.status == 200)
            #expect(health.json?["counts"]?["queues"]?.int == 1)
            let queues = try await client.send(method: .GET, uri: "/_broker/queues", headers: [])
            #expect(queues.json?["queues"]?.array?.first?["name"]?.string == "orders")
            let refused = try await client.send(method: .GET, uri: "/_broker/queues", headers: [("Origin", "https://evil.example")])
            #expect(refused.status == 403)
            #expect(!refused.text.contains("orders"))
        }
    }

    // MARK: Metrics

    /// The samples of a Prometheus text exposition by series (`name{labels}`), failing on a line that is not one.
    static func samples(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let pattern = /^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$/
            let match = try #require(line.wholeMatch(of: pattern), "not a sample: \(line)")
            let value = try #require(Double(String(match.2)) ?? (match.2 == "+Inf" ? .infinity : nil), "\(line)")
            samples[String(match.1)] = value
        }
        return samples
    }

    @Test("Metrics are Prometheus text with CloudWatch's names and the values of a known sequence of operations")
    func metricsCarryTheValuesOfKnownOperations() async throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        let audit = try broker.createQueue(named: "audit")
        let topic = try broker.createTopic(named: "orders")
        _ = try topic.subscribe(audit, attributes: SubscriptionAttributes(filterPolicy: #"{"kind":["refund"]}"#,
                                                                          filterPolicyScope: "MessageBody"))
        _ = await Self.sqs(service, "CreateQueue", #"{"QueueName":"work"}"#)
        let url = "http://127.0.0.1:4566/000000000000/work"
        _ = await Self.sqs(service, "SendMessage", #"{"QueueUrl":"\#(url)","MessageBody":"one"}"#)
        _ = await Self.sqs(service, "SendMessageBatch", #"""
            {"QueueUrl":"\#(url)","Entries":[{"Id":"a","MessageBody":"two"},{"Id":"b","MessageBody":"three"}]}
            """#)
        _ = await Self.sqs(service, "SendMessage", #"{"QueueUrl":"\#(url)","MessageBody":"later","DelaySeconds":60}"#)
        let received = try Self.json(await Self.sqs(service, "ReceiveMessage", #"{"QueueUrl":"\#(url)","MaxNumberOfMessages":10}"#))
        let handle = try #require(received["Messages"]?.array?.first?["ReceiptHandle"]?.string)
        #expect(received["Messages"]?.array?.count == 3)
        _ = await Self.sqs(service, "DeleteMessage", #"{"QueueUrl":"\#(url)","ReceiptHandle":"\#(handle)"}"#)
        _ = await Self.sqs(service, "ReceiveMessage", #"{"QueueUrl":"\#(url)"}"#)
        #expect(await Self.sqs(service, "ReceiveMessage", #"{"QueueUrl":"http://127.0.0.1:4566/000000000000/missing"}"#).status == 400)
        for kind in ["refund", "sale"] {
            let message = #"{"kind":"\#(kind)"}"#.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
            #expect(await Self.sns(service, "Action=Publish&TopicArn=\(topic.arn)&Message=\(message)").status == 200)
        }
        await broker.waitForDeliveries()

        let response = await Self.get(service, "/_broker/metrics")
        #expect(response.status == 200)
        #expect(response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true)
        let samples = try Self.samples(response.text)
        let work = #"account="000000000000",region="us-east-1",queue="work""#
        let expected: [String: Double] = [
            "ApproximateNumberOfMessagesVisible{\(work)}": 0,
            "ApproximateNumberOfMessagesNotVisible{\(work)}": 2,
            "ApproximateNumberOfMessagesDelayed{\(work)}": 1,
            "ApproximateAgeOfOldestMessage{\(work)}": 0,
            "NumberOfMessagesSent{\(work)}": 4,
            "NumberOfMessagesReceived{\(work)}": 3,
            "NumberOfMessagesDeleted{\(work)}": 1,
            "NumberOfEmptyReceives{\(work)}": 1,
            #"ApproximateNumberOfMessagesVisible{account="000000000000",region="us-east-1",queue="audit"}"#: 1,
            #"NumberOfMessagesPublished{account="000000000000",region="us-east-1",topic="orders"}"#: 2,
            #"NumberOfNotificationsDelivered{account="000000000000",region="us-east-1",topic="orders"}"#: 1,
            #"NumberOfNotificationsFilteredOut{account="000000000000",region="us-east-1",topic="orders"}"#: 1,
            #"NumberOfNotificationsFailed{account="000000000000",region="us-east-1",topic="orders"}"#: 0,
            #"broker_requests_total{operation="SendMessage"}"#: 2,
            #"broker_requests_total{operation="ReceiveMessage"}"#: 3,
            #"broker_requests_total{operation="Publish"}"#: 2,
            #"broker_request_errors_total{operation="ReceiveMessage",code="QueueDoesNotExist"}"#: 1,
            #"broker_request_duration_seconds_count{operation="SendMessage"}"#: 2,
        ]
        for (series, value) in expected {
            #expect(samples[series] == value, "\(series) in\n\(response.text)")
        }
        // The library counts, so a copy the topic delivered in process counts as sent to its queue.
        #expect(samples[#"NumberOfMessagesSent{account="000000000000",region="us-east-1",queue="audit"}"#] == 1)
        #expect(response.text.contains("# TYPE ApproximateNumberOfMessagesVisible gauge"))
        #expect(response.text.contains("# TYPE broker_request_duration_seconds histogram"))
    }

    @Test("A deleted queue leaves no depth behind in the metrics")
    func deletedQueuesLeaveNoGauges() async throws {
        let broker = Broker()
        let service = WireService(broker: broker)
        let queue = try broker.createQueue(named: "short-lived")
        #expect(await Self.get(service, "/_broker/metrics").text.contains(#"queue="short-lived""#))
        try broker.deleteQueue(queue)
        #expect(!(await Self.get(service, "/_broker/metrics").text.contains(#"queue="short-lived""#)))
    }

    // MARK: Logs

    @Test("Each request logs one line with its operation, account, region, status, duration and error code")
    func requestsAreLogged() async throws {
        let lines = LogCapture()
        var logger = Logger(label: "test", factory: { _ in lines })
        logger.logLevel = .debug
        let service = WireService(broker: Broker(), logger: logger)
        _ = await Self.sqs(service, "CreateQueue", #"{"QueueName":"orders"}"#)
        _ = await Self.sqs(service, "GetQueueUrl", #"{"QueueName":"missing"}"#)
        let records = lines.records
        #expect(records.count == 2)
        #expect(records[0].level == .debug)
        #expect(records[0].metadata["operation"] == "CreateQueue")
        #expect(records[0].metadata["account"] == "000000000000")
        #expect(records[0].metadata["region"] == "us-east-1")
        #expect(records[0].metadata["status"] == "200")
        #expect(records[0].metadata["duration_ms"] != nil)
        #expect(records[0].metadata["error"] == nil)
        #expect(records[1].level == .info)
        #expect(records[1].metadata["status"] == "400")
        #expect(records[1].metadata["error"] == "QueueDoesNotExist")
    }

    @Test("At the default level successes and client errors are not logged")
    func defaultLevelIsQuiet() async throws {
        let lines = LogCapture()
        var logger = Logger(label: "test", factory: { _ in lines })
        logger.logLevel = .notice
        let service = WireService(broker: Broker(), logger: logger)
        _ = await Self.sqs(service, "CreateQueue", #"{"QueueName":"orders"}"#)
        _ = await Self.sqs(service, "GetQueueUrl", #"{"QueueName":"missing"}"#)
        #expect(lines.records.isEmpty)
    }

    @Test("The command line's log level names are swift-log's")
    func logLevelNames() {
        for name in ["trace", "debug", "info", "notice", "warning", "error", "critical"] {
            #expect(Logger.Level(rawValue: name) != nil)
        }
    }
}

/// A log handler that keeps what it is given, for tests.
final class LogCapture: LogHandler, @unchecked Sendable {
    struct Record {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let lock = NSLock()
    private var kept: [Record] = []
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    var records: [Record] { lock.withLock { kept } }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let record = Record(level: event.level, message: "\(event.message)",
                            metadata: (event.metadata ?? [:]).mapValues { "\($0)" })
        lock.withLock { kept.append(record) }
    }
}

extension JSONValue {
    var string: String? { if case .string(let value) = self { value } else { nil } }
    var int: Int? { if case .number(let value) = self { Int(value.text) } else { nil } }
    var bool: Bool? { if case .bool(let value) = self { value } else { nil } }
    var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
}

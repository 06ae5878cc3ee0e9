import Broker
import CoreMetrics
import Metrics
import NIOConcurrencyHelpers
import Prometheus

/// A server's metrics in Prometheus's text format, served at `GET /_broker/metrics`.
///
/// Two kinds of series, kept apart so a deleted queue or a reset leaves no stale gauge behind:
/// - counted as requests are answered, in a registry that lives as long as the server, through swift-metrics'
///   `Counter` and `Timer` on a `PrometheusMetricsFactory` of the server's own (the process-wide `MetricsSystem` is
///   left to the application): requests, errors and latency per operation, and CloudWatch's SQS and SNS counters for
///   the messages sent, received, deleted and published over the wire;
/// - read from the broker at scrape time, in a registry made for that scrape: queue depths and ages, and each
///   topic's delivery outcomes (cumulative in the library, summed over the topic's subscriptions).
///
/// Names are CloudWatch's where CloudWatch has one, labelled `account`, `region` and `queue` or `topic`.
public final class ServerMetrics: Sendable {
    /// The registry of the counters and histograms kept between scrapes.
    public let registry: PrometheusCollectorRegistry
    private let factory: PrometheusMetricsFactory

    /// One operation's request counter and latency timer.
    private struct OperationMetrics {
        let requests: Counter
        let duration: Timer
        var errors: [String: Counter] = [:]
    }

    /// Handles made once per operation or series and reused: making one validates and sanitises its name and labels
    /// and looks it up in the registry, which per request cost more than the counting itself.
    private struct Handles {
        var operations: [String: OperationMetrics] = [:]
        var series: [SeriesKey: Counter] = [:]
    }

    private struct SeriesKey: Hashable {
        let name: String
        let account: String
        let region: String
        let resource: String
    }

    private let handles = NIOLockedValueBox(Handles())

    // swift-metrics' handles, not Prometheus's types of the same names.
    private typealias Counter = CoreMetrics.Counter
    private typealias Timer = CoreMetrics.Timer

    /// Latency buckets for requests: an in-memory broker answers in microseconds, a long poll in up to 20 seconds.
    static let latencyBuckets: [Duration] = [
        .microseconds(100), .microseconds(250), .microseconds(500), .milliseconds(1), .microseconds(2500),
        .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(100), .milliseconds(500),
        .seconds(1), .seconds(5), .seconds(20),
    ]

    /// A new, empty set of metrics.
    public init() {
        registry = PrometheusCollectorRegistry()
        var factory = PrometheusMetricsFactory(registry: registry)
        factory.defaultDurationHistogramBuckets = Self.latencyBuckets
        self.factory = factory
    }

    // MARK: Counted as requests are answered

    /// Counts one answered request of `operation` (an AWS action's name, or `Unknown` when none could be read),
    /// its error code if it failed, and how long it took.
    func recordRequest(operation: String, errorCode: String?, duration: Duration) {
        let (requests, timer, errors) = handles.withLockedValue { handles -> (Counter, Timer, Counter?) in
            var metrics = handles.operations[operation] ?? OperationMetrics(
                requests: Counter(label: "broker_requests_total", dimensions: [("operation", operation)], factory: factory),
                duration: Timer(label: "broker_request_duration_seconds", dimensions: [("operation", operation)],
                                factory: factory))
            var errors: Counter?
            if let errorCode {
                errors = metrics.errors[errorCode] ?? Counter(label: "broker_request_errors_total",
                    dimensions: [("operation", operation), ("code", errorCode)], factory: factory)
                metrics.errors[errorCode] = errors
            }
            handles.operations[operation] = metrics
            return (metrics.requests, metrics.duration, errors)
        }
        requests.increment()
        errors?.increment()
        timer.record(duration: duration)
    }

    /// The counter `name` of one queue or topic, made on first use.
    private func counter(_ name: String, account: String, region: String, kind: String, resource: String) -> Counter {
        let key = SeriesKey(name: name, account: account, region: region, resource: resource)
        return handles.withLockedValue { handles in
            if let counter = handles.series[key] { return counter }
            let counter = Counter(label: name, dimensions: [("account", account), ("region", region), (kind, resource)],
                                  factory: factory)
            handles.series[key] = counter
            return counter
        }
    }

    /// CloudWatch's per-queue counters for one successful SQS message operation: `NumberOfMessagesSent`,
    /// `NumberOfMessagesReceived` (and `NumberOfEmptyReceives`), `NumberOfMessagesDeleted`.
    func recordQueueOperation(_ operation: String, queue: (account: String, region: String, name: String),
                              output: [String: WireValue]) {
        let name: String
        let count: Int
        switch operation {
        case "SendMessage": (name, count) = ("NumberOfMessagesSent", 1)
        case "SendMessageBatch": (name, count) = ("NumberOfMessagesSent", Self.count(output["Successful"]))
        case "DeleteMessage": (name, count) = ("NumberOfMessagesDeleted", 1)
        case "DeleteMessageBatch": (name, count) = ("NumberOfMessagesDeleted", Self.count(output["Successful"]))
        case "ReceiveMessage":
            let received = Self.count(output["Messages"])
            (name, count) = received == 0 ? ("NumberOfEmptyReceives", 1) : ("NumberOfMessagesReceived", received)
        default: return
        }
        guard count > 0 else { return }
        counter(name, account: queue.account, region: queue.region, kind: "queue", resource: queue.name)
            .increment(by: count)
    }

    /// `NumberOfMessagesPublished` for a successful Publish or PublishBatch to a topic.
    func recordPublish(_ operation: String, topic: (account: String, region: String, name: String),
                       output: [String: WireValue]) {
        let count = operation == "PublishBatch" ? Self.count(output["Successful"]) : 1
        guard count > 0 else { return }
        counter("NumberOfMessagesPublished", account: topic.account, region: topic.region, kind: "topic",
                resource: topic.name).increment(by: count)
    }

    private static func count(_ value: WireValue?) -> Int {
        if case .list(let items) = value { return items.count }
        return 0
    }

    // MARK: Scrape

    /// Every series as Prometheus text: the broker's queues and topics read now, then the counters kept between
    /// scrapes.
    public func exposition(of broker: Broker) -> String {
        let scrape = PrometheusCollectorRegistry()
        func gauge(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
            scrape.makeGauge(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
                .set(Double(value))
        }
        func counter(_ name: String, _ help: String, _ labels: [(String, String)], _ value: Int) {
            scrape.makeCounter(descriptor: MetricNameDescriptor(metricName: name, unitName: "", helpText: help), labels: labels)
                .increment(by: Int64(value))
        }
        for (accountId, region) in broker.scopes {
            guard let scoped = try? broker.scoped(accountId: accountId, region: region) else { continue }
            for queue in scoped.queues {
                guard let statistics = try? queue.statistics() else { continue }
                let labels = [("account", accountId), ("region", region), ("queue", queue.name)]
                gauge("ApproximateNumberOfMessagesVisible", "Messages available for retrieval.", labels,
                      statistics.approximateNumberOfMessages)
                gauge("ApproximateNumberOfMessagesNotVisible",
                      "Messages in flight: received, not yet deleted, not yet visible again.", labels,
                      statistics.approximateNumberOfMessagesNotVisible)
                gauge("ApproximateNumberOfMessagesDelayed", "Messages waiting out a delay.", labels,
                      statistics.approximateNumberOfMessagesDelayed)
                gauge("ApproximateAgeOfOldestMessage", "Age in seconds of the oldest message in the queue; 0 when empty.",
                      labels, Int(statistics.oldestMessageAge?.components.seconds ?? 0))
            }
            for topic in TopicListing.topics(of: scoped) {
                let labels = [("account", accountId), ("region", region), ("topic", topic.name)]
                var delivered = 0, failed = 0, filteredOut = 0
                for statistics in topic.subscriptions.compactMap(\.statistics) {
                    delivered += statistics.delivered
                    failed += statistics.deadLettered + statistics.dropped
                    filteredOut += statistics.filteredOut
                }
                counter("NumberOfNotificationsDelivered", "Notifications delivered to the topic's current subscriptions.",
                        labels, delivered)
                counter("NumberOfNotificationsFailed",
                        "Notifications given up on: dead-lettered or dropped after their retries.", labels, failed)
                counter("NumberOfNotificationsFilteredOut", "Notifications a subscription's filter policy turned away.",
                        labels, filteredOut)
            }
        }
        var bytes = scrape.emitToBuffer()
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

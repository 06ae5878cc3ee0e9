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
///   left to the application): requests, errors and latency per operation;
/// - read from the broker at scrape time, in a registry made for that scrape: queue depths and ages, and CloudWatch's
///   SQS and SNS counters, which the library keeps per queue (``QueueStatistics``) and per topic
///   (``TopicStatistics``), so that messages sent, received, deleted and published in process count as well as those
///   that came over the wire.
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

    /// Handles made once per operation and reused: making one validates and sanitises its name and labels and looks
    /// it up in the registry, which per request cost more than the counting itself.
    private struct Handles {
        var operations: [String: OperationMetrics] = [:]
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
            // A success of an operation seen before, nearly every request: one lookup, nothing written back.
            if errorCode == nil, let metrics = handles.operations[operation] { return (metrics.requests, metrics.duration, nil) }
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
                counter("NumberOfMessagesSent", "Messages added to the queue by a send or an SNS subscription.", labels,
                        statistics.numberOfMessagesSent)
                counter("NumberOfMessagesReceived", "Messages ReceiveMessage returned.", labels,
                        statistics.numberOfMessagesReceived)
                counter("NumberOfMessagesDeleted", "Successful deletes with a valid receipt handle.", labels,
                        statistics.numberOfMessagesDeleted)
                counter("NumberOfEmptyReceives", "ReceiveMessage calls that returned no message.", labels,
                        statistics.numberOfEmptyReceives)
            }
            for topic in TopicListing.topics(of: scoped) {
                let labels = [("account", accountId), ("region", region), ("topic", topic.name)]
                guard let statistics = try? topic.topic.statistics() else { continue }
                counter("NumberOfMessagesPublished", "Messages published to the topic.", labels,
                        statistics.numberOfMessagesPublished)
                counter("NumberOfNotificationsDelivered", "Notifications an endpoint took.", labels,
                        statistics.numberOfNotificationsDelivered)
                counter("NumberOfNotificationsFailed",
                        "HTTP/S: every failed attempt; other protocols: notifications given up on after their retries.",
                        labels, statistics.numberOfNotificationsFailed)
                counter("NumberOfNotificationsFilteredOut", "Notifications a subscription's filter policy turned away.",
                        labels, statistics.numberOfNotificationsFilteredOut)
                counter("NumberOfNotificationsRedrivenToDlq", "Notifications moved to a subscription's dead-letter queue.",
                        labels, statistics.numberOfNotificationsRedrivenToDlq)
            }
        }
        var bytes = scrape.emitToBuffer()
        registry.emit(into: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }
}

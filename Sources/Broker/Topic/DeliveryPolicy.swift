import Foundation

/// SNS's retry policy for a delivery that failed on the endpoint's side (for Broker: a handler that threw).
///
/// Retries run in four phases: immediate retries, retries at the minimum delay, a back-off from the minimum to the
/// maximum delay, and retries at the maximum delay. ``awsManaged`` is AWS's fixed policy for SQS and Lambda
/// endpoints: 3 immediate, 2 at 1 s, 10 backing off from 1 to 20 s, 100,000 at 20 s — 100,015 retries over 23 days.
struct DeliveryPolicy: Sendable, Hashable {
    enum Backoff: String, Sendable, Hashable { case linear, arithmetic, geometric, exponential }

    var numRetries: Int
    var numNoDelayRetries: Int
    var numMinDelayRetries: Int
    var numMaxDelayRetries: Int
    var minDelayTarget: Int
    var maxDelayTarget: Int
    var backoffFunction: Backoff
    /// `throttlePolicy.maxReceivesPerSecond` (a topic's `defaultThrottlePolicy`): HTTP/S deliveries a second to one
    /// subscription at most; nil is unthrottled.
    var maxReceivesPerSecond: Int? = nil
    /// `requestPolicy.headerContentType` (a topic's `defaultRequestPolicy`): the `Content-Type` of HTTP/S posts.
    var headerContentType: String? = nil
    /// A topic's `http.disableSubscriptionOverrides`: its policy applies to every HTTP/S subscription as is.
    var disableSubscriptionOverrides = false
    let json: String

    static let awsManaged = DeliveryPolicy(
        numRetries: 100_015, numNoDelayRetries: 3, numMinDelayRetries: 2, numMaxDelayRetries: 100_000,
        minDelayTarget: 1, maxDelayTarget: 20, backoffFunction: .exponential,
        json: #"{"healthyRetryPolicy":{"minDelayTarget":1,"maxDelayTarget":20,"numRetries":100015,"numNoDelayRetries":3,"numMinDelayRetries":2,"numMaxDelayRetries":100000,"backoffFunction":"exponential"}}"#)

    /// A topic's `EffectiveDeliveryPolicy` while it has no `DeliveryPolicy`: AWS's HTTP/S default, in AWS's shape.
    static let defaultTopicPolicyJSON =
        #"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#

    init(numRetries: Int, numNoDelayRetries: Int, numMinDelayRetries: Int, numMaxDelayRetries: Int,
         minDelayTarget: Int, maxDelayTarget: Int, backoffFunction: Backoff, json: String) {
        self.numRetries = numRetries
        self.numNoDelayRetries = numNoDelayRetries
        self.numMinDelayRetries = numMinDelayRetries
        self.numMaxDelayRetries = numMaxDelayRetries
        self.minDelayTarget = minDelayTarget
        self.maxDelayTarget = maxDelayTarget
        self.backoffFunction = backoffFunction
        self.json = json
    }

    /// Parses a subscription's `{"healthyRetryPolicy":{…}}` or a topic's `{"http":{"defaultHealthyRetryPolicy":{…}}}`.
    init(json: String) throws(BrokerError) {
        func invalid(_ reason: String) -> BrokerError {
            BrokerError(.invalidParameter, "Invalid parameter: DeliveryPolicy: \(reason)")
        }
        guard let object = JSONValue.policyObject(json) else { throw invalid("Invalid JSON") }
        let http = object["http"]?.objectValue
        let retry = object["healthyRetryPolicy"]?.objectValue ?? http?["defaultHealthyRetryPolicy"]?.objectValue
        func int(_ key: String, _ fallback: Int) throws(BrokerError) -> Int {
            guard let raw = retry?[key] else { return fallback }
            guard let value = raw.wholeNumber, value >= 0 else {
                throw invalid("\(key) must be a non-negative integer")
            }
            return value
        }
        let minDelay = try int("minDelayTarget", 20)
        let maxDelay = try int("maxDelayTarget", 20)
        let retries = try int("numRetries", 3)
        let noDelay = try int("numNoDelayRetries", 0)
        let minRetries = try int("numMinDelayRetries", 0)
        let maxRetries = try int("numMaxDelayRetries", 0)
        guard minDelay >= 1, minDelay <= maxDelay, maxDelay <= 3_600 else {
            throw invalid("minDelayTarget must be at least 1 and no more than maxDelayTarget, which must be at most 3600")
        }
        guard retries <= 100, noDelay + minRetries + maxRetries <= retries else {
            throw invalid("numRetries must be at most 100 and at least the sum of the other retry counts")
        }
        var backoff = Backoff.linear
        if let name = retry?["backoffFunction"] {
            guard let text = name.stringValue, let parsed = Backoff(rawValue: text) else {
                throw invalid("backoffFunction must be one of linear, arithmetic, geometric, exponential")
            }
            backoff = parsed
        }
        self.init(numRetries: retries, numNoDelayRetries: noDelay, numMinDelayRetries: minRetries,
                  numMaxDelayRetries: maxRetries, minDelayTarget: minDelay, maxDelayTarget: maxDelay,
                  backoffFunction: backoff, json: json)
        // The HTTP/S parts: a subscription's throttlePolicy and requestPolicy, or a topic's http defaults.
        let throttle = object["throttlePolicy"]?.objectValue ?? http?["defaultThrottlePolicy"]?.objectValue
        if let rate = throttle?["maxReceivesPerSecond"] {
            guard let value = rate.wholeNumber, value >= 1 else {
                throw invalid("maxReceivesPerSecond must be a positive integer")
            }
            maxReceivesPerSecond = value
        }
        let request = object["requestPolicy"]?.objectValue ?? http?["defaultRequestPolicy"]?.objectValue
        if let type = request?["headerContentType"] {
            guard let text = type.stringValue, Self.contentTypes.contains(text.lowercased()) else {
                throw invalid("headerContentType is not a supported content type")
            }
            headerContentType = text
        }
        if let disable = http?["disableSubscriptionOverrides"] {
            guard let flag = disable.booleanValue else { throw invalid("disableSubscriptionOverrides must be true or false") }
            disableSubscriptionOverrides = flag
        }
    }

    /// The content types AWS accepts in a request policy.
    static let contentTypes: Set<String> = [
        "text/plain", "text/plain; charset=utf-8", "application/json", "application/json; charset=utf-8",
        "text/xml", "text/xml; charset=utf-8", "application/xml", "application/xml; charset=utf-8", "text/html",
        "text/html; charset=utf-8",
    ]

    /// AWS's HTTP/S default: 3 retries 20 s apart, unthrottled, posted as `text/plain; charset=UTF-8`.
    static let httpDefault = DeliveryPolicy(
        numRetries: 3, numNoDelayRetries: 0, numMinDelayRetries: 0, numMaxDelayRetries: 0, minDelayTarget: 20,
        maxDelayTarget: 20, backoffFunction: .linear, json: defaultTopicPolicyJSON)

    /// The policy an HTTP/S subscription runs under: the topic's `http` policy (AWS's default without one), with
    /// the subscription's own retry, throttle and request policies over it unless the topic disables overrides.
    static func effectiveHTTP(topic: DeliveryPolicy?, subscription: DeliveryPolicy?) -> DeliveryPolicy {
        let base = topic ?? .httpDefault
        guard let subscription, !base.disableSubscriptionOverrides else { return base }
        var merged = subscription
        merged.maxReceivesPerSecond = subscription.maxReceivesPerSecond ?? base.maxReceivesPerSecond
        merged.headerContentType = subscription.headerContentType ?? base.headerContentType
        return merged
    }

    /// An HTTP/S subscription's `EffectiveDeliveryPolicy`, in AWS's shape.
    var effectiveHTTPJSON: String {
        func number(_ value: Int) -> JSONValue { .number(JSONNumber(value)) }
        var members: [JSONValue.Member] = [
            ("healthyRetryPolicy", .object([
                ("minDelayTarget", number(minDelayTarget)), ("maxDelayTarget", number(maxDelayTarget)),
                ("numRetries", number(numRetries)), ("numMaxDelayRetries", number(numMaxDelayRetries)),
                ("numNoDelayRetries", number(numNoDelayRetries)), ("numMinDelayRetries", number(numMinDelayRetries)),
                ("backoffFunction", .string(backoffFunction.rawValue)),
            ])),
            ("sicklyRetryPolicy", .null),
            ("throttlePolicy", maxReceivesPerSecond.map { .object([("maxReceivesPerSecond", number($0))]) } ?? .null),
        ]
        if let headerContentType {
            members.append(("requestPolicy", .object([("headerContentType", .string(headerContentType))])))
        }
        members.append(("guaranteed", .bool(false)))
        return JSONValue.object(members).jsonText
    }

    /// The delay before retry number `retry` (1-based), or nil when the policy has no more retries.
    func delay(beforeRetry retry: Int) -> TimeInterval? {
        guard retry >= 1, retry <= numRetries else { return nil }
        if retry <= numNoDelayRetries { return 0 }
        if retry <= numNoDelayRetries + numMinDelayRetries { return TimeInterval(minDelayTarget) }
        let backoffCount = numRetries - numNoDelayRetries - numMinDelayRetries - numMaxDelayRetries
        let step = retry - numNoDelayRetries - numMinDelayRetries
        guard step <= backoffCount, backoffCount > 0 else { return TimeInterval(maxDelayTarget) }
        let low = Double(minDelayTarget)
        let high = Double(maxDelayTarget)
        let fraction = Double(step) / Double(backoffCount)
        let delay: Double
        switch backoffFunction {
        case .linear: delay = low + (high - low) * fraction
        case .arithmetic: delay = low + (high - low) * fraction * fraction
        case .geometric: delay = low * pow(high / low, fraction)
        case .exponential: delay = low * pow(high / low, fraction * fraction)
        }
        return delay.rounded()
    }
}

import Foundation

/// Posts SNS messages to HTTP/S endpoints: AWS's headers, the delivery policy's retries and throttle, all on the
/// broker's clock, so a test advances a ``ManualClock`` through an hour of retries at once.
enum HTTPDelivery {
    /// What an attempt that ``SNSRealism`` made fail reports, in place of the endpoint's answer.
    static let simulatedFailure = "simulated by SNSRealism"

    /// How long SNS waits for an endpoint's answer before counting the attempt as failed (AWS: 15 s).
    static let timeout: Duration = .seconds(15)

    /// The kinds of message SNS posts to an HTTP/S endpoint (`x-amz-sns-message-type`).
    enum MessageType: String, Sendable {
        case notification = "Notification"
        case subscriptionConfirmation = "SubscriptionConfirmation"
        case unsubscribeConfirmation = "UnsubscribeConfirmation"
    }

    /// AWS's headers for a post: the message type and id, the topic, the subscription (not on a subscription
    /// confirmation, which comes before there is one), raw delivery, and the request policy's content type.
    static func headers(type: MessageType, messageId: String, topicArn: String, subscriptionArn: String?,
                        raw: Bool, contentType: String?) -> [SNSHTTPHeader] {
        var headers = [
            SNSHTTPHeader("x-amz-sns-message-type", type.rawValue),
            SNSHTTPHeader("x-amz-sns-message-id", messageId),
            SNSHTTPHeader("x-amz-sns-topic-arn", topicArn),
        ]
        if let subscriptionArn, type != .subscriptionConfirmation {
            headers.append(SNSHTTPHeader("x-amz-sns-subscription-arn", subscriptionArn))
        }
        if raw { headers.append(SNSHTTPHeader("x-amz-sns-rawdelivery", "true")) }
        headers.append(SNSHTTPHeader("Content-Type", contentType ?? "text/plain; charset=UTF-8"))
        headers.append(SNSHTTPHeader("User-Agent", "Amazon Simple Notification Service Agent"))
        return headers
    }

    /// What became of a post after every attempt the policy allows.
    struct Result: Sendable {
        /// The last attempt's outcome.
        let outcome: SNSHTTPOutcome
        /// Attempts made, the first included.
        let attempts: Int
        /// False when the task was cancelled (the broker's clock was torn down) before an answer.
        let finished: Bool
        /// The outcomes of the attempts that failed and were retried, oldest first.
        var failures: [SNSHTTPOutcome] = []
    }

    /// Posts `request`, retrying failures under `policy` (its four phases) and spacing attempts by `throttle`;
    /// every wait is on `clock`.
    /// The first `simulatedFailures` attempts fail without reaching the endpoint (``SNSRealism``).
    static func post(_ request: SNSHTTPRequest, policy: DeliveryPolicy, throttle: DeliveryThrottle?,
                     clock: any BrokerClock, transport: any SNSHTTPTransport, simulatedFailures: Int = 0) async -> Result {
        var attempts = 0
        var retry = 0
        var failures: [SNSHTTPOutcome] = []
        while true {
            if let throttle, let rate = policy.maxReceivesPerSecond {
                let wait = throttle.reserve(now: clock.now, maxReceivesPerSecond: rate)
                if wait > 0 {
                    do { try await clock.sleep(for: .milliseconds(Int64((wait * 1_000).rounded(.up)))) } catch {
                        return Result(outcome: .failed("cancelled"), attempts: attempts, finished: false)
                    }
                }
            }
            attempts += 1
            let outcome = attempts <= simulatedFailures
                ? .failed(simulatedFailure) : await transport.post(request, timeout: timeout)
            if outcome.isSuccess {
                return Result(outcome: outcome, attempts: attempts, finished: true, failures: failures)
            }
            retry += 1
            guard let delay = policy.delay(beforeRetry: retry) else {
                return Result(outcome: outcome, attempts: attempts, finished: true, failures: failures)
            }
            failures.append(outcome)
            if delay > 0 {
                do { try await clock.sleep(for: .seconds(delay)) } catch {
                    return Result(outcome: outcome, attempts: attempts, finished: false)
                }
            }
        }
    }
}

/// Spaces one subscription's HTTP/S posts at most `maxReceivesPerSecond` a second of the broker's clock.
final class DeliveryThrottle: Sendable {
    private let next = LockedState<Date?>(nil)

    /// Reserves the next slot and returns how long to wait for it (0 when it is free now).
    func reserve(now: Date, maxReceivesPerSecond rate: Int) -> TimeInterval {
        let spacing = 1 / Double(max(1, rate))
        return next.withLock { next in
            let slot = max(now, next ?? now)
            next = slot.addingTimeInterval(spacing)
            return slot.timeIntervalSince(now)
        }
    }
}

import Foundation
import Testing

@testable import Broker

/// A transport that answers from a script and records when (on the broker's clock) each post arrived.
final class ScriptedTransport: SNSHTTPTransport {
    private let state: LockedState<(answers: [SNSHTTPOutcome], posts: [(Date, SNSHTTPRequest)])>
    private let clock: any BrokerClock

    init(clock: any BrokerClock, answers: [SNSHTTPOutcome]) {
        self.clock = clock
        state = LockedState((answers, []))
    }

    func post(_ request: SNSHTTPRequest, timeout: Duration) async -> SNSHTTPOutcome {
        let now = clock.now
        return state.withLock { state in
            state.posts.append((now, request))
            return state.answers.isEmpty ? .status(200) : state.answers.removeFirst()
        }
    }

    var posts: [(Date, SNSHTTPRequest)] { state.withLock { $0.posts } }
}

/// Advances `clock` whenever a task waits on it, until `task` ends: the retries of an hour pass at once.
func drive<T: Sendable>(_ clock: ManualClock, _ task: Task<T, Never>) async -> T {
    let done = LockedState(false)
    let watcher = Task {
        _ = await task.value
        done.withLock { $0 = true }
    }
    while !done.withLock({ $0 }) {
        if let deadline = clock.nextDeadline { clock.advance(to: deadline) }
        await Task.yield()
    }
    _ = await watcher.value
    return await task.value
}

struct HTTPDeliveryTests {
    static let request = SNSHTTPRequest(url: "http://127.0.0.1:9/hook", headers: [], body: "{}")

    @Test func defaultPolicyRetriesThreeTimesTwentySecondsApart() async throws {
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock, answers: Array(repeating: .status(500), count: 10))
        let start = clock.now
        let task = Task {
            await HTTPDelivery.post(Self.request, policy: .httpDefault, throttle: nil, clock: clock, transport: transport)
        }
        let result = await drive(clock, task)
        #expect(result.attempts == 4)
        #expect(result.outcome == .status(500))
        #expect(transport.posts.map { $0.0.timeIntervalSince(start) } == [0, 20, 40, 60])
    }

    @Test func successStopsTheRetries() async throws {
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock, answers: [.failed("connection refused"), .status(503), .status(204)])
        let task = Task {
            await HTTPDelivery.post(Self.request, policy: .httpDefault, throttle: nil, clock: clock, transport: transport)
        }
        let result = await drive(clock, task)
        #expect(result.attempts == 3)
        #expect(result.outcome.isSuccess)
    }

    @Test func fourPhasesFollowThePolicy() async throws {
        let policy = try DeliveryPolicy(json: #"{"healthyRetryPolicy":{"minDelayTarget":2,"maxDelayTarget":10,"numRetries":7,"numNoDelayRetries":1,"numMinDelayRetries":2,"numMaxDelayRetries":2,"backoffFunction":"linear"}}"#)
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock, answers: Array(repeating: .status(500), count: 20))
        let start = clock.now
        let task = Task { await HTTPDelivery.post(Self.request, policy: policy, throttle: nil, clock: clock, transport: transport) }
        let result = await drive(clock, task)
        #expect(result.attempts == 8)
        let gaps = zip(transport.posts.dropFirst(), transport.posts).map { $0.0.timeIntervalSince($1.0) }
        // immediate, 2 at the minimum, 2 backing off from 2 to 10 (6, 10), 2 at the maximum
        #expect(gaps == [0, 2, 2, 6, 10, 10, 10])
        _ = start
    }

    @Test func throttleSpacesPostsByMaxReceivesPerSecond() {
        let throttle = DeliveryThrottle()
        let now = ManualClock.defaultStart
        #expect(throttle.reserve(now: now, maxReceivesPerSecond: 2) == 0)
        #expect(throttle.reserve(now: now, maxReceivesPerSecond: 2) == 0.5)
        #expect(throttle.reserve(now: now, maxReceivesPerSecond: 2) == 1.0)
        #expect(throttle.reserve(now: now.addingTimeInterval(10), maxReceivesPerSecond: 2) == 0)
    }

    @Test func subscriptionPolicyOverridesTheTopicsUnlessTheTopicDisablesOverrides() throws {
        let topic = try DeliveryPolicy(json: #"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":1},"defaultThrottlePolicy":{"maxReceivesPerSecond":3},"disableSubscriptionOverrides":false}}"#)
        let subscription = try DeliveryPolicy(json: #"{"healthyRetryPolicy":{"numRetries":1,"minDelayTarget":2,"maxDelayTarget":2},"requestPolicy":{"headerContentType":"application/json"}}"#)
        let effective = DeliveryPolicy.effectiveHTTP(topic: topic, subscription: subscription)
        #expect(effective.numRetries == 1)
        #expect(effective.maxReceivesPerSecond == 3)
        #expect(effective.headerContentType == "application/json")
        let locked = try DeliveryPolicy(json: #"{"http":{"defaultHealthyRetryPolicy":{"numRetries":5,"minDelayTarget":1,"maxDelayTarget":1},"disableSubscriptionOverrides":true}}"#)
        #expect(DeliveryPolicy.effectiveHTTP(topic: locked, subscription: subscription).numRetries == 5)
        #expect(DeliveryPolicy.effectiveHTTP(topic: nil, subscription: nil).numRetries == 3)
        #expect(DeliveryPolicy.effectiveHTTP(topic: nil, subscription: nil).effectiveHTTPJSON
            == #"{"healthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"sicklyRetryPolicy":null,"throttlePolicy":null,"guaranteed":false}"#)
        #expect(throws: BrokerError.self) { try DeliveryPolicy(json: #"{"throttlePolicy":{"maxReceivesPerSecond":0}}"#) }
        #expect(throws: BrokerError.self) { try DeliveryPolicy(json: #"{"requestPolicy":{"headerContentType":"image/png"}}"#) }
    }

    @Test func headersAreAWSs() {
        let headers = HTTPDelivery.headers(type: .notification, messageId: "m-1", topicArn: "arn:t", subscriptionArn: "arn:t:s",
                                           raw: true, contentType: nil)
        #expect(headers.map(\.name) == ["x-amz-sns-message-type", "x-amz-sns-message-id", "x-amz-sns-topic-arn",
                                        "x-amz-sns-subscription-arn", "x-amz-sns-rawdelivery", "Content-Type", "User-Agent"])
        #expect(headers.first { $0.name == "Content-Type" }?.value == "text/plain; charset=UTF-8")
        let confirmation = HTTPDelivery.headers(type: .subscriptionConfirmation, messageId: "m-2", topicArn: "arn:t",
                                                subscriptionArn: "arn:t:s", raw: false, contentType: "application/json")
        #expect(!confirmation.contains { $0.name == "x-amz-sns-subscription-arn" })
        #expect(confirmation.first?.value == "SubscriptionConfirmation")
    }
}

/// HTTP/S subscriptions delivered through a transport, on the manual clock.
struct HTTPSubscriptionTests {
    static func broker(_ answers: [SNSHTTPOutcome] = []) -> (Broker, ManualClock, ScriptedTransport) {
        let clock = ManualClock()
        let transport = ScriptedTransport(clock: clock, answers: answers)
        let broker = Broker(configuration: BrokerConfiguration(seed: 7, httpTransport: transport), clock: clock)
        return (broker, clock, transport)
    }

    static func json(_ text: String) throws -> [String: Any] {
        try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])
    }

    @Test func subscribePostsAConfirmationAndConfirmedSubscriptionsGetNotifications() async throws {
        let (broker, _, transport) = Self.broker()
        broker.snsEndpoint = "http://127.0.0.1:4566"
        let topic = try broker.createTopic(named: "hooks")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.test/hook")
        await broker.waitForDeliveries()
        #expect(try subscription.isPendingConfirmation())
        let (_, confirmation) = try #require(transport.posts.first)
        #expect(confirmation.url == "https://example.test/hook")
        #expect(confirmation.header("x-amz-sns-message-type") == "SubscriptionConfirmation")
        #expect(confirmation.header("x-amz-sns-subscription-arn") == nil)
        let body = try Self.json(confirmation.body)
        let token = try #require(body["Token"] as? String)
        #expect(body["SubscribeURL"] as? String
            == "http://127.0.0.1:4566/?Action=ConfirmSubscription&TopicArn=\(topic.arn)&Token=\(token)")

        _ = try topic.publish("before confirmation")
        await broker.waitForDeliveries()
        #expect(transport.posts.count == 1, "a pending subscription gets nothing")

        _ = try topic.confirmSubscription(token: token)
        _ = try topic.publish("hello", subject: "greeting")
        await broker.waitForDeliveries()
        let (_, notification) = try #require(transport.posts.last)
        #expect(notification.header("x-amz-sns-message-type") == "Notification")
        #expect(notification.header("x-amz-sns-subscription-arn") == subscription.arn)
        #expect(notification.header("x-amz-sns-topic-arn") == topic.arn)
        #expect(notification.header("Content-Type") == "text/plain; charset=UTF-8")
        let envelope = try Self.json(notification.body)
        #expect(envelope["Message"] as? String == "hello")
        #expect(envelope["Subject"] as? String == "greeting")
        #expect((envelope["UnsubscribeURL"] as? String)?.contains(subscription.arn) == true)
        #expect(try subscription.statistics().delivered == 1)
        #expect(broker.outbox().isEmpty, "what was posted is not also captured")
    }

    @Test func rawDeliveryPostsTheMessageItself() async throws {
        let (broker, _, transport) = Self.broker()
        let topic = try broker.createTopic(named: "hooks")
        let subscription = try topic.subscribe(protocol: "http", endpoint: "http://example.test/raw",
                                               attributes: ["RawMessageDelivery": "true"])
        await broker.waitForDeliveries()
        _ = try topic.confirmSubscription(token: try #require(try subscription.confirmationToken()))
        _ = try topic.publish("just this")
        await broker.waitForDeliveries()
        let (_, post) = try #require(transport.posts.last)
        #expect(post.body == "just this")
        #expect(post.header("x-amz-sns-rawdelivery") == "true")
    }

    @Test func failingEndpointIsRetriedOnThePolicyThenDeadLettered() async throws {
        let (broker, clock, transport) = Self.broker([.status(200)] + Array(repeating: .status(500), count: 10))
        let topic = try broker.createTopic(named: "hooks")
        let dlq = try broker.createQueue(named: "hooks-dlq")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.test/down", attributes: [
            "RedrivePolicy": #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#,
            "DeliveryPolicy": #"{"healthyRetryPolicy":{"numRetries":2,"minDelayTarget":5,"maxDelayTarget":5}}"#,
        ])
        await broker.waitForDeliveries()
        _ = try topic.confirmSubscription(token: try #require(try subscription.confirmationToken()))
        let start = clock.now
        _ = try topic.publish("lost endpoint")
        let waiting = Task { await broker.waitForDeliveries() }
        await drive(clock, waiting)
        let attempts = transport.posts.dropFirst().map { $0.0.timeIntervalSince(start) }
        #expect(attempts == [0, 5, 10])
        #expect(try subscription.statistics().deadLettered == 1)
        #expect(try subscription.statistics().delivered == 0)
        let parked = try await dlq.receiveMessages()
        #expect(parked.count == 1)
        #expect(parked.first.map { $0.body.contains("lost endpoint") } == true)
        let effective = try Self.json(try #require(try subscription.attributes()["EffectiveDeliveryPolicy"]))
        #expect((effective["healthyRetryPolicy"] as? [String: Any])?["numRetries"] as? Int == 2)
    }

    @Test func withoutATransportHTTPDeliveriesAreCaptured() async throws {
        let clock = ManualClock()
        let broker = Broker(configuration: BrokerConfiguration(seed: 7), clock: clock)
        let topic = try broker.createTopic(named: "hooks")
        _ = try topic.subscribe(protocol: "https", endpoint: "https://example.test/hook")
        #expect(broker.outbox().map(\.kind) == [.subscriptionConfirmation])
    }
}

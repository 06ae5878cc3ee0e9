import Foundation

/// What SNS on AWS does to deliveries that a simple emulator never does, switched on with rates a test chooses, so
/// the test can prove that its subscribers survive retries and duplicates.
///
/// What AWS promises: a standard topic delivers at least once, so an endpoint may get a message more than once.
/// When a delivery fails on the endpoint's side, SNS retries it under the protocol's delivery policy (SNS Developer
/// Guide, *Amazon SNS message delivery retries*): for SQS queues and Lambda functions, 3 retries at once, 2 one
/// second apart, 10 backing off exponentially from 1 to 20 seconds, then 100,000 twenty seconds apart — 100,015
/// retries over about 23 days; for HTTP/S the subscription's or topic's delivery policy (by default 3 retries 20
/// seconds apart). While retries remain the message is not lost; once they are used up SNS moves it to the
/// subscription's dead-letter queue (`RedrivePolicy`), or discards it without one.
///
/// With a profile, Broker makes an attempt fail as if the endpoint were unreachable, at ``failureRate``, and retries
/// it at the times that policy gives, on the broker's clock: SQS subscriptions on wake-ups of the clock (so a
/// ``ManualClock`` advanced by 23 days runs every retry before `advance` returns), handler (`lambda`) and HTTP/S
/// subscriptions on the delivery tasks that already retry real failures. Broker leaves out AWS's jitter so that
/// each retry's time is known in advance. A copy that was delivered is delivered once more at ``duplicateRate``.
/// Each failed attempt appears in the delivery history as `retried` (or, the last one, `deadLettered` or `failed`)
/// with a reason naming ``SNSRealism``, and in ``DeliveryStatistics``; a duplicate appears as a second `delivered`.
/// Other protocols (email, SMS, mobile push, Firehose, and HTTP/S without a transport) are captured in the outbox
/// as before.
///
/// Every choice for a publish is drawn when it is published, in subscription order, from a generator seeded from
/// the topic (itself seeded from ``BrokerConfiguration/seed``): a seeded broker that publishes the same messages
/// fails and duplicates the same deliveries at the same times, run after run, however its tasks interleave. Off by
/// default: a topic without realism delivers exactly as before, at the same speed. A FIFO topic, whose copies must
/// keep their order within a message group, never takes a profile.
public struct SNSRealism: Sendable, Hashable {
    /// The chance that one delivery attempt fails; each retry fails again at the same rate, so a copy is retried
    /// about `failureRate / (1 - failureRate)` times on average, and at 1 every attempt the policy allows fails.
    public var failureRate: Double
    /// The chance that a copy, once delivered, is delivered a second time (same SNS `MessageId`).
    public var duplicateRate: Double

    /// Creates a realism profile; each rate is a probability between 0 and 1 (clamped).
    public init(failureRate: Double = 0, duplicateRate: Double = 0) {
        self.failureRate = Self.clamp(failureRate)
        self.duplicateRate = Self.clamp(duplicateRate)
    }

    /// A profile with each effect at a few percent: enough for a test suite to meet each one now and then.
    public static let typical = SNSRealism(failureRate: 0.05, duplicateRate: 0.02)

    private static func clamp(_ rate: Double) -> Double {
        rate.isNaN ? 0 : Swift.min(Swift.max(rate, 0), 1)
    }
}

/// What realism decided for one copy when it was published: how many attempts fail before one gets through, and
/// whether the delivered copy comes twice.
struct DeliveryFate: Sendable {
    /// Attempts that fail, counting the first; when it reaches the policy's attempts, every attempt fails.
    let failures: Int
    let duplicate: Bool

    static let clean = DeliveryFate(failures: 0, duplicate: false)

    /// Why a simulated attempt failed, in the history and statistics.
    static let reason = "Simulated delivery failure (SNSRealism): the endpoint was unavailable."
    /// The reason noted beside a duplicate's second `delivered`.
    static let duplicateReason = "Duplicate delivery (SNSRealism): SNS delivers at least once."
}

/// A topic's realism: the profile and its seeded generator, behind a lock of its own (a leaf).
final class TopicRealism: Sendable {
    let profile: SNSRealism
    private let random: LockedState<IDGenerator>

    init(profile: SNSRealism, seed: UInt64) {
        self.profile = profile
        random = LockedState(IDGenerator(seed: seed))
    }

    /// Draws a copy's fate. `attempts` caps the failures: the first attempt and every retry the policy allows.
    func fate(attempts: Int) -> DeliveryFate {
        let failureRate = profile.failureRate
        let duplicateRate = profile.duplicateRate
        return random.withLock { random in
            var failures = 0
            if failureRate >= 1 {
                failures = attempts
            } else if failureRate > 0 {
                while failures < attempts, Double.random(in: 0..<1, using: &random) < failureRate { failures += 1 }
            }
            let duplicate = failures < attempts && duplicateRate > 0
                && Double.random(in: 0..<1, using: &random) < duplicateRate
            return DeliveryFate(failures: failures, duplicate: duplicate)
        }
    }
}

extension DeliveryPolicy {
    /// The first attempt and every retry.
    var attempts: Int { numRetries + 1 }
}

extension TopicCore {
    /// Sets the realism profile, seeded from the topic's own generator (itself drawn from the broker's seed); FIFO
    /// topics keep none.
    func setRealism(_ profile: SNSRealism?) {
        guard !isFifo else { return }
        state.withLock { state in
            var ids = state.ids  // a copy: drawing the seed leaves the topic's message ids as they would have been
            state.realism = profile.map { TopicRealism(profile: $0, seed: ids.next() ^ 0x5EA1_15A1_0000_0002) }
        }
    }
}

extension Topic {
    /// Turns AWS's delivery failures, retries and duplicates on for this topic's deliveries (nil turns them off);
    /// see ``SNSRealism``. A FIFO topic ignores it. ``BrokerConfiguration/snsRealism`` sets it for every topic a
    /// broker creates.
    public func setRealism(_ realism: SNSRealism?) throws(BrokerError) {
        try core.withLiveState { _ in }
        core.setRealism(realism)
    }

    /// The topic's realism profile; nil when off.
    public func realism() throws(BrokerError) -> SNSRealism? {
        try core.withLiveState { $0.realism?.profile }
    }
}

import Foundation

/// What a standard queue on AWS does that a simple emulator never does, switched on with rates a test chooses, so
/// the test can prove its consumer is idempotent and does not depend on order.
///
/// What AWS promises for a standard queue is at-least-once delivery with best-effort ordering: now and then a
/// message is delivered more than once, and now and then in an order other than the one it was sent in (SQS
/// Developer Guide, *Amazon SQS standard queues* and *Amazon SQS at-least-once delivery*: a server holding a copy
/// may be unreachable when the message is deleted, and hands that copy out later). A short poll asks only a
/// weighted random sample of the servers, so it can come back with fewer messages than the queue holds, or with
/// none; a long poll asks them all and answers as soon as one message is there (*Amazon SQS short and long
/// polling*). A FIFO queue promises exactly-once processing and order within each message group, so realism never
/// touches one.
///
/// Every choice is drawn from a generator seeded from the broker's seed (``BrokerConfiguration/seed``) and the
/// queue, so a seeded broker makes the same choices run after run. Off by default: a queue without realism behaves
/// exactly as before, at the same speed.
public struct SQSRealism: Sendable, Hashable {
    /// The chance that a received message is handed out once more, while the first receive still holds it in
    /// flight, to a later receive (a duplicate, with its own receipt handle and a receive count one higher; either
    /// handle deletes it, as on AWS).
    public var duplicateRate: Double
    /// The chance, per message a receive is about to take, that it is passed over for a later one (it stays
    /// visible and comes later): messages arrive out of send order.
    public var outOfOrderRate: Double
    /// The chance that a short poll (`WaitTimeSeconds` 0) returns nothing although messages are visible.
    public var emptyShortPollRate: Double
    /// The chance that a short poll that does return returns fewer messages than it asked for and could have had.
    public var partialShortPollRate: Double

    /// Creates a realism profile; each rate is a probability between 0 and 1 (clamped).
    public init(duplicateRate: Double = 0, outOfOrderRate: Double = 0, emptyShortPollRate: Double = 0,
                partialShortPollRate: Double = 0) {
        self.duplicateRate = Self.clamp(duplicateRate)
        self.outOfOrderRate = Self.clamp(outOfOrderRate)
        self.emptyShortPollRate = Self.clamp(emptyShortPollRate)
        self.partialShortPollRate = Self.clamp(partialShortPollRate)
    }

    /// A profile with every effect at a few percent: enough for a test suite to meet each one now and then.
    public static let typical = SQSRealism(duplicateRate: 0.02, outOfOrderRate: 0.1, emptyShortPollRate: 0.1,
                                           partialShortPollRate: 0.3)

    private static func clamp(_ rate: Double) -> Double {
        rate.isNaN ? 0 : Swift.min(Swift.max(rate, 0), 1)
    }
}

/// A queue's realism: the profile, its seeded generator, and the messages owed a duplicate receive.
struct RealismState {
    let profile: SQSRealism
    var random: IDGenerator
    /// Messages in flight that a later receive hands out once more (stale entries are skipped).
    var duplicates = Ring<(message: StoredMessage, nonce: UInt64)>()

    init(profile: SQSRealism, seed: UInt64) {
        self.profile = profile
        self.random = IDGenerator(seed: seed)
    }

    mutating func roll(_ rate: Double) -> Bool {
        guard rate > 0 else { return false }
        return Double.random(in: 0..<1, using: &random) < rate
    }
}

extension QueueCore {
    /// Sets the realism profile, seeded from the queue's identity (itself drawn from the broker's seed); FIFO
    /// queues keep none.
    func setRealism(_ realism: SQSRealism?) {
        guard !isFifo else { return }
        let seed = incarnation ^ 0x5EA1_15A1_0000_0001
        state.withLock { state in state.realism = realism.map { RealismState(profile: $0, seed: seed) } }
    }
}

extension Queue {
    /// Turns AWS's standard-queue behaviours on for this queue (nil turns them off); see ``SQSRealism``. A FIFO
    /// queue ignores it. ``BrokerConfiguration/sqsRealism`` sets it for every standard queue a broker creates.
    public func setRealism(_ realism: SQSRealism?) throws(BrokerError) {
        guard !core.isDeleted else { throw BrokerError.queueDoesNotExist() }
        core.setRealism(realism)
    }

    /// The queue's realism profile; nil when off.
    public func realism() throws(BrokerError) -> SQSRealism? {
        try core.read { state, _ in state.realism?.profile }
    }
}

import Foundation

/// One delivery SNS would have sent off the machine (an email, a text message, a push notification, a Firehose
/// record, a Lambda invocation with no handler, an HTTP POST), kept where a test can read it.
public struct SNSOutboxMessage: Sendable, Hashable {
    /// What the delivery is.
    public enum Kind: String, Sendable, Hashable {
        /// A published message.
        case notification = "Notification"
        /// The message SNS sends an endpoint when it is subscribed, with the token that confirms it.
        case subscriptionConfirmation = "SubscriptionConfirmation"
    }

    /// `Notification` or `SubscriptionConfirmation`.
    public let kind: Kind
    /// The subscription's protocol: `http`, `https`, `email`, `email-json`, `sms`, `application`, `firehose`,
    /// `lambda`.
    public let `protocol`: String
    /// The endpoint: a URL, an email address, a phone number, a platform endpoint ARN, a stream or function ARN.
    public let endpoint: String
    /// The subscription that delivered it; nil for a publish straight to a phone number or platform endpoint.
    public let subscriptionArn: String?
    /// The topic it was published to; nil for a publish straight to a phone number or platform endpoint.
    public let topicArn: String?
    /// The SNS message id.
    public let messageId: String
    /// When SNS accepted it, on the broker's clock.
    public let timestamp: Date
    /// An email's subject line; nil for the other protocols.
    public let subject: String?
    /// What the endpoint receives: an email's text, an `email-json`, HTTP, Firehose or Lambda delivery's JSON
    /// envelope (or the raw message with raw delivery), an SMS's text, a push notification's platform payload.
    public let body: String
    /// SMS: the publish's `AWS.SNS.SMS.*` message attributes (their string values); empty otherwise.
    public let attributes: [String: String]
}

/// Which outbox messages to read; nil fields match anything.
public struct SNSOutboxFilter: Sendable, Hashable {
    /// Only messages to this endpoint (URL, email address, phone number, endpoint ARN).
    public var endpoint: String?
    /// Only messages of this topic.
    public var topicArn: String?
    /// Only messages of this protocol (`sms`, `email`, …).
    public var `protocol`: String?
    /// Only messages of this subscription.
    public var subscriptionArn: String?

    /// Creates a filter.
    public init(endpoint: String? = nil, topicArn: String? = nil, protocol: String? = nil, subscriptionArn: String? = nil) {
        self.endpoint = endpoint
        self.topicArn = topicArn
        self.protocol = `protocol`
        self.subscriptionArn = subscriptionArn
    }

    /// Only text messages to this phone number.
    public static func phoneNumber(_ number: String) -> SNSOutboxFilter {
        SNSOutboxFilter(endpoint: number, protocol: "sms")
    }

    func matches(_ message: SNSOutboxMessage) -> Bool {
        (endpoint == nil || endpoint == message.endpoint) && (topicArn == nil || topicArn == message.topicArn)
            && (`protocol` == nil || `protocol` == message.protocol)
            && (subscriptionArn == nil || subscriptionArn == message.subscriptionArn)
    }
}

/// The outbox of one account and region: captured deliveries in the order SNS made them, and the tasks waiting
/// for one.
final class Outbox: Sendable {
    struct Waiter {
        let filter: SNSOutboxFilter
        let continuation: CheckedContinuation<SNSOutboxMessage?, any Error>
        var wakeUp: ScheduledWakeUp?
    }

    /// A wait from the moment it has an id: its slot exists before its continuation does, so a cancellation that
    /// comes first is remembered in it, and a slot is removed exactly when its wait ends.
    enum Slot {
        case registering
        case cancelled
        case waiting(Waiter)
    }

    struct State {
        var messages: [SNSOutboxMessage] = []
        var slots: [UInt64: Slot] = [:]
        var nextWaiter: UInt64 = 0
        /// `waitUntil` conditions on the captured messages (`Outbox+WaitUntil.swift`).
        var watchers = ConditionWaiters<[SNSOutboxMessage]>()
    }

    let state = LockedState(State())

    func record(_ message: SNSOutboxMessage) {
        var wakes: [@Sendable () -> Void] = []
        let woken: [Waiter] = state.withLock { state in
            state.messages.append(message)
            if !state.watchers.isEmpty { state.watchers.evaluate(state.messages, into: &wakes) }
            var woken: [Waiter] = []
            for (id, slot) in state.slots {
                if case .waiting(let waiter) = slot, waiter.filter.matches(message) {
                    state.slots[id] = nil
                    woken.append(waiter)
                }
            }
            return woken
        }
        for waiter in woken {
            waiter.wakeUp?.cancel()
            waiter.continuation.resume(returning: message)
        }
        for wake in wakes { wake() }
    }

    func messages(matching filter: SNSOutboxFilter) -> [SNSOutboxMessage] {
        state.withLock { $0.messages.filter(filter.matches) }
    }

    func clear() { state.withLock { $0.messages.removeAll() } }

    /// The first matching message, waiting for one until `deadline` on `clock` (nil then).
    func wait(matching filter: SNSOutboxFilter, until deadline: Date, clock: any BrokerClock) async throws -> SNSOutboxMessage? {
        try Task.checkCancellation()
        let id = state.withLock { state -> UInt64 in
            state.nextWaiter += 1
            state.slots[state.nextWaiter] = .registering
            return state.nextWaiter
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<SNSOutboxMessage?, any Error>) in
                enum Start { case found(SNSOutboxMessage), cancelled, expired, waiting }
                let start = state.withLock { state -> Start in
                    if case .cancelled = state.slots[id] {
                        state.slots[id] = nil
                        return .cancelled
                    }
                    if let found = state.messages.first(where: filter.matches) {
                        state.slots[id] = nil
                        return .found(found)
                    }
                    if deadline <= clock.now {
                        state.slots[id] = nil
                        return .expired
                    }
                    state.slots[id] = .waiting(Waiter(filter: filter, continuation: continuation))
                    return .waiting
                }
                switch start {
                case .found(let message): continuation.resume(returning: message)
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .expired: continuation.resume(returning: nil)
                case .waiting:
                    let wakeUp = clock.schedule(at: deadline) { [self] in finish(id, with: .success(nil)) }
                    let attached = state.withLock { state -> Bool in
                        guard case .waiting(var waiter) = state.slots[id] else { return false }
                        waiter.wakeUp = wakeUp
                        state.slots[id] = .waiting(waiter)
                        return true
                    }
                    if !attached { wakeUp.cancel() }
                }
            }
        } onCancel: {
            finish(id, with: .failure(CancellationError()))
        }
    }

    private func finish(_ id: UInt64, with result: Result<SNSOutboxMessage?, any Error>) {
        let waiter = state.withLock { state -> Waiter? in
            switch state.slots[id] {
            case .waiting(let waiter):
                state.slots[id] = nil
                return waiter
            case .registering:
                if case .failure = result { state.slots[id] = .cancelled }
                return nil
            case .cancelled, nil:
                return nil
            }
        }
        guard let waiter else { return }
        if case .failure = result { waiter.wakeUp?.cancel() }
        waiter.continuation.resume(with: result)
    }

    /// Waits not yet ended, for tests.
    var waiting: Int { state.withLock { $0.slots.count } }
}

/// What SNS keeps per account and region beside its topics: the outbox, SMS settings and opt-outs, platform
/// applications and their endpoints. Held by the space's topic registry, so every view of the space shares it.
final class SNSSpace: Sendable {
    let outbox = Outbox()
    let sms = LockedState(SMSState())
    let platforms = LockedState(PlatformRegistry())
    /// Ids of messages sent without a topic, endpoint ids and one-time passwords; seeded on first use from the
    /// space's seed (the registry that holds this has none to give), so a seeded broker repeats them run to run.
    private let ids = LockedState<IDGenerator?>(nil)

    func withIDs<R>(seed: UInt64, _ body: (inout IDGenerator) -> R) -> R {
        ids.withLock { ids in
            var generator = ids ?? IDGenerator(seed: seed ^ 0x5A5_0D7B_0C5E_ED01)
            defer { ids = generator }
            return body(&generator)
        }
    }

    /// Empties the outbox, SMS settings, opt-outs and sandbox numbers, platform applications and endpoints.
    func reset() {
        outbox.clear()
        sms.withLock { $0 = SMSState() }
        platforms.withLock { $0 = PlatformRegistry() }
        ids.withLock { $0 = nil }
    }
}

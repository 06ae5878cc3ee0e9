import Foundation

/// What topics need of their broker: identity, clock, queue lookup and the tracker of running deliveries.
struct BrokerContext: Sendable {
    let region: String
    let accountId: String
    let clock: any BrokerClock
    let resolveQueue: @Sendable (String) -> QueueCore?
    let deliveries: DeliveryTracker
    /// The space's outbox, SMS settings and platform applications.
    let sns: SNSSpace
    /// Posts `http`/`https` deliveries; nil captures them in the outbox.
    var httpTransport: (any SNSHTTPTransport)? = nil
    /// The base of SubscribeURL and UnsubscribeURL links.
    var snsEndpoint = "https://sns.us-east-1.amazonaws.com"
    /// Signs envelopes when set (``BrokerConfiguration/messageSigner``).
    var signer: (any SNSMessageSigner)? = nil
    /// ``BrokerConfiguration/topicHistoryLimit``.
    var topicHistoryLimit = 0
    /// ``BrokerConfiguration/snsRealism``: every new topic's realism profile.
    var snsRealism: SNSRealism? = nil
}

/// Counts handler deliveries that have not finished, so a test can wait for them.
final class DeliveryTracker: Sendable {
    private struct State {
        var running = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = LockedState(State())

    func begin() { state.withLock { $0.running += 1 } }

    func end() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.running -= 1
            guard state.running == 0 else { return [] }
            defer { state.waiters.removeAll() }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    var running: Int { state.withLock { $0.running } }

    func waitUntilIdle() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let idle = state.withLock { state -> Bool in
                if state.running == 0 { return true }
                state.waiters.append(continuation)
                return false
            }
            if idle { continuation.resume() }
        }
    }
}

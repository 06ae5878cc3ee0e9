import Foundation

/// An in-memory idempotency guard for handlers, after the Powertools idempotency utility: the first run for a key
/// executes and its result is kept for `expiry` (1 h by default, on the broker's clock); a duplicate gets the kept
/// result; a duplicate that arrives while the first is still running waits for it, or fails with
/// ``IdempotencyError/inProgress(key:)``; when the handler throws, the record is dropped so a retry runs again.
public final class IdempotencyStore: Sendable {
    /// What a duplicate does while the first run is in progress.
    public enum InProgressPolicy: Sendable {
        /// Wait for the first run and share its result.
        case wait
        /// Throw ``IdempotencyError/inProgress(key:)``.
        case fail
    }

    private enum Step { case run, wait, cached(any Sendable), busy }

    private enum Record {
        case inProgress([CheckedContinuation<Void, Never>])
        case completed(any Sendable, expiresAt: Date)
    }

    private let clock: any BrokerClock
    private let expiry: Duration
    private let inProgressPolicy: InProgressPolicy
    private let records = LockedState([String: Record]())

    /// Creates a store reading time from `clock`.
    public init(clock: any BrokerClock, expiry: Duration = .seconds(3_600), inProgress: InProgressPolicy = .wait) {
        self.clock = clock
        self.expiry = expiry
        self.inProgressPolicy = inProgress
    }

    /// Runs `body` once per `key` within the expiry; duplicates get the first result.
    public func run<T: Sendable>(key: String, _ body: @Sendable () async throws -> T) async throws -> T {
        while true {
            let now = clock.now
            let step = records.withLock { records -> Step in
                switch records[key] {
                case .completed(let value, let expiresAt) where expiresAt > now: return .cached(value)
                case .inProgress: return inProgressPolicy == .wait ? .wait : .busy
                default:
                    records[key] = .inProgress([])
                    return .run
                }
            }
            switch step {
            case .cached(let value):
                guard let typed = value as? T else { throw IdempotencyError.resultTypeMismatch(key: key) }
                return typed
            case .busy:
                throw IdempotencyError.inProgress(key: key)
            case .wait:
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let registered = records.withLock { records -> Bool in
                        guard case .inProgress(var waiters) = records[key] else { return false }
                        waiters.append(continuation)
                        records[key] = .inProgress(waiters)
                        return true
                    }
                    if !registered { continuation.resume() }
                }
            case .run:
                do {
                    let value = try await body()
                    finish(key, with: .completed(value, expiresAt: clock.now.adding(expiry)))
                    return value
                } catch {
                    finish(key, with: nil)
                    throw error
                }
            }
        }
    }

    private func finish(_ key: String, with record: Record?) {
        let waiters = records.withLock { records -> [CheckedContinuation<Void, Never>] in
            defer { records[key] = record }
            if case .inProgress(let waiters) = records[key] { return waiters }
            return []
        }
        for waiter in waiters { waiter.resume() }
    }
}

/// Errors of ``IdempotencyStore``.
public enum IdempotencyError: Error, Sendable, Hashable {
    /// A run for this key is in progress and the store was told not to wait.
    case inProgress(key: String)
    /// The kept result has a different type than this call expects.
    case resultTypeMismatch(key: String)
}

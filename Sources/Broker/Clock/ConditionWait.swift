import Foundation

extension BrokerError.Code {
    /// A `waitUntil` whose condition did not hold before its timeout on the broker's clock. Broker's own code: no
    /// AWS operation waits this way.
    public static let waitTimedOut = BrokerError.Code(name: "WaitTimedOut")
}

/// One pending wait — a `waitUntil`, or a sleep on a ``BrokerClock`` — resumed exactly once, by the condition, the
/// timeout or cancellation, whichever comes first; the losers find it finished and do nothing.
final class ConditionWait<Value: Sendable>: Sendable {
    private enum State {
        case idle
        case waiting(CheckedContinuation<Value, any Error>, ScheduledWakeUp?)
        /// Cancelled before the continuation existed: registration resumes at once.
        case cancelledBeforeRegistration
        case finished
    }

    private let state = LockedState(State.idle)

    /// Takes the continuation; false when the wait was cancelled first, so the caller must resume at once.
    func register(_ continuation: CheckedContinuation<Value, any Error>) -> Bool {
        state.withLock { state in
            guard case .idle = state else { return false }
            state = .waiting(continuation, nil)
            return true
        }
    }

    /// Keeps the timeout's wake-up, to cancel it when the condition wins; cancels it now if that already happened.
    func attach(_ wakeUp: ScheduledWakeUp) {
        let keep = state.withLock { state -> Bool in
            guard case .waiting(let continuation, nil) = state else { return false }
            state = .waiting(continuation, wakeUp)
            return true
        }
        if !keep { wakeUp.cancel() }
    }

    /// Whether the wait has been resumed (or cancelled before it began).
    var isFinished: Bool {
        state.withLock { state in
            switch state {
            case .idle, .waiting: false
            case .cancelledBeforeRegistration, .finished: true
            }
        }
    }

    /// Resumes the wait with `result` unless something else did first; true when this call resumed it.
    @discardableResult
    func finish(_ result: Result<Value, any Error>) -> Bool {
        let action: (CheckedContinuation<Value, any Error>, ScheduledWakeUp?)? = state.withLock { state in
            switch state {
            case .idle:
                if case .failure = result { state = .cancelledBeforeRegistration }
                return nil
            case .waiting(let continuation, let wakeUp):
                state = .finished
                return (continuation, wakeUp)
            case .cancelledBeforeRegistration, .finished:
                return nil
            }
        }
        guard let (continuation, wakeUp) = action else { return false }
        wakeUp?.cancel()
        continuation.resume(with: result)
        return true
    }
}

/// The conditions waiting on one subject (a queue's state, an outbox, a consumer's statistics), kept inside the
/// subject owner's locked state. The owner calls ``evaluate(_:into:)`` under its lock after each change and runs
/// the returned resumes once the lock is released, as it does for its long polls.
struct ConditionWaiters<Subject> {
    private struct Entry {
        let id: ObjectIdentifier
        /// A resume to run after the lock when the condition holds for the subject; nil while it does not.
        let check: (Subject) -> (@Sendable () -> Void)?
        let fail: (any Error) -> @Sendable () -> Void
    }

    private var entries: [Entry] = []

    /// Whether no condition waits: the owner's hot paths test this and do nothing more.
    var isEmpty: Bool { entries.isEmpty }
    /// How many conditions wait.
    var count: Int { entries.count }

    /// Adds `wait`, unless it is already finished (its timeout or cancellation came first).
    mutating func add<Value: Sendable>(_ wait: ConditionWait<Value>,
                                       condition: @escaping (Subject) -> Value?) {
        guard !wait.isFinished else { return }
        entries.append(Entry(id: ObjectIdentifier(wait), check: { subject in
            guard let value = condition(subject) else { return nil }
            return { wait.finish(.success(value)) }
        }, fail: { error in { wait.finish(.failure(error)) } }))
    }

    /// Takes `wait` out (timed out or cancelled); true when it was still here.
    @discardableResult
    mutating func remove(_ wait: AnyObject) -> Bool {
        let id = ObjectIdentifier(wait)
        guard let index = entries.firstIndex(where: { $0.id == id }) else { return false }
        entries.remove(at: index)
        return true
    }

    /// Checks every condition against `subject`; those that hold leave, their resumes appended to `resumes`.
    mutating func evaluate(_ subject: Subject, into resumes: inout [@Sendable () -> Void]) {
        var index = 0
        while index < entries.count {
            if let resume = entries[index].check(subject) {
                resumes.append(resume)
                entries.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// Takes every condition out, to fail with `error` after the lock (the subject is gone).
    mutating func removeAll(failingWith error: any Error) -> [@Sendable () -> Void] {
        defer { entries.removeAll() }
        return entries.map { $0.fail(error) }
    }
}

enum ConditionWaiting {
    /// Waits until the owner's condition holds, the timeout passes on `clock`, or the task is cancelled.
    ///
    /// - Parameters:
    ///   - register: called once, with the wait: under the owner's lock, returns the value when the condition holds
    ///     already, or adds the wait to the owner's ``ConditionWaiters`` (which skips a wait already finished) and
    ///     returns nil.
    ///   - unregister: takes the wait out of the owner's list after a timeout or a cancellation.
    ///   - describe: what was awaited, for the timeout's message.
    static func wait<Value: Sendable>(
        timeout: Duration, clock: any BrokerClock, describe: @autoclosure () -> String,
        register: (ConditionWait<Value>) throws(BrokerError) -> Value?,
        unregister: @escaping @Sendable (ConditionWait<Value>) -> Void
    ) async throws -> Value {
        guard timeout >= .zero else {
            throw BrokerError.invalidParameter("Timeout", value: "\(timeout)", reason: "Must not be negative.")
        }
        try Task.checkCancellation()
        let deadline = clock.now.adding(timeout)
        let message = "Timed out after \(timeout) waiting for \(describe())."
        let wait = ConditionWait<Value>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Value, any Error>) in
                guard wait.register(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                do {
                    if let value = try register(wait) {
                        wait.finish(.success(value))
                        return
                    }
                } catch {
                    wait.finish(.failure(error))
                    return
                }
                let timedOut: @Sendable () -> Void = {
                    if wait.finish(.failure(BrokerError(.waitTimedOut, message))) { unregister(wait) }
                }
                // A zero timeout is a check, not a wait for the clock's next advance.
                if deadline <= clock.now { timedOut() } else { wait.attach(clock.schedule(at: deadline, timedOut)) }
            }
        } onCancel: {
            if wait.finish(.failure(CancellationError())) { unregister(wait) }
        }
    }
}

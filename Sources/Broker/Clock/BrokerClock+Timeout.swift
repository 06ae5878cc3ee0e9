import Foundation

/// Runs `body` against a timeout on the broker's clock; the body is cancelled (cooperatively) when time runs out, and
/// when the caller is cancelled, which settles the call at once as a `CancellationError` failure.
enum Timeout {
    enum Outcome<T: Sendable>: Sendable {
        case finished(Result<T, any Error>)
        case timedOut
    }

    static func run<T: Sendable>(_ timeout: Duration, clock: any BrokerClock,
                                 _ body: @escaping @Sendable () async throws -> T) async -> Outcome<T> {
        let gate = LockedState<(done: Bool, cancelled: Bool, timer: Task<Void, Never>?, work: Task<Void, Never>?)>(
            (false, false, nil, nil))
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome<T>, Never>) in
                @Sendable func finish(_ outcome: Outcome<T>) -> Bool {
                    let tasks = gate.withLock { state -> (Task<Void, Never>?, Task<Void, Never>?)? in
                        guard !state.done else { return nil }
                        state.done = true
                        return (state.timer, state.work)
                    }
                    guard let tasks else { return false }
                    continuation.resume(returning: outcome)
                    if case .timedOut = outcome { tasks.1?.cancel() } else { tasks.0?.cancel() }
                    return true
                }
                let work = Task {
                    let result: Result<T, any Error>
                    do { result = .success(try await body()) } catch { result = .failure(error) }
                    _ = finish(.finished(result))
                }
                let timer = Task {
                    do { try await clock.sleep(for: timeout) } catch {
                        // Cancelled: the body finished first (then this does nothing), or the caller was
                        // cancelled, which settles the call now, as a failure, without waiting for the body.
                        _ = finish(.finished(.failure(CancellationError())))
                        return
                    }
                    _ = finish(.timedOut)
                }
                let (decided, cancelled) = gate.withLock { state -> (Bool, Bool) in
                    state.work = work
                    state.timer = timer
                    return (state.done, state.cancelled)
                }
                if decided || cancelled {
                    // Decided or cancelled before the tasks were recorded: stop them (a finished one ignores it).
                    timer.cancel()
                    work.cancel()
                }
            }
        } onCancel: {
            let tasks = gate.withLock { state -> [Task<Void, Never>] in
                state.cancelled = true
                return [state.timer, state.work].compactMap { $0 }
            }
            for task in tasks { task.cancel() }
        }
    }
}

/// The journal waits that state changes made inside ``run(_:)`` hand over instead of blocking their thread.
///
/// A durable call returns once its record meets the level's promise, and a synchronous call can only wait for that
/// by blocking its thread. On the cooperative pool (two threads on a two-core machine) that lets at most two tasks
/// share a sync. Inside ``run(_:)`` a critical section that journaled registers its record here, with the effects it
/// would have applied after the wait (resuming long polls, dead-letter moves); ``run(_:)`` then suspends the task
/// until each record is decided, applies the effects, and returns the body's result, or the first storage error.
///
/// The box is reached through a task-local value. A task the body starts inherits it, and may still journal after
/// ``run(_:)`` has finished; the box is closed by then, and such a call waits the synchronous way.
final class DurableDeferral: Sendable {
    /// One journaled critical section: its record, and what to do once the record is decided.
    struct Commit: Sendable {
        let store: BrokerStore
        let ticket: JournalTicket
        let finish: @Sendable (BrokerError?) -> Void
    }

    @TaskLocal static var current: DurableDeferral?

    /// The commits, each with the tag that was current when it came (see ``deferring(tag:_:)``).
    private let commits = LockedState<(open: Bool, list: [(commit: Commit, tag: Int)], tag: Int)>((true, [], 0))

    /// Takes the commit if the box is still open; false tells the caller to wait itself.
    func add(_ commit: Commit) -> Bool {
        commits.withLock { state in
            guard state.open else { return false }
            state.list.append((commit, state.tag))
            return true
        }
    }

    /// Runs `body` with this box as the current one, its commits tagged `tag`; for ``waitBlocking()``.
    func deferring<R>(tag: Int, _ body: () -> R) -> R {
        commits.withLock { $0.tag = tag }
        return Self.$current.withValue(self, operation: body)
    }

    /// Closes the box and blocks the thread until each commit is decided, in the order they came, applying each
    /// one's effects; returns the tags and errors of those that could not be stored.
    ///
    /// For a synchronous caller whose one call makes several journaled changes, each of which would otherwise block
    /// for a sync of its own: a publish's copies to its subscribed queues. The records are appended as each change
    /// is made, so one sync usually decides them all.
    func waitBlocking() -> [(tag: Int, error: BrokerError)] {
        let list = commits.withLock { state in
            state.open = false
            return state.list
        }
        var failures: [(tag: Int, error: BrokerError)] = []
        for (commit, tag) in list {
            var outcome: BrokerError?
            do throws(BrokerError) {
                try commit.store.journal.wait(for: commit.ticket)
            } catch {
                outcome = error
            }
            commit.finish(outcome)
            if let outcome { failures.append((tag, outcome)) }
        }
        return failures
    }

    /// Runs `body`, then waits, suspending, for every record its state changes journaled.
    static func run<R>(_ body: () throws(BrokerError) -> R) async throws(BrokerError) -> R {
        let deferral = DurableDeferral()
        let result: Result<R, BrokerError> = $current.withValue(deferral) {
            do throws(BrokerError) {
                return .success(try body())
            } catch {
                return .failure(error)
            }
        }
        let commits = deferral.commits.withLock { state in
            state.open = false
            return state.list
        }
        var failure: BrokerError?
        for (commit, _) in commits {
            let outcome = await withCheckedContinuation { (continuation: CheckedContinuation<BrokerError?, Never>) in
                commit.store.journal.whenDecided(commit.ticket) { continuation.resume(returning: $0) }
            }
            commit.finish(outcome)
            if failure == nil { failure = outcome }
        }
        if let failure { throw failure }
        return try result.get()
    }
}

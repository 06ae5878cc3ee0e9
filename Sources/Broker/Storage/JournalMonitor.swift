#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value behind a `pthread_mutex_t`, with two condition variables to wait on it: what group commit needs and
/// ``LockedState`` does not offer (appenders wait for a sync, the flusher waits for work).
///
/// Lock and unlock are explicit, because a group-commit leader lets go of the lock for the write and sync in the
/// middle of its critical section. The state is reached through ``state`` (a pointer, so the compiler assumes
/// nothing about it across a wait), and only between ``lock()`` and ``unlock()``.
final class JournalMonitor<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let conditions: UnsafeMutablePointer<pthread_cond_t>
    /// The guarded value: read and write it only with the lock held.
    let state: UnsafeMutablePointer<State>

    /// Which condition variable a wait or a signal is about.
    enum Condition: Int {
        /// A batch's outcome is known (written, synced or failed), or the flusher stopped.
        case done = 0
        /// There is something for the flusher thread to do.
        case work = 1
    }

    init(_ initial: State) {
        state = .allocate(capacity: 1)
        state.initialize(to: initial)
        mutex = .allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        pthread_mutex_init(mutex, nil)
        conditions = .allocate(capacity: 2)
        for index in 0..<2 {
            (conditions + index).initialize(to: pthread_cond_t())
            var attributes = pthread_condattr_t()
            pthread_condattr_init(&attributes)
            #if !canImport(Darwin)
            // Timed waits measure the fsync interval on the monotonic clock, immune to wall-clock jumps.
            pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC)
            #endif
            pthread_cond_init(conditions + index, &attributes)
            pthread_condattr_destroy(&attributes)
        }
    }

    deinit {
        for index in 0..<2 { pthread_cond_destroy(conditions + index) }
        conditions.deallocate()
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    @inline(__always) func lock() { pthread_mutex_lock(mutex) }
    @inline(__always) func unlock() { pthread_mutex_unlock(mutex) }

    /// Releases the lock until `condition` is signalled (or a spurious wake-up: callers re-check in a loop).
    func wait(_ condition: Condition) {
        pthread_cond_wait(conditions + condition.rawValue, mutex)
    }

    /// A monotonic instant in nanoseconds, for pacing the disk's work (not the broker's time, which is its clock's).
    static func monotonicNanoseconds() -> Int64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return Int64(now.tv_sec) * 1_000_000_000 + Int64(now.tv_nsec)
    }

    /// As ``wait(_:)``, or until `nanoseconds` have passed on the monotonic clock.
    func wait(_ condition: Condition, nanoseconds: Int64) {
        var now = timespec()
        #if canImport(Darwin)
        clock_gettime(CLOCK_REALTIME, &now)
        #else
        clock_gettime(CLOCK_MONOTONIC, &now)
        #endif
        let nanos = Int64(now.tv_nsec) + nanoseconds % 1_000_000_000
        var deadline = timespec()
        deadline.tv_sec = now.tv_sec + Int(nanoseconds / 1_000_000_000) + Int(nanos / 1_000_000_000)
        deadline.tv_nsec = Int(nanos % 1_000_000_000)
        pthread_cond_timedwait(conditions + condition.rawValue, mutex, &deadline)
    }

    /// Wakes every thread waiting on `condition`.
    func broadcast(_ condition: Condition) { pthread_cond_broadcast(conditions + condition.rawValue) }

    /// Wakes one thread waiting on `condition`.
    func signal(_ condition: Condition) { pthread_cond_signal(conditions + condition.rawValue) }
}

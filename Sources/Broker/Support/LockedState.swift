#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A value guarded by one `pthread_mutex_t`.
///
/// The project's own lock, not `Synchronization.Mutex`: on this Linux toolchain `Mutex` costs several times more
/// per uncontended lock and ThreadSanitizer reports false races through it (see DESIGN.md).
///
/// The state lives in memory of its own rather than in a stored property: an `inout` access to a class's stored
/// property is checked for exclusivity at run time (a thread-local access set, on every lock), and the mutex
/// already guarantees what that check would.
final class LockedState<State>: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let state: UnsafeMutablePointer<State>

    init(_ initial: State) {
        state = UnsafeMutablePointer<State>.allocate(capacity: 1)
        state.initialize(to: initial)
        mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
        mutex.initialize(to: pthread_mutex_t())
        #if canImport(Glibc)
        // Adaptive: a thread that finds the lock taken spins briefly before sleeping. Critical sections here last
        // well under a microsecond, so under contention (a consumer's workers on two cores, say) the holder is
        // nearly always gone before a sleep and its futex wake-up, which cost microseconds each, would be over.
        var attributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&attributes)
        pthread_mutexattr_settype(&attributes, Int32(PTHREAD_MUTEX_ADAPTIVE_NP))
        pthread_mutex_init(mutex, &attributes)
        pthread_mutexattr_destroy(&attributes)
        #else
        pthread_mutex_init(mutex, nil)
        #endif
    }

    deinit {
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        state.deinitialize(count: 1)
        state.deallocate()
    }

    /// Runs `body` with exclusive access to the state. Never call back into code that may take the same lock.
    @inline(__always)
    func withLock<R, E: Error>(_ body: (inout State) throws(E) -> R) throws(E) -> R {
        pthread_mutex_lock(mutex)
        defer { pthread_mutex_unlock(mutex) }
        return try body(&state.pointee)
    }
}

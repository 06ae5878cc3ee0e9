import Synchronization
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
    /// Whether the mutex is held, kept beside it for threads that wait by spinning (see `lockContended`). Only a hint:
    /// the mutex alone decides who holds the lock.
    private let held = Atomic<Bool>(false)
    /// Threads asleep in the mutex's own wait. While there are any, nobody spins: a spinner would take the lock each
    /// time it came free, before the woken sleeper could, and could keep a thread that fell asleep from ever getting it.
    private let sleepers = Atomic<Int>(0)

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
        if pthread_mutex_trylock(mutex) != 0 { lockContended() }
        held.store(true, ordering: .relaxed)
        defer {
            held.store(false, ordering: .relaxed)
            pthread_mutex_unlock(mutex)
        }
        return try body(&state.pointee)
    }

    /// Spins, reading `held`, before it sleeps. A batch's critical section takes a few microseconds, longer than
    /// glibc's adaptive spin (100 rounds by default) waits, so a thread that found the lock taken went to sleep in
    /// the kernel and was woken by a futex call: with two producers and two consumers on one queue that was a seventh
    /// of all CPU time, and the cores stood idle while both of their threads slept. Reading the mirror writes nothing,
    /// so the spinning thread does not slow the holder; it tries the mutex only once the mirror reads free. About as
    /// many rounds as the longest critical sections last (a few microseconds), then the mutex's own wait; and no
    /// spinning at all while a thread sleeps there (`sleepers`), so that the mutex's waiters are served in turn.
    @inline(never)
    private func lockContended() {
        var rounds = 0
        while rounds < Self.spinRounds, sleepers.load(ordering: .relaxed) == 0 {
            if !held.load(ordering: .relaxed), pthread_mutex_trylock(mutex) == 0 { return }
            rounds += 1
        }
        sleepers.add(1, ordering: .relaxed)
        pthread_mutex_lock(mutex)
        sleepers.subtract(1, ordering: .relaxed)
    }

    /// For a caller about to take the lock again right after releasing it, as a snapshot does between runs of a
    /// queue's messages: while threads sleep in the mutex's wait, steps aside for a few tens of microseconds, so that
    /// one of them, woken by the release, takes the lock first. A woken sleeper needs microseconds to run, and a
    /// caller that took the lock back at once won every race: a sender waited 83–98 ms for the whole copy of a
    /// million messages, as if it were one hold. Spinning until a sleeper got in did as well for one sender, but with
    /// 128 threads on the queue it kept a core busy (the `interval` row lost 12% with a hold per 4,096 messages);
    /// sleeping costs the caller time, not the others.
    func letSleepersIn() {
        guard sleepers.load(ordering: .relaxed) > 0 else { return }
        usleep(20)
    }

    /// Measured at 1,500 to 20,000 (see `lockContended`): 8,000 was best for two producers and two consumers and at
    /// the durable `interval` level.
    private static var spinRounds: Int { lockSpinRounds }
}

/// None on a single processor, where the holder cannot run while a waiter spins. (A global: a generic class cannot
/// store a static property.)
private let lockSpinRounds: Int = sysconf(Int32(_SC_NPROCESSORS_ONLN)) > 1 ? 8_000 : 0

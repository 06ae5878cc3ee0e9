import Foundation
import Testing

@testable import Broker

/// The project's lock under contention: waiters spin on its mirror flag, fall asleep in the mutex, and stop spinning
/// while anyone sleeps there.
struct LockedStateTests {
    /// Four threads on two cores take the lock for critical sections long enough that waiters exhaust their spin and
    /// sleep, and short ones that they do not; every increment lands, and no two threads are ever inside at once.
    @Test(arguments: [0, 50, 2_000])
    func contendedSectionsStayExclusiveAndLoseNoUpdate(workPerSection: Int) {
        struct Counter {
            var value = 0
            var inside = 0
            var overlaps = 0
            var scratch: UInt64 = 0
        }
        let lock = LockedState(Counter())
        let threads = 4, rounds = workPerSection > 1_000 ? 2_000 : 20_000
        let group = DispatchGroup()
        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                var seed = UInt64(thread + 1)
                for _ in 0..<rounds {
                    lock.withLock { state in
                        state.inside += 1
                        if state.inside > 1 { state.overlaps += 1 }
                        for _ in 0..<workPerSection {
                            seed = seed &* 6_364_136_223_846_793_005 &+ 1
                            state.scratch ^= seed
                        }
                        state.value += 1
                        state.inside -= 1
                    }
                }
            }.start()
        }
        group.wait()
        let final = lock.withLock { $0 }
        #expect(final.value == threads * rounds)
        #expect(final.overlaps == 0)
        #expect(final.inside == 0)
    }
}

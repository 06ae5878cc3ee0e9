import Foundation
import Testing

@testable import Broker

/// A thread-safe list that wake-up actions append to.
private final class WakeUpLog<Element: Sendable>: Sendable {
    private let state = LockedState<[Element]>([])

    func append(_ element: Element) { state.withLock { $0.append(element) } }
    var values: [Element] { state.withLock { $0 } }
}

struct ManualClockTests {
    let start = ManualClock.defaultStart

    /// Yields (never sleeps) until `condition` holds or the bound is reached; returns whether it held.
    private func yieldUntil(maxYields: Int = 100_000, _ condition: () -> Bool) async -> Bool {
        for _ in 0..<maxYields {
            if condition() { return true }
            await Task.yield()
        }
        return condition()
    }

    private func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    // MARK: advance

    @Test func newClockReadsItsStartTimeAndHasNoPendingWakeUps() {
        let clock = ManualClock()
        #expect(clock.now == start)
        #expect(clock.pendingWakeUps == 0)
        #expect(clock.nextDeadline == nil)
        let other = ManualClock(now: Date(timeIntervalSince1970: 42))
        #expect(other.now == Date(timeIntervalSince1970: 42))
    }

    @Test func advanceRunsDueWakeUpsInDeadlineOrderWithTiesInSchedulingOrder() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        _ = clock.schedule(at: at(3)) { log.append("c") }
        _ = clock.schedule(at: at(1)) { log.append("a1") }
        _ = clock.schedule(at: at(2)) { log.append("b") }
        _ = clock.schedule(at: at(1)) { log.append("a2") }
        _ = clock.schedule(at: at(1)) { log.append("a3") }
        #expect(clock.nextDeadline == at(1))
        clock.advance(by: .seconds(5))
        #expect(log.values == ["a1", "a2", "a3", "b", "c"])
        #expect(clock.now == at(5))
    }

    @Test func nowEqualsEachWakeUpsDeadlineWhileItRuns() {
        let clock = ManualClock()
        let seen = WakeUpLog<Date>()
        for offset in [4.0, 1.0, 2.5] {
            _ = clock.schedule(at: at(offset)) { seen.append(clock.now) }
        }
        clock.advance(to: at(10))
        #expect(seen.values == [at(1), at(2.5), at(4)])
        #expect(clock.now == at(10))
    }

    @Test func advanceRunsWakeUpsScheduledByAWakeUpInsideTheAdvancedSpan() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        _ = clock.schedule(at: at(1)) {
            log.append("outer")
            _ = clock.schedule(at: at(2)) {
                log.append("inner")
                _ = clock.schedule(at: at(3)) { log.append("innermost") }
            }
            _ = clock.schedule(at: at(10)) { log.append("beyond") }
        }
        _ = clock.schedule(at: at(4)) { log.append("sibling") }
        clock.advance(by: .seconds(5))
        #expect(log.values == ["outer", "inner", "innermost", "sibling"])
        #expect(clock.pendingWakeUps == 1)
        #expect(clock.nextDeadline == at(10))
        clock.advance(by: .seconds(5))
        #expect(log.values.last == "beyond")
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func advanceDoesNotRunWakeUpsBeyondTheTarget() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        _ = clock.schedule(at: at(10)) { log.append("due") }
        clock.advance(by: .milliseconds(9_999))
        #expect(log.values.isEmpty)
        #expect(clock.pendingWakeUps == 1)
        #expect(clock.now == at(9.999))
        // The deadline itself is due.
        clock.advance(to: at(10))
        #expect(log.values == ["due"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func advanceToAnEarlierTimeDoesNotMoveTheClockBackwards() {
        let clock = ManualClock()
        clock.advance(by: .seconds(10))
        clock.advance(to: at(3))
        #expect(clock.now == at(10))
        clock.advance(by: .zero)
        #expect(clock.now == at(10))
    }

    @Test func wakeUpWithAPastDeadlineRunsAtTheNextAdvanceWithoutMovingTheClockBackwards() {
        let clock = ManualClock()
        clock.advance(by: .seconds(10))
        let seen = WakeUpLog<Date>()
        _ = clock.schedule(at: at(2)) { seen.append(clock.now) }
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .zero)
        #expect(seen.values == [at(10)])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func wakeUpScheduledInThePastByARunningWakeUpRunsAtTheCurrentTime() {
        let clock = ManualClock()
        let seen = WakeUpLog<Date>()
        _ = clock.schedule(at: at(5)) {
            _ = clock.schedule(at: at(1)) { seen.append(clock.now) }
        }
        clock.advance(by: .seconds(8))
        #expect(seen.values == [at(5)])
        #expect(clock.now == at(8))
    }

    @Test func cancelBeforeTheDeadlinePreventsTheRun() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        let cancelled = clock.schedule(at: at(1)) { log.append("cancelled") }
        _ = clock.schedule(at: at(2)) { log.append("kept") }
        #expect(clock.pendingWakeUps == 2)
        cancelled.cancel()
        #expect(clock.pendingWakeUps == 1)
        cancelled.cancel()  // twice: no effect
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .seconds(5))
        #expect(log.values == ["kept"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func cancelByAnEarlierWakeUpInTheSameAdvancePreventsTheRun() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        let later = clock.schedule(at: at(2)) { log.append("later") }
        _ = clock.schedule(at: at(1)) {
            log.append("earlier")
            later.cancel()
        }
        clock.advance(by: .seconds(5))
        #expect(log.values == ["earlier"])
        #expect(clock.pendingWakeUps == 0)
    }

    @Test func cancelAfterTheRunDoesNothing() {
        let clock = ManualClock()
        let log = WakeUpLog<String>()
        let wakeUp = clock.schedule(at: at(1)) { log.append("ran") }
        _ = clock.schedule(at: at(3)) { log.append("other") }
        clock.advance(by: .seconds(1))
        wakeUp.cancel()
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .seconds(5))
        #expect(log.values == ["ran", "other"])
    }

    @Test func pendingWakeUpsCountsScheduledWakeUpsAndIsZeroAfterTheyRun() {
        let clock = ManualClock()
        for second in 1...5 {
            _ = clock.schedule(at: at(TimeInterval(second))) {}
            #expect(clock.pendingWakeUps == second)
        }
        clock.advance(by: .seconds(2))
        #expect(clock.pendingWakeUps == 3)
        #expect(clock.nextDeadline == at(3))
        clock.advance(by: .seconds(3))
        #expect(clock.pendingWakeUps == 0)
        #expect(clock.nextDeadline == nil)
    }

    // MARK: sleep

    @Test func sleepForReturnsOnlyAfterTheClockIsAdvancedPastItsDeadline() async throws {
        let clock = ManualClock()
        let sleeper = Task { () async throws -> Date in
            try await clock.sleep(for: .seconds(10))
            return clock.now
        }
        #expect(await yieldUntil { clock.pendingWakeUps == 1 })
        #expect(clock.nextDeadline == at(10))
        clock.advance(by: .seconds(9))
        #expect(clock.pendingWakeUps == 1)
        clock.advance(by: .seconds(1))
        #expect(clock.pendingWakeUps == 0)
        let wokeAt = try await sleeper.value
        #expect(wokeAt == at(10))
    }

    @Test func sleepUntilANonFutureDeadlineReturnsWithoutSchedulingAWakeUp() async throws {
        let clock = ManualClock()
        try await clock.sleep(for: .zero)
        try await clock.sleep(until: at(-5))
        #expect(clock.pendingWakeUps == 0)
        #expect(clock.now == start)
    }

    @Test func sleepInATaskCancelledBeforeItStartsThrowsCancellationErrorImmediately() async {
        let clock = ManualClock()
        for _ in 0..<200 {
            let sleeper = Task {
                withUnsafeCurrentTask { $0?.cancel() }
                try await clock.sleep(for: .seconds(60))
            }
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(clock.pendingWakeUps == 0)
        }
        #expect(clock.now == start)
    }

    @Test func sleepCancelledWhileSleepingThrowsCancellationErrorAndLeavesNoWakeUp() async {
        let clock = ManualClock()
        let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
        #expect(await yieldUntil { clock.pendingWakeUps == 1 })
        sleeper.cancel()
        await #expect(throws: CancellationError.self) { try await sleeper.value }
        #expect(clock.pendingWakeUps == 0)
        clock.advance(by: .seconds(120))  // nothing left to resume
        #expect(clock.pendingWakeUps == 0)
    }

    /// Cancels at every point of the sleep's life (before the check, between check and registration, between
    /// registration and scheduling, after): each must end in exactly one `CancellationError` and no wake-up. The
    /// sleeper runs on another thread and the cancel comes after a varying busy spin (not a sleep), so the
    /// iterations spread over those windows; a lost tombstone shows as a hang, a double resume as a crash.
    @Test func sleepCancelledAtAnyMomentThrowsCancellationErrorExactlyOnce() async {
        var spinSink = 0
        for iteration in 0..<2_000 {
            let clock = ManualClock()
            let sleeper = Task.detached { try await clock.sleep(for: .seconds(60)) }
            for spin in 0..<(iteration * 37 % 3_000) { spinSink &+= spin }
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
            #expect(clock.pendingWakeUps == 0)
        }
        #expect(spinSink != Int.min)  // keeps the spin from being optimised away
    }

    /// Cancellation racing the wake-up: either may win, the continuation is resumed once, nothing is left behind.
    @Test func sleepWhoseCancellationRacesTheWakeUpEndsOnceEitherWay() async {
        var woke = 0
        var cancelled = 0
        for _ in 0..<200 {
            let clock = ManualClock()
            let sleeper = Task { try await clock.sleep(for: .seconds(1)) }
            #expect(await yieldUntil { clock.pendingWakeUps == 1 })
            let canceller = Task.detached { sleeper.cancel() }
            clock.advance(by: .seconds(1))
            await canceller.value
            do {
                try await sleeper.value
                woke += 1
            } catch is CancellationError {
                cancelled += 1
            } catch {
                Issue.record("unexpected error \(error)")
            }
            #expect(clock.pendingWakeUps == 0)
        }
        #expect(woke + cancelled == 200)
    }

    @Test func concurrentSleepersEachWakeWhenTheirOwnDeadlinePasses() async throws {
        let clock = ManualClock()
        var sleepers: [Int: Task<Date, any Error>] = [:]
        for second in [5, 3, 1, 4, 2] {
            sleepers[second] = Task {
                try await clock.sleep(for: .seconds(second))
                return clock.now
            }
        }
        #expect(await yieldUntil { clock.pendingWakeUps == 5 })
        clock.advance(by: .seconds(3))
        #expect(clock.pendingWakeUps == 2)
        for second in 1...3 {
            #expect(try await sleepers[second]?.value == at(3))
        }
        clock.advance(by: .seconds(2))
        #expect(clock.pendingWakeUps == 0)
        for second in 4...5 {
            #expect(try await sleepers[second]?.value == at(5))
        }
    }
}

struct SystemClockTests {
    @Test func nowFollowsTheWallClock() {
        let before = Date()
        let now = SystemClock().now
        let after = Date()
        #expect(before <= now && now <= after)
    }

    @Test func scheduleRunsTheActionAtOrAfterItsDeadline() async {
        let clock = SystemClock()
        let deadline = clock.now.addingTimeInterval(0.02)
        let ranAt: Date = await withCheckedContinuation { continuation in
            _ = clock.schedule(at: deadline) { continuation.resume(returning: Date()) }
        }
        // Dispatch's wall-clock timers may round by a millisecond or so; allow that, not more.
        #expect(ranAt >= deadline.addingTimeInterval(-0.005))
    }

    @Test func scheduleWithAPastDeadlineRunsPromptly() async {
        let clock = SystemClock()
        let ran: Bool = await withCheckedContinuation { continuation in
            _ = clock.schedule(at: clock.now.addingTimeInterval(-1)) { continuation.resume(returning: true) }
        }
        #expect(ran)
    }

    @Test func cancelledWakeUpDoesNotRun() async {
        let clock = SystemClock()
        let log = WakeUpLog<String>()
        let cancelled = clock.schedule(at: clock.now.addingTimeInterval(0.05)) { log.append("cancelled") }
        cancelled.cancel()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            _ = clock.schedule(at: clock.now.addingTimeInterval(0.1)) {
                log.append("kept")
                continuation.resume()
            }
        }
        #expect(log.values == ["kept"])
        cancelled.cancel()  // after the deadline: no effect
    }

    @Test func sleepCancelledWhileSleepingThrowsCancellationError() async {
        let clock = SystemClock()
        for _ in 0..<50 {
            let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
            await Task.yield()
            sleeper.cancel()
            await #expect(throws: CancellationError.self) { try await sleeper.value }
        }
    }
}

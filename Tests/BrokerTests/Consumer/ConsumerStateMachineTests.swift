import Testing

@testable import Broker

/// The consumer's decisions, driven directly: no task, no clock, no lock. A parked worker is a plain number.
struct ConsumerStateMachineTests {
    private typealias Machine = ConsumerStateMachine<Int>

    /// Jobs the machine only queues and hands out: none runs here.
    private static func jobs(_ count: Int) -> [ConsumerRuntime.Job] {
        (0..<count).map { _ in { ConsumerRuntime.JobOutcome(slots: 1) } }
    }

    private static func delete(_ id: String) -> ConsumerRuntime.PendingDelete {
        ConsumerRuntime.PendingDelete(messageId: id, receiptHandle: "handle-\(id)")
    }

    /// A job's outcome: one slot back, and a delete owed when `delete` names a message.
    private static func done(delete id: String? = nil) -> Machine.Settlement {
        .job(ConsumerRuntime.JobOutcome(slots: 1, delete: id.map(delete)))
    }

    /// `#expect` cannot take a mutating call; this takes its result.
    private static func check(_ holds: Bool, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(holds, sourceLocation: sourceLocation)
    }

    private static let receiver = ConsumerRuntime.PoolReceiver(batchSize: 10) { _ in nil }

    /// A running machine whose poll loop took `slots` and queued as many jobs.
    private static func running(slots: Int, receiver: ConsumerRuntime.PoolReceiver? = nil, queued: Int) -> Machine {
        var machine = Machine(slots: slots)
        Self.check(machine.start(receiver: receiver))
        let taken = machine.acquire(maximum: queued).slots
        #expect(taken == queued)
        _ = machine.received(jobs(queued), unusedSlots: 0)
        return machine
    }

    private static func name(_ step: Machine.Step) -> String {
        switch step {
        case .run: "run"
        case .receive(let slots, _): "receive \(slots)"
        case .spin: "spin"
        case .park: "park"
        case .exit: "exit"
        }
    }

    private static func name(_ summons: Machine.Summons) -> String {
        switch summons {
        case .none: "none"
        case .wake(let worker): "wake \(worker)"
        case .spawn: "spawn"
        }
    }

    // MARK: Lifecycle

    @Test func thePollLoopGetsNoSlotsWhilePausedAndIsToldToStopOnceStopping() {
        var machine = Machine(slots: 4)
        Self.check(machine.start(receiver: nil))
        machine.pause()
        Self.check(machine.acquire(maximum: 4).slots == nil)
        #expect(!machine.mayAcquire(maximum: 4))
        machine.resume()
        #expect(machine.mayAcquire(maximum: 4))
        Self.check(machine.acquire(maximum: 4).slots == 4)
        Self.check(machine.acquire(maximum: 4).slots == nil)
        _ = machine.stop(drainTimeout: .seconds(5))
        #expect(machine.mayAcquire(maximum: 4))
        Self.check(machine.acquire(maximum: 4).slots == 0)
    }

    @Test func aConsumerStoppedBeforeItRanNeverStartsAndHasNothingToWaitFor() {
        var machine = Machine(slots: 1)
        let request = machine.stop(drainTimeout: .seconds(5))
        #expect(request.neverRan && request.alreadyStopped)
        Self.check(!machine.start(receiver: nil))
        #expect(machine.phase == .stopped)
    }

    @Test func aConsumerRunsOnceAndAStopWhileRunningWaitsForTheDrain() {
        var machine = Machine(slots: 1)
        Self.check(machine.start(receiver: nil))
        Self.check(!machine.start(receiver: nil))
        let request = machine.stop(drainTimeout: .seconds(5))
        #expect(!request.neverRan && !request.alreadyStopped)
        #expect(machine.isStopping)
        machine.finish()
        Self.check(machine.stop(drainTimeout: .seconds(5)).alreadyStopped)
        Self.check(!machine.start(receiver: nil))
    }

    @Test func theFirstStopsDrainTimeoutHoldsAndCancellationLeavesNoGracePeriod() {
        var machine = Machine(slots: 1)
        Self.check(machine.start(receiver: nil))
        _ = machine.stop(drainTimeout: .seconds(5))
        _ = machine.stop(drainTimeout: .seconds(60))
        #expect(machine.drainTimeout == .seconds(5))
        machine.cancel()
        #expect(machine.drainTimeout == .zero)
        var cancelled = Machine(slots: 1)
        Self.check(cancelled.start(receiver: nil))
        cancelled.cancel()
        #expect(cancelled.isStopping)
        _ = cancelled.stop(drainTimeout: .seconds(5))
        #expect(cancelled.drainTimeout == .zero)
    }

    // MARK: Workers asking for work

    @Test func aWorkerLeftWithoutAJobParksWhilePausedInsteadOfReceiving() {
        var machine = Self.running(slots: 10, receiver: Self.receiver, queued: 1)
        Self.check(Self.name(machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0).step) == "run")
        machine.pause()
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "park")
        machine.resume()
        // The last receive found messages: the worker receives for itself, for every free slot up to the batch.
        Self.check(Self.name(machine.nextStep(after: .none, arrived: false, cancelled: false, spins: 0).step) == "receive 10")
        #expect(machine.freeSlots == 0)
    }

    @Test func aWorkerFindingTheQueueEmptyHandsReceivingBackToThePollLoop() {
        var machine = Self.running(slots: 10, receiver: Self.receiver, queued: 1)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        // One worker is busy and none is free to receive: the poll loop may.
        #expect(machine.mayAcquire(maximum: 10))
        let action = machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0)
        #expect(Self.name(action.step) == "receive 10")
        #expect(!machine.mayAcquire(maximum: 10))
        let empty = machine.nextStep(after: .received(slots: 10, result: ([], 0)), arrived: false, cancelled: false, spins: 0)
        #expect(Self.name(empty.step) == "park")
        #expect(machine.freeSlots == 10)
        #expect(!machine.workersReceive)
    }

    @Test func aWorkerSpinsWhileAnotherReceivesThenParks() {
        var machine = Self.running(slots: 10, receiver: Self.receiver, queued: 2)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        // The first worker receives; the second, done too, waits for what the receive brings.
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "receive 9")
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "spin")
        let spins = Machine.spinsBeforeParking
        Self.check(Self.name(machine.nextStep(after: .none, arrived: false, cancelled: false, spins: spins - 1).step) == "spin")
        Self.check(Self.name(machine.nextStep(after: .none, arrived: false, cancelled: false, spins: spins).step) == "park")
    }

    @Test func aWorkerAskingForWorkWhileDrainingRunsTheQueuedJobsThenExits() {
        var machine = Self.running(slots: 3, queued: 3)
        // The first worker takes a job and summons a second for the rest.
        Self.check(Self.name(machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0).summons) == "spawn")
        _ = machine.stop(drainTimeout: .seconds(5))
        _ = machine.close()
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "run")
        Self.check(Self.name(machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0).step) == "run")
        // The first exits while the second still runs its job: the pool has not drained.
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "exit")
        #expect(machine.workers == 1)
        #expect(machine.running == 1)
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "exit")
        #expect(machine.workers == 0)
        #expect(machine.running == 0)
        #expect(machine.freeSlots == 3)
    }

    @Test func aCancelledWorkerExitsOnceNoJobIsQueued() {
        var machine = Self.running(slots: 2, queued: 2)
        Self.check(Self.name(machine.nextStep(after: .none, arrived: true, cancelled: true, spins: 0).step) == "run")
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: true, spins: 0).step) == "run")
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: true, spins: 0).step) == "exit")
    }

    @Test func aStoppedConsumersWorkersNeitherReceiveNorParkOnceThePoolIsClosed() {
        var machine = Self.running(slots: 4, receiver: Self.receiver, queued: 1)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        _ = machine.stop(drainTimeout: .zero)
        _ = machine.close()
        machine.finish()
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "exit")
        Self.check(!machine.park(id: 1, wake: 1, cancelled: false))
    }

    // MARK: Summoning workers

    @Test func thePoolSpawnsOneWorkerAtATimeAndNeverMoreThanItsSlots() {
        var machine = Machine(slots: 2)
        Self.check(machine.start(receiver: nil))
        Self.check(machine.acquire(maximum: 2).slots == 2)
        Self.check(Self.name(machine.received(Self.jobs(2), unusedSlots: 0)) == "spawn")
        #expect(machine.workers == 1)
        // The first worker takes a job and summons the next for the one it leaves.
        let first = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        #expect(Self.name(first.summons) == "spawn")
        let second = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        #expect(Self.name(second.summons) == "none")
        #expect(machine.workers == 2)
        // A job beyond the slots (never queued by a real poll loop) still finds no third worker.
        Self.check(Self.name(machine.received(Self.jobs(1), unusedSlots: 0)) == "none")
        #expect(machine.workers == 2)
    }

    @Test func aParkedWorkerIsWokenForNewJobsAndWakesTheNextForThoseItLeaves() {
        var machine = Machine(slots: 3)
        Self.check(machine.start(receiver: nil))
        Self.check(machine.acquire(maximum: 1).slots == 1)
        _ = machine.received(Self.jobs(1), unusedSlots: 0)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        Self.check(Self.name(machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0).step) == "park")
        Self.check(machine.park(id: 7, wake: 70, cancelled: false))
        // A second parked worker.
        Self.check(machine.acquire(maximum: 2).slots == 2)
        _ = machine.received(Self.jobs(0), unusedSlots: 0)
        Self.check(machine.park(id: 8, wake: 80, cancelled: false))
        Self.check(Self.name(machine.received(Self.jobs(2), unusedSlots: 0)) == "wake 80")
        // While that worker is on its way, no other is woken.
        #expect(machine.waking == 1)
        let woken = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        #expect(Self.name(woken.step) == "run")
        #expect(Self.name(woken.summons) == "wake 70")
        #expect(machine.idleWorkers.isEmpty)
    }

    @Test func aWorkerDoesNotParkWhenAJobArrivedSinceItsLastStepAndACancelledOneIsUnparked() {
        var machine = Self.running(slots: 2, queued: 1)
        Self.check(!machine.park(id: 1, wake: 10, cancelled: false))
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        Self.check(!machine.park(id: 1, wake: 10, cancelled: true))
        Self.check(machine.park(id: 1, wake: 10, cancelled: false))
        Self.check(machine.unpark(id: 1) == 10)
        Self.check(machine.unpark(id: 1) == nil)
    }

    @Test func closingThePoolResumesEveryParkedWorker() {
        var machine = Machine(slots: 2)
        Self.check(machine.start(receiver: nil))
        Self.check(machine.park(id: 1, wake: 10, cancelled: false))
        Self.check(machine.park(id: 2, wake: 20, cancelled: false))
        let closing = machine.close()
        #expect(closing.idleWorkers == [10, 20])
        #expect(machine.idleWorkers.isEmpty)
    }

    // MARK: The poll loop

    @Test func whileJobsWaitForAWorkerThePollLoopWaitsForAFullReceive() {
        var machine = Machine(slots: 10)
        Self.check(machine.start(receiver: nil))
        Self.check(machine.acquire(maximum: 10).slots == 10)
        _ = machine.received(Self.jobs(3), unusedSlots: 7)
        #expect(!machine.mayAcquire(maximum: 10))
        #expect(machine.mayAcquire(maximum: 7))
        Self.check(machine.acquire(maximum: 7).slots == 7)
    }

    @Test func whileWorkersReceiveThePollLoopWaitsUnlessNoWorkerIsAvailable() {
        var machine = Self.running(slots: 10, receiver: Self.receiver, queued: 1)
        // The worker spawned for the job is on its way: available, so it will receive.
        #expect(!machine.mayAcquire(maximum: 9))
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        // It runs a handler: nobody else can receive, so the poll loop does.
        #expect(machine.mayAcquire(maximum: 10))
    }

    // MARK: Deletes

    @Test func deletesAreSentTenAtATimeAndTheRestWhenTheLastWorkerParks() {
        var machine = Self.running(slots: 11, queued: 11)
        var sent: [[String]] = []
        var action = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        for index in 0..<11 {
            action = machine.nextStep(after: Self.done(delete: "m\(index)"), arrived: false, cancelled: false, spins: 0)
            if !action.deletes.isEmpty { sent.append(action.deletes.map(\.messageId)) }
        }
        #expect(Self.name(action.step) == "park")
        #expect(sent == [(0..<10).map { "m\($0)" }, ["m10"]])
    }

    @Test func whileThePollLoopIsAwakeTheWorkerTakingTheLastJobLeavesTheDeletesToIt() {
        var machine = Self.running(slots: 2, queued: 2)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        let last = machine.nextStep(after: Self.done(delete: "a"), arrived: false, cancelled: false, spins: 0)
        #expect(Self.name(last.step) == "run")
        #expect(last.deletes.isEmpty)
        // The poll loop sends them before it waits.
        Self.check(machine.pollerWillWait().map(\.messageId) == ["a"])
        // Now asleep: the worker taking the last job sends them itself.
        _ = machine.received(Self.jobs(1), unusedSlots: 0)
        let alone = machine.nextStep(after: Self.done(delete: "b"), arrived: false, cancelled: false, spins: 0)
        #expect(Self.name(alone.step) == "run")
        #expect(alone.deletes.map(\.messageId) == ["b"])
    }

    /// A machine whose worker settled a job owing the delete of "a" and took the last queued job, with the poll
    /// loop awake: the delete is left pending for the poll loop.
    private static func owingOneDelete() -> Machine {
        var machine = Self.running(slots: 3, queued: 2)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        let action = machine.nextStep(after: Self.done(delete: "a"), arrived: false, cancelled: false, spins: 0)
        #expect(action.deletes.isEmpty)
        return machine
    }

    @Test func thePollLoopTakingSlotsSendsThePendingDeletes() {
        var machine = Self.owingOneDelete()
        let taking = machine.acquire(maximum: 1)
        #expect(taking.slots == 1)
        #expect(taking.deletes.map(\.messageId) == ["a"])
    }

    @Test func thePollLoopLeftWaitingSendsThePendingDeletesOnlyWhenNoQueuedJobWillTriggerASend() {
        var queued = Self.owingOneDelete()
        _ = queued.received(Self.jobs(1), unusedSlots: 0)
        let waiting = queued.acquire(maximum: 3)
        #expect(waiting.slots == nil)
        #expect(waiting.deletes.isEmpty)
        #expect(queued.deletes.map(\.messageId) == ["a"])
        var idle = Self.owingOneDelete()
        idle.pause()
        let paused = idle.acquire(maximum: 1)
        #expect(paused.slots == nil)
        #expect(paused.deletes.map(\.messageId) == ["a"])
    }

    @Test func deletesStillPendingAtTheDrainAreSentByTheClose() {
        var machine = Self.running(slots: 2, queued: 2)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        _ = machine.nextStep(after: Self.done(delete: "a"), arrived: false, cancelled: false, spins: 0)
        _ = machine.stop(drainTimeout: .seconds(5))
        let closing = machine.close()
        #expect(closing.deletes.map(\.messageId) == ["a"])
        #expect(machine.deletes.isEmpty)
    }

    @Test func inFlightCountsJobsFromTakenUntilSettled() {
        var machine = Self.running(slots: 2, queued: 2)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        _ = machine.nextStep(after: .none, arrived: true, cancelled: false, spins: 0)
        #expect(machine.statistics.inFlight == 2)
        _ = machine.nextStep(after: Self.done(), arrived: false, cancelled: false, spins: 0)
        #expect(machine.statistics.inFlight == 1)
    }
}

import Foundation
import Testing

@testable import Broker

/// The index of delayed and in-flight messages: a ring for deadlines that arrive in order, a heap for the rest.
struct DeadlineIndexTests {
    private static let start = Date(timeIntervalSinceReferenceDate: 1_000_000)

    private static func entry(key: UInt64, at deadline: Date) -> TimedEntry {
        let message = StoredMessage.plain(key: key, body: "m\(key)", enqueuedAt: start)
        message.state = .inFlight
        message.visibleAt = deadline
        return TimedEntry(deadline: deadline, message: message)
    }

    /// Whatever the mix of in-order and earlier deadlines, the index gives up exactly the due entries, earliest
    /// first, and its next deadline is the earliest left: checked against a sorted list after every step.
    @Test(arguments: [1, 2, 3, 4, 5, 6] as [UInt64])
    func dueEntriesComeOutEarliestFirstWhateverOrderTheyArrivedIn(seed: UInt64) {
        var random = IDGenerator(seed: seed)
        var index = DeadlineIndex()
        var expected: [(deadline: Date, key: UInt64)] = []
        var now = Self.start
        var key: UInt64 = 0
        for _ in 0..<2_000 {
            switch random.int(0...9) {
            case 0...5:
                // Mostly the queue's one timeout from a clock that moves forward; sometimes a shorter one.
                key += 1
                let seconds = random.chance(0.2) ? Double(random.int(0...29)) : 30
                let deadline = now.addingTimeInterval(seconds)
                index.push(Self.entry(key: key, at: deadline))
                expected.append((deadline, key))
            case 6...7:
                now = now.addingTimeInterval(Double(random.int(0...5)))
            default:
                expected.sort { $0.deadline < $1.deadline }
                let due = expected.prefix { $0.deadline <= now }
                var popped: [Date] = []
                while let entry = index.popDue(by: now) { popped.append(entry.deadline) }
                #expect(popped == due.map(\.deadline))
                expected.removeFirst(due.count)
            }
            #expect(index.count == expected.count)
            #expect(index.nextDeadline == expected.map(\.deadline).min())
        }
    }

    /// Compacting keeps exactly the entries still current, in both parts, hands back every dropped one (the
    /// caller frees them outside its lock), and a later push of an earlier deadline still comes out first.
    @Test(arguments: [7, 8, 9] as [UInt64])
    func compactingKeepsTheCurrentEntriesAndHandsBackTheDropped(seed: UInt64) {
        var random = IDGenerator(seed: seed)
        var index = DeadlineIndex()
        var entries: [TimedEntry] = []
        for key in 1...400 as ClosedRange<UInt64> {
            let seconds = random.chance(0.3) ? Double(random.int(0...29)) : 30 + Double(key)
            let entry = Self.entry(key: key, at: Self.start.addingTimeInterval(seconds))
            entries.append(entry)
            index.push(entry)
        }
        // A deleted message's entry goes stale.
        for entry in entries where random.chance(0.6) { entry.message.state = .gone }
        let current = entries.filter(\.isCurrent)
        let dropped = index.retainReturningDropped { $0.isCurrent }
        #expect(index.count == current.count)
        let droppedKeys = Set(dropped.filter { !$0.isCurrent }.map(\.message.key))
        #expect(droppedKeys == Set(entries.filter { !$0.isCurrent }.map(\.message.key)))

        let early = Self.entry(key: 1_000, at: Self.start.addingTimeInterval(-1))
        index.push(early)
        let far = Date.distantFuture
        var keys: [UInt64] = []
        var deadlines: [Date] = []
        while let entry = index.popDue(by: far) {
            keys.append(entry.message.key)
            deadlines.append(entry.deadline)
        }
        #expect(keys.first == 1_000)
        #expect(deadlines == deadlines.sorted())
        #expect(keys.count == current.count + 1)
        #expect(Set(keys.dropFirst()) == Set(current.map(\.message.key)))
    }
}

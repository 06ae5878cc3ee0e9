import Testing

@testable import Broker

/// The ring buffer behind visible messages, FIFO groups and retention, against an array doing the same operations.
struct RingTests {
    /// A class element, so a copy-or-move mistake in growing or compacting shows up as a wrong or missing element.
    final class Box: Equatable {
        let value: Int
        init(_ value: Int) { self.value = value }
        static func == (lhs: Box, rhs: Box) -> Bool { lhs.value == rhs.value }
    }

    @Test(arguments: [1, 2, 3, 4, 5, 6, 7, 8] as [UInt64])
    func randomAppendsRemovalsAndCompactionsMatchAnArray(seed: UInt64) {
        var random = IDGenerator(seed: seed)
        var ring = Ring<Box>()
        var model: [Int] = []
        var next = 0
        for _ in 0..<20_000 {
            switch random.next() % 10 {
            case 0..<5:
                ring.append(Box(next))
                model.append(next)
                next += 1
            case 5..<9:
                #expect(ring.removeFirst()?.value == model.first)
                if !model.isEmpty { model.removeFirst() }
            default:
                // Keep a random residue class, so compaction sometimes keeps most and sometimes almost nothing.
                let modulus = Int(random.next() % 7) + 1
                ring.retain { $0.value % modulus == 0 }
                model.removeAll { $0 % modulus != 0 }
            }
            #expect(ring.count == model.count)
        }
        #expect(ring.elements.map(\.value) == model)
        #expect(ring.first?.value == model.first && ring.last?.value == model.last)
        #expect(ring.element(at: model.count / 2)?.value == (model.isEmpty ? nil : model[model.count / 2]))
    }

    @Test func compactingAWrappedRingKeepsOrderAndAcceptsMoreAppends() {
        var ring = Ring<Box>()
        for value in 0..<1_000 { ring.append(Box(value)) }
        for _ in 0..<900 { _ = ring.removeFirst() }
        for value in 1_000..<1_500 { ring.append(Box(value)) }  // wraps around the storage's end
        ring.retain { $0.value % 3 == 0 }
        for value in 1_500..<1_600 { ring.append(Box(value)) }
        let expected = Array(900..<1_500).filter { $0 % 3 == 0 } + Array(1_500..<1_600)
        #expect(ring.elements.map(\.value) == expected)
    }

    /// An element that counts its deinitializations, so growth that copies instead of moving (a leak) or leaves an
    /// element behind in both storages (a second release) shows up.
    final class Counted {
        let value: Int
        let released: LockedState<Int>
        init(_ value: Int, released: LockedState<Int>) {
            self.value = value
            self.released = released
        }
        deinit { released.withLock { $0 += 1 } }
    }

    @Test func growingAWrappedRingMovesEveryElementOnceAndReleasesEachOnce() {
        let released = LockedState(0)
        do {
            var ring = Ring<Counted>()
            for value in 0..<16 { ring.append(Counted(value, released: released)) }
            for _ in 0..<10 { _ = ring.removeFirst() }
            // The front sits at slot 10; these wrap round to the storage's start, then four growths follow.
            for value in 16..<300 { ring.append(Counted(value, released: released)) }
            #expect(released.withLock { $0 } == 10)
            #expect(ring.elements.map(\.value) == Array(10..<300))
            for value in 10..<200 { #expect(ring.removeFirst()?.value == value) }
            #expect(released.withLock { $0 } == 200)
        }
        #expect(released.withLock { $0 } == 300)
    }
}

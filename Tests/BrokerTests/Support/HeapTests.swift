import Testing

@testable import Broker

/// The binary heap behind delayed and in-flight messages.
struct HeapTests {
    final class Box {
        let value: Int
        init(_ value: Int) { self.value = value }
    }

    /// Compacting while handing back the previous storage keeps exactly the included elements in heap order, and the
    /// storage handed back still holds every element, so none is destroyed until the caller drops it.
    @Test(arguments: [1, 2, 3, 4, 5] as [UInt64])
    func retainReturningPreviousKeepsTheIncludedInOrderAndHandsBackEveryElement(seed: UInt64) {
        var random = IDGenerator(seed: seed)
        var heap = Heap<Box>(by: { $0.value < $1.value })
        var values: [Int] = []
        for _ in 0..<500 {
            let value = Int(random.next() % 1_000)
            values.append(value)
            heap.push(Box(value))
        }
        for _ in 0..<50 { _ = heap.popMin() }
        values.sort()
        values.removeFirst(50)
        let previous = heap.retainReturningPrevious { $0.value % 3 != 0 }
        #expect(previous.map(\.value).sorted() == values)
        var popped: [Int] = []
        while let box = heap.popMin() { popped.append(box.value) }
        #expect(popped == values.filter { $0 % 3 != 0 })
    }
}

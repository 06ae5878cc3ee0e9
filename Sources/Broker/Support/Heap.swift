/// A binary min-heap ordered by `areInIncreasingOrder`; O(log n) push and pop.
struct Heap<Element> {
    private(set) var elements: [Element] = []
    private let areInIncreasingOrder: (Element, Element) -> Bool

    init(by areInIncreasingOrder: @escaping (Element, Element) -> Bool) {
        self.areInIncreasingOrder = areInIncreasingOrder
    }

    var count: Int { elements.count }
    var isEmpty: Bool { elements.isEmpty }
    var min: Element? { elements.first }

    /// Reads the minimum in place, without the copy ``min`` makes (see `Ring.readFirst`).
    func readMin<T>(_ read: (borrowing Element) -> T) -> T? {
        elements.withUnsafeBufferPointer { $0.isEmpty ? nil : read($0[0]) }
    }

    mutating func push(_ element: Element) {
        elements.append(element)
        var child = elements.count - 1
        while child > 0 {
            let parent = (child - 1) / 2
            guard areInIncreasingOrder(elements[child], elements[parent]) else { break }
            elements.swapAt(child, parent)
            child = parent
        }
    }

    mutating func popMin() -> Element? {
        guard !elements.isEmpty else { return nil }
        elements.swapAt(0, elements.count - 1)
        let minimum = elements.removeLast()
        siftDown(from: 0)
        return minimum
    }

    mutating func removeAll() {
        elements.removeAll()
    }

    /// Keeps the elements that satisfy `isIncluded` and restores the heap order in O(n).
    mutating func retain(where isIncluded: (Element) -> Bool) {
        elements.removeAll { !isIncluded($0) }
        heapify()
    }

    /// Like ``retain(where:)``, but the dropped elements are not destroyed here: the previous storage, every element
    /// still in it, is returned for the caller to drop where destroying them costs less (outside a lock).
    mutating func retainReturningPrevious(where isIncluded: (Element) -> Bool) -> [Element] {
        var kept: [Element] = []
        kept.reserveCapacity(elements.capacity)
        for element in elements where isIncluded(element) { kept.append(element) }
        swap(&kept, &elements)
        heapify()
        return kept
    }

    private mutating func heapify() {
        var index = elements.count / 2
        while index > 0 {
            index -= 1
            siftDown(from: index)
        }
    }

    private mutating func siftDown(from start: Int) {
        var parent = start
        let count = elements.count
        while true {
            let left = 2 * parent + 1
            guard left < count else { return }
            var smallest = left
            let right = left + 1
            if right < count, areInIncreasingOrder(elements[right], elements[left]) { smallest = right }
            guard areInIncreasingOrder(elements[smallest], elements[parent]) else { return }
            elements.swapAt(parent, smallest)
            parent = smallest
        }
    }
}

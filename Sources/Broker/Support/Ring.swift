/// A growable ring buffer: O(1) append at the back and removal at the front, with no per-element allocation.
struct Ring<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var isEmpty: Bool { count == 0 }

    mutating func append(_ element: Element) {
        if count == storage.count { grow() }
        storage[(head + count) & (storage.count - 1)] = element
        count += 1
    }

    var first: Element? { count == 0 ? nil : storage[head] }

    var last: Element? { count == 0 ? nil : storage[(head + count - 1) & (storage.count - 1)] }

    /// The element `offset` places behind the front.
    func element(at offset: Int) -> Element? {
        guard offset >= 0, offset < count else { return nil }
        return storage[(head + offset) & (storage.count - 1)]
    }

    mutating func removeFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) & (storage.count - 1)
        count -= 1
        return element
    }

    mutating func removeAll() {
        storage = []
        head = 0
        count = 0
    }

    /// Keeps the elements that satisfy `isIncluded`, in order: the compaction step for lazily removed entries.
    /// Compacts in place, moving elements rather than copying them (a copy retains and later releases each one);
    /// storage left mostly empty is given back, so memory follows the live count.
    mutating func retain(where isIncluded: (Element) -> Bool) {
        let mask = storage.count - 1
        var kept = 0
        for offset in 0..<count {
            guard let element = storage[(head + offset) & mask].take() else { continue }
            if isIncluded(element) {
                storage[(head + kept) & mask] = element
                kept += 1
            }
        }
        count = kept
        if storage.count > 64, kept * 4 < storage.count { resize(to: Swift.max(16, kept * 2)) }
    }

    /// The elements front to back.
    var elements: [Element] {
        (0..<count).compactMap { storage[(head + $0) & (storage.count - 1)] }
    }

    private mutating func grow() {
        resize(to: Swift.max(16, storage.count * 2))
    }

    /// Moves the elements, front first, into storage of the power of two at least `minimumCapacity`.
    private mutating func resize(to minimumCapacity: Int) {
        var capacity = 16
        while capacity < minimumCapacity { capacity *= 2 }
        var newStorage = [Element?](repeating: nil, count: capacity)
        let mask = storage.count - 1
        for index in 0..<count {
            newStorage[index] = storage[(head + index) & mask].take()
        }
        storage = newStorage
        head = 0
    }
}

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

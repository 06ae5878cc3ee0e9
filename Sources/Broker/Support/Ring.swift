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

    /// Reads the front element in place. ``first`` returns a copy, which retains and then releases an element that
    /// is a reference: two atomic operations, on a line another thread may hold.
    func readFirst<T>(_ read: (borrowing Element) -> T) -> T? {
        guard count > 0 else { return nil }
        return storage.withUnsafeBufferPointer { read($0[head]!) }
    }

    var last: Element? { count == 0 ? nil : storage[(head + count - 1) & (storage.count - 1)] }

    /// The element `offset` places behind the front.
    func element(at offset: Int) -> Element? {
        guard offset >= 0, offset < count else { return nil }
        return storage[(head + offset) & (storage.count - 1)]
    }

    mutating func removeFirst() -> Element? {
        guard count > 0 else { return nil }
        // Moved out, not copied: a copy retains the element, and clearing the slot releases it.
        let element = storage[head].take()
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
    /// storage left mostly empty is given back, so memory follows the live count. Up to 1,024 slots it is kept: a
    /// ring compacted every few dozen entries (the in-flight deadlines of a queue received from in batches) would
    /// otherwise shrink and grow again each time, three allocations a cycle.
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
        if storage.count > 1_024, kept * 4 < storage.count { resize(to: Swift.max(16, kept * 2)) }
    }

    /// The elements front to back.
    var elements: [Element] {
        (0..<count).compactMap { storage[(head + $0) & (storage.count - 1)] }
    }

    private mutating func grow() {
        resize(to: Swift.max(16, storage.count * 2))
    }

    /// Moves the elements, front first, into storage of the power of two at least `minimumCapacity`.
    ///
    /// Bitwise, a run at a time, leaving nil behind them in the old storage: a loop of `take()`s into subscript
    /// assignments spent about 40 ms on a million elements, under the lock of the queue that was growing.
    private mutating func resize(to minimumCapacity: Int) {
        var capacity = 16
        while capacity < minimumCapacity { capacity *= 2 }
        let (head, count) = (self.head, self.count)
        let resized = [Element?](unsafeUninitializedCapacity: capacity) { target, initialized in
            guard let into = target.baseAddress else { return }
            storage.withUnsafeMutableBufferPointer { old in
                guard count > 0, let from = old.baseAddress else { return }
                let front = Swift.min(count, old.count - head)
                into.moveInitialize(from: from + head, count: front)
                (into + front).moveInitialize(from: from, count: count - front)
                (from + head).initialize(repeating: nil, count: front)
                from.initialize(repeating: nil, count: count - front)
            }
            (into + count).initialize(repeating: nil, count: capacity - count)
            initialized = capacity
        }
        storage = resized
        self.head = 0
    }
}

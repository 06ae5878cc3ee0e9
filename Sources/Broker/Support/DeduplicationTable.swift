import Foundation

/// FIFO deduplication history: which (scope group, deduplication id) pairs are taken, and until when.
///
/// A `[String: DeduplicationRecord]` keyed by `group + "\0" + id` cost a string allocation per send, and on a clock
/// that lets nothing expire (a `ManualClock`, a long burst) it grows by one entry per send: each resize re-hashed
/// every key through `Hasher`, the largest single cost of a FIFO round. Here entries are kept in insertion order
/// (which is expiry order, every record living for the same window), and an open-addressed index of 8-byte slots
/// maps a hash of the key to the entry's position. The slots keep the hash bits that place them, so growing and
/// expiring never hash a string again. A hash is only a hint: a match is confirmed by comparing the stored id and
/// group, so two different ids are never taken for one another.
struct DeduplicationTable {
    private struct Entry {
        let tag: UInt32
        let id: String
        /// The message group for `messageGroup` scope, nil for `queue` scope: the two scopes never match each other.
        let group: String?
        let record: DeduplicationRecord
    }

    /// An index slot. Small, because each send's lookup in a large table is a cache miss.
    private struct Slot {
        /// 31 bits of the key's hash with the top bit set; zero marks a free slot. The low bits place the slot, so
        /// growth and removal never rehash the key; the rest tell most different keys apart without reading entries.
        var tag: UInt32
        /// The entry's insertion position modulo 2^32 (far fewer entries than that are ever held at once).
        var position: UInt32

        static let free = Slot(tag: 0, position: 0)
    }

    private var entries = EntryLog()
    /// Insertion position of `entries.first`, modulo 2^32.
    private var firstPosition: UInt32 = 0
    private var slots: [Slot] = []
    private var occupied = 0
    /// Tests narrow the hash to force different keys onto one tag.
    private let hashMask: UInt32

    init(hashMask: UInt32 = .max) {
        self.hashMask = hashMask
    }

    /// Keys taken and not yet dropped (dropping happens on `expire`; a key past its window but not yet dropped is
    /// treated as free by `recordUnlessDuplicate`).
    var count: Int { occupied }

    /// The record of the unexpired send that took `id` (in `group`, for `messageGroup` scope), or nil after taking
    /// the key for `record`.
    mutating func recordUnlessDuplicate(id: String, group: String?, now: Date,
                                        record: DeduplicationRecord) -> DeduplicationRecord? {
        let tag = UInt32(truncatingIfNeeded: Self.hash(id: id, group: group)) & hashMask | 0x8000_0000
        if (occupied + 1) * 4 > slots.count * 3 { grow() }
        let mask = slots.count - 1
        var index = Int(tag) & mask
        let newPosition = firstPosition &+ UInt32(truncatingIfNeeded: entries.count)
        while slots[index].tag != 0 {
            if slots[index].tag == tag,
               let entry = entries.element(at: Int(slots[index].position &- firstPosition)),
               entry.id == id, entry.group == group {
                if entry.record.expiresAt > now { return entry.record }
                // Past its window but not yet dropped (the clock stepped back, so an earlier entry with a later
                // expiry is still at the front): the key is free again. The old entry stays behind, orphaned;
                // `expire` finds no slot pointing at it.
                slots[index].position = newPosition
                entries.append(Entry(tag: tag, id: id, group: group, record: record))
                return nil
            }
            index = (index + 1) & mask
        }
        slots[index] = Slot(tag: tag, position: newPosition)
        occupied += 1
        entries.append(Entry(tag: tag, id: id, group: group, record: record))
        return nil
    }

    /// The record of the unexpired send that took `id` (in `group`), without taking the key.
    func lookup(id: String, group: String?, now: Date) -> DeduplicationRecord? {
        guard !slots.isEmpty else { return nil }
        let tag = UInt32(truncatingIfNeeded: Self.hash(id: id, group: group)) & hashMask | 0x8000_0000
        let mask = slots.count - 1
        var index = Int(tag) & mask
        while slots[index].tag != 0 {
            if slots[index].tag == tag,
               let entry = entries.element(at: Int(slots[index].position &- firstPosition)),
               entry.id == id, entry.group == group {
                return entry.record.expiresAt > now ? entry.record : nil
            }
            index = (index + 1) & mask
        }
        return nil
    }

    /// Drops the entries whose window has ended, oldest first.
    mutating func expire(now: Date) {
        while let first = entries.first, first.record.expiresAt <= now {
            entries.removeFirst()
            removeSlot(tag: first.tag, position: firstPosition)
            firstPosition &+= 1
        }
    }

    /// The keys taken at `now`, oldest first: what a durable queue's snapshot keeps.
    func liveEntries(now: Date) -> [(id: String, group: String?, record: DeduplicationRecord)] {
        var live: [(id: String, group: String?, record: DeduplicationRecord)] = []
        for offset in 0..<entries.count {
            guard let entry = entries.element(at: offset), entry.record.expiresAt > now,
                  lookup(id: entry.id, group: entry.group, now: now)?.sequenceNumber == entry.record.sequenceNumber
            else { continue }
            live.append((entry.id, entry.group, entry.record))
        }
        return live
    }

    mutating func removeAll() {
        entries.removeAll()
        firstPosition = 0
        slots = []
        occupied = 0
    }

    /// Frees the slot pointing at `position`, if any, shifting later slots of its probe run back (linear probing
    /// without tombstones, so lookups never wade through deleted slots).
    private mutating func removeSlot(tag: UInt32, position: UInt32) {
        guard !slots.isEmpty else { return }
        let mask = slots.count - 1
        var hole = Int(tag) & mask
        while true {
            let slot = slots[hole]
            if slot.tag == 0 { return }
            if slot.position == position, slot.tag == tag { break }
            hole = (hole + 1) & mask
        }
        var next = hole
        while true {
            next = (next + 1) & mask
            let slot = slots[next]
            if slot.tag == 0 { break }
            let home = Int(slot.tag) & mask
            // The slot may fill the hole unless its home lies cyclically in (hole, next].
            let stays = hole <= next ? (hole < home && home <= next) : (hole < home || home <= next)
            if stays { continue }
            slots[hole] = slot
            hole = next
        }
        slots[hole] = .free
        occupied -= 1
    }

    private mutating func grow() {
        let capacity = Swift.max(64, slots.count * 2)
        var grown = [Slot](repeating: .free, count: capacity)
        let mask = capacity - 1
        for slot in slots where slot.tag != 0 {
            var index = Int(slot.tag) & mask
            while grown[index].tag != 0 { index = (index + 1) & mask }
            grown[index] = slot
        }
        slots = grown
    }

    /// Entries in insertion order, in fixed-size chunks: appending never moves earlier entries (a doubling ring
    /// copied every entry at each growth, as much again as the index lookup on a clock that lets nothing expire).
    private struct EntryLog {
        private static let chunkShift = 10
        private static let chunkSize = 1 << chunkShift
        private var chunks: [ContiguousArray<Entry>] = []
        /// Where the first live entry sits in `chunks[0]`.
        private var front = 0
        private(set) var count = 0

        var first: Entry? { count == 0 ? nil : chunks[0][front] }

        /// The entry `offset` places behind the first.
        func element(at offset: Int) -> Entry? {
            guard offset >= 0, offset < count else { return nil }
            let index = front + offset
            return chunks[index >> Self.chunkShift][index & (Self.chunkSize - 1)]
        }

        mutating func append(_ entry: Entry) {
            if chunks.isEmpty || chunks[chunks.count - 1].count == Self.chunkSize {
                var chunk = ContiguousArray<Entry>()
                chunk.reserveCapacity(Self.chunkSize)
                chunks.append(chunk)
            }
            chunks[chunks.count - 1].append(entry)
            count += 1
        }

        /// Drops the first entry; its chunk goes once every entry in it has.
        mutating func removeFirst() {
            guard count > 0 else { return }
            front += 1
            count -= 1
            if front == Self.chunkSize || count == 0 {
                chunks.removeFirst()
                front = 0
            }
        }

        mutating func removeAll() {
            chunks = []
            front = 0
            count = 0
        }
    }

    // MARK: Hashing

    /// Fixed per process: the hash only spreads keys over slots, and equal keys are always compared in full.
    private static let seed = UInt64.random(in: .min ... .max)

    static func hash(id: String, group: String?) -> UInt64 {
        let idHash = hash(id, seed: seed)
        guard let group else { return idHash }
        // Group and id are hashed separately, each with its length, so ("ab", "c") and ("a", "bc") differ.
        return mix(hash(group, seed: idHash ^ 0x9E37_79B9_7F4A_7C15), 0xA076_1D64_78BD_642F)
    }

    @inline(__always)
    private static func mix(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let product = a.multipliedFullWidth(by: b)
        return product.high ^ product.low
    }

    /// A multiply-mix hash over the UTF-8 bytes, eight at a time (ids are at most 128 bytes).
    private static func hash(_ string: String, seed: UInt64) -> UInt64 {
        let hashed = string.utf8.withContiguousStorageIfAvailable { bytes -> UInt64 in
            hash(UnsafeRawBufferPointer(bytes), seed: seed)
        }
        if let hashed { return hashed }
        return Array(string.utf8).withUnsafeBytes { hash($0, seed: seed) }
    }

    private static func hash(_ bytes: UnsafeRawBufferPointer, seed: UInt64) -> UInt64 {
        var state = seed ^ (UInt64(bytes.count) &* 0xE703_7ED1_A0B4_28DB)
        var offset = 0
        while offset + 8 <= bytes.count {
            let word = bytes.loadUnaligned(fromByteOffset: offset, as: UInt64.self)
            state = mix(state ^ word, 0x8EBC_6AF0_9C88_C6E3)
            offset += 8
        }
        if offset < bytes.count {
            var tail: UInt64 = 0
            var shift: UInt64 = 0
            while offset < bytes.count {
                tail |= UInt64(bytes[offset]) << shift
                shift += 8
                offset += 1
            }
            state = mix(state ^ tail, 0x5899_65CC_7537_4CC3)
        }
        return mix(state, 0x1D8E_4E27_C47D_124F)
    }
}

/// A deduplication record of a FIFO queue or topic: the id stays taken for five minutes from the first accepted send.
struct DeduplicationRecord {
    let expiresAt: Date
    let messageId: MessageID
    let sequenceNumber: UInt64
}

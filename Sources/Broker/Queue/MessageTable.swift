/// A queue's live messages by key: a slab of slots, where a key is a slot index (low 32 bits) and a generation
/// (high 32 bits).
///
/// A receipt handle names its message by key, so every delete and visibility change is a lookup here. A dictionary
/// hashed each key and, with a million messages resident, missed the cache on its buckets for every delete; a slot
/// is one array index, and reusing the slot freed last keeps the next send's slot warm. The generation makes a key
/// of a deleted message miss even when its slot has been reused.
struct MessageTable {
    private var slots: [StoredMessage?] = []
    private var free: [UInt32] = []
    private var generation: UInt32 = 0
    private(set) var count = 0
    /// The messages' sizes as SQS counts them (body and attributes), summed: what a durable queue's snapshot
    /// schedule weighs its journal against.
    private(set) var bytes = 0

    /// A key with a free slot, for the message the caller creates and then `insert`s, before asking for another.
    mutating func makeKey() -> UInt64 {
        // Generation 0 is skipped when the counter wraps, so no key is ever 0 (a send's message is unnamed until its
        // key is set: `StoredMessage.isNamed`).
        generation &+= 1
        if generation == 0 { generation = 1 }
        let slot: Int
        if let reused = free.popLast() {
            slot = Int(reused)
        } else {
            slot = slots.count
            slots.append(nil)
        }
        return UInt64(generation) << 32 | UInt64(slot)
    }

    mutating func insert(_ message: StoredMessage) {
        slots[Self.slot(of: message.key)] = message
        count += 1
        bytes += message.size
    }

    /// The message with exactly this key: nil for a deleted message, or a foreign or made-up key.
    subscript(key: UInt64) -> StoredMessage? {
        let slot = Self.slot(of: key)
        guard slot < slots.count, let message = slots[slot], message.key == key else { return nil }
        return message
    }

    mutating func remove(_ message: StoredMessage) {
        let slot = Self.slot(of: message.key)
        guard slot < slots.count, slots[slot] === message else { return }
        slots[slot] = nil
        count -= 1
        bytes -= message.size
        if count == 0 {
            // An emptied queue gives back what its deepest moment took.
            let keep = slots.count <= 1_024
            slots.removeAll(keepingCapacity: keep)
            free.removeAll(keepingCapacity: keep)
        } else {
            free.append(UInt32(slot))
        }
    }

    init() {}

    /// The generation of the last key made; a durable queue's recovery starts from it, so no key of a message
    /// deleted before the restart is made again.
    var lastGeneration: UInt32 { generation }

    /// A table holding `restored` at the keys they had, whose next key is newer than `lastGeneration`.
    init(restoring restored: [StoredMessage], lastGeneration: UInt32) {
        generation = lastGeneration
        for message in restored {
            let slot = Self.slot(of: message.key)
            if slot >= slots.count { slots.append(contentsOf: repeatElement(nil, count: slot + 1 - slots.count)) }
            slots[slot] = message
            count += 1
            bytes += message.size
            generation = max(generation, UInt32(truncatingIfNeeded: message.key >> 32))
        }
        for slot in slots.indices.reversed() where slots[slot] == nil { free.append(UInt32(slot)) }
    }

    mutating func removeAll() {
        slots = []
        free = []
        count = 0
        bytes = 0
    }

    /// The live messages, in no particular order.
    var values: some Sequence<StoredMessage> { slots.lazy.compactMap { $0 } }

    /// How many slots the table has, live or free: the end of the range ``forEach(inSlots:_:)`` walks.
    var slotCount: Int { slots.count }

    /// Calls `body` with each live message in the slots of `range` (the part of it the table has).
    func forEach(inSlots range: Range<Int>, _ body: (StoredMessage) -> Void) {
        for slot in range.clamped(to: slots.indices) {
            if let message = slots[slot] { body(message) }
        }
    }

    private static func slot(of key: UInt64) -> Int { Int(truncatingIfNeeded: key & 0xFFFF_FFFF) }
}

/// A fast, seedable source of AWS-shaped identifiers (SplitMix64).
///
/// Foundation's `UUID()` costs microseconds; this costs nanoseconds, and a seeded broker produces the same message
/// ids and receipt handles on every run, so test output is reproducible. It is also a `RandomNumberGenerator`, so
/// seeded tests draw from the same generator instead of carrying copies of it.
struct IDGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A random version-4 UUID, the shape of SQS and SNS message ids.
    mutating func messageID() -> MessageID {
        MessageID(high: (next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000,
                  low: (next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000)
    }

    /// A lowercase UUID-format string (version 4 bits set).
    mutating func uuidString() -> String {
        messageID().string
    }
}

/// A message id as its 128 bits, formatted as AWS's lowercase UUID text only when read: 16 bytes inside a stored
/// message instead of a 36-character string on the heap (80 bytes with malloc's overhead) for every resident message.
struct MessageID: Hashable, Sendable {
    let high: UInt64
    let low: UInt64

    var string: String {
        String(unsafeUninitializedCapacity: 36) { buffer in
            var index = 0
            func put(_ value: UInt64, nibbles: Int, shift: Int) {
                for i in 0..<nibbles {
                    let nibble = UInt8((value >> UInt64(shift - 4 * i)) & 0xF)
                    buffer[index] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                    index += 1
                }
            }
            func dash() { buffer[index] = UInt8(ascii: "-"); index += 1 }
            put(high, nibbles: 8, shift: 60); dash()
            put(high, nibbles: 4, shift: 28); dash()
            put(high, nibbles: 4, shift: 12); dash()
            put(low, nibbles: 4, shift: 60); dash()
            put(low, nibbles: 12, shift: 44)
            return index
        }
    }
}

extension SystemRandomNumberGenerator {
    /// A seed for brokers that were not given one.
    static func seed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

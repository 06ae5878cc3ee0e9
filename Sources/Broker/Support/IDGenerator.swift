/// A fast, seedable source of AWS-shaped identifiers (SplitMix64).
///
/// Foundation's `UUID()` costs microseconds; this costs nanoseconds, and a seeded broker produces the same message
/// ids and receipt handles on every run, so test output is reproducible.
struct IDGenerator: Sendable {
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

    /// A lowercase UUID-format string (version 4 bits set), the shape of SQS and SNS message ids.
    mutating func uuidString() -> String {
        let high = (next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x0000_0000_0000_4000
        let low = (next() & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
        var bytes = [UInt8](repeating: 0, count: 36)
        var index = 0
        func put(_ value: UInt64, nibbles: Int, shift: Int) {
            for i in 0..<nibbles {
                let nibble = UInt8((value >> UInt64(shift - 4 * i)) & 0xF)
                bytes[index] = nibble < 10 ? 0x30 + nibble : 0x57 + nibble
                index += 1
            }
        }
        func dash() { bytes[index] = UInt8(ascii: "-"); index += 1 }
        put(high, nibbles: 8, shift: 60); dash()
        put(high, nibbles: 4, shift: 28); dash()
        put(high, nibbles: 4, shift: 12); dash()
        put(low, nibbles: 4, shift: 60); dash()
        put(low, nibbles: 12, shift: 44)
        return String(decoding: bytes, as: UTF8.self)
    }
}

extension SystemRandomNumberGenerator {
    /// A seed for brokers that were not given one.
    static func seed() -> UInt64 {
        var generator = SystemRandomNumberGenerator()
        return generator.next()
    }
}

extension Array where Element == UInt8 {
    /// Lowercase hexadecimal, two characters per byte, no separators.
    var hexString: String {
        // Staged on the stack and decoded once: no per-byte String formatting. (Not
        // `String(unsafeUninitializedCapacity:)`, which would need macOS 11 on Darwin.)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count * 2) { output in
            var index = 0
            for byte in self {
                output[index] = hexDigit(byte >> 4)
                output[index + 1] = hexDigit(byte & 0x0f)
                index += 2
            }
            return String(decoding: output, as: UTF8.self)
        }
    }
}

@inline(__always)
private func hexDigit(_ nibble: UInt8) -> UInt8 {
    nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
}

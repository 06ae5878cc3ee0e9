import Foundation

/// Standard base64 by hand: receipt handles (encoded and decoded on every receive and delete), and the SNS
/// envelope's signature, a fixed text plus the message id, of which only the id's part is encoded per publish.
/// `Data`'s base64 costs several allocations per call.
enum Base64 {
    static func append(_ input: UnsafeBufferPointer<UInt8>, to output: inout [UInt8]) {
        let start = output.count
        let length = (input.count + 2) / 3 * 4
        output.append(contentsOf: repeatElement(UInt8(ascii: "="), count: length))
        alphabet.withUnsafeBufferPointer { alphabet in
            output.withUnsafeMutableBufferPointer { buffer in
                var position = start
                var index = 0
                while index < input.count {
                    let remaining = input.count - index
                    var group = UInt32(input[index]) << 16
                    if remaining > 1 { group |= UInt32(input[index + 1]) << 8 }
                    if remaining > 2 { group |= UInt32(input[index + 2]) }
                    // One character per input byte plus one; the rest of the four stay `=`.
                    for sextet in 0...min(remaining, 3) {
                        buffer[position + sextet] = alphabet[Int(group >> UInt32(18 - 6 * sextet) & 0x3F)]
                    }
                    position += 4
                    index += 3
                }
            }
        }
    }

    static func encode(_ bytes: [UInt8]) -> [UInt8] {
        var output: [UInt8] = []
        bytes.withUnsafeBufferPointer { append($0, to: &output) }
        return output
    }

    // Written out as literals so the optimiser lays them out as static data: no lazy initialisation on each use,
    // and no data-dependent branches, which a per-range `switch` over random base64 text mispredicts.
    static let alphabet: [UInt8] = [
        65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79, 80,
        81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 97, 98, 99, 100, 101, 102,
        103, 104, 105, 106, 107, 108, 109, 110, 111, 112, 113, 114, 115, 116, 117, 118,
        119, 120, 121, 122, 48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 43, 47,
    ]

    /// Each byte's 6-bit value; 255 for bytes outside the alphabet.
    static let decoding: [UInt8] = [
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 62, 255, 255, 255, 63,
        52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 255, 255, 255, 255, 255, 255,
        255, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14,
        15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 255, 255, 255, 255, 255,
        255, 26, 27, 28, 29, 30, 31, 32, 33, 34, 35, 36, 37, 38, 39, 40,
        41, 42, 43, 44, 45, 46, 47, 48, 49, 50, 51, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
        255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255, 255,
    ]
}

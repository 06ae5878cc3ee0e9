/// JSON text from a ``JSONValue``: compact, members in their order, numbers as written, strings escaped exactly as
/// ``JSONText`` escapes them (so a document and an SNS envelope spell a string the same way).
extension JSONValue {
    /// The value as compact JSON text.
    public var jsonText: String {
        String(decoding: jsonBytes, as: UTF8.self)
    }

    /// The value as compact JSON, in UTF-8.
    public var jsonBytes: [UInt8] {
        var bytes: [UInt8] = []
        write(to: &bytes)
        return bytes
    }

    /// Appends the value as compact JSON.
    public func write(to bytes: inout [UInt8]) {
        switch self {
        case .null: bytes.append(contentsOf: "null".utf8)
        case .bool(let value): bytes.append(contentsOf: (value ? "true" : "false").utf8)
        case .number(let number): bytes.append(contentsOf: number.text.utf8)
        case .string(let string): JSONText.appendQuoted(string, to: &bytes)
        case .array(let elements):
            bytes.append(UInt8(ascii: "["))
            for (index, element) in elements.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                element.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let members):
            bytes.append(UInt8(ascii: "{"))
            for (index, member) in members.enumerated() {
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONText.appendQuoted(member.key, to: &bytes)
                bytes.append(UInt8(ascii: ":"))
                member.value.write(to: &bytes)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }
}

/// JSON string literals written by hand, for envelopes built once per publish and for every JSON document the
/// library writes. Quotes, backslashes and control characters are escaped (`\n`, `\r`, `\t`, `\b`, `\f`, else
/// `\u00xx`), nothing else: AWS-compatible envelopes, and the signatures over them, depend on this exact spelling.
enum JSONText {
    /// `text` as a JSON string literal.
    static func quoted(_ text: String) -> String {
        var bytes: [UInt8] = []
        appendQuoted(text, to: &bytes)
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Appends `text` as a JSON string literal. A JSON message body in an SNS envelope escapes every quote it holds,
    /// so this is on the fan-out path: appending byte by byte was an eighth of a fan-out publish, and branching on
    /// each quote mispredicted. Eight bytes at a time, and within a word only the bytes to escape are visited. One
    /// pass into scratch space sized for the worst case (every byte a six-byte `\u00XX`), then one copy: counting
    /// the escapes first and zero-filling the array to write into cost a third of it.
    static func appendQuoted(_ text: String, to bytes: inout [UInt8]) {
        var text = text  // `withUTF8` is mutating; a native string is not copied by it
        text.withUTF8 { utf8 in
            // Eight bytes of slack: a word is stored whole even when only its first bytes are wanted.
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: utf8.count * 6 + 2 + 8) { scratch in
                guard let out = scratch.baseAddress else { return }
                let length = writeQuoted(utf8, to: out)
                bytes.append(contentsOf: UnsafeBufferPointer(start: out, count: length))
            }
        }
    }

    /// Writes the literal at `out`, which has room for the worst case plus eight bytes; returns its length.
    private static func writeQuoted(_ utf8: UnsafeBufferPointer<UInt8>, to out: UnsafeMutablePointer<UInt8>) -> Int {
        out[0] = UInt8(ascii: "\"")
        var position = 1
        /// One byte to escape: a quote or backslash gets a backslash; a control character its letter escape
        /// (`\n`) or, rare, `\u00XX`.
        func put(_ byte: UInt8) {
            out[position] = UInt8(ascii: "\\")
            if byte >= 0x20 {
                out[position + 1] = byte
                position += 2
                return
            }
            let extra = Int(escapeExtra[Int(byte)])
            if extra > 1 {
                out[position + 1] = UInt8(ascii: "u")
                out[position + 2] = UInt8(ascii: "0")
                out[position + 3] = UInt8(ascii: "0")
                out[position + 4] = hexDigit(byte >> 4)
                out[position + 5] = hexDigit(byte & 0xF)
                position += 6
            } else {
                out[position + 1] = escapedByte[Int(byte)]
                position += 2
            }
        }
        /// The word's bytes from `offset` on, stored whole; the caller keeps as many as it wants.
        func store(_ word: UInt64, from offset: Int) {
            UnsafeMutableRawPointer(out + position).storeBytes(of: (word >> UInt64(offset * 8)).littleEndian, as: UInt64.self)
        }
        // Words with nothing to escape (ids, ARNs, signatures, long runs of a body) are copied whole; in a word
        // with escapes, the runs between them are copied whole too.
        var index = 0
        if let base = utf8.baseAddress {
            while index + 8 <= utf8.count {
                let word = UInt64(littleEndian: UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self))
                var mask = escapeMask(word)
                var offset = 0
                while mask != 0 {
                    let escaped = mask.trailingZeroBitCount >> 3
                    store(word, from: offset)
                    position += escaped - offset
                    put(base[index + escaped])
                    offset = escaped + 1
                    mask &= mask &- 1
                }
                store(word, from: offset)
                position += 8 - offset
                index += 8
            }
        }
        while index < utf8.count {
            let byte = utf8[index]
            if escapeExtra[Int(byte)] == 0 {
                out[position] = byte
                position += 1
            } else {
                put(byte)
            }
            index += 1
        }
        out[position] = UInt8(ascii: "\"")
        return position + 1
    }

    /// The high bit of each byte of `word` (least significant first) that is below 0x20, a quote or a backslash,
    /// and of no other: the exact zero-byte test, without the borrow that makes the classic one flag bytes above a
    /// match, applied to the byte's top three bits and to `word` xor each pattern.
    static func escapeMask(_ word: UInt64) -> UInt64 {
        let low: UInt64 = 0x7F7F_7F7F_7F7F_7F7F
        func zeroBytes(_ value: UInt64) -> UInt64 { ~(((value & low) &+ low) | value | low) }
        let ones: UInt64 = 0x0101_0101_0101_0101
        return zeroBytes(word & (ones &* 0xE0)) | zeroBytes(word ^ (ones &* 0x22)) | zeroBytes(word ^ (ones &* 0x5C))
    }

    /// What follows the backslash of a two-character escape: the letter for `\n`, `\r`, `\t`, `\b`, `\f`; every
    /// other byte maps to itself.
    private static let escapedByte: [UInt8] = [
        0, 1, 2, 3, 4, 5, 6, 7, 98, 116, 110, 11, 102, 114, 14, 15,
        16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
        32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
        48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
        64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
        80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
        96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
        112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
        128, 129, 130, 131, 132, 133, 134, 135, 136, 137, 138, 139, 140, 141, 142, 143,
        144, 145, 146, 147, 148, 149, 150, 151, 152, 153, 154, 155, 156, 157, 158, 159,
        160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170, 171, 172, 173, 174, 175,
        176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189, 190, 191,
        192, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 204, 205, 206, 207,
        208, 209, 210, 211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223,
        224, 225, 226, 227, 228, 229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239,
        240, 241, 242, 243, 244, 245, 246, 247, 248, 249, 250, 251, 252, 253, 254, 255,
    ]

    /// The bytes an escape adds to each byte: 1 for `\"`, `\\` and the letter escapes, 5 for `\u00XX`. Literal
    /// tables are static data, with no lazy initialisation on use.
    private static let escapeExtra: [UInt8] = [
        5, 5, 5, 5, 5, 5, 5, 5, 1, 1, 1, 5, 1, 1, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5, 5,
        0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]

    private static func hexDigit(_ value: UInt8) -> UInt8 {
        value < 10 ? UInt8(ascii: "0") + value : UInt8(ascii: "a") + value - 10
    }
}

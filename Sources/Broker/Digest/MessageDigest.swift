import Foundation

/// AWS's checksums of a message: MD5 of the body, and of the attributes in AWS's binary encoding.
enum MessageDigest {
    static func md5Hex(of text: String) -> String {
        MD5.hash(text).hexString
    }

    /// `MD5OfMessageAttributes` (or of system attributes): per attribute sorted by name, length-prefixed name,
    /// length-prefixed type, a transport byte (1 string/number, 2 binary), length-prefixed value. Nil for none.
    static func md5OfAttributes(_ attributes: [String: MessageAttributeValue]) -> String? {
        guard !attributes.isEmpty else { return nil }
        // Encoded into one buffer and hashed once: per-field arrays and updates were most of the cost.
        var encoding: [UInt8] = []
        encoding.reserveCapacity(attributes.count * 64)
        func append(_ value: MessageAttributeValue, named name: String) {
            appendLengthPrefixed(name.utf8, to: &encoding)
            appendLengthPrefixed(value.dataType.utf8, to: &encoding)
            if value.isBinary {
                encoding.append(2)
                appendLengthPrefixed(value.binaryValue ?? Data(), to: &encoding)
            } else {
                encoding.append(1)
                appendLengthPrefixed((value.stringValue ?? "").utf8, to: &encoding)
            }
        }
        if attributes.count == 1 {
            for (name, value) in attributes { append(value, named: name) }
        } else {
            for name in attributes.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
                guard let value = attributes[name] else { continue }
                append(value, named: name)
            }
        }
        var md5 = MD5()
        md5.update(encoding)
        return md5.finalize().hexString
    }

    private static func appendLengthPrefixed(_ bytes: some Collection<UInt8>, to encoding: inout [UInt8]) {
        let length = UInt32(truncatingIfNeeded: bytes.count)
        encoding.append(UInt8(length >> 24))
        encoding.append(UInt8((length >> 16) & 0xFF))
        encoding.append(UInt8((length >> 8) & 0xFF))
        encoding.append(UInt8(length & 0xFF))
        encoding.append(contentsOf: bytes)
    }
}

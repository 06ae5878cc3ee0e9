internal import CBrokerCRC32C

/// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the checksum of every journal record and snapshot.
///
/// Castagnoli rather than the zlib polynomial because it detects more error patterns in the record sizes a journal
/// holds, and it is what other storage formats (iSCSI, ext4, LevelDB) chose, so its test vectors are well known.
/// The processor's CRC-32C instruction where it has one (SSE 4.2 on x86-64, the CRC32 extension on 64-bit ARM), in
/// a small C target because Swift cannot name the instruction; otherwise software slicing-by-8, eight table lookups
/// per eight input bytes. At `interval` durability the software tables were about 4% of an append's time, the
/// instruction a ninth of that.
enum CRC32C {
    /// The checksum of `bytes`, starting a fresh computation.
    @inline(__always)
    static func checksum(_ bytes: UnsafeRawBufferPointer) -> UInt32 {
        ~update(~0, bytes)
    }

    /// The checksum of `bytes`.
    static func checksum(_ bytes: some Collection<UInt8>) -> UInt32 {
        if let value = bytes.withContiguousStorageIfAvailable({ checksum(UnsafeRawBufferPointer($0)) }) { return value }
        return Array(bytes).withUnsafeBytes { checksum($0) }
    }

    /// Continues a computation: `state` is the complemented running value (start with `~0`, finish with `~state`),
    /// so a record's header and payload can be checksummed without copying them together.
    @inline(__always)
    static func update(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        guard hardwareAvailable, let base = bytes.baseAddress else { return softwareUpdate(state, bytes) }
        return broker_crc32c_update(state, base, bytes.count)
    }

    /// Whether ``update(_:_:)`` uses the processor's instruction.
    static let hardwareAvailable = broker_crc32c_hardware_available() != 0

    /// ``update(_:_:)`` in software, whatever the processor has: the fallback, and the reference tests hold the
    /// instruction to.
    static func softwareUpdate(_ state: UInt32, _ bytes: UnsafeRawBufferPointer) -> UInt32 {
        var crc = state
        guard var pointer = bytes.baseAddress else { return crc }
        var remaining = bytes.count
        return table.withUnsafeBufferPointer { table -> UInt32 in
            // Byte at a time until the pointer is 8-aligned, then 8 at a time, then the rest.
            while remaining > 0, UInt(bitPattern: pointer) & 7 != 0 {
                crc = table[Int((crc ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                pointer += 1
                remaining -= 1
            }
            while remaining >= 8 {
                let word = UInt64(littleEndian: pointer.load(as: UInt64.self))
                let low = UInt32(truncatingIfNeeded: word) ^ crc
                let high = UInt32(truncatingIfNeeded: word >> 32)
                crc = table[7 * 256 + Int(low & 0xFF)]
                    ^ table[6 * 256 + Int((low >> 8) & 0xFF)]
                    ^ table[5 * 256 + Int((low >> 16) & 0xFF)]
                    ^ table[4 * 256 + Int(low >> 24)]
                    ^ table[3 * 256 + Int(high & 0xFF)]
                    ^ table[2 * 256 + Int((high >> 8) & 0xFF)]
                    ^ table[1 * 256 + Int((high >> 16) & 0xFF)]
                    ^ table[Int(high >> 24)]
                pointer += 8
                remaining -= 8
            }
            while remaining > 0 {
                crc = table[Int((crc ^ UInt32(pointer.load(as: UInt8.self))) & 0xFF)] ^ (crc >> 8)
                pointer += 1
                remaining -= 1
            }
            return crc
        }
    }

    /// Eight 256-entry tables: table k maps a byte to its contribution k bytes further along the input.
    private static let table: [UInt32] = {
        var table = [UInt32](repeating: 0, count: 8 * 256)
        for byte in 0..<256 {
            var crc = UInt32(byte)
            for _ in 0..<8 { crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1 }
            table[byte] = crc
        }
        for slice in 1..<8 {
            for byte in 0..<256 {
                let previous = table[(slice - 1) * 256 + byte]
                table[slice * 256 + byte] = table[Int(previous & 0xFF)] ^ (previous >> 8)
            }
        }
        return table
    }()
}

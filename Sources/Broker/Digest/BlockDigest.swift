/// What MD5 and SHA-256 share: both are Merkle–Damgård hashes over 64-byte blocks, padded with 0x80, zeros and the
/// 64-bit message bit length. A conforming type supplies only its chaining state and compression function; the
/// streaming entry points, buffering, byte counting, padding and one-shot helpers are written once, below.
///
/// Runs on every message send, so the state is fixed-size and whole blocks are compressed straight out of the
/// caller's buffer; only a partial trailing block is copied into the 64-byte inline buffer. The conformers are
/// concrete types in this module, so the extension's methods are specialized for each of them.
///
/// (A protocol rather than one generic struct with `typealias MD5 = …`: MD5 and SHA256 have to stay distinct types,
/// since a type can conform to a protocol only once, whatever its generic arguments.)
protocol BlockDigest {
    static var digestByteCount: Int { get }
    /// Whether the trailing bit length is big-endian (SHA-2) or little-endian (MD5).
    static var lengthIsBigEndian: Bool { get }

    init()

    /// The partial block and the running byte count; managed only by this protocol's extension.
    var buffer: DigestBlockBuffer { get set }

    /// Compresses `blocks`, whose count is a multiple of `blockByteCount`, into the chaining state.
    mutating func compress(_ blocks: UnsafeRawBufferPointer)

    /// The chaining state in the algorithm's output byte order: the digest, once `finalize` has padded the message.
    var chainingValue: [UInt8] { get }
}

/// The streaming state common to every `BlockDigest`.
struct DigestBlockBuffer {
    /// 64 bytes of inline storage; a tuple keeps it out of the heap.
    typealias Block = (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    var block: Block = (0, 0, 0, 0, 0, 0, 0, 0)
    /// How many bytes of `block` hold buffered input.
    var fill = 0
    /// Total bytes hashed so far.
    var byteCount: UInt64 = 0
}

extension BlockDigest {
    static var blockByteCount: Int { 64 }

    mutating func update(_ bytes: UnsafeRawBufferPointer) {
        var input = bytes
        guard !input.isEmpty else { return }
        buffer.byteCount &+= UInt64(input.count)

        if buffer.fill > 0 {
            let fill = buffer.fill
            let take = Swift.min(Self.blockByteCount - fill, input.count)
            withUnsafeMutableBytes(of: &buffer.block) { dst in
                UnsafeMutableRawBufferPointer(rebasing: dst[fill ..< fill + take])
                    .copyMemory(from: UnsafeRawBufferPointer(rebasing: input[..<take]))
            }
            buffer.fill += take
            input = UnsafeRawBufferPointer(rebasing: input[take...])
            guard buffer.fill == Self.blockByteCount else { return }
            // A copy, because compress mutates self while the bytes are borrowed.
            let full = buffer.block
            withUnsafeBytes(of: full) { compress($0) }
            buffer.fill = 0
        }

        let whole = input.count & ~(Self.blockByteCount - 1)
        if whole > 0 {
            compress(UnsafeRawBufferPointer(rebasing: input[..<whole]))
        }
        let rest = input.count - whole
        if rest > 0 {
            withUnsafeMutableBytes(of: &buffer.block) { dst in
                dst.copyMemory(from: UnsafeRawBufferPointer(rebasing: input[whole...]))
            }
            buffer.fill = rest
        }
    }

    mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8 {
        let handled: Void? = bytes.withContiguousStorageIfAvailable { update(UnsafeRawBufferPointer($0)) }
        guard handled == nil else { return }
        // Non-contiguous input: stage it through a stack chunk rather than materialising an array.
        var chunk: DigestBlockBuffer.Block = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &chunk) { staging in
            var count = 0
            for byte in bytes {
                staging[count] = byte
                count += 1
                if count == staging.count {
                    update(UnsafeRawBufferPointer(staging))
                    count = 0
                }
            }
            if count > 0 {
                update(UnsafeRawBufferPointer(rebasing: staging[..<count]))
            }
        }
    }

    mutating func update(_ string: String) {
        var string = string
        string.withUTF8 { update(UnsafeRawBufferPointer($0)) }
    }

    consuming func finalize() -> [UInt8] {
        let bitLength = buffer.byteCount &<< 3
        // 0x80, then zeros up to 56 mod 64; at most 64 bytes.
        let fill = buffer.fill
        let padLength = fill < 56 ? 56 - fill : 120 - fill
        var padding: DigestBlockBuffer.Block = (0, 0, 0, 0, 0, 0, 0, 0)
        withUnsafeMutableBytes(of: &padding) { $0[0] = 0x80 }
        withUnsafeBytes(of: padding) { update(UnsafeRawBufferPointer(rebasing: $0[..<padLength])) }
        let length = Self.lengthIsBigEndian ? bitLength.bigEndian : bitLength.littleEndian
        withUnsafeBytes(of: length) { update($0) }
        return chainingValue
    }

    static func hash(_ string: String) -> [UInt8] {
        var digest = Self()
        digest.update(string)
        return digest.finalize()
    }

    static func hash<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
        var digest = Self()
        digest.update(bytes)
        return digest.finalize()
    }
}

/// MD5 (RFC 1321), streaming; buffering, padding and the `update`/`finalize`/`hash` entry points come from
/// `BlockDigest`.
struct MD5: BlockDigest {
    static let digestByteCount = 16
    static let lengthIsBigEndian = false

    var buffer = DigestBlockBuffer()
    private var a0: UInt32 = 0x6745_2301
    private var b0: UInt32 = 0xefcd_ab89
    private var c0: UInt32 = 0x98ba_dcfe
    private var d0: UInt32 = 0x1032_5476

    init() {}

    var chainingValue: [UInt8] {
        let words = (a0.littleEndian, b0.littleEndian, c0.littleEndian, d0.littleEndian)
        return withUnsafeBytes(of: words) { [UInt8]($0) }
    }

    /// floor(abs(sin(i + 1)) * 2^32), RFC 1321 section 3.4.
    private static let k: [UInt32] = [
        0xd76a_a478, 0xe8c7_b756, 0x2420_70db, 0xc1bd_ceee, 0xf57c_0faf, 0x4787_c62a, 0xa830_4613, 0xfd46_9501,
        0x6980_98d8, 0x8b44_f7af, 0xffff_5bb1, 0x895c_d7be, 0x6b90_1122, 0xfd98_7193, 0xa679_438e, 0x49b4_0821,
        0xf61e_2562, 0xc040_b340, 0x265e_5a51, 0xe9b6_c7aa, 0xd62f_105d, 0x0244_1453, 0xd8a1_e681, 0xe7d3_fbc8,
        0x21e1_cde6, 0xc337_07d6, 0xf4d5_0d87, 0x455a_14ed, 0xa9e3_e905, 0xfcef_a3f8, 0x676f_02d9, 0x8d2a_4c8a,
        0xfffa_3942, 0x8771_f681, 0x6d9d_6122, 0xfde5_380c, 0xa4be_ea44, 0x4bde_cfa9, 0xf6bb_4b60, 0xbebf_bc70,
        0x289b_7ec6, 0xeaa1_27fa, 0xd4ef_3085, 0x0488_1d05, 0xd9d4_d039, 0xe6db_99e5, 0x1fa2_7cf8, 0xc4ac_5665,
        0xf429_2244, 0x432a_ff97, 0xab94_23a7, 0xfc93_a039, 0x655b_59c3, 0x8f0c_cc92, 0xffef_f47d, 0x8584_5dd1,
        0x6fa8_7e4f, 0xfe2c_e6e0, 0xa301_4314, 0x4e08_11a1, 0xf753_7e82, 0xbd3a_f235, 0x2ad7_d2bb, 0xeb86_d391,
    ]

    /// Compresses `blocks`, whose count is a multiple of 64.
    mutating func compress(_ blocks: UnsafeRawBufferPointer) {
        var a0 = a0, b0 = b0, c0 = c0, d0 = d0
        Self.k.withUnsafeBufferPointer { k in
            var offset = 0
            while offset < blocks.count {
                let base = offset
                @inline(__always) func x(_ index: Int) -> UInt32 {
                    blocks.loadUnaligned(fromByteOffset: base &+ (index &<< 2), as: UInt32.self).littleEndian
                }
                var a = a0, b = b0, c = c0, d = d0
                // Each pass does four steps so the rotating roles of a, b, c, d stay explicit.
                for i in stride(from: 0, to: 16, by: 4) {
                    Self.step(&a, b, d ^ (b & (c ^ d)), x(i), 7, k[i])
                    Self.step(&d, a, c ^ (a & (b ^ c)), x(i + 1), 12, k[i + 1])
                    Self.step(&c, d, b ^ (d & (a ^ b)), x(i + 2), 17, k[i + 2])
                    Self.step(&b, c, a ^ (c & (d ^ a)), x(i + 3), 22, k[i + 3])
                }
                for i in stride(from: 16, to: 32, by: 4) {
                    Self.step(&a, b, c ^ (d & (b ^ c)), x((5 &* i &+ 1) & 15), 5, k[i])
                    Self.step(&d, a, b ^ (c & (a ^ b)), x((5 &* i &+ 6) & 15), 9, k[i + 1])
                    Self.step(&c, d, a ^ (b & (d ^ a)), x((5 &* i &+ 11) & 15), 14, k[i + 2])
                    Self.step(&b, c, d ^ (a & (c ^ d)), x(5 &* i & 15), 20, k[i + 3])
                }
                for i in stride(from: 32, to: 48, by: 4) {
                    Self.step(&a, b, b ^ c ^ d, x((3 &* i &+ 5) & 15), 4, k[i])
                    Self.step(&d, a, a ^ b ^ c, x((3 &* i &+ 8) & 15), 11, k[i + 1])
                    Self.step(&c, d, d ^ a ^ b, x((3 &* i &+ 11) & 15), 16, k[i + 2])
                    Self.step(&b, c, c ^ d ^ a, x((3 &* i &+ 14) & 15), 23, k[i + 3])
                }
                for i in stride(from: 48, to: 64, by: 4) {
                    Self.step(&a, b, c ^ (b | ~d), x((7 &* i) & 15), 6, k[i])
                    Self.step(&d, a, b ^ (a | ~c), x((7 &* i &+ 7) & 15), 10, k[i + 1])
                    Self.step(&c, d, a ^ (d | ~b), x((7 &* i &+ 14) & 15), 15, k[i + 2])
                    Self.step(&b, c, d ^ (c | ~a), x((7 &* i &+ 21) & 15), 21, k[i + 3])
                }
                a0 &+= a
                b0 &+= b
                c0 &+= c
                d0 &+= d
                offset &+= Self.blockByteCount
            }
        }
        self.a0 = a0
        self.b0 = b0
        self.c0 = c0
        self.d0 = d0
    }

    /// One RFC 1321 operation, a = b + ((a + f + X[k] + T[i]) <<< s), with the round function f already evaluated.
    @inline(__always)
    private static func step(
        _ a: inout UInt32, _ b: UInt32, _ f: UInt32, _ word: UInt32, _ shift: UInt32, _ constant: UInt32
    ) {
        let sum = a &+ f &+ word &+ constant
        a = b &+ ((sum &<< shift) | (sum &>> (32 &- shift)))
    }
}

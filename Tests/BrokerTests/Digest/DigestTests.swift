import Foundation
import Testing

@testable import Broker

/// Lets one generic helper drive either hasher through the streaming API.
private protocol StreamingDigest {
    init()
    mutating func update(_ bytes: UnsafeRawBufferPointer)
    mutating func update<C: Collection>(_ bytes: C) where C.Element == UInt8
    consuming func finalize() -> [UInt8]
}

extension MD5: StreamingDigest {}
extension SHA256: StreamingDigest {}

struct DigestTests {
    enum Algorithm: String, CaseIterable, Sendable, CustomTestStringConvertible {
        case md5
        case sha256

        var testDescription: String { rawValue }

        var digestByteCount: Int {
            switch self {
            case .md5: MD5.digestByteCount
            case .sha256: SHA256.digestByteCount
            }
        }

        func oneShot<C: Collection>(_ bytes: C) -> [UInt8] where C.Element == UInt8 {
            switch self {
            case .md5: MD5.hash(bytes)
            case .sha256: SHA256.hash(bytes)
            }
        }

        func oneShot(_ string: String) -> [UInt8] {
            switch self {
            case .md5: MD5.hash(string)
            case .sha256: SHA256.hash(string)
            }
        }

        /// Feeds `chunks` one `update` call each.
        func streamed(_ chunks: [ArraySlice<UInt8>]) -> [UInt8] {
            switch self {
            case .md5: Self.feed(MD5(), chunks)
            case .sha256: Self.feed(SHA256(), chunks)
            }
        }

        private static func feed<H: StreamingDigest>(_ start: H, _ chunks: [ArraySlice<UInt8>]) -> [UInt8] {
            var hasher = start
            for (index, chunk) in chunks.enumerated() {
                // Alternate the raw-pointer and generic entry points so both keep the same buffering.
                if index.isMultiple(of: 2) {
                    chunk.withUnsafeBytes { hasher.update($0) }
                } else {
                    hasher.update(chunk)
                }
            }
            return hasher.finalize()
        }
    }

    struct Vector: Sendable, CustomTestStringConvertible {
        let input: String
        let hex: String

        var testDescription: String {
            input.utf8.count <= 26 ? "\"\(input)\"" : "\"\(input.prefix(16))…\" (\(input.utf8.count) bytes)"
        }
    }

    /// Expected values for `pattern(length)`, from
    /// `python3 -c "import hashlib; d = bytes(i % 251 for i in range(N)); print(hashlib.md5(d).hexdigest(), hashlib.sha256(d).hexdigest())"`.
    struct BoundaryVector: Sendable, CustomTestStringConvertible {
        let length: Int
        let md5: String
        let sha256: String

        var testDescription: String { "\(length) bytes" }

        func expected(_ algorithm: Algorithm) -> String {
            switch algorithm {
            case .md5: md5
            case .sha256: sha256
            }
        }
    }

    /// Bytes that differ from their neighbours, so a word-order or byte-order slip changes the digest
    /// (a run of one repeated byte would hide it).
    static func pattern(_ length: Int) -> [UInt8] {
        (0 ..< length).map { UInt8($0 % 251) }
    }

    /// Splits `bytes` into consecutive slices with the given sizes, cycling through them.
    static func chunks(_ bytes: [UInt8], sizes: [Int]) -> [ArraySlice<UInt8>] {
        var result: [ArraySlice<UInt8>] = []
        var start = 0
        var next = 0
        while start < bytes.count {
            let end = Swift.min(start + sizes[next % sizes.count], bytes.count)
            result.append(bytes[start ..< end])
            start = end
            next += 1
        }
        return result
    }

    /// Deliberately uneven: smaller than, equal to, and larger than a block, and crossing block edges at odd offsets.
    static let unevenChunkSizes = [1, 7, 64, 3, 63, 65, 13, 128, 2, 0, 55, 9]

    // MARK: Published test vectors

    static let rfc1321Suite: [Vector] = [
        Vector(input: "", hex: "d41d8cd98f00b204e9800998ecf8427e"),
        Vector(input: "a", hex: "0cc175b9c0f1b6a831c399e269772661"),
        Vector(input: "abc", hex: "900150983cd24fb0d6963f7d28e17f72"),
        Vector(input: "message digest", hex: "f96b697d7cb7938d525a2f31aaf161d0"),
        Vector(input: "abcdefghijklmnopqrstuvwxyz", hex: "c3fcd3d76192e4007dfb496cca67e13b"),
        Vector(
            input: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
            hex: "d174ab98d277d9f5a5611c2c9f419d9f"
        ),
        Vector(
            input: "12345678901234567890123456789012345678901234567890123456789012345678901234567890",
            hex: "57edf4a22be3c955ac49da2e2107b67a"
        ),
    ]

    static let fips180Examples: [Vector] = [
        Vector(input: "", hex: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        Vector(input: "abc", hex: "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        Vector(
            input: "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
            hex: "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"
        ),
    ]

    @Test(arguments: rfc1321Suite)
    func md5MatchesRFC1321TestSuite(_ vector: Vector) {
        #expect(MD5.hash(vector.input).hexString == vector.hex)
        #expect(MD5.hash(Array(vector.input.utf8)).hexString == vector.hex)
    }

    @Test(arguments: fips180Examples)
    func sha256MatchesFIPS180Examples(_ vector: Vector) {
        #expect(SHA256.hash(vector.input).hexString == vector.hex)
        #expect(SHA256.hash(Array(vector.input.utf8)).hexString == vector.hex)
    }

    @Test func sha256OfOneMillionLetterAMatchesFIPS180Example() {
        let expected = "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"
        #expect(SHA256.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexString == expected)
        // `Repeated` has no contiguous storage, so this runs the element-by-element path over many blocks.
        #expect(SHA256.hash(repeatElement(UInt8(ascii: "a"), count: 1_000_000)).hexString == expected)
    }

    @Test func md5OfOneMillionLetterAMatchesReference() {
        let expected = "7707d6ae4e027c70eea2a935c2296f21"
        #expect(MD5.hash([UInt8](repeating: UInt8(ascii: "a"), count: 1_000_000)).hexString == expected)
        #expect(MD5.hash(repeatElement(UInt8(ascii: "a"), count: 1_000_000)).hexString == expected)
    }

    // MARK: Padding and block boundaries

    static let boundaryVectors: [BoundaryVector] = [
        BoundaryVector(
            length: 1, md5: "93b885adfe0da089cdf634904fd59f71",
            sha256: "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
        ),
        // Largest input whose padding still fits in its last block.
        BoundaryVector(
            length: 55, md5: "6912ee65fff2d9f9ce2508cddf8bcda0",
            sha256: "463eb28e72f82e0a96c0a4cc53690c571281131f672aa229e0d45ae59b598b59"
        ),
        // Smallest input whose length field spills into an extra block.
        BoundaryVector(
            length: 56, md5: "51fdd1acda72405dfdfa03fcb85896d7",
            sha256: "da2ae4d6b36748f2a318f23e7ab1dfdf45acdc9d049bd80e59de82a60895f562"
        ),
        BoundaryVector(
            length: 57, md5: "5320ef4c17ef34a0cf2db763338d25eb",
            sha256: "2fe741af801cc238602ac0ec6a7b0c3a8a87c7fc7d7f02a3fe03d1c12eac4d8f"
        ),
        BoundaryVector(
            length: 63, md5: "48a6295221902e8e0938f773a7185e72",
            sha256: "29af2686fd53374a36b0846694cc342177e428d1647515f078784d69cdb9e488"
        ),
        BoundaryVector(
            length: 64, md5: "b2d3f56bc197fd985d5965079b5e7148",
            sha256: "fdeab9acf3710362bd2658cdc9a29e8f9c757fcf9811603a8c447cd1d9151108"
        ),
        BoundaryVector(
            length: 65, md5: "8bd7053801c768420faf816fadba971c",
            sha256: "4bfd2c8b6f1eec7a2afeb48b934ee4b2694182027e6d0fc075074f2fabb31781"
        ),
        BoundaryVector(
            length: 119, md5: "1c772251899a7ff007400b888d6b2042",
            sha256: "da18797ed7c3a777f0847f429724a2d8cd5138e6ed2895c3fa1a6d39d18f7ec6"
        ),
        BoundaryVector(
            length: 120, md5: "b7ba1efc6022e9ed272f00b8831e26e6",
            sha256: "f52b23db1fbb6ded89ef42a23ce0c8922c45f25c50b568a93bf1c075420bbb7c"
        ),
        BoundaryVector(
            length: 121, md5: "b0b2d719a838db877b6d6571a39a1cdc",
            sha256: "335a461692b30bba1d647cc71604e88e676c90e4c22455d0b8c83f4bd7c8ac9b"
        ),
        BoundaryVector(
            length: 127, md5: "8402b21e7bc7906493bae0dac017f1f9",
            sha256: "92ca0fa6651ee2f97b884b7246a562fa71250fedefe5ebf270d31c546bfea976"
        ),
        BoundaryVector(
            length: 128, md5: "37eff01866ba3f538421b30b7cbefcac",
            sha256: "471fb943aa23c511f6f72f8d1652d9c880cfa392ad80503120547703e56a2be5"
        ),
        BoundaryVector(
            length: 129, md5: "46f986692847558fc38b0cece591c20f",
            sha256: "5099c6a56203f9687f7d33f4bfdf576d31dc91f6b695ecea38b2770c87631135"
        ),
        BoundaryVector(
            length: 1000, md5: "a24f1e3ef66950e1327f210e3997ba2c",
            sha256: "4e4c294b331f7a2099a379bec34b9f9fc03dc46ab465d998f4d683da53487e6d"
        ),
    ]

    @Test(arguments: Algorithm.allCases, boundaryVectors)
    func digestAtBlockBoundaryMatchesReferenceOneShotAndStreamed(_ algorithm: Algorithm, _ vector: BoundaryVector) {
        let input = Self.pattern(vector.length)
        let expected = vector.expected(algorithm)

        #expect(algorithm.oneShot(input).hexString == expected)
        #expect(algorithm.streamed(Self.chunks(input, sizes: Self.unevenChunkSizes)).hexString == expected)
        #expect(algorithm.streamed(Self.chunks(input, sizes: [1])).hexString == expected)
    }

    // MARK: Incremental hashing

    @Test(arguments: Algorithm.allCases)
    func splittingInputAtAnyOffsetGivesOneShotDigest(_ algorithm: Algorithm) {
        // Two blocks plus a bit covers every buffer fill level on both sides of each boundary.
        for length in 0 ... 130 {
            let input = Self.pattern(length)
            let expected = algorithm.oneShot(input)
            for split in 0 ... length {
                let streamed = algorithm.streamed([input[..<split], input[split...]])
                #expect(streamed == expected, "length \(length), split at \(split)")
            }
        }
    }

    @Test(arguments: Algorithm.allCases, [[1], [3, 5], [63], [64], [65], [17, 64, 1, 127], unevenChunkSizes])
    func streamingInUnevenChunksGivesOneShotDigest(_ algorithm: Algorithm, _ sizes: [Int]) {
        let input = Self.pattern(3 * 64 + 37)
        #expect(algorithm.streamed(Self.chunks(input, sizes: sizes)) == algorithm.oneShot(input))
    }

    @Test(arguments: Algorithm.allCases)
    func copiedHasherContinuesIndependently(_ algorithm: Algorithm) {
        // Value semantics: a hasher copied after a shared prefix forks, and neither branch disturbs the other.
        let prefix = Self.pattern(70)
        let left = Array("left".utf8)
        let right = Array("right branch".utf8)
        switch algorithm {
        case .md5:
            var base = MD5()
            base.update(prefix)
            var forked = base
            base.update(left)
            forked.update(right)
            #expect(base.finalize() == MD5.hash(prefix + left))
            #expect(forked.finalize() == MD5.hash(prefix + right))
        case .sha256:
            var base = SHA256()
            base.update(prefix)
            var forked = base
            base.update(left)
            forked.update(right)
            #expect(base.finalize() == SHA256.hash(prefix + left))
            #expect(forked.finalize() == SHA256.hash(prefix + right))
        }
    }

    @Test(arguments: Algorithm.allCases)
    func emptyUpdatesDoNotChangeDigest(_ algorithm: Algorithm) {
        let input = Self.pattern(100)
        let withEmpties: [ArraySlice<UInt8>] = [input[..<0], input[..<40], input[40 ..< 40], input[40...], input[100...]]
        #expect(algorithm.streamed(withEmpties) == algorithm.oneShot(input))
    }

    // MARK: Input kinds

    @Test(arguments: Algorithm.allCases)
    func utf8StringHashesItsEncodedBytes(_ algorithm: Algorithm) {
        let text = "h\u{E9}llo \u{2713}" // "héllo ✓", escaped so the source file's normalisation cannot change it
        // From `hashlib.md5("héllo ✓".encode()).hexdigest()` and the SHA-256 equivalent.
        let expected = switch algorithm {
        case .md5: "21b1ae5bc147bb564254200a4731e337"
        case .sha256: "5657cdef8a85a584e0e961e6f8247cf5d3f8ed21496ed6fdbcfd43a761e94245"
        }
        #expect(text.utf8.count == 10)
        #expect(algorithm.oneShot(text).hexString == expected)
        #expect(algorithm.oneShot(Array(text.utf8)).hexString == expected)
        #expect(algorithm.oneShot(text.utf8).hexString == expected)
    }

    @Test(arguments: Algorithm.allCases)
    func canonicallyEquivalentStringsHashTheirOwnBytes(_ algorithm: Algorithm) {
        // Swift calls these equal, but the digest is over UTF-8 bytes, so it must tell them apart.
        let precomposed = "caf\u{E9}"
        let decomposed = "cafe\u{301}"
        #expect(precomposed == decomposed)
        #expect(algorithm.oneShot(precomposed) == algorithm.oneShot(Array(precomposed.utf8)))
        #expect(algorithm.oneShot(decomposed) == algorithm.oneShot(Array(decomposed.utf8)))
        #expect(algorithm.oneShot(precomposed) != algorithm.oneShot(decomposed))
    }

    @Test(arguments: Algorithm.allCases, [0, 1, 63, 64, 65, 200])
    func nonContiguousCollectionGivesSameDigestAsContiguousBytes(_ algorithm: Algorithm, _ length: Int) {
        let input = Self.pattern(length)
        // A lazy map has no contiguous storage, so this takes the element-by-element path.
        #expect(algorithm.oneShot(input.lazy.map { $0 }) == algorithm.oneShot(input))
    }

    @Test(arguments: Algorithm.allCases)
    func dataGivesSameDigestAsByteArray(_ algorithm: Algorithm) {
        let input = Self.pattern(150)
        #expect(algorithm.oneShot(Data(input)) == algorithm.oneShot(input))
    }

    @Test(arguments: Algorithm.allCases)
    func digestHasAlgorithmLength(_ algorithm: Algorithm) {
        #expect(algorithm.oneShot([UInt8]()).count == algorithm.digestByteCount)
        #expect(algorithm.oneShot(Self.pattern(1000)).count == algorithm.digestByteCount)
    }

    // MARK: Hex

    @Test func hexStringIsLowercaseAndZeroPadded() {
        #expect([UInt8]().hexString == "")
        #expect([0x00, 0x0f, 0xa0, 0xff, 0x5c].hexString == "000fa0ff5c")
    }
}

/// Receipt handles and message ids are formatted by hand; these pin their text against Foundation's encoders.
struct IdentifierFormatTests {
    @Test func receiptHandleIsStandardBase64OfItsThreeWordsAndParsesBack() {
        var random = IDGenerator(seed: 7)
        for _ in 0..<2_000 {
            let handle = ReceiptHandle(incarnation: random.next(), key: random.next(), nonce: random.next() | 1)
            var bytes: [UInt8] = []
            for word in [handle.incarnation, handle.key, handle.nonce] {
                for shift in stride(from: 56, through: 0, by: -8) { bytes.append(UInt8(truncatingIfNeeded: word >> UInt64(shift))) }
            }
            #expect(handle.encoded == Data(bytes).base64EncodedString())
            #expect(ReceiptHandle(handle.encoded) == handle)
        }
    }

    @Test(arguments: ["", "short", String(repeating: "A", count: 31), String(repeating: "A", count: 33),
                      String(repeating: "A", count: 31) + "=", String(repeating: "A", count: 31) + "é",
                      String(repeating: "A", count: 15) + "-" + String(repeating: "B", count: 16),
                      "\u{0}" + String(repeating: "A", count: 30) + "B",
                      String(repeating: "A", count: 32)])   // the last: nonce 0 is never issued
    func malformedReceiptHandleTextIsRejected(_ text: String) {
        #expect(ReceiptHandle(text) == nil)
    }

    @Test func messageIdIsALowercaseVersion4UUID() throws {
        var random = IDGenerator(seed: 11)
        for _ in 0..<1_000 {
            let id = random.messageID()
            let text = id.string
            let parsed = try #require(UUID(uuidString: text))
            #expect(parsed.uuidString.lowercased() == text)
            #expect(Array(text.utf8)[14] == UInt8(ascii: "4"))
            #expect("89ab".utf8.contains(Array(text.utf8)[19]))
        }
    }
}

import Foundation

/// Message bodies that carry what verification needs: a sequence number, a message group and the send time.
///
/// Queue bodies: `m<12-digit seq>g<6-digit group>t<20-digit send time, ns>` padded with `x` to the size.
/// Fan-out bodies: a JSON order event whose `orderId` is `ord-<12-digit seq>`, padded in its `note` field.
enum Payload {
    static let minimumSize = 48
    private static let seqOffset = 1
    private static let groupOffset = 14
    private static let timeOffset = 21

    /// A queue body of `size` bytes (one allocation, as any body of more than 15 bytes needs).
    static func body(seq: Int, group: Int = 0, sentAt: UInt64 = 0, size: Int) -> String {
        String(unsafeUninitializedCapacity: size) { buffer in
            buffer[0] = UInt8(ascii: "m")
            write(UInt64(seq), digits: 12, into: buffer, at: seqOffset)
            buffer[13] = UInt8(ascii: "g")
            write(UInt64(group), digits: 6, into: buffer, at: groupOffset)
            buffer[20] = UInt8(ascii: "t")
            write(sentAt, digits: 20, into: buffer, at: timeOffset)
            UnsafeMutableBufferPointer(rebasing: buffer[41..<size]).initialize(repeating: UInt8(ascii: "x"))
            return size
        }
    }

    @inline(__always)
    private static func write(_ value: UInt64, digits: Int, into buffer: UnsafeMutableBufferPointer<UInt8>, at offset: Int) {
        var rest = value
        for index in stride(from: offset + digits - 1, through: offset, by: -1) {
            buffer[index] = UInt8(ascii: "0") + UInt8(rest % 10)
            rest /= 10
            // Leading zeros without a division each: most fields are small or zero.
            if rest == 0 {
                UnsafeMutableBufferPointer(rebasing: buffer[offset..<index]).initialize(repeating: UInt8(ascii: "0"))
                return
            }
        }
    }

    @inline(__always)
    private static func read(_ bytes: UnsafeBufferPointer<UInt8>, at offset: Int, digits: Int) -> UInt64? {
        guard offset + digits <= bytes.count else { return nil }
        var value: UInt64 = 0
        for index in offset..<(offset + digits) {
            let digit = bytes[index] &- UInt8(ascii: "0")
            guard digit < 10 else { return nil }
            // Unchecked: at most 20 digits that `write` produced from a UInt64.
            value = value &* 10 &+ UInt64(digit)
        }
        return value
    }

    /// The sequence number, group and send time of a queue body; nil if the body is not one of ours. Without
    /// `time`, the send time is not read (0): scenarios that measure no send-to-receive latency skip its 20 digits.
    static func parse(_ body: String, time: Bool = true) -> (seq: Int, group: Int, sentAt: UInt64)? {
        var body = body
        return body.withUTF8 { bytes -> (Int, Int, UInt64)? in
            guard bytes.count >= 41, bytes[0] == UInt8(ascii: "m"), bytes[13] == UInt8(ascii: "g"),
                  bytes[20] == UInt8(ascii: "t"),
                  let seq = read(bytes, at: seqOffset, digits: 12), let group = read(bytes, at: groupOffset, digits: 6),
                  let sentAt = time ? read(bytes, at: timeOffset, digits: 20) : 0
            else { return nil }
            return (Int(seq), Int(group), sentAt)
        }
    }

    // MARK: Fan-out

    static let eventTypes = ["order.created", "order.refunded", "order.cancelled", "order.shipped"]

    /// A JSON order event of `size` bytes (at least its fixed part, ~190 bytes), built from a template with the
    /// sequence number written in place: one allocation, so the harness stays out of the way of what it measures.
    static func orderEvent(seq: Int, size: Int) -> String {
        let template = OrderTemplate.template(type: seq % eventTypes.count, size: size)
        return String(unsafeUninitializedCapacity: template.bytes.count) { buffer in
            _ = buffer.initialize(from: template.bytes)
            write(UInt64(seq), digits: 12, into: buffer, at: template.digitsOffset)
            return template.bytes.count
        }
    }

    /// Per event type and size, the event's bytes with a placeholder sequence number.
    private struct OrderTemplate {
        let bytes: [UInt8]
        let digitsOffset: Int

        nonisolated(unsafe) private static var cache: [Int: OrderTemplate] = [:]
        private static let lock = NSLock()

        static func template(type: Int, size: Int) -> OrderTemplate {
            let key = size &* 8 &+ type
            lock.lock()
            defer { lock.unlock() }
            if let cached = cache[key] { return cached }
            let head = #"{"orderId":"ord-"#
            let rest = #"","eventType":""# + eventTypes[type]
                + #"","customer":{"id":"c-1042","tier":"gold"},"currency":"EUR","total":129.95,"items":[{"sku":"SKU-1","qty":2}],"note":""#
            let tail = #""}"#
            let fixed = head.utf8.count + 12 + rest.utf8.count + tail.utf8.count
            let text = head + String(repeating: "0", count: 12) + rest + String(repeating: "x", count: max(0, size - fixed)) + tail
            let template = OrderTemplate(bytes: Array(text.utf8), digitsOffset: head.utf8.count)
            cache[key] = template
            return template
        }
    }

    /// Whether a fan-out copy is an SNS notification envelope (`{ "Type" : "Notification", …`): looks for `"Type"` in
    /// the first 64 bytes, without Foundation's string search.
    static func isEnvelope(_ body: String) -> Bool {
        var body = body
        return body.withUTF8 { bytes -> Bool in
            // `"Type"`, compared byte by byte: a needle array would cost the harness an allocation per copy.
            guard bytes.first == UInt8(ascii: "{") else { return false }
            let limit = min(bytes.count, 64) - 6
            guard limit >= 0 else { return false }
            for start in 0...limit where bytes[start] == UInt8(ascii: "\"") && bytes[start + 1] == UInt8(ascii: "T")
                && bytes[start + 2] == UInt8(ascii: "y") && bytes[start + 3] == UInt8(ascii: "p")
                && bytes[start + 4] == UInt8(ascii: "e") && bytes[start + 5] == UInt8(ascii: "\"") {
                return true
            }
            return false
        }
    }

    /// The sequence number in a fan-out copy: a raw body, or an SNS envelope that quotes it.
    static func orderSeq(in body: String) -> Int? {
        var body = body
        return body.withUTF8 { bytes -> Int? in
            // "ord-" followed by 12 digits, wherever it is (the envelope escapes the quotes, not the digits).
            // Eight bytes at a time: only words holding an "o" are looked at closely, so the harness's scan of an
            // envelope stays small beside the work it measures.
            let count = bytes.count
            guard let base = bytes.baseAddress else { return nil }
            func isMarker(_ index: Int) -> Bool {
                index + 16 <= count && bytes[index] == UInt8(ascii: "o") && bytes[index + 1] == UInt8(ascii: "r")
                    && bytes[index + 2] == UInt8(ascii: "d") && bytes[index + 3] == UInt8(ascii: "-")
            }
            let ones: UInt64 = 0x0101_0101_0101_0101
            var word = 0
            while word + 8 <= count {
                let value = UnsafeRawPointer(base + word).loadUnaligned(as: UInt64.self) ^ (ones &* UInt64(UInt8(ascii: "o")))
                if (value &- ones) & ~value & (ones &* 0x80) != 0 {
                    for index in word..<(word + 8) where isMarker(index) {
                        return read(bytes, at: index + 4, digits: 12).map(Int.init)
                    }
                }
                word += 8
            }
            for index in word..<count where isMarker(index) {
                return read(bytes, at: index + 4, digits: 12).map(Int.init)
            }
            return nil
        }
    }
}

/// Which sequence numbers have been seen: a growable bitset, so "delivered exactly once" costs a bit per message.
struct SeenSet {
    private var words: [UInt64] = []
    private(set) var count = 0

    init(capacity: Int = 0) {
        words = [UInt64](repeating: 0, count: (capacity + 63) / 64)
    }

    /// Marks `seq`; false if it was already marked (a duplicate delivery).
    @inline(__always)
    mutating func insert(_ seq: Int) -> Bool {
        let word = seq >> 6
        if word >= words.count { words.append(contentsOf: repeatElement(0, count: max(word + 1 - words.count, words.count))) }
        let bit = UInt64(1) << UInt64(seq & 63)
        if words[word] & bit != 0 { return false }
        words[word] |= bit
        count += 1
        return true
    }

    func contains(_ seq: Int) -> Bool {
        let word = seq >> 6
        return word < words.count && words[word] & (UInt64(1) << UInt64(seq & 63)) != 0
    }
}

/// A lock-protected value for the harness's shared counters (NSLock: the harness is outside the library).
final class Shared<Value>: @unchecked Sendable {
    private var value: Value
    private let lock = NSLock()

    init(_ value: Value) {
        self.value = value
    }

    @inline(__always)
    func withLock<T>(_ body: (inout Value) throws -> T) rethrows -> T {
        lock.lock()
        defer { lock.unlock() }
        return try body(&value)
    }
}

/// Collects verification failures; keeps the first few messages of each kind readable.
struct Verifier {
    private(set) var failures: [String] = []
    private var suppressed = 0

    mutating func fail(_ message: String) {
        if failures.count < 20 { failures.append(message) } else { suppressed += 1 }
    }

    mutating func check(_ condition: Bool, _ message: @autoclosure () -> String) {
        if !condition { fail(message()) }
    }

    var all: [String] {
        suppressed > 0 ? failures + ["… and \(suppressed) more failures"] : failures
    }

    mutating func absorb(_ other: [String]) {
        for failure in other { fail(failure) }
    }
}

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

    /// JSON order events of `size` bytes (at least their fixed part, ~190 bytes), one template per event type made
    /// once per run, each event the template with its sequence number written in place: one allocation, so the
    /// harness stays out of the way of what it measures.
    struct OrderEvents {
        private let templates: [[UInt8]]
        /// What every event begins with; its sequence number follows.
        static let head = #"{"orderId":"ord-"#

        init(size: Int) {
            templates = eventTypes.map { type in
                let rest = #"","eventType":""# + type
                    + #"","customer":{"id":"c-1042","tier":"gold"},"currency":"EUR","total":129.95,"items":[{"sku":"SKU-1","qty":2}],"note":""#
                let tail = #""}"#
                let fixed = Self.head.utf8.count + 12 + rest.utf8.count + tail.utf8.count
                let text = Self.head + String(repeating: "0", count: 12) + rest
                    + String(repeating: "x", count: max(0, size - fixed)) + tail
                return Array(text.utf8)
            }
        }

        /// The event of publish `seq`, whose type is `eventTypes[seq % 4]`.
        func event(seq: Int) -> String {
            let template = templates[seq % templates.count]
            return String(unsafeUninitializedCapacity: template.count) { buffer in
                _ = buffer.initialize(from: template)
                write(UInt64(seq), digits: 12, into: buffer, at: Self.head.utf8.count)
                return template.count
            }
        }
    }

    /// The two ways a fan-out copy may begin: an order event delivered raw, or SNS's envelope.
    private static let rawPrefix = Array(OrderEvents.head.utf8)
    private static let envelopePrefix = Array("{\n  \"Type\" : \"Notification\"".utf8)

    /// A fan-out copy as the harness checks it: the publish's sequence number (nil if the copy holds none), and
    /// whether SNS's envelope wraps it. One pass over the body's bytes: a raw event has its number at a fixed offset,
    /// an envelope quotes the event after its `Type`.
    static func inspectCopy(_ body: String) -> (seq: Int?, isEnvelope: Bool) {
        var body = body  // `withUTF8` is mutating; a native string is not copied by it
        return body.withUTF8 { bytes in
            func hasPrefix(_ prefix: [UInt8]) -> Bool {
                guard bytes.count >= prefix.count, let body = bytes.baseAddress else { return false }
                return prefix.withUnsafeBufferPointer { prefix in
                    prefix.baseAddress.map { memcmp(body, $0, prefix.count) == 0 } ?? false
                }
            }
            if hasPrefix(rawPrefix) { return (read(bytes, at: rawPrefix.count, digits: 12).map(Int.init), false) }
            if hasPrefix(envelopePrefix) { return (seqAfterMarker(bytes, from: envelopePrefix.count), true) }
            return (nil, false)
        }
    }

    /// The 12 digits after the first "ord-" at or after `start` (the envelope escapes the quotes, not the digits).
    /// Eight bytes at a time: only words holding an "o" are looked at closely, so the harness's scan of an
    /// envelope stays small beside the work it measures.
    private static func seqAfterMarker(_ bytes: UnsafeBufferPointer<UInt8>, from start: Int) -> Int? {
        let count = bytes.count
        guard let base = bytes.baseAddress else { return nil }
        func isMarker(_ index: Int) -> Bool {
            index + 16 <= count && bytes[index] == UInt8(ascii: "o") && bytes[index + 1] == UInt8(ascii: "r")
                && bytes[index + 2] == UInt8(ascii: "d") && bytes[index + 3] == UInt8(ascii: "-")
        }
        let ones: UInt64 = 0x0101_0101_0101_0101
        var word = start
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

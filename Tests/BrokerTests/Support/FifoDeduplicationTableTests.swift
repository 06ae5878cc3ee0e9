import Foundation
import Testing

@testable import Broker

/// The FIFO deduplication table, directly (forced hash collisions, expiry at the window's edge, growth and removal
/// under churn) and through queues (scope, purge, sequence numbers of duplicates).
@Suite("FIFO deduplication table")
struct FifoDeduplicationTableTests {
    private let start = Date(timeIntervalSince1970: 1_700_000_000)

    private func record(_ n: UInt64, at time: Date) -> DeduplicationRecord {
        DeduplicationRecord(expiresAt: time.addingTimeInterval(300), messageId: MessageID(high: n, low: ~n),
                            sequenceNumber: n)
    }

    // MARK: The table

    @Test("a key is taken for exactly five minutes from the first send", arguments: [UInt32.max, 0])
    func expiryAtTheWindowEdge(hashMask: UInt32) {
        var table = DeduplicationTable(hashMask: hashMask)
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: start, record: record(1, at: start)) == nil)
        let almost = start.addingTimeInterval(299.999)
        table.expire(now: almost)
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: almost, record: record(2, at: almost))?
            .sequenceNumber == 1)
        let edge = start.addingTimeInterval(300)
        table.expire(now: edge)
        #expect(table.count == 0)
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: edge, record: record(3, at: edge)) == nil)
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: edge, record: record(4, at: edge))?
            .sequenceNumber == 3)
    }

    @Test("an expired key not yet dropped is free again (a clock that stepped back)")
    func expiredButNotDropped() {
        var table = DeduplicationTable()
        let later = start.addingTimeInterval(200)
        // Entered first with the later expiry, so it holds the front and keeps "b" from being dropped.
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: later, record: record(1, at: later)) == nil)
        #expect(table.recordUnlessDuplicate(id: "b", group: nil, now: start, record: record(2, at: start)) == nil)
        let now = start.addingTimeInterval(400)
        table.expire(now: now)
        #expect(table.count == 2)
        #expect(table.recordUnlessDuplicate(id: "b", group: nil, now: now, record: record(3, at: now)) == nil)
        #expect(table.recordUnlessDuplicate(id: "b", group: nil, now: now, record: record(4, at: now))?
            .sequenceNumber == 3)
        // Dropping "a" then also drops the orphaned first entry of "b", but not its current one.
        let end = later.addingTimeInterval(300)
        table.expire(now: end)
        #expect(table.count == 1)
        #expect(table.recordUnlessDuplicate(id: "a", group: nil, now: end, record: record(5, at: end)) == nil)
        #expect(table.recordUnlessDuplicate(id: "b", group: nil, now: end, record: record(6, at: end))?
            .sequenceNumber == 3)
    }

    @Test("every key on one hash value: distinct ids stay distinct", arguments: [UInt32.max, 0, 1])
    func collidingHashes(hashMask: UInt32) {
        var table = DeduplicationTable(hashMask: hashMask)
        // Prefix and suffix variants, ids differing only by group, and the queue scope (group nil) vs "".
        let ids = (0..<300).map { "id-\($0)" } + (0..<300).map { "\($0)-id" } + ["", "a", "aa", "a\u{0}"]
        var expected: [String: UInt64] = [:]
        var n: UInt64 = 0
        for id in ids {
            for group in [nil, "", "g", "g1"] as [String?] {
                n += 1
                #expect(table.recordUnlessDuplicate(id: id, group: group, now: start, record: record(n, at: start)) == nil)
                expected["\(group.map { "[\($0)]" } ?? "<queue>")\(id)"] = n
            }
        }
        #expect(table.count == ids.count * 4)
        n += 1
        for id in ids {
            for group in [nil, "", "g", "g1"] as [String?] {
                let duplicate = table.recordUnlessDuplicate(id: id, group: group, now: start, record: record(n, at: start))
                #expect(duplicate?.sequenceNumber == expected["\(group.map { "[\($0)]" } ?? "<queue>")\(id)"])
            }
        }
        #expect(table.recordUnlessDuplicate(id: "id-0", group: "g2", now: start, record: record(n, at: start)) == nil)
    }

    @Test("churn: growth, expiry and slot removal keep every live key findable", arguments: [UInt32.max, 7])
    func churn(hashMask: UInt32) {
        var table = DeduplicationTable(hashMask: hashMask)
        var sequence: UInt64 = 0
        // One send per second for 2,000 s: about 300 keys live at any time, the rest dropped in order.
        for second in 0..<2_000 {
            let now = start.addingTimeInterval(TimeInterval(second))
            table.expire(now: now)
            sequence += 1
            #expect(table.recordUnlessDuplicate(id: "k\(second)", group: nil, now: now,
                                                record: record(sequence, at: now)) == nil)
            if second % 97 == 0 {
                for back in [0, 1, 150, 299, 300, 301] where back <= second {
                    let duplicate = table.recordUnlessDuplicate(id: "k\(second - back)", group: nil, now: now,
                                                                record: record(0, at: now))
                    if back < 300 {
                        #expect(duplicate?.sequenceNumber == sequence - UInt64(back), "k\(second - back) at \(second)")
                    } else {
                        // Expired and taken again just now: a later check 1 s on must see this new record.
                        #expect(duplicate == nil, "k\(second - back) at \(second)")
                    }
                }
            }
        }
        #expect(table.count <= 310)
        table.expire(now: start.addingTimeInterval(10_000))
        #expect(table.count == 0)
        table.removeAll()
        #expect(table.recordUnlessDuplicate(id: "k1", group: nil, now: start, record: record(1, at: start)) == nil)
    }

    @Test func removeAllForgetsEveryKey() {
        var table = DeduplicationTable()
        for n in 0..<1_000 {
            _ = table.recordUnlessDuplicate(id: "x\(n)", group: "g", now: start, record: record(UInt64(n), at: start))
        }
        table.removeAll()
        #expect(table.count == 0)
        #expect(table.recordUnlessDuplicate(id: "x5", group: "g", now: start, record: record(9, at: start)) == nil)
    }

    @Test func longIdsHashEveryByte() {
        var table = DeduplicationTable()
        let base = String(repeating: "a", count: 127)
        let ids = (0..<128).map { position -> String in
            var bytes = Array(base.utf8) + [UInt8(ascii: "a")]
            bytes[position] = UInt8(ascii: "b")
            return String(decoding: bytes, as: UTF8.self)
        }
        for (n, id) in ids.enumerated() {
            #expect(table.recordUnlessDuplicate(id: id, group: nil, now: start, record: record(UInt64(n), at: start)) == nil)
        }
        #expect(Set(ids.map { DeduplicationTable.hash(id: $0, group: nil) }).count == ids.count)
    }

    // MARK: Through a queue

    @Test func messageGroupScopeDeduplicatesWithinAGroupOnly() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "scoped.fifo", attributes: QueueAttributes(
            fifoQueue: true, deduplicationScope: .messageGroup, fifoThroughputLimit: .perMessageGroupId))
        let first = try queue.sendMessage("1", messageGroupId: "a", messageDeduplicationId: "d")
        let otherGroup = try queue.sendMessage("2", messageGroupId: "b", messageDeduplicationId: "d")
        let duplicate = try queue.sendMessage("3", messageGroupId: "a", messageDeduplicationId: "d")
        #expect(otherGroup.messageId != first.messageId)
        #expect(duplicate.messageId == first.messageId)
        #expect(duplicate.sequenceNumber == first.sequenceNumber)
        // A group name that is a prefix of another plus the id must not collide ("a" + "bd" vs "ab" + "d").
        let split1 = try queue.sendMessage("4", messageGroupId: "a", messageDeduplicationId: "bd")
        let split2 = try queue.sendMessage("5", messageGroupId: "ab", messageDeduplicationId: "d")
        #expect(split1.messageId != split2.messageId)
        #expect(try queue.statistics().approximateNumberOfMessages == 4)
    }

    @Test func queueScopeDeduplicatesAcrossGroups() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "plain.fifo", attributes: QueueAttributes(fifoQueue: true))
        let first = try queue.sendMessage("1", messageGroupId: "a", messageDeduplicationId: "d")
        let duplicate = try queue.sendMessage("2", messageGroupId: "b", messageDeduplicationId: "d")
        #expect(duplicate.messageId == first.messageId)
        #expect(duplicate.sequenceNumber == first.sequenceNumber)
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func purgeClearsTheHistoryAndDuplicatesKeepTheirOriginalSequenceNumber() throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "purged.fifo", attributes: QueueAttributes(fifoQueue: true))
        var originals: [String: SendMessageResult] = [:]
        for n in 0..<500 {
            originals["\(n)"] = try queue.sendMessage("m\(n)", messageGroupId: "g\(n % 7)", messageDeduplicationId: "\(n)")
        }
        for n in stride(from: 0, to: 500, by: 37) {
            let again = try queue.sendMessage("again", messageGroupId: "other", messageDeduplicationId: "\(n)")
            #expect(again.messageId == originals["\(n)"]?.messageId)
            #expect(again.sequenceNumber == originals["\(n)"]?.sequenceNumber)
        }
        try queue.purge()
        clock.advance(by: .seconds(1))
        let after = try queue.sendMessage("fresh", messageGroupId: "g0", messageDeduplicationId: "0")
        #expect(after.messageId != originals["0"]?.messageId)
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func expiryThroughTheQueueIsExactlyFiveMinutes() throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "edge.fifo", attributes: QueueAttributes(fifoQueue: true))
        let first = try queue.sendMessage("1", messageGroupId: "g", messageDeduplicationId: "d")
        clock.advance(by: .milliseconds(299_999))
        #expect(try queue.sendMessage("2", messageGroupId: "g", messageDeduplicationId: "d").messageId == first.messageId)
        clock.advance(by: .milliseconds(1))
        let second = try queue.sendMessage("3", messageGroupId: "g", messageDeduplicationId: "d")
        #expect(second.messageId != first.messageId)
        #expect(try queue.statistics().approximateNumberOfMessages == 2)
    }
}

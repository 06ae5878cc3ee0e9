import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// The compact layout of a stored message keeps every field it packs.
struct StoredMessageTests {
    private static let sent = Date(timeIntervalSince1970: 1_700_000_000.25)

    private static func message(body: String = String(repeating: "b", count: 100), enqueuedAt: Date = sent,
                                groupId: String? = nil, size: Int = 100,
                                receiveCount: Int = 0, firstReceivedAt: Date? = nil) -> StoredMessage {
        StoredMessage.make(key: 7, id: MessageID(high: 1, low: 2), body: body, messageAttributes: [:],
                      systemAttributes: [:], sentAt: sent, enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: nil,
                      sequenceNumber: nil, deadLetterQueueSourceArn: nil, size: size, receiveCount: receiveCount,
                      firstReceivedAt: firstReceivedAt)
    }

    /// `Message ==` reads the bodies' bytes in their blocks: two blocks with the same id, receipt and body are equal
    /// received messages; a different body, however it is stored, is not.
    @Test(arguments: ["", "b", String(repeating: "é", count: 300)])
    func receivedMessagesCompareTheirBodiesByteForByteAcrossBlocks(body: String) {
        let receipt = ReceiptHandle(incarnation: 1, key: 7, nonce: 3)
        let received = ReceivedAttributes(selection: 0, receiveCount: 1, firstReceivedAt: nil, senderId: "")
        func view(_ stored: StoredMessage) -> Message {
            Message(stored: stored, receipt: receipt, received: received, messageAttributes: [:])
        }
        let stored = Self.message(body: body, size: body.utf8.count)
        let copy = stored.copy(key: 7, enqueuedAt: Self.sent, sequenceNumber: nil, deadLetterQueueSourceArn: nil)
        #expect(!(copy === stored))
        #expect(view(stored) == view(stored))
        #expect(view(stored) == view(copy))
        #expect(view(stored) != view(Self.message(body: body + "x", size: body.utf8.count + 1)))
        #expect(view(Self.message(body: "x" + body, size: body.utf8.count + 1)) != view(stored))
    }

    /// The body lives in the message's own block: every body reads back exactly, byte for byte and as a string,
    /// and a copy (a dead-letter move, a redrive) carries its own.
    @Test(arguments: ["", "a", "fifteen bytes!!", "sixteen bytes!!!", "ünïcödé ✓ 🚀 \u{0}", String(repeating: "x", count: 1_048_576),
                      String(repeating: "é", count: 300)])
    func aBodyReadsBackExactlyFromTheMessagesOwnBlock(body: String) {
        let message = Self.message(body: body, size: body.utf8.count)
        #expect(message.body == body)
        #expect(message.bodyByteCount == body.utf8.count)
        #expect(message.withBody { Array($0) } == Array(body.utf8))
        let copy = message.copy(key: 8, enqueuedAt: Self.sent, sequenceNumber: nil, deadLetterQueueSourceArn: nil)
        #expect(copy.body == body)
        #expect(!(copy === message))
        let absent: StoredMessage? = nil
        #expect(message === message && !(message === absent) && !(absent === message) && absent === absent)
    }

    @Test func aMessageNeverReceivedHasNoFirstReceiveTimeAndOneReceivedKeepsItExactly() {
        let message = Self.message()
        #expect(message.firstReceivedAt == nil)
        let received = Date(timeIntervalSince1970: 1_700_000_123.456)
        message.firstReceivedAt = received
        #expect(message.firstReceivedAt == received)
        #expect(Self.message(firstReceivedAt: received).firstReceivedAt == received)
    }

    @Test func theReceiveCountAndSizeReadBackAsWrittenAndACountBeyond24BitsStopsAtTheMaximum() {
        let message = Self.message(size: 1_048_576, receiveCount: 3)
        #expect(message.size == 1_048_576)
        #expect(message.receiveCount == 3)
        message.receiveCount += 1
        #expect(message.receiveCount == 4)
        message.receiveCount = 16_777_215
        #expect(message.receiveCount == 16_777_215)
        message.receiveCount += 1
        #expect(message.receiveCount == 16_777_215)
        message.receiveCount = Int(UInt32.max) + 10
        #expect(message.receiveCount == 16_777_215)
        #expect(message.state == .new)
    }

    /// The state shares a word with the receive count: setting either leaves the other as it was.
    @Test(arguments: [StoredMessage.State.new, .delayed, .visible, .inFlight, .gone])
    func theStateAndTheReceiveCountDoNotDisturbEachOther(state: StoredMessage.State) {
        let message = Self.message(receiveCount: 16_777_215)
        message.state = state
        #expect(message.state == state)
        #expect(message.receiveCount == 16_777_215)
        message.receiveCount = 5
        #expect(message.state == state)
        #expect(message.receiveCount == 5)
    }

    @Test func aFifoMessageKeepsItsGroupSlotAndOneWithoutAGroupHasNone() {
        let fifo = Self.message(groupId: "g")
        #expect(fifo.groupSlot == -1)
        fifo.groupSlot = 41
        #expect(fifo.groupSlot == 41)
        let plain = Self.message()
        plain.groupSlot = 41
        #expect(plain.groupSlot == -1)
    }

    /// A hidden-index entry is current only while its deadline is still the message's and the message is hidden.
    @Test func anEntryIsCurrentOnlyForTheMessagesDeadlineWhileItIsHidden() {
        let message = Self.message()
        let first = Self.sent.addingTimeInterval(30)
        let second = Self.sent.addingTimeInterval(60)
        message.state = .inFlight
        message.visibleAt = first
        let older = TimedEntry(deadline: first, message: message)
        #expect(older.isCurrent)
        message.visibleAt = second
        #expect(!older.isCurrent)
        #expect(TimedEntry(deadline: second, message: message).isCurrent)
        message.state = .visible
        #expect(!TimedEntry(deadline: second, message: message).isCurrent)
        message.state = .gone
        #expect(!TimedEntry(deadline: second, message: message).isCurrent)
    }

    @Test func anEnqueueTimeOtherThanTheSendTimeIsKeptAndTheSendTimeIsTheDefault() {
        #expect(Self.message().enqueuedAt == Self.sent)
        let moved = Self.sent.addingTimeInterval(42)
        let message = Self.message(enqueuedAt: moved)
        #expect(message.enqueuedAt == moved)
        #expect(message.sentAt == Self.sent)
        #expect(message.visibleAt == moved)
        #expect(Self.message(enqueuedAt: moved, groupId: "g").enqueuedAt == moved)
        #expect(message.copy(key: 8, enqueuedAt: Self.sent, sequenceNumber: nil, deadLetterQueueSourceArn: nil).enqueuedAt == Self.sent)
    }

    #if canImport(Glibc)
    /// A queue may hold millions: fields and a 100-byte body share one block, glibc's 224-byte chunk (216 usable
    /// bytes; the fields and a separate 100-byte string took a 128-byte and a 160-byte chunk).
    /// `size_t malloc_usable_size(void *)`, found at run time: Swift's Glibc module does not import malloc.h.
    @Test func aPlainStoredMessageWithA100ByteBodyFitsInOne224ByteAllocation() throws {
        typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
        let symbol = try #require(dlsym(nil, "malloc_usable_size"))
        let usableSize = unsafeBitCast(symbol, to: UsableSize.self)
        let message = Self.message()
        let usable = withExtendedLifetime(message) { usableSize(message.blockAddress) }
        #expect(usable >= 100 && usable <= 216)
    }
    #endif
}

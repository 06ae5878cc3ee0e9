import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// The compact layout of a stored message keeps every field it packs.
struct StoredMessageTests {
    private static let sent = Date(timeIntervalSince1970: 1_700_000_000.25)

    private static func message(enqueuedAt: Date = sent, groupId: String? = nil, size: Int = 100,
                                receiveCount: Int = 0, firstReceivedAt: Date? = nil) -> StoredMessage {
        StoredMessage(key: 7, id: MessageID(high: 1, low: 2), body: String(repeating: "b", count: 100), messageAttributes: [:],
                      systemAttributes: [:], sentAt: sent, enqueuedAt: enqueuedAt, groupId: groupId, deduplicationId: nil,
                      sequenceNumber: nil, deadLetterQueueSourceArn: nil, size: size, receiveCount: receiveCount,
                      firstReceivedAt: firstReceivedAt)
    }

    @Test func aMessageNeverReceivedHasNoFirstReceiveTimeAndOneReceivedKeepsItExactly() {
        let message = Self.message()
        #expect(message.firstReceivedAt == nil)
        let received = Date(timeIntervalSince1970: 1_700_000_123.456)
        message.firstReceivedAt = received
        #expect(message.firstReceivedAt == received)
        #expect(Self.message(firstReceivedAt: received).firstReceivedAt == received)
    }

    @Test func theReceiveCountAndSizeReadBackAsWrittenAndACountBeyond32BitsStopsAtTheMaximum() {
        let message = Self.message(size: 1_048_576, receiveCount: 3)
        #expect(message.size == 1_048_576)
        #expect(message.receiveCount == 3)
        message.receiveCount += 1
        #expect(message.receiveCount == 4)
        message.receiveCount = Int(UInt32.max) + 10
        #expect(message.receiveCount == Int(UInt32.max))
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
    /// A queue may hold millions: the object must stay in glibc's 144-byte chunk (136 usable bytes).
    /// `size_t malloc_usable_size(void *)`, found at run time: Swift's Glibc module does not import malloc.h.
    @Test func aPlainStoredMessageFitsInOne144ByteAllocation() throws {
        typealias UsableSize = @convention(c) (UnsafeMutableRawPointer?) -> Int
        let symbol = try #require(dlsym(nil, "malloc_usable_size"))
        let usableSize = unsafeBitCast(symbol, to: UsableSize.self)
        let message = Self.message()
        let usable = withExtendedLifetime(message) { usableSize(Unmanaged.passUnretained(message).toOpaque()) }
        #expect(usable > 0 && usable <= 136)
    }
    #endif
}

import Foundation
import Testing

@testable import Broker

/// Sends and receives are journaled in short forms (entries 8 and 9) when their receive state follows from the rest;
/// the long forms (1 and 2), which older journals hold and other changes still write, must restore the same state.
struct QueueLogFormsTests {
    private static let sentAt = Date(timeIntervalSinceReferenceDate: 820_000_000.125)

    /// A message as a send stores it, then what later changes leave.
    private static func message(_ key: UInt64, fifo: Bool = false, attributes: Bool = false, enqueuedLater: Bool = false,
                                source: String? = nil) -> StoredMessage {
        let message = StoredMessage.make(
            key: key, id: MessageID(high: 0x1234_5678_9ABC_4DEF ^ key, low: 0x8000_0000_0000_0001 | key),
            body: "body \(key) ✓",
            messageAttributes: attributes ? ["a": MessageAttributeValue(dataType: "String", stringValue: "x", binaryValue: nil),
                                            "b": MessageAttributeValue(dataType: "Binary", stringValue: nil, binaryValue: Data([0, 1]))] : [:],
            systemAttributes: [:], sentAt: sentAt,
            enqueuedAt: enqueuedLater ? sentAt.addingTimeInterval(0.5) : sentAt,
            groupId: fifo ? "group" : nil, deduplicationId: fifo ? "dedup-\(key)" : nil,
            sequenceNumber: fifo ? 10_000_000_000_000_000_000 + key : nil, deadLetterQueueSourceArn: source,
            size: 20 + Int(key), receiveCount: 0, firstReceivedAt: nil)
        message.state = .visible
        return message
    }

    /// Every field recovery restores, as text, so two restorations compare in one `#expect`.
    private static func fields(_ message: StoredMessage) -> String {
        "\(message.key) \(message.id.string) \(message.body) \(message.messageAttributes) \(message.sentAt.timeIntervalSinceReferenceDate.bitPattern) "
            + "\(message.enqueuedAt.timeIntervalSinceReferenceDate.bitPattern) \(String(describing: message.groupId)) "
            + "\(String(describing: message.deduplicationId)) \(String(describing: message.sequenceNumber)) "
            + "\(String(describing: message.deadLetterQueueSourceArn)) \(message.size) \(message.state) "
            + "\(message.visibleAt.timeIntervalSinceReferenceDate.bitPattern) \(message.receiveCount) "
            + "\(String(describing: message.firstReceivedAt?.timeIntervalSinceReferenceDate.bitPattern)) "
            + "\(message.receivedAt.timeIntervalSinceReferenceDate.bitPattern) \(message.receiptNonce)"
    }

    /// Logs the same history in one form, replays it into an empty image: its messages' fields, its deduplication
    /// records, and the bytes the entries took.
    private static func replay(shortForms: Bool) throws -> (messages: [String], deduplication: [String], bytes: Int) {
        var log = QueueLog()
        log.shortForms = shortForms
        // Sent: plain; FIFO, deduplicating by group; with attributes; delayed (received later, and not); enqueued
        // after its send (a move).
        let plain = message(1)
        log.sent(plain, deduplicates: false, deduplicationGroup: nil)
        let fifo = message(2, fifo: true)
        log.sent(fifo, deduplicates: true, deduplicationGroup: "group")
        let attributed = message(3, attributes: true)
        log.sent(attributed, deduplicates: false, deduplicationGroup: nil)
        let delayed = message(4)
        delayed.state = .delayed
        delayed.visibleAt = sentAt.addingTimeInterval(900)
        log.sent(delayed, deduplicates: false, deduplicationGroup: nil)
        let moved = message(5, enqueuedLater: true, source: "arn:aws:sqs:us-east-1:000000000000:source")
        log.inserted(moved)
        let stillDelayed = message(6)
        stillDelayed.state = .delayed
        stillDelayed.visibleAt = sentAt.addingTimeInterval(60)
        log.sent(stillDelayed, deduplicates: false, deduplicationGroup: nil)
        // Received: a first receive; a second one (first receive kept from before); a receive with visibility 0
        // left in flight; a visibility change to a deadline no whole number of seconds after the receive.
        func receive(_ message: StoredMessage, at offset: TimeInterval, timeout: Int, nonce: UInt64) {
            let now = sentAt.addingTimeInterval(offset)
            message.state = .inFlight
            message.receiveCount += 1
            if message.firstReceivedAt == nil { message.firstReceivedAt = now }
            message.receivedAt = now
            message.receiptNonce = nonce
            message.visibleAt = now.addingTimeInterval(TimeInterval(timeout))
            log.updated(message)
        }
        receive(plain, at: 1.1, timeout: 30, nonce: 0xABCD_0001)
        receive(fifo, at: 2.2, timeout: 30, nonce: 0xABCD_0003)
        receive(fifo, at: 40.7, timeout: 43_200, nonce: 0xABCD_0005)
        receive(attributed, at: 3.3, timeout: 0, nonce: 0xABCD_0007)
        delayed.state = .inFlight
        delayed.visibleAt = sentAt.addingTimeInterval(1.0 / 3.0)
        log.updated(delayed)
        // A visibility of 0 afterwards: visible again, its receive state kept.
        plain.state = .visible
        plain.visibleAt = sentAt.addingTimeInterval(5)
        log.updated(plain)

        var image = RestoredQueue(id: 1, accountId: "000000000000", region: "us-east-1", name: "q",
                                  incarnation: 1, createdAt: sentAt)
        var decoder = JournalDecoder(log.encoder.bytes)
        var moves: [RestoredQueue.PendingMove] = []
        try image.apply(&decoder, moves: &moves)
        let messages = image.messages.values.sorted { $0.key < $1.key }.map(fields)
        let deduplication = image.deduplication.map {
            "\($0.id) \(String(describing: $0.group)) \($0.record.messageId.string) \($0.record.sequenceNumber) "
                + "\($0.record.expiresAt.timeIntervalSinceReferenceDate.bitPattern)"
        }
        return (messages, deduplication, log.encoder.bytes.count)
    }

    @Test func theShortFormsOfSendsAndReceivesRestoreWhatTheLongFormsDoInFewerBytes() throws {
        let short = try Self.replay(shortForms: true)
        let long = try Self.replay(shortForms: false)
        #expect(short.messages.count == 6)
        #expect(short.messages == long.messages)
        #expect(short.deduplication == long.deduplication && short.deduplication.count == 1)
        // Six sends at least 37 bytes shorter, three of the receives at least 14 (the two others are long either way).
        #expect(short.bytes <= long.bytes - 6 * 37 - 3 * 14, "\(short.bytes) against \(long.bytes)")
    }

    @Test func aReceiveEntryWithAVisibilityOverTwelveHoursIsDamageNotADeadline() throws {
        var encoder = JournalEncoder()
        encoder.write(byte: QueueLog.Operation.received.rawValue)
        encoder.write(fixed: 1)
        encoder.write(fixed: 7)
        encoder.write(date: Self.sentAt)
        encoder.write(count: 43_201)
        encoder.write(count: 1)
        encoder.write(byte: 1)
        var image = RestoredQueue(id: 1, accountId: "000000000000", region: "us-east-1", name: "q",
                                  incarnation: 1, createdAt: Self.sentAt)
        var decoder = JournalDecoder(encoder.bytes)
        var moves: [RestoredQueue.PendingMove] = []
        #expect(throws: JournalDecodingError.self) { try image.apply(&decoder, moves: &moves) }
    }
}

import Foundation

/// A message as ReceiveMessage returns it.
///
/// A view of the stored message plus what this receive captured: ids, the receipt handle and system attributes are
/// formatted when read, so a receive allocates none of them for a caller that never looks (formatting them eagerly
/// was a third of a batched receive's allocations).
public struct Message: Sendable, Hashable {
    /// The stored message; only its immutable fields are read here, so no lock is needed.
    let stored: StoredMessage
    let receipt: ReceiptHandle
    let received: ReceivedAttributes

    /// `MessageId`, the same on every receive of this message.
    public var messageId: String { stored.messageId }
    /// `ReceiptHandle`: new on every receive; delete and change visibility with the latest one.
    public var receiptHandle: String { receipt.encoded }
    /// `Body`.
    public var body: String { stored.body }
    /// `MD5OfBody`: hex MD5 of the body's UTF-8 bytes, computed when read.
    public var md5OfBody: String { stored.withBody { MD5.hash($0).hexString } }
    /// `MD5OfMessageAttributes` over the returned attributes, computed when read; nil when none are returned.
    public var md5OfMessageAttributes: String? { MessageDigest.md5OfAttributes(messageAttributes) }
    /// `MessageAttributes` selected by the receive's `messageAttributeNames`.
    public let messageAttributes: [String: MessageAttributeValue]
    /// `Attributes`: the system attributes selected by the receive, as AWS's strings.
    public var attributes: [MessageSystemAttributeName: String] { received.attributes(of: stored) }

    /// `ApproximateReceiveCount` as a number, when it was asked for.
    public var receiveCount: Int? {
        received.includes(.approximateReceiveCount) ? received.receiveCount : nil
    }

    /// `MessageGroupId`, when it was asked for and the message has one.
    var messageGroupId: String? { received.includes(.messageGroupId) ? stored.groupId : nil }

    init(stored: StoredMessage, receipt: ReceiptHandle, received: ReceivedAttributes,
         messageAttributes: [String: MessageAttributeValue]) {
        self.stored = stored
        self.receipt = receipt
        self.received = received
        self.messageAttributes = messageAttributes
    }

    /// Equal when every public field is.
    public static func == (lhs: Message, rhs: Message) -> Bool {
        lhs.stored.id == rhs.stored.id && lhs.receipt == rhs.receipt && sameBody(lhs.stored, rhs.stored)
            && lhs.messageAttributes == rhs.messageAttributes && lhs.attributes == rhs.attributes
    }

    /// Compares the bodies' bytes where they lie, with no string made for either. Reached only for one message id,
    /// whose copies hold the same bytes, so it agrees with comparing the bodies as strings.
    private static func sameBody(_ lhs: StoredMessage, _ rhs: StoredMessage) -> Bool {
        lhs === rhs || lhs.withBody { left in rhs.withBody { right in left.elementsEqual(right) } }
    }

    /// Hashes the message id and receipt handle, which tell receives apart; `==` compares the rest.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(stored.id)
        hasher.combine(receipt.incarnation)
        hasher.combine(receipt.key)
        hasher.combine(receipt.nonce)
    }
}

/// The system attributes one receive selected, with the values that receive captured under the queue's lock; the
/// rest are immutable fields of the stored message.
struct ReceivedAttributes: Sendable {
    /// `AttributeSelection`'s system bits.
    let selection: UInt32
    let receiveCount: Int
    let firstReceivedAt: Date?
    let senderId: String

    func includes(_ name: MessageSystemAttributeName) -> Bool { selection & name.bit != 0 }

    func attributes(of stored: StoredMessage) -> [MessageSystemAttributeName: String] {
        guard selection != 0 else { return [:] }
        var system: [MessageSystemAttributeName: String] = [:]
        func add(_ name: MessageSystemAttributeName, _ value: @autoclosure () -> String?) {
            if includes(name), let value = value() { system[name] = value }
        }
        add(.senderId, senderId)
        add(.sentTimestamp, String(stored.sentAt.epochMilliseconds))
        add(.approximateReceiveCount, String(receiveCount))
        add(.approximateFirstReceiveTimestamp, firstReceivedAt.map { String($0.epochMilliseconds) })
        add(.messageGroupId, stored.groupId)
        add(.messageDeduplicationId, stored.deduplicationId)
        add(.sequenceNumber, stored.sequenceNumber.map { String($0) })
        add(.awsTraceHeader, stored.systemAttributes[MessageSystemAttributeName.awsTraceHeader.rawValue]?.stringValue)
        add(.deadLetterQueueSourceArn, stored.deadLetterQueueSourceArn)
        return system
    }
}

import Foundation

/// The ordering and deduplication of one FIFO queue or FIFO topic: the next sequence number, the deduplication
/// history and its five-minute window.
///
/// SQS and SNS follow the same rule, so queues and topics share this one copy: a deduplication id stays taken for
/// five minutes from the first accepted send, across the whole queue or topic or within one message group, and a
/// send that repeats it is accepted without being stored again, answering with the original's message id and
/// sequence number. Sequence numbers only grow, and a duplicate does not use one up.
struct FifoSequencer {
    /// How long a deduplication id stays taken (AWS: five minutes, for SQS and SNS alike).
    static let deduplicationWindow: TimeInterval = 300

    /// What `admit` decided about a send.
    enum Admission {
        /// A new send, numbered `sequence`; its deduplication id is taken from now on.
        case accepted(sequence: UInt64)
        /// A repeat of an earlier send within its window: answer with the original's id and sequence number.
        case duplicate(of: DeduplicationRecord)
    }

    /// The last sequence number given out.
    private(set) var lastSequenceNumber: UInt64
    private var deduplication = DeduplicationTable()
    /// Until when records made under the other scope may still be in their window: a scope change leaves what is
    /// already recorded in the scope it was recorded in. Nil when none can be.
    private var otherScopeRecordsUntil: Date?

    /// `lastSequenceNumber` is the number before the first one to give out.
    init(lastSequenceNumber: UInt64, deduplication: DeduplicationTable = DeduplicationTable()) {
        self.lastSequenceNumber = lastSequenceNumber
        self.deduplication = deduplication
    }

    /// Takes `deduplicationId` for a send in `messageGroup` and gives it the next sequence number, unless an earlier
    /// send took the id within its window. With `.messageGroup` scope the id is taken within the group only.
    ///
    /// The history is looked up and, when the id is new, recorded in one probe of the table.
    mutating func admit(deduplicationId: String, messageGroup: String?, scope: DeduplicationScope,
                        messageId: MessageID, now: Date) -> Admission {
        deduplication.expire(now: now)
        let sequence = lastSequenceNumber + 1
        let record = DeduplicationRecord(expiresAt: now.addingTimeInterval(Self.deduplicationWindow),
                                         messageId: messageId, sequenceNumber: sequence)
        let group = scope == .messageGroup ? messageGroup ?? "" : nil
        if let until = otherScopeRecordsUntil {
            if until <= now {
                otherScopeRecordsUntil = nil
            } else if let original = deduplication.lookup(
                id: deduplicationId, group: group == nil ? messageGroup ?? "" : nil, now: now) {
                return .duplicate(of: original)
            }
        }
        if let original = deduplication.recordUnlessDuplicate(id: deduplicationId, group: group, now: now, record: record) {
            return .duplicate(of: original)
        }
        lastSequenceNumber = sequence
        return .accepted(sequence: sequence)
    }

    /// The next sequence number, for a message that enters without deduplication (a dead-letter or redriven move).
    mutating func nextSequenceNumber() -> UInt64 {
        lastSequenceNumber += 1
        return lastSequenceNumber
    }

    /// The deduplication scope changed at `now`: ids recorded under the old scope stay taken, in that scope, until
    /// their windows end.
    mutating func scopeChanged(now: Date) {
        otherScopeRecordsUntil = now.addingTimeInterval(Self.deduplicationWindow)
    }

    /// The deduplication history, for a durable queue's snapshot.
    var history: DeduplicationTable { deduplication }

    /// Forgets every deduplication id (PurgeQueue, DeleteQueue); sequence numbers keep growing.
    mutating func forgetHistory() {
        deduplication.removeAll()
        otherScopeRecordsUntil = nil
    }
}

import Foundation

extension QueueStateMachine {
    /// Puts a recovered queue's messages, deduplication history and counters in place: each message in its recorded
    /// state (an in-flight one until its recorded deadline, when it becomes visible again), at its old key so its
    /// receipt handle still works.
    mutating func restore(_ restored: RestoredQueue) {
        lastModified = restored.lastModified
        lastPurge = restored.lastPurge
        var history = DeduplicationTable()
        for entry in restored.deduplication.sorted(by: { $0.record.expiresAt < $1.record.expiresAt }) {
            _ = history.recordUnlessDuplicate(id: entry.id, group: entry.group, now: .distantPast, record: entry.record)
        }
        sequencer = FifoSequencer(lastSequenceNumber: max(restored.lastSequenceNumber, sequencer.lastSequenceNumber),
                                  deduplication: history)
        let live = restored.orderedMessages
        messages = MessageTable(restoring: live, lastGeneration: restored.lastGeneration)
        for message in live {
            let recorded = message.state
            message.state = .new
            retention.push(message)
            if isFifo, let group = message.groupId {
                let slot = groupSlot(named: group)
                message.groupSlot = Int32(slot)
                groups[slot].messages.append(message)
            }
            switch recorded {
            case .delayed, .inFlight: hide(message, until: message.visibleAt, as: recorded)
            case .new, .visible, .gone: makeVisible(message)
            }
        }
        // A retry's check (each message still in flight with the same nonce) decides, as before the restart,
        // whether an attempt replays; one whose messages are gone cannot.
        for attempt in restored.receiveAttempts.values {
            var deliveries: [Delivery] = []
            for picked in attempt.picked {
                guard let message = messages[picked.key] else { break }
                deliveries.append(Delivery(message: message, receiptNonce: picked.receiptNonce,
                                           receiveCount: picked.receiveCount, firstReceivedAt: picked.firstReceivedAt))
            }
            if deliveries.count == attempt.picked.count, !deliveries.isEmpty {
                receiveAttempts[attempt.id] = (attempt.expiresAt, deliveries)
            }
        }
    }
}

import Foundation

/// The lock-held part of one peeked message: the fields that change while the message lives. The rest is
/// immutable on ``StoredMessage`` and is read after the lock is released.
struct PeekSnapshot {
    let message: StoredMessage
    let state: PeekedMessage.State
    let visibleAt: Date
    let receiveCount: Int
    let firstReceivedAt: Date?
}

extension QueueStateMachine {
    /// The live messages in `states`, in one pass over the message table. Nothing is changed: no receive count,
    /// no visibility, no index. The caller orders, filters and limits outside the lock, where a user's predicate may
    /// run without holding up the queue.
    func peekSnapshots(states: Set<PeekedMessage.State>) -> [PeekSnapshot] {
        var snapshots: [PeekSnapshot] = []
        snapshots.reserveCapacity(Swift.min(liveCount, 1_024))
        for message in messages.values {
            let state: PeekedMessage.State
            switch message.state {
            case .visible: state = .visible
            case .inFlight: state = .inFlight
            case .delayed: state = .delayed
            case .new, .gone: continue
            }
            guard states.contains(state) else { continue }
            snapshots.append(PeekSnapshot(message: message, state: state, visibleAt: message.visibleAt,
                                          receiveCount: message.receiveCount,
                                          firstReceivedAt: message.firstReceivedAt))
        }
        return snapshots
    }

    /// The queue's message counts, as GetQueueAttributes reports them.
    var counts: QueueCounts {
        QueueCounts(visible: visibleCount, inFlight: inFlightCount, delayed: delayedCount)
    }
}

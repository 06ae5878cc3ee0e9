import Foundation

/// A dead-letter redrive task, as ListMessageMoveTasks reports it.
public struct MessageMoveTask: Sendable, Hashable {
    /// `Status` of a move task.
    public enum Status: String, Sendable, Hashable {
        /// Moving messages.
        case running = "RUNNING"
        /// Every message that was in the source at the start has been moved (or the source ran empty).
        case completed = "COMPLETED"
        /// Cancel was requested; the task stops at its next step.
        case cancelling = "CANCELLING"
        /// Stopped by CancelMessageMoveTask.
        case cancelled = "CANCELLED"
        /// Stopped by an error; see ``failureReason``.
        case failed = "FAILED"
    }

    /// `TaskHandle`, present only while the task is running.
    public let taskHandle: String?
    /// `Status`.
    public let status: Status
    /// `SourceArn`: the dead-letter queue.
    public let sourceArn: String
    /// `DestinationArn`; nil when messages go back to their original source queues.
    public let destinationArn: String?
    /// `MaxNumberOfMessagesPerSecond`, when one was given.
    public let maxNumberOfMessagesPerSecond: Int?
    /// `ApproximateNumberOfMessagesMoved` (exact in Broker).
    public let approximateNumberOfMessagesMoved: Int
    /// `ApproximateNumberOfMessagesToMove`: the source's depth when the task started.
    public let approximateNumberOfMessagesToMove: Int
    /// `FailureReason`, for failed tasks.
    public let failureReason: String?
    /// `StartedTimestamp`.
    public let startedTimestamp: Date
}

/// The move tasks of one broker.
struct MoveTaskRegistry {
    struct Record {
        let handle: String
        let sourceArn: String
        let destinationArn: String?
        let rate: Int?
        let toMove: Int
        let started: Date
        var moved = 0
        var status = MessageMoveTask.Status.running
        var failureReason: String?
        var wakeUp: ScheduledWakeUp?

        var snapshot: MessageMoveTask {
            MessageMoveTask(taskHandle: status == .running ? handle : nil, status: status, sourceArn: sourceArn,
                            destinationArn: destinationArn, maxNumberOfMessagesPerSecond: rate,
                            approximateNumberOfMessagesMoved: moved, approximateNumberOfMessagesToMove: toMove,
                            failureReason: failureReason, startedTimestamp: started)
        }
    }

    /// Every task, oldest first.
    var records: [Record] = []
    var ids = IDGenerator(seed: 0x5EED)
}

extension QueueCore {
    /// Picks up to `max` receivable messages for a move, oldest first (by group on FIFO queues), and holds them in
    /// flight without taking them out: the move copies each to its destination first and only then removes it here
    /// (``finishMove(_:)``), so that a crash between the two leaves the message in both queues (at least once, as
    /// SQS promises), never in neither.
    func pickForMove(max: Int) -> [Delivery] {
        guard max > 0 else { return [] }
        return (try? mutate { state, now, effects in
            let request = ReceiveRequest(maxNumberOfMessages: max, visibilityTimeout: nil, waitTimeSeconds: nil,
                                         selection: AttributeSelection(messageAttributeNames: [], systemAttributeNames: []),
                                         receiveRequestAttemptId: nil)
            return state.select(request: request, visibilityTimeout: 1, now: now, effects: &effects,
                                deadLetterTarget: { _ in nil }, redrive: false)
        }) ?? []
    }

    /// Removes messages ``pickForMove(max:)`` held, once their copies are stored: each that is still held by that
    /// pick (same receipt), in one critical section.
    func finishMove(_ moved: some Collection<Delivery>) {
        guard !moved.isEmpty else { return }
        _ = try? mutate { state, _, _ in
            for delivery in moved {
                guard let message = state.messages[delivery.message.key], message.receiptNonce == delivery.receiptNonce,
                      message.state == .inFlight else { continue }
                state.remove(message)
                state.log?.removed(message)
            }
        }
    }

    /// Makes messages ``pickForMove(max:)`` held visible again, when their move cannot go on.
    func releaseMove(_ held: some Collection<Delivery>) {
        guard !held.isEmpty else { return }
        _ = try? mutate { state, now, _ in
            for delivery in held {
                let handle = ReceiptHandle(incarnation: incarnation, key: delivery.message.key, nonce: delivery.receiptNonce)
                try? state.changeVisibility(handle, text: "", timeout: 0, now: now)
            }
        }
    }

    /// Takes a redriven message as a new send: new message id, enqueue time and receive history.
    func acceptRedriven(_ message: StoredMessage) -> Bool {
        (try? mutate { state, now, _ in
            state.acceptRedriven(message, now: now)
            return true
        }) ?? false
    }
}

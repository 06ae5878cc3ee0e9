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
    /// Takes up to `max` receivable messages out of the queue, oldest first (by group on FIFO queues).
    func takeForMove(max: Int) -> [StoredMessage] {
        guard max > 0 else { return [] }
        return (try? mutate { state, now, effects in
            let request = ReceiveRequest(maxNumberOfMessages: max, visibilityTimeout: nil, waitTimeSeconds: nil,
                                         selection: AttributeSelection(messageAttributeNames: [], systemAttributeNames: []),
                                         receiveRequestAttemptId: nil)
            let picked = state.select(request: request, visibilityTimeout: 1, now: now, effects: &effects,
                                      deadLetterTarget: { _ in nil }, redrive: false)
            for delivery in picked {
                state.remove(delivery.message)
                state.log?.removed(delivery.message)
            }
            return picked.map(\.message)
        }) ?? []
    }

    /// Takes a redriven message as a new send: new message id, enqueue time and receive history.
    func acceptRedriven(_ message: StoredMessage) -> Bool {
        (try? mutate { state, now, _ in
            state.acceptRedriven(message, now: now)
            return true
        }) ?? false
    }
}

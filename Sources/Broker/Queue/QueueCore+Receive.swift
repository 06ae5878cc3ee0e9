import Foundation

extension QueueCore {
    /// ReceiveMessage: an immediate pick, or a long poll that waits for messages, its deadline or cancellation.
    func receive(_ request: ReceiveRequest) async throws -> [Delivery] {
        var waitSeconds = 0
        var visibility = 0
        let immediate: [Delivery]? = try mutate { state, now, effects throws(BrokerError) in
            visibility = request.visibilityTimeout ?? state.settings.visibilityTimeout
            waitSeconds = request.waitTimeSeconds ?? state.settings.receiveMessageWaitTimeSeconds
            if waitSeconds == 0, !isFifo, state.inFlightCount >= inFlightLimit {
                throw BrokerError(.overLimit, "Too many messages in flight: the queue has reached its limit of \(inFlightLimit) in-flight messages.")
            }
            let deliveries = select(&state, request: request, visibilityTimeout: visibility, now: now, effects: &effects)
            return deliveries.isEmpty && waitSeconds > 0 ? nil : deliveries
        }
        if let immediate { return immediate }
        let deadline = clock.now.addingTimeInterval(TimeInterval(waitSeconds))
        let id = nextWaiterID()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[Delivery], any Error>) in
                // Registration checks `Task.isCancelled` under the queue lock, and the cancellation handler takes
                // the same lock, so a cancellation that comes before registration is seen there (it plays the part
                // of a tombstone) and one that comes after finds the waiter.
                if let outcome = register(request, visibilityTimeout: visibility, deadline: deadline, id: id,
                                          continuation: continuation) {
                    continuation.resume(with: outcome)
                }
            }
        } onCancel: {
            cancelWaiter(id: id)
        }
    }

    /// One attribute as GetQueueAttributes reports it.
    func awsValue(of name: QueueAttributeName, in state: QueueState) -> String? {
        switch name {
        case .approximateNumberOfMessages: String(state.visibleCount)
        case .approximateNumberOfMessagesNotVisible: String(state.inFlightCount)
        case .approximateNumberOfMessagesDelayed: String(state.delayedCount)
        case .createdTimestamp: String(Int64(createdAt.timeIntervalSince1970))
        case .lastModifiedTimestamp: String(Int64(state.lastModified.timeIntervalSince1970))
        case .queueArn: arn
        default: state.settings.awsValue(of: name)
        }
    }
}

import Foundation

extension QueueStateMachine {
    // MARK: Delete and visibility

    /// DeleteMessage. A handle whose message is already gone succeeds, as on AWS.
    mutating func delete(_ handle: ReceiptHandle, text: String) throws(BrokerError) {
        guard let message = messages[handle.key] else {  // already deleted: AWS answers success, and counts it
            counters.deleted += 1
            return
        }
        if isFifo {
            guard message.receiptNonce == handle.nonce, message.state == .inFlight else {
                throw BrokerError.invalidParameter("ReceiptHandle", value: text, reason: "The receipt handle has expired.")
            }
        }
        // On a standard queue any handle the message was received with deletes it, even one a later receive
        // superseded (recorded against AWS).
        remove(message)
        counters.deleted += 1
        log?.removed(message)
    }

    /// ChangeMessageVisibility: the new timeout counts from `now` and may not reach past 12 hours from the receive.
    mutating func changeVisibility(_ handle: ReceiptHandle, text: String, timeout: Int, now: Date) throws(BrokerError) {
        guard let message = messages[handle.key] else {
            throw BrokerError.invalidParameter("ReceiptHandle", value: text,
                reason: "Message does not exist or is not available for visibility timeout change.")
        }
        // A message not in flight is a silent success that changes nothing, as on AWS. On a standard queue a handle
        // a later receive superseded still changes the message's visibility (recorded against AWS); a FIFO queue
        // takes only the latest handle.
        guard message.state == .inFlight, !isFifo || message.receiptNonce == handle.nonce else { return }
        let limit = message.receivedAt.addingTimeInterval(TimeInterval(Self.maximumVisibility))
        let deadline = now.addingTimeInterval(TimeInterval(timeout))
        guard deadline <= limit else {
            throw BrokerError.invalidParameter("VisibilityTimeout", value: String(timeout),
                reason: "Total VisibilityTimeout for the message is beyond the limit [\(Self.maximumVisibility) seconds]")
        }
        if timeout == 0 {
            makeVisible(message)
        } else {
            hide(message, until: deadline, as: .inFlight)
        }
        log?.updated(message)
    }

    /// On FIFO queues a changed `DelaySeconds` applies to messages already waiting out their delay (AWS: the
    /// per-queue delay is retroactive for FIFO queues). A configuration change, so a pass over the messages is fine.
    mutating func applyDelayRetroactively(now: Date) {
        let delay = TimeInterval(settings.delaySeconds)
        for message in messages.values where message.state == .delayed {
            let due = message.enqueuedAt.addingTimeInterval(delay)
            if due <= now {
                makeVisible(message)
            } else {
                hide(message, until: due, as: .delayed)
            }
            log?.updated(message)
        }
    }
}

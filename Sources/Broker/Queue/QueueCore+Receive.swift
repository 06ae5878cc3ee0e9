import Foundation

extension QueueCore {
    /// ReceiveMessage: an immediate pick, or a long poll that waits for messages, its deadline or cancellation.
    func receive(_ request: ReceiveRequest) async throws -> [Delivery] {
        // A durable receive suspends for the disk rather than block one of the pool's few threads. In memory, and
        // at a level whose calls never wait, no closure is made: it cost an allocation per receive.
        let begun = durable?.store.callsWait != true ? try beginReceive(request)
                                                     : try await DurableDeferral.run { () throws(BrokerError) in try self.beginReceive(request) }
        if let immediate = begun.deliveries { return immediate }
        let visibility = begun.visibilityTimeout
        let deadline = clock.now.addingTimeInterval(TimeInterval(begun.waitSeconds))
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

    /// The immediate part of ``receive(_:)``: its deliveries, or nil when it would have to wait.
    func receiveWithoutWaiting(_ request: ReceiveRequest) throws(BrokerError) -> [Delivery]? {
        try beginReceive(request).deliveries
    }

    private func beginReceive(_ request: ReceiveRequest) throws(BrokerError)
        -> (deliveries: [Delivery]?, visibilityTimeout: Int, waitSeconds: Int) {
        try mutate { state, now, effects throws(BrokerError) in
            try state.beginReceive(request, now: now, effects: &effects, deadLetterTarget: deadLetterTarget)
        }
    }

    /// Turns deliveries into `Message`s with the receive's attribute selection (outside the lock).
    func messages(from deliveries: [Delivery], selection: AttributeSelection) -> [Message] {
        deliveries.map { delivery in
            let stored = delivery.message
            let userAttributes: [String: MessageAttributeValue]
            if selection.returnsAllUserAttributes {
                userAttributes = stored.messageAttributes
            } else if selection.returnsNoUserAttributes || stored.messageAttributes.isEmpty {
                userAttributes = [:]
            } else {
                userAttributes = stored.messageAttributes.filter { selection.includesUser($0.key) }
            }
            let handle = ReceiptHandle(incarnation: incarnation, key: stored.key, nonce: delivery.receiptNonce)
            let received = ReceivedAttributes(selection: selection.systemBits, receiveCount: delivery.receiveCount,
                                              firstReceivedAt: delivery.firstReceivedAt, senderId: senderId)
            return Message(stored: stored, receipt: handle, received: received, messageAttributes: userAttributes)
        }
    }

    // MARK: Delete and visibility

    /// Finds the message a receipt handle names; malformed or foreign handles are `ReceiptHandleIsInvalid`.
    func parseHandle(_ text: String) throws(BrokerError) -> ReceiptHandle {
        guard let handle = ReceiptHandle(text), handle.incarnation == incarnation else {
            throw BrokerError(.receiptHandleIsInvalid, "The input receipt handle \"\(text)\" is not a valid receipt handle.")
        }
        return handle
    }

    /// DeleteMessage.
    func delete(receiptHandle text: String) throws(BrokerError) {
        let handle = try parseHandle(text)
        try mutate { state, _, _ throws(BrokerError) in try state.delete(handle, text: text) }
    }

    /// ChangeMessageVisibility.
    func changeVisibility(receiptHandle text: String, timeout: Int) throws(BrokerError) {
        let handle = try parseHandle(text)
        try mutate { state, now, _ throws(BrokerError) in
            try state.changeVisibility(handle, text: text, timeout: timeout, now: now)
        }
    }

    /// Runs `operation` per entry in one critical section, collecting AWS's `Successful` and `Failed` lists.
    /// Entries are reached by index, not copied into a list of (id, handle) pairs first: that list cost an
    /// allocation and a retain and release of both strings per entry. Handles are parsed before the lock is taken
    /// (a third of a batched delete's time under it), into a buffer on the stack.
    func batch<Entry: ReceiptHandleEntry>(
        _ entries: [Entry],
        _ operation: (borrowing Entry, ReceiptHandle, inout QueueStateMachine, Date) throws(BrokerError) -> Void
    ) throws(BrokerError) -> BatchResult<BatchEntryAcknowledged> {
        try withUnsafeTemporaryAllocation(of: ReceiptHandle?.self, capacity: entries.count) { handles throws(BrokerError) in
            var failed: [(index: Int, entry: BatchResultErrorEntry)] = []
            for index in entries.indices {
                do throws(BrokerError) {
                    handles.initializeElement(at: index, to: try parseHandle(entries[index].receiptHandle))
                } catch {
                    handles.initializeElement(at: index, to: nil)
                    failed.append((index, BatchResultErrorEntry(id: entries[index].id, error: error)))
                }
            }
            let successful = try mutate { state, now, _ throws(BrokerError) in
                var successful: [BatchResult<BatchEntryAcknowledged>.Entry] = []
                successful.reserveCapacity(entries.count)
                for index in entries.indices {
                    guard let handle = handles[index] else { continue }
                    do throws(BrokerError) {
                        try operation(entries[index], handle, &state, now)
                        successful.append(.init(id: entries[index].id, result: BatchEntryAcknowledged()))
                    } catch {
                        failed.append((index, BatchResultErrorEntry(id: entries[index].id, error: error)))
                    }
                }
                return successful
            }
            // In entry order: the handles refused before the lock were listed first.
            if failed.count > 1 { failed.sort { $0.index < $1.index } }
            return BatchResult(failed: failed.map(\.entry), successfulEntries: successful)
        }
    }
}

import Foundation

extension QueueCore {
    /// The checks of a send made outside the lock: the message's own rules, and this queue type's.
    ///
    /// `trusted` is for a topic's copies: bodies Broker wrote itself or SNS validated, whose characters need no
    /// second scan, and attributes that passed SNS's checks (see `MessageValidation.validateAttributes`).
    /// No MD5 is computed here: results and received messages compute their digests when read (DESIGN.md: digests
    /// when asked for), so a topic's copies, whose send results nobody reads, never pay for one.
    func prepare(_ request: borrowing SendMessageRequest, trusted: Bool = false) throws(BrokerError) -> QueueStateMachine.PreparedSend {
        let size = try MessageValidation.validate(request, maximumMessageSize: 1_048_576, checkBody: !trusted,
                                                  attributesPassedSNS: trusted)
        let delay: Int? = try request.delaySeconds.map { d throws(BrokerError) in
            try MessageValidation.wholeSeconds(d, parameter: "DelaySeconds", range: 0...900,
                                               reason: "DelaySeconds must be >= 0 and <= 900.")
        }
        if isFifo {
            try FifoRules.validateSend(request, delaySeconds: delay)
        } else {
            try FifoRules.rejectOnStandardQueue(request)
            if let group = request.messageGroupId { try FifoRules.validateIdentifier(group, parameter: "MessageGroupId") }
        }
        let needsContentHash = isFifo && request.messageDeduplicationId == nil
        let contentDeduplicationId = needsContentHash ? SHA256.hash(request.body).hexString : nil
        return QueueStateMachine.PreparedSend(request, size: size, delaySeconds: delay, contentDeduplicationId: contentDeduplicationId)
    }

    /// SendMessage.
    func send(_ request: borrowing SendMessageRequest) throws(BrokerError) -> SendMessageResult {
        let prepared = try prepare(request)
        let stored = try mutate { state, now, _ throws(BrokerError) in try state.store(request, prepared, now: now) }
        return stored.result(for: request)
    }

    /// A topic's copy (see ``prepare(_:trusted:)``'s `trusted`): no second character scan, and no result.
    func deliver(_ request: borrowing SendMessageRequest) throws(BrokerError) {
        let prepared = try prepare(request, trusted: true)
        _ = try mutate { state, now, _ throws(BrokerError) in try state.store(request, prepared, now: now) }
    }

    /// A topic's enveloped copy: `request` carries the routing fields (a FIFO copy's group and deduplication id) and
    /// an empty body; the body's `count` bytes, valid UTF-8 that SNS built, are written by `writeBody` straight into
    /// the message. It has no attributes and no delay: the envelope carries the publish's attributes in its text.
    func deliver(_ request: borrowing SendMessageRequest, bodyCount count: Int,
                 writeBody: (UnsafeMutableBufferPointer<UInt8>) -> Void) throws(BrokerError) {
        if count > 1_048_576 {
            throw BrokerError(.invalidParameterValue,
                "One or more parameters are invalid. Reason: Message must be shorter than 1048576 bytes.")
        }
        if isFifo {
            try FifoRules.validateSend(request, delaySeconds: nil)
            // Only a FIFO topic feeds a FIFO queue, and every publish to it has a deduplication id, so this does not
            // fail; it keeps the rule should that change.
            guard request.messageDeduplicationId != nil else { throw FifoRules.missingDeduplicationId }
        } else {
            try FifoRules.rejectOnStandardQueue(request)
        }
        let prepared = QueueStateMachine.PreparedSend(message: .unnamed(bodyCount: count, size: count, writeBody: writeBody),
                                                      size: count)
        _ = try mutate { state, now, _ throws(BrokerError) in try state.store(request, prepared, now: now) }
    }

    /// SendMessageBatch once the entries' count and ids are checked: the request's total size, each entry's checks
    /// outside the lock, then every entry that passed stored in one critical section.
    ///
    /// Entries are reached through a buffer pointer, whose subscript lends the element in place: an array's
    /// subscript or a loop variable copies each request (a retain and release of every field), which was a tenth of
    /// a batched send.
    func sendBatch(_ entries: [SendMessageBatchRequestEntry]) throws(BrokerError) -> BatchResult<SendMessageResult> {
        if isFifo {
            for index in entries.indices where entries[index].message.messageGroupId == nil {
                throw FifoRules.missingGroupId
            }
        }
        return try entries.withUnsafeBufferPointer { entries throws(BrokerError) in
            // The limit applies to the request as sent, valid entries or not.
            var total = 0
            for index in entries.indices {
                total += entries[index].message.body.utf8.count
                guard !entries[index].message.messageAttributes.isEmpty else { continue }
                for attribute in entries[index].message.messageAttributes {
                    total += attribute.key.utf8.count + attribute.value.dataType.utf8.count
                        + (attribute.value.stringValue?.utf8.count ?? 0) + (attribute.value.binaryValue?.count ?? 0)
                }
            }
            if total > 1_048_576 {
                throw BrokerError(.batchRequestTooLong,
                    "Batch requests cannot be longer than 1048576 bytes. You have sent \(total) bytes.")
            }
            // Each valid entry's request is copied once, here, into a buffer on the stack, and moved from there into
            // `store`: lending it from the caller's array twice (to `prepare`, then to `store` under the lock) made
            // the compiler copy it twice, a retain and release of every field each time. Two buffers, since the
            // standard library allocates at most 1 KiB on the stack without asking the system how deep it is.
            var failed: [(index: Int, entry: BatchResultErrorEntry)] = []
            return try withUnsafeTemporaryAllocation(of: SendMessageRequest.self, capacity: entries.count) { requests throws(BrokerError) in
                try withUnsafeTemporaryAllocation(of: PendingSend.self, capacity: entries.count) { pending throws(BrokerError) in
                    var count = 0  // requests and pending [0..<count] were initialized,
                    var moved = 0  // and requests[0..<moved] moved out again.
                    defer {
                        UnsafeMutableBufferPointer(rebasing: requests[moved..<count]).deinitialize()
                        UnsafeMutableBufferPointer(rebasing: pending[0..<count]).deinitialize()
                    }
                    for index in entries.indices {
                        let request = entries[index].message
                        do throws(BrokerError) {
                            let prepared = try prepare(request)
                            requests.initializeElement(at: count, to: request)
                            pending.initializeElement(at: count, to: PendingSend(index: index, prepared: prepared))
                            count += 1
                        } catch {
                            failed.append((index, BatchResultErrorEntry(id: entries[index].id, error: error)))
                        }
                    }
                    let successful = try mutate { state, now, _ throws(BrokerError) in
                        // Checked before anything is stored: the setting is the queue's, read under its lock.
                        if isFifo, !state.settings.contentBasedDeduplication {
                            for index in 0..<count where requests[index].messageDeduplicationId == nil {
                                throw FifoRules.missingDeduplicationId
                            }
                        }
                        var successful: [BatchResult<SendMessageResult>.Entry] = []
                        successful.reserveCapacity(count)
                        while moved < count {
                            let request = requests.moveElement(from: moved)
                            let index = pending[moved].index
                            do throws(BrokerError) {
                                let stored = try state.store(request, pending[moved].prepared, now: now)
                                successful.append(.init(id: entries[index].id, result: stored.result(for: request)))
                            } catch {
                                failed.append((index, BatchResultErrorEntry(id: entries[index].id, error: error)))
                            }
                            moved += 1
                        }
                        return successful
                    }
                    // In entry order, as the successes are: failures found under the lock come after the others.
                    if failed.count > 1 { failed.sort { $0.index < $1.index } }
                    return BatchResult(failed: failed.map(\.entry), successfulEntries: successful)
                }
            }
        }
    }

    /// Where a batch entry that passed the checks made outside the lock is, and what they found.
    private struct PendingSend {
        let index: Int
        let prepared: QueueStateMachine.PreparedSend
    }
}

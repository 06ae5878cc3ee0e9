import Foundation

extension QueueStateMachine {
    // MARK: Send

    /// What the checks outside the lock found out about a send: its size, delay and content hash. The request itself
    /// stays with the caller and is passed to `store` as well: carrying it here copied every field of it per entry
    /// (a retain and release each), which was a tenth of a batched send.
    struct PreparedSend {
        let size: Int
        let delaySeconds: Int?
        let contentDeduplicationId: String?
        /// The message with its body and attributes, made outside the lock; `store` names it.
        let message: StoredMessage

        init(_ request: borrowing SendMessageRequest, size: Int, delaySeconds: Int?, contentDeduplicationId: String?) {
            self.size = size
            self.delaySeconds = delaySeconds
            self.contentDeduplicationId = contentDeduplicationId
            message = .unnamed(body: request.body, messageAttributes: request.messageAttributes, size: size)
        }

        /// A send whose message was made already (a topic's envelope copy; see `QueueCore.deliver`).
        init(message: StoredMessage, size: Int) {
            self.size = size
            delaySeconds = nil
            contentDeduplicationId = nil
            self.message = message
        }
    }

    /// Where a send ended up: its message id and FIFO sequence number, or a deduplicated send's original's.
    /// The caller makes the `SendMessageResult` from it (SendMessage after the lock is released, SendMessageBatch as
    /// it collects its entries); a topic's copy, whose result nobody reads, makes none.
    struct StoredSend {
        let id: MessageID
        let sequence: UInt64?

        func result(for request: borrowing SendMessageRequest) -> SendMessageResult {
            SendMessageResult(id: id, request: request, sequence: sequence)
        }
    }

    /// Stores one message that `QueueCore.prepare` passed.
    mutating func store(_ request: borrowing SendMessageRequest, _ prepared: PreparedSend,
                        now: Date) throws(BrokerError) -> StoredSend {
        if prepared.size > settings.maximumMessageSize {
            throw BrokerError(.invalidParameterValue,
                "One or more parameters are invalid. Reason: Message must be shorter than \(settings.maximumMessageSize) bytes.")
        }
        var deduplicationId: String?
        var sequenceNumber: UInt64?
        let messageId = ids.messageID()
        if isFifo {
            guard let id = request.messageDeduplicationId
                ?? (settings.contentBasedDeduplication ? prepared.contentDeduplicationId : nil)
            else { throw FifoRules.missingDeduplicationId }
            deduplicationId = id
            switch sequencer.admit(deduplicationId: id, messageGroup: request.messageGroupId,
                                   scope: settings.deduplicationScope, messageId: messageId, now: now) {
            case .duplicate(let original):
                if log != nil { answeredFromDeduplication = true }
                return StoredSend(id: original.messageId, sequence: original.sequenceNumber)
            case .accepted(let sequence):
                sequenceNumber = sequence
            }
        }
        let delay = isFifo ? settings.delaySeconds : (prepared.delaySeconds ?? settings.delaySeconds)
        // A prepared message is stored once: a caller that stores the same preparation again gets a new block, so
        // no block is ever in the indexes twice.
        let message = prepared.message.isNamed
            ? StoredMessage.unnamed(body: request.body, messageAttributes: request.messageAttributes, size: prepared.size)
            : prepared.message
        let extras = StoredMessage.extras(
            systemAttributes: request.messageSystemAttributes, groupId: request.messageGroupId,
            deduplicationId: deduplicationId, sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: nil,
            separateEnqueue: nil)
        message.stored(key: messages.makeKey(), id: messageId, sentAt: now, extras: extras)
        insert(message, delay: delay, now: now)
        counters.sent += 1
        log?.sent(message, deduplicates: isFifo,
                  deduplicationGroup: settings.deduplicationScope == .messageGroup ? request.messageGroupId ?? "" : nil)
        return StoredSend(id: messageId, sequence: sequenceNumber)
    }

    /// Adds a new message to the indexes: visible now, or delayed by `delay` seconds.
    mutating func insert(_ message: StoredMessage, delay: Int, now: Date) {
        messages.insert(message)
        retention.push(message)
        if isFifo, let group = message.groupId {
            let slot = groupSlot(named: group)
            message.groupSlot = Int32(slot)
            groups[slot].messages.append(message)
        }
        if delay > 0 {
            hide(message, until: now.addingTimeInterval(TimeInterval(delay)), as: .delayed)
        } else {
            makeVisible(message)
        }
    }

    // MARK: Messages from other queues

    /// Takes messages moved here from `sourceArn` by a dead-letter move: they keep id, body, attributes and receive
    /// count; a standard queue keeps their enqueue time (so retention counts from the original send), a FIFO queue
    /// resets it.
    mutating func acceptDeadLetters(_ moved: [StoredMessage], sourceArn: String, now: Date) {
        for message in moved {
            let sequence = isFifo ? sequencer.nextSequenceNumber() : nil
            // AWS replaces a FIFO message's deduplication id with its message id in the DLQ, so two messages
            // that shared a deduplication id stay two messages.
            let copy = message.copy(key: messages.makeKey(), enqueuedAt: isFifo ? now : message.enqueuedAt,
                                    sequenceNumber: sequence, deadLetterQueueSourceArn: sourceArn,
                                    deduplicationId: isFifo ? message.messageId : message.deduplicationId)
            insert(copy, delay: 0, now: now)
            log?.inserted(copy)
        }
    }

    /// Takes back messages a move out of this queue could not deliver, as they were (new keys, and on a FIFO queue
    /// new sequence numbers at the end of their groups).
    mutating func putBack(_ returned: [StoredMessage], now: Date) {
        for message in returned {
            let sequence = isFifo ? sequencer.nextSequenceNumber() : nil
            let copy = message.copy(key: messages.makeKey(), enqueuedAt: message.enqueuedAt,
                                    sequenceNumber: sequence, deadLetterQueueSourceArn: message.deadLetterQueueSourceArn)
            insert(copy, delay: 0, now: now)
            log?.inserted(copy)
        }
    }

    /// Takes a redriven message as a new send: new message id, enqueue time and receive history.
    mutating func acceptRedriven(_ message: StoredMessage, now: Date) {
        let sequence = isFifo ? sequencer.nextSequenceNumber() : nil
        let fresh = message.withBody { body in
            StoredMessage.make(
                key: messages.makeKey(), id: ids.messageID(), bodyBytes: body,
                messageAttributes: message.messageAttributes, systemAttributes: message.systemAttributes,
                sentAt: now, enqueuedAt: now, groupId: message.groupId, deduplicationId: message.deduplicationId,
                sequenceNumber: sequence, deadLetterQueueSourceArn: nil, size: message.size,
                receiveCount: 0, firstReceivedAt: nil)
        }
        insert(fresh, delay: isFifo ? 0 : settings.delaySeconds, now: now)
        log?.inserted(fresh)
    }
}

import Foundation

extension QueueCore {
    // MARK: Send

    /// What the checks outside the lock found out about a send: its size, delay and content hash. The request itself
    /// stays with the caller and is passed to `store` as well: carrying it here copied every field of it per entry
    /// (a retain and release each), which was a tenth of a batched send.
    struct PreparedSend {
        let size: Int
        let delaySeconds: Int?
        let contentDeduplicationId: String?
    }

    /// `trusted` is for a topic's copies: bodies Broker wrote itself or SNS validated, whose characters need no
    /// second scan, and attributes that passed SNS's checks (see `MessageValidation.validateAttributes`).
    /// No MD5 is computed here: results and received messages compute their digests when read (DESIGN.md: digests
    /// when asked for), so a topic's copies, whose send results nobody reads, never pay for one.
    func prepare(_ request: borrowing SendMessageRequest, trusted: Bool = false) throws(BrokerError) -> PreparedSend {
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
        return PreparedSend(size: size, delaySeconds: delay, contentDeduplicationId: contentDeduplicationId)
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

    /// Stores one message that `prepare` passed (the caller holds the lock through `mutate`).
    func store(_ request: borrowing SendMessageRequest, _ prepared: PreparedSend, in state: inout QueueState,
               now: Date) throws(BrokerError) -> StoredSend {
        if prepared.size > state.settings.maximumMessageSize {
            throw BrokerError(.invalidParameterValue,
                "One or more parameters are invalid. Reason: Message must be shorter than \(state.settings.maximumMessageSize) bytes.")
        }
        var deduplicationId: String?
        var sequenceNumber: UInt64?
        let messageId = state.ids.messageID()
        if isFifo {
            guard let id = request.messageDeduplicationId
                ?? (state.settings.contentBasedDeduplication ? prepared.contentDeduplicationId : nil)
            else { throw FifoRules.missingDeduplicationId }
            deduplicationId = id
            state.deduplication.expire(now: now)
            // Looked up and, when new, recorded in one probe of the table.
            let sequence = state.nextSequenceNumber + 1
            let record = DeduplicationRecord(expiresAt: now.addingTimeInterval(Self.deduplicationWindow),
                                             messageId: messageId, sequenceNumber: sequence)
            let group = state.settings.deduplicationScope == .messageGroup ? request.messageGroupId ?? "" : nil
            if let until = state.otherScopeRecordsUntil {
                if until <= now {
                    state.otherScopeRecordsUntil = nil
                } else if let original = state.deduplication.lookup(
                    id: id, group: group == nil ? request.messageGroupId ?? "" : nil, now: now) {
                    return StoredSend(id: original.messageId, sequence: original.sequenceNumber)
                }
            }
            if let original = state.deduplication.recordUnlessDuplicate(id: id, group: group, now: now, record: record) {
                return StoredSend(id: original.messageId, sequence: original.sequenceNumber)
            }
            state.nextSequenceNumber = sequence
            sequenceNumber = sequence
        }
        let delay = isFifo ? state.settings.delaySeconds : (prepared.delaySeconds ?? state.settings.delaySeconds)
        let key = state.messages.makeKey()
        let message = StoredMessage(
            key: key, id: messageId, body: request.body,
            messageAttributes: request.messageAttributes, systemAttributes: request.messageSystemAttributes,
            sentAt: now, enqueuedAt: now, groupId: request.messageGroupId, deduplicationId: deduplicationId,
            sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: nil, size: prepared.size,
            receiveCount: 0, firstReceivedAt: nil)
        insert(message, delay: delay, in: &state, now: now)
        return StoredSend(id: messageId, sequence: sequenceNumber)
    }

    /// Adds a new message to the indexes: visible now, or delayed by `delay` seconds.
    func insert(_ message: StoredMessage, delay: Int, in state: inout QueueState, now: Date) {
        state.messages.insert(message)
        state.retention.push(message)
        if isFifo, let group = message.groupId {
            let slot = state.groupSlot(named: group)
            message.groupSlot = Int32(slot)
            state.groups[slot].messages.append(message)
        }
        if delay > 0 {
            hide(message, until: now.addingTimeInterval(TimeInterval(delay)), as: .delayed, in: &state)
        } else {
            makeVisible(message, in: &state)
        }
    }

    // MARK: Receive

    /// Picks up to `maxNumberOfMessages` receivable messages and puts them in flight. Messages whose receive count
    /// has reached the redrive policy's `maxReceiveCount` go to `effects.deadLetters` instead.
    func select(_ state: inout QueueState, request: ReceiveRequest, visibilityTimeout: Int, now: Date,
                effects: inout QueueEffects, redrive redriveEnabled: Bool = true) -> [Delivery] {
        if isFifo, let attempt = request.receiveRequestAttemptId,
           let replay = replayAttempt(attempt, visibilityTimeout: visibilityTimeout, in: &state, now: now) {
            return replay
        }
        guard state.visibleCount > 0 else { return [] }
        var redrive: (maxReceiveCount: Int, target: QueueCore)?
        var redriveResolved = false
        func shouldDeadLetter(_ message: StoredMessage) -> Bool {
            guard redriveEnabled, let policy = state.settings.redrivePolicy,
                  message.receiveCount >= policy.maxReceiveCount else { return false }
            if !redriveResolved {
                redriveResolved = true
                if let target = resolveQueue(policy.deadLetterTargetArn), target !== self {
                    redrive = (policy.maxReceiveCount, target)
                }
            }
            guard let redrive else { return false }
            effects.deadLetterTarget = redrive.target
            return true
        }
        /// Takes a message that has used up its receives out of the queue, for the dead-letter queue.
        func deadLettered(_ message: StoredMessage) -> Bool {
            guard shouldDeadLetter(message) else { return false }
            detach(message, from: &state)
            effects.deadLetters.append(message)
            return true
        }
        let max = request.maxNumberOfMessages
        var picked: [Delivery] = []
        picked.reserveCapacity(Swift.min(max, state.visibleCount))
        let deadline = now.addingTimeInterval(TimeInterval(visibilityTimeout))
        func deliver(_ message: StoredMessage) {
            message.receiveCount += 1
            if message.firstReceivedAt == nil { message.firstReceivedAt = now }
            message.receivedAt = now
            message.receiptNonce = state.ids.next() | 1
            if visibilityTimeout > 0 { hide(message, until: deadline, as: .inFlight, in: &state) }
            picked.append(Delivery(message: message, receiptNonce: message.receiptNonce,
                                   receiveCount: message.receiveCount, firstReceivedAt: message.firstReceivedAt))
        }
        if isFifo {
            var servedGroups = state.servedGroups
            state.servedGroups = []
            while picked.count < max, let (sequence, slot) = state.readyGroups.popMin() {
                guard !servedGroups.contains(slot), let head = state.groups[slot].head(),
                      head.state == .visible, head.sequenceNumber == sequence else { continue }
                servedGroups.append(slot)
                var offset = 0
                while picked.count < max, let message = state.groups[slot].messages.element(at: offset) {
                    offset += 1
                    if message.state == .gone { continue }
                    guard message.state == .visible else { break }
                    if deadLettered(message) { continue }
                    deliver(message)
                }
            }
            // Groups left receivable (zero visibility, or every message dead-lettered) go back on the ready heap.
            for slot in servedGroups { markGroupReady(slot, in: &state) }
            servedGroups.removeAll(keepingCapacity: true)
            state.servedGroups = servedGroups
            if let attempt = request.receiveRequestAttemptId, !picked.isEmpty {
                state.receiveAttempts[attempt] = (now.addingTimeInterval(Self.deduplicationWindow), picked)
            }
        } else {
            var stillVisible: [StoredMessage] = []
            while picked.count < max, state.inFlightCount < inFlightLimit, let message = state.visible.removeFirst() {
                guard message.state == .visible else { continue }
                if deadLettered(message) { continue }
                deliver(message)
                if visibilityTimeout == 0 { stillVisible.append(message) }
            }
            for message in stillVisible { state.visible.append(message) }
        }
        return picked
    }

    /// A FIFO receive retried with the same `ReceiveRequestAttemptId` within five minutes gets the same messages
    /// and receipt handles, as long as none of them was deleted or changed visibility since. As on AWS, the retry
    /// resets their visibility timeout.
    private func replayAttempt(_ attempt: String, visibilityTimeout: Int, in state: inout QueueState,
                               now: Date) -> [Delivery]? {
        if state.receiveAttempts.count > 1_000 {
            state.receiveAttempts = state.receiveAttempts.filter { $0.value.expiresAt > now }
        }
        guard let record = state.receiveAttempts[attempt] else { return nil }
        guard record.expiresAt > now,
              record.deliveries.allSatisfy({ $0.message.state == .inFlight && $0.message.receiptNonce == $0.receiptNonce })
        else {
            state.receiveAttempts[attempt] = nil
            return nil
        }
        if visibilityTimeout > 0 {
            let deadline = now.addingTimeInterval(TimeInterval(visibilityTimeout))
            for delivery in record.deliveries { hide(delivery.message, until: deadline, as: .inFlight, in: &state) }
        }
        return record.deliveries
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

    func delete(_ handle: ReceiptHandle, text: String, in state: inout QueueState, now: Date) throws(BrokerError) {
        guard let message = state.messages[handle.key] else { return }  // already deleted: AWS answers success
        if isFifo {
            guard message.receiptNonce == handle.nonce, message.state == .inFlight else {
                throw BrokerError.invalidParameter("ReceiptHandle", value: text, reason: "The receipt handle has expired.")
            }
        }
        // On a standard queue any handle the message was received with deletes it, even one a later receive
        // superseded (recorded against AWS).
        remove(message, from: &state)
    }

    func changeVisibility(_ handle: ReceiptHandle, text: String, timeout: Int, in state: inout QueueState,
                          now: Date) throws(BrokerError) {
        guard let message = state.messages[handle.key] else {
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
            makeVisible(message, in: &state)
        } else {
            hide(message, until: deadline, as: .inFlight, in: &state)
        }
    }

    // MARK: Dead letters

    func moveToDeadLetterQueue(_ messages: [StoredMessage], target: QueueCore?) {
        if let target, target.acceptDeadLetters(messages, sourceArn: arn) { return }
        // The dead-letter queue vanished between the receive and the move: keep the messages here.
        try? mutate { state, now, _ in
            for message in messages {
                var sequence: UInt64?
                if isFifo {
                    state.nextSequenceNumber += 1
                    sequence = state.nextSequenceNumber
                }
                let copy = message.copy(key: state.messages.makeKey(), enqueuedAt: message.enqueuedAt,
                                        sequenceNumber: sequence, deadLetterQueueSourceArn: message.deadLetterQueueSourceArn)
                insert(copy, delay: 0, in: &state, now: now)
            }
        }
    }

    /// Takes messages moved from `sourceArn`: they keep id, body, attributes and receive count; a standard queue
    /// keeps their enqueue time (so retention counts from the original send), a FIFO queue resets it.
    func acceptDeadLetters(_ messages: [StoredMessage], sourceArn: String) -> Bool {
        (try? mutate { state, now, _ in
            for message in messages {
                var sequence: UInt64?
                if isFifo {
                    state.nextSequenceNumber += 1
                    sequence = state.nextSequenceNumber
                }
                // AWS replaces a FIFO message's deduplication id with its message id in the DLQ, so two messages
                // that shared a deduplication id stay two messages.
                let copy = message.copy(key: state.messages.makeKey(), enqueuedAt: isFifo ? now : message.enqueuedAt,
                                        sequenceNumber: sequence, deadLetterQueueSourceArn: sourceArn,
                                        deduplicationId: isFifo ? message.messageId : message.deduplicationId)
                insert(copy, delay: 0, in: &state, now: now)
            }
            return true
        }) ?? false
    }
}

extension StoredMessage {
    /// The same message under a new key in another queue (or again in this one).
    func copy(key: UInt64, enqueuedAt: Date, sequenceNumber: UInt64?, deadLetterQueueSourceArn: String?,
              deduplicationId: String? = nil) -> StoredMessage {
        StoredMessage(key: key, id: id, body: body,
                      messageAttributes: messageAttributes, systemAttributes: systemAttributes,
                      sentAt: sentAt, enqueuedAt: enqueuedAt, groupId: groupId,
                      deduplicationId: deduplicationId ?? self.deduplicationId,
                      sequenceNumber: sequenceNumber, deadLetterQueueSourceArn: deadLetterQueueSourceArn, size: size,
                      receiveCount: receiveCount, firstReceivedAt: firstReceivedAt)
    }
}

extension Date {
    /// Milliseconds since 1970, the unit of SQS's timestamp attributes.
    var epochMilliseconds: Int64 { Int64((timeIntervalSince1970 * 1000).rounded(.down)) }
}

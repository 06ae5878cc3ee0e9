import Foundation

extension QueueStateMachine {
    // MARK: Receive

    /// Picks up to `maxNumberOfMessages` receivable messages and puts them in flight. Messages whose receive count
    /// has reached the redrive policy's `maxReceiveCount` go to `effects.deadLetters` instead, when
    /// `deadLetterTarget` finds the policy's queue: it is asked at most once per receive, and only when a message is
    /// due to go, so a receive that dead-letters nothing looks nothing up.
    mutating func select(request: ReceiveRequest, visibilityTimeout: Int, now: Date, effects: inout QueueEffects,
                         deadLetterTarget: (String) -> (any DeadLetterSink)?,
                         redrive redriveEnabled: Bool = true) -> [Delivery] {
        if isFifo, let attempt = request.receiveRequestAttemptId,
           let replay = replayAttempt(attempt, visibilityTimeout: visibilityTimeout, now: now) {
            return replay
        }
        if realism != nil, !isFifo, redriveEnabled {
            return selectRealistically(request: request, visibilityTimeout: visibilityTimeout, now: now,
                                       shortPoll: false, effects: &effects, deadLetterTarget: deadLetterTarget)
        }
        guard visibleCount > 0 else { return [] }
        var redrive: (maxReceiveCount: Int, target: any DeadLetterSink)?
        var redriveResolved = false
        func shouldDeadLetter(_ message: StoredMessage) -> Bool {
            guard redriveEnabled, let policy = settings.redrivePolicy,
                  message.receiveCount >= policy.maxReceiveCount else { return false }
            if !redriveResolved {
                redriveResolved = true
                if let target = deadLetterTarget(policy.deadLetterTargetArn) {
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
            detach(message)
            if log != nil {
                let target = settings.redrivePolicy?.deadLetterTargetArn ?? ""
                log?.deadLettered(message, target: target)
            }
            effects.deadLetters.append(message)
            return true
        }
        let max = request.maxNumberOfMessages
        var picked: [Delivery] = []
        picked.reserveCapacity(Swift.min(max, visibleCount))
        let deadline = now.addingTimeInterval(TimeInterval(visibilityTimeout))
        func deliver(_ message: StoredMessage) {
            message.receiveCount += 1
            if message.firstReceivedAt == nil { message.firstReceivedAt = now }
            message.receivedAt = now
            message.receiptNonce = ids.next() | 1
            if visibilityTimeout > 0 { hide(message, until: deadline, as: .inFlight) }
            log?.updated(message)
            picked.append(Delivery(message: message, receiptNonce: message.receiptNonce,
                                   receiveCount: message.receiveCount, firstReceivedAt: message.firstReceivedAt))
        }
        if isFifo {
            var served = servedGroups
            servedGroups = []
            while picked.count < max, let (sequence, slot) = readyGroups.popMin() {
                guard !served.contains(slot), let head = groups[slot].head(),
                      head.state == .visible, head.sequenceNumber == sequence else { continue }
                served.append(slot)
                var offset = 0
                while picked.count < max, let message = groups[slot].messages.element(at: offset) {
                    offset += 1
                    if message.state == .gone { continue }
                    guard message.state == .visible else { break }
                    if deadLettered(message) { continue }
                    deliver(message)
                }
            }
            // Groups left receivable (zero visibility, or every message dead-lettered) go back on the ready heap.
            for slot in served { markGroupReady(slot) }
            served.removeAll(keepingCapacity: true)
            servedGroups = served
            if let attempt = request.receiveRequestAttemptId, !picked.isEmpty {
                let expiresAt = now.addingTimeInterval(Self.receiveAttemptWindow)
                receiveAttempts[attempt] = (expiresAt, picked)
                log?.receiveAttempt(attempt, expiresAt: expiresAt, deliveries: picked)
            }
        } else {
            var stillVisible: [StoredMessage] = []
            while picked.count < max, inFlightCount < inFlightLimit, let message = visible.removeFirst() {
                guard message.state == .visible else { continue }
                if deadLettered(message) { continue }
                deliver(message)
                if visibilityTimeout == 0 { stillVisible.append(message) }
            }
            for message in stillVisible { visible.append(message) }
        }
        return picked
    }

    /// A FIFO receive retried with the same `ReceiveRequestAttemptId` within five minutes gets the same messages
    /// and receipt handles, as long as none of them was deleted or changed visibility since. As on AWS, the retry
    /// resets their visibility timeout.
    private mutating func replayAttempt(_ attempt: String, visibilityTimeout: Int, now: Date) -> [Delivery]? {
        if receiveAttempts.count > 1_000 {
            receiveAttempts = receiveAttempts.filter { $0.value.expiresAt > now }
        }
        guard let record = receiveAttempts[attempt] else { return nil }
        guard record.expiresAt > now,
              record.deliveries.allSatisfy({ $0.message.state == .inFlight && $0.message.receiptNonce == $0.receiptNonce })
        else {
            receiveAttempts[attempt] = nil
            return nil
        }
        if visibilityTimeout > 0 {
            let deadline = now.addingTimeInterval(TimeInterval(visibilityTimeout))
            for delivery in record.deliveries {
                hide(delivery.message, until: deadline, as: .inFlight)
                log?.updated(delivery.message)
            }
        }
        return record.deliveries
    }

    /// The first step of ReceiveMessage: the queue's visibility timeout and wait time unless the request sets its
    /// own, and an immediate pick. Nil when the receive must wait for messages (a long poll that found none).
    mutating func beginReceive(_ request: ReceiveRequest, now: Date, effects: inout QueueEffects,
                               deadLetterTarget: (String) -> (any DeadLetterSink)?)
        throws(BrokerError) -> (deliveries: [Delivery]?, visibilityTimeout: Int, waitSeconds: Int) {
        let visibility = request.visibilityTimeout ?? settings.visibilityTimeout
        let waitSeconds = request.waitTimeSeconds ?? settings.receiveMessageWaitTimeSeconds
        if waitSeconds == 0, !isFifo, inFlightCount >= inFlightLimit {
            throw BrokerError(.overLimit, "Too many messages in flight: the queue has reached its limit of \(inFlightLimit) in-flight messages.")
        }
        let deliveries = realism != nil && !isFifo
            ? selectRealistically(request: request, visibilityTimeout: visibility, now: now, shortPoll: waitSeconds == 0,
                                  effects: &effects, deadLetterTarget: deadLetterTarget)
            : select(request: request, visibilityTimeout: visibility, now: now, effects: &effects,
                     deadLetterTarget: deadLetterTarget)
        if deliveries.isEmpty && waitSeconds > 0 { return (nil, visibility, waitSeconds) }
        counters.countReceive(deliveries.count)
        return (deliveries, visibility, waitSeconds)
    }

    // MARK: Waiters

    /// Serves waiting long polls in arrival order while messages are available, and returns those past deadline
    /// (their continuations go to `effects.resumes`).
    mutating func serveWaiters(now: Date, effects: inout QueueEffects,
                               deadLetterTarget: (String) -> (any DeadLetterSink)?) {
        guard !waiters.isEmpty else { return }
        var index = 0
        while index < waiters.count {
            let waiter = waiters[index]
            let deliveries = select(request: waiter.request, visibilityTimeout: waiter.visibilityTimeout,
                                    now: now, effects: &effects, deadLetterTarget: deadLetterTarget)
            if !deliveries.isEmpty || waiter.deadline <= now {
                waiters.remove(at: index)
                counters.countReceive(deliveries.count)
                effects.resumes.append((waiter.continuation, deliveries))
            } else {
                index += 1
            }
        }
    }

    /// The next moment a waiting long poll can be served or must return, or a waiting condition may come true (a
    /// delay or visibility timeout ends); nil when nothing waits.
    var nextWakeUp: Date? {
        guard !waiters.isEmpty || !watchers.isEmpty else { return nil }
        var needed = waiters.reduce(Date.distantFuture) { min($0, $1.deadline) }
        if let next = hidden.nextDeadline { needed = min(needed, next) }
        return needed == .distantFuture ? nil : needed
    }

    /// Takes the waiter `id` out, if it still waits (a cancelled long poll).
    mutating func removeWaiter(id: UInt64) -> Waiter? {
        guard let index = waiters.firstIndex(where: { $0.id == id }) else { return nil }
        return waiters.remove(at: index)
    }
}

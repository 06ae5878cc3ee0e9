import Foundation

extension QueueStateMachine {
    /// A standard queue's receive with ``SQSRealism``: the pick of ``select(request:visibilityTimeout:now:effects:deadLetterTarget:redrive:)``
    /// (dead letters, the in-flight limit, zero visibility) with duplicates handed out first, messages passed
    /// over for later ones, and short polls that sample.
    /// Kept out of line: inlined into the ordinary receive, it made every receive's frame larger.
    @inline(never)
    mutating func selectRealistically(request: ReceiveRequest, visibilityTimeout: Int, now: Date, shortPoll: Bool,
                                      effects: inout QueueEffects,
                                      deadLetterTarget: (String) -> (any DeadLetterSink)?) -> [Delivery] {
        guard var realism else { return [] }
        defer { self.realism = realism }
        var max = request.maxNumberOfMessages
        if shortPoll, visibleCount > 0 {
            if realism.roll(realism.profile.emptyShortPollRate) { return [] }
            let available = Swift.min(max, visibleCount)
            if available > 1, realism.roll(realism.profile.partialShortPollRate) {
                max = Int.random(in: 1..<available, using: &realism.random)
            }
        }
        var picked: [Delivery] = []
        let deadline = now.addingTimeInterval(TimeInterval(visibilityTimeout))
        func deliver(_ message: StoredMessage) {
            message.receiveCount += 1
            if message.firstReceivedAt == nil { message.firstReceivedAt = now }
            message.receivedAt = now
            message.receiptNonce = ids.next() | 1
            if visibilityTimeout > 0 { hide(message, until: deadline, as: .inFlight) }
            picked.append(Delivery(message: message, receiptNonce: message.receiptNonce,
                                   receiveCount: message.receiveCount, firstReceivedAt: message.firstReceivedAt))
        }
        // Duplicates first: a copy of a message another receive holds, if it still does (not deleted, not back).
        while picked.count < max, let owed = realism.duplicates.removeFirst() {
            guard owed.message.state == .inFlight, owed.message.receiptNonce == owed.nonce else { continue }
            deliver(owed.message)
        }
        var redrive: (maxReceiveCount: Int, target: any DeadLetterSink)?
        if let policy = settings.redrivePolicy, let target = deadLetterTarget(policy.deadLetterTargetArn) {
            redrive = (policy.maxReceiveCount, target)
        }
        var stillVisible: [StoredMessage] = []
        var passedOver: [StoredMessage] = []
        while picked.count < max, inFlightCount < inFlightLimit, let message = visible.removeFirst() {
            guard message.state == .visible else { continue }
            if let redrive, message.receiveCount >= redrive.maxReceiveCount {
                detach(message)
                effects.deadLetters.append(message)
                effects.deadLetterTarget = redrive.target
                continue
            }
            if visibleCount - passedOver.count > 1, realism.roll(realism.profile.outOfOrderRate) {
                passedOver.append(message)
                continue
            }
            deliver(message)
            if visibilityTimeout == 0 {
                stillVisible.append(message)
            } else if realism.roll(realism.profile.duplicateRate) {
                realism.duplicates.append((message, message.receiptNonce))
            }
        }
        // Passed-over messages stay visible, behind the rest; a receive that passed over everything takes the first
        // after all, so that realism never turns a receive with messages available into an empty one by itself.
        if picked.isEmpty, !passedOver.isEmpty, inFlightCount < inFlightLimit {
            let first = passedOver.removeFirst()
            deliver(first)
            if visibilityTimeout == 0 { stillVisible.append(first) }
        }
        for message in passedOver { visible.append(message) }
        for message in stillVisible { visible.append(message) }
        return picked
    }
}

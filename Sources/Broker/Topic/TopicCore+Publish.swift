import Foundation

/// A publish after validation, shared by every subscription's delivery. A class: passed to every copy, kept by the
/// envelope's builder and returned out of the topic's lock, a struct of eleven fields was copied field by field
/// (a retain and release each) several times per publish.
final class PublishedMessage: Sendable {
    let messageId: String
    let timestamp: Date
    /// `timestamp` as the envelope writes it.
    let formattedTimestamp: String
    let request: PublishRequest
    /// Per-protocol bodies of `MessageStructure=json`; nil otherwise.
    let structuredBodies: [String: String]?
    let sequenceNumber: UInt64?
    let deduplicationId: String?

    init(messageId: String, timestamp: Date, formattedTimestamp: String, request: PublishRequest,
         structuredBodies: [String: String]?, sequenceNumber: UInt64?, deduplicationId: String?) {
        self.messageId = messageId
        self.timestamp = timestamp
        self.formattedTimestamp = formattedTimestamp
        self.request = request
        self.structuredBodies = structuredBodies
        self.sequenceNumber = sequenceNumber
        self.deduplicationId = deduplicationId
    }

    func body(for protocol: SubscriptionProtocol) -> String {
        guard let bodies = structuredBodies else { return request.message }
        return bodies[`protocol`.rawValue] ?? bodies["default"] ?? request.message
    }
}

extension TopicCore {
    static let maximumMessageSize = 262_144

    /// Publish: validates, deduplicates (FIFO), then delivers a copy to every subscription whose filter matches.
    /// A failed delivery never fails the publish.
    /// `attributeSize`: the size of the request's attributes, when the caller has validated them already
    /// (PublishBatch does, for the whole request, before it publishes any entry).
    /// `waits`: a PublishBatch's, which waits for every entry's copies once (see ``deliver(_:to:realism:waits:)``).
    func publish(_ request: PublishRequest, attributeSize: Int? = nil, waits: CopyWaits? = nil) throws(BrokerError) -> PublishResult {
        let structured = try validate(request, attributeSize: attributeSize)
        let contentId = isFifo && request.messageDeduplicationId == nil ? SHA256.hash(request.message).hexString : nil
        let now = broker.clock.now
        let accepted = try withLiveState { (state) throws(BrokerError)
            -> (PublishedMessage?, PublishResult, [SubscriptionRecord], RestoredQueue.Deduplication?, TopicRealism?) in
            var deduplicationId: String?
            var taken: RestoredQueue.Deduplication?
            var sequence: UInt64?
            let id = state.ids.messageID()
            if isFifo {
                guard let deduplication = request.messageDeduplicationId
                    ?? (state.settings.contentBasedDeduplication ? contentId : nil) else {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
                }
                deduplicationId = deduplication
                let scope = state.settings.fifoThroughputScope?.deduplicationScope ?? .queue
                switch state.sequencer.admit(deduplicationId: deduplication, messageGroup: request.messageGroupId,
                                             scope: scope, messageId: id, now: now) {
                case .duplicate(let original):
                    // Accepted, not delivered again: AWS's five-minute deduplication.
                    return (nil, PublishResult(messageId: original.messageId.string,
                                               sequenceNumber: String(original.sequenceNumber)), [], nil, nil)
                case .accepted(let next):
                    sequence = next
                    if durable != nil {
                        taken = RestoredQueue.Deduplication(
                            id: deduplication, group: scope == .messageGroup ? request.messageGroupId ?? "" : nil,
                            record: DeduplicationRecord(expiresAt: now.addingTimeInterval(FifoSequencer.deduplicationWindow),
                                                        messageId: id, sequenceNumber: next))
                    }
                }
            }
            let messageId = id.string
            let message = PublishedMessage(messageId: messageId, timestamp: now,
                                           formattedTimestamp: state.timestamps.format(now), request: request,
                                           structuredBodies: structured, sequenceNumber: sequence,
                                           deduplicationId: deduplicationId)
            state.published += 1
            return (message, PublishResult(messageId: messageId, sequenceNumber: sequence.map { String($0) }),
                    state.subscriptions, taken, state.realism)
        }
        if let message = accepted.0 {
            deliver(message, to: accepted.2, realism: accepted.4, waits: waits)
        } else if let durable {
            // Answered from the deduplication entry, which may be an unstored publish's.
            try durable.failedRecords.cover(with: durable.store)
        }
        if let taken = accepted.3, let durable { try journalPublish(taken, durable: durable) }
        return accepted.1
    }

    /// Publish's input rules, with SNS's error codes and wording; returns the per-protocol bodies of
    /// `MessageStructure=json`.
    func validate(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) -> [String: String]? {
        try PublishValidation.validateMessage(request, attributeSize: attributeSize)
        if isFifo {
            guard let group = request.messageGroupId else {
                throw BrokerError(.invalidParameter, "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
            }
            try snsIdentifier(group, "MessageGroupId")
            if let id = request.messageDeduplicationId { try snsIdentifier(id, "MessageDeduplicationId") }
        } else {
            if request.messageDeduplicationId != nil {
                throw BrokerError(.invalidParameter,
                    "Invalid parameter: MessageDeduplicationId Reason: The request includes MessageDeduplicationId parameter that is not valid for this topic type")
            }
            if let group = request.messageGroupId { try snsIdentifier(group, "MessageGroupId") }
        }
        return try PublishValidation.structuredBodies(request)
    }

    private func snsIdentifier(_ value: String, _ name: String) throws(BrokerError) {
        do throws(BrokerError) {
            try FifoRules.validateIdentifier(value, parameter: name)
        } catch {
            throw BrokerError(.invalidParameter, "Invalid parameter: \(name) Reason: \(name) can only include alphanumeric and punctuation characters. 1 to 128 in length.")
        }
    }
}

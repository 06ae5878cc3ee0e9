import Foundation

/// A publish after validation, shared by every subscription's delivery.
struct PublishedMessage: Sendable {
    let messageId: String
    let timestamp: Date
    let request: PublishRequest
    /// Per-protocol bodies of `MessageStructure=json`; nil otherwise.
    let structuredBodies: [String: String]?
    let sequenceNumber: UInt64?
    let deduplicationId: String?

    func body(for protocol: SubscriptionProtocol) -> String {
        guard let bodies = structuredBodies else { return request.message }
        return bodies[`protocol`.rawValue] ?? bodies["default"] ?? request.message
    }
}

extension TopicCore {
    static let maximumMessageSize = 262_144

    /// Publish: validates, deduplicates (FIFO), then delivers a copy to every subscription whose filter matches.
    /// A failed delivery never fails the publish.
    func publish(_ request: PublishRequest) throws(BrokerError) -> PublishResult {
        let structured = try validate(request)
        let contentId = isFifo && request.messageDeduplicationId == nil ? SHA256.hash(request.message).hexString : nil
        let now = broker.clock.now
        let accepted = try withLiveState { (state) throws(BrokerError) -> (PublishedMessage?, PublishResult, [SubscriptionRecord]) in
            var deduplicationId: String?
            var sequence: UInt64?
            var key: String?
            if isFifo {
                guard let id = request.messageDeduplicationId ?? (state.settings.contentBasedDeduplication ? contentId : nil) else {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
                }
                deduplicationId = id
                let dedupKey = state.settings.fifoThroughputScope == "MessageGroup" ? (request.messageGroupId ?? "") + "\u{0}" + id : id
                while let first = state.deduplicationExpiry.first, first.expiresAt <= now {
                    _ = state.deduplicationExpiry.removeFirst()
                    if let record = state.deduplication[first.key], record.expiresAt <= now { state.deduplication[first.key] = nil }
                }
                if let record = state.deduplication[dedupKey] {
                    // Accepted, not delivered again: AWS's five-minute deduplication.
                    return (nil, PublishResult(messageId: record.messageId.string, sequenceNumber: String(record.sequenceNumber)), [])
                }
                state.nextSequenceNumber += 1
                sequence = state.nextSequenceNumber
                key = dedupKey
            }
            let id = state.ids.messageID()
            let messageId = id.string
            if let key, let sequence {
                let expiresAt = now.addingTimeInterval(QueueCore.deduplicationWindow)
                state.deduplication[key] = DeduplicationRecord(expiresAt: expiresAt, messageId: id, sequenceNumber: sequence)
                state.deduplicationExpiry.append((expiresAt, key))
            }
            let message = PublishedMessage(messageId: messageId, timestamp: now, request: request,
                                           structuredBodies: structured, sequenceNumber: sequence,
                                           deduplicationId: deduplicationId)
            return (message, PublishResult(messageId: messageId, sequenceNumber: sequence.map { String($0) }), state.subscriptions)
        }
        if let message = accepted.0 { deliver(message, to: accepted.2) }
        return accepted.1
    }

    /// Publish's input rules, with SNS's error codes and wording; returns the per-protocol bodies of
    /// `MessageStructure=json`.
    func validate(_ request: PublishRequest) throws(BrokerError) -> [String: String]? {
        if request.message.isEmpty { throw BrokerError(.invalidParameter, "Invalid parameter: Empty message") }
        guard MessageValidation.hasOnlyAllowedCharacters(request.message) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message contains invalid characters")
        }
        var size = request.message.utf8.count
        size += try SNSAttributes.validate(request.messageAttributes)
        if size > Self.maximumMessageSize { throw BrokerError(.invalidParameter, "Invalid parameter: Message too long") }
        if let subject = request.subject {
            guard !subject.isEmpty, subject.count <= 100,
                  subject.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }),
                  let first = subject.unicodeScalars.first, first != " "
            else { throw BrokerError(.invalidParameter, "Invalid parameter: Subject") }
        }
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
        guard let structure = request.messageStructure else { return nil }
        guard structure == "json" else { throw BrokerError(.invalidParameter, "Invalid parameter: MessageStructure") }
        guard let object = PolicyJSON.parseObject(request.message) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message Structure - JSON message body failed to parse")
        }
        var bodies: [String: String] = [:]
        for (key, value) in object {
            guard let text = value as? String else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Message Structure - JSON message body failed to parse")
            }
            bodies[key] = text
        }
        guard bodies["default"] != nil else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message Structure - No default entry in JSON message body")
        }
        return bodies
    }

    private func snsIdentifier(_ value: String, _ name: String) throws(BrokerError) {
        do throws(BrokerError) {
            try FifoRules.validateIdentifier(value, parameter: name)
        } catch {
            throw BrokerError(.invalidParameter, "Invalid parameter: \(name) Reason: \(name) can only include alphanumeric and punctuation characters. 1 to 128 in length.")
        }
    }

    // MARK: Delivery

    /// Sends a copy to every subscription whose filter policy matches. The body is parsed for body-scope policies
    /// at most once, however many subscriptions use one; the envelope's common part is built once.
    func deliver(_ message: PublishedMessage, to subscriptions: [SubscriptionRecord]) {
        guard !subscriptions.isEmpty else { return }
        var input = FilterInput(attributes: message.request.messageAttributes, body: message.request.message)
        let envelope = Envelope(message: message, topicArn: arn, region: broker.region, fifo: isFifo)
        for subscription in subscriptions {
            if let policy = subscription.settings.filterPolicy, !policy.matches(&input) {
                subscription.count { $0.filteredOut += 1 }
                continue
            }
            switch subscription.protocol {
            case .sqs: deliverToQueue(message, envelope: envelope, subscription: subscription)
            case .lambda: deliverToHandler(message, subscription: subscription)
            }
        }
    }

    /// The SQS message a subscription's queue gets: the envelope, or with raw delivery the message and its
    /// attributes.
    func queueMessage(_ message: PublishedMessage, envelope: Envelope, subscription: SubscriptionRecord,
                      queueIsFifo: Bool) -> SendMessageRequest {
        let raw = subscription.settings.rawMessageDelivery
        return SendMessageRequest(
            body: raw ? message.body(for: .sqs) : envelope.body(subscriptionArn: subscription.arn),
            messageAttributes: raw ? message.request.messageAttributes : [:],
            messageGroupId: message.request.messageGroupId,
            messageDeduplicationId: queueIsFifo ? message.deduplicationId : nil)
    }

    private func deliverToQueue(_ message: PublishedMessage, envelope: Envelope, subscription: SubscriptionRecord) {
        var queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue)
        for attempt in 0..<2 {
            guard let core = queue else { break }
            let request = queueMessage(message, envelope: envelope, subscription: subscription, queueIsFifo: core.isFifo)
            do throws(BrokerError) {
                try Queue(core: core).deliver(request)
                subscription.count { $0.delivered += 1 }
                return
            } catch {
                if error.code == .queueDoesNotExist, attempt == 0 {
                    // The queue found earlier was deleted; one of the same name may have been created since.
                    queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue, refresh: true)
                    continue
                }
                // SQS refused the message (attributes SQS cannot take, too large): a client-side error, which SNS
                // does not retry.
                return fail(message, envelope: envelope, subscription: subscription, error: error)
            }
        }
        fail(message, envelope: envelope, subscription: subscription,
             error: BrokerError(.queueDoesNotExist, "The specified queue does not exist."))
    }

    private func deliverToHandler(_ message: PublishedMessage, subscription: SubscriptionRecord) {
        guard let handler = subscription.handler else { return }
        let notification = SNSNotification(
            messageId: message.messageId, topicArn: arn, subject: message.request.subject,
            message: message.body(for: .lambda), timestamp: message.timestamp,
            messageAttributes: message.request.messageAttributes, subscriptionArn: subscription.arn,
            sequenceNumber: message.sequenceNumber.map { String($0) }, messageGroupId: message.request.messageGroupId)
        let policy = subscription.settings.deliveryPolicy ?? state.withLock { $0.settings.deliveryPolicy } ?? .awsManaged
        let clock = broker.clock
        let tracker = broker.deliveries
        tracker.begin()
        // Off the publisher's task: a slow handler slows neither the publish nor other subscriptions.
        Task { [self] in
            defer { tracker.end() }
            var retry = 0
            while true {
                do {
                    try await handler(notification)
                    subscription.count { $0.delivered += 1 }
                    return
                } catch {
                    retry += 1
                    guard let delay = policy.delay(beforeRetry: retry) else {
                        let envelope = Envelope(message: message, topicArn: arn, region: broker.region, fifo: isFifo)
                        return fail(message, envelope: envelope, subscription: subscription,
                                    error: BrokerError(BrokerError.Code(name: "HandlerError"), String(describing: error)))
                    }
                    subscription.count { $0.retried += 1 }
                    if delay > 0 {
                        do { try await clock.sleep(for: .seconds(delay)) } catch { return }
                    }
                }
            }
        }
    }

    /// A delivery that failed for good: to the subscription's dead-letter queue with AWS's ErrorCode,
    /// ErrorMessage and RequestID attributes, or dropped and counted.
    private func fail(_ message: PublishedMessage, envelope: Envelope, subscription: SubscriptionRecord, error: BrokerError) {
        guard let dlqArn = subscription.settings.deadLetterTargetArn, let dlq = broker.resolveQueue(dlqArn) else {
            subscription.count { $0.dropped += 1 }
            return
        }
        var request = queueMessage(message, envelope: envelope, subscription: subscription, queueIsFifo: dlq.isFifo)
        request.messageAttributes["ErrorCode"] = .string(error.code.queryCode)
        request.messageAttributes["ErrorMessage"] = .string(error.message.isEmpty ? error.code.name : error.message)
        request.messageAttributes["RequestID"] = .string(message.messageId)
        do throws(BrokerError) {
            try Queue(core: dlq).deliver(request)
            subscription.count { $0.deadLettered += 1 }
        } catch {
            subscription.count { $0.dropped += 1 }
        }
    }
}

/// The SNS notification envelope of a queue copy, built once per publish as bytes; only `UnsubscribeURL` differs
/// between subscriptions, so each copy is one allocation: the part before the subscription ARN, the ARN, the rest.
struct Envelope {
    private let head: [UInt8]
    private let tail: [UInt8]

    init(message: PublishedMessage, topicArn: String, region: String, fifo: Bool) {
        let body = message.body(for: .sqs)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.utf8.count + 640)
        func text(_ string: String) { bytes.append(contentsOf: string.utf8) }
        func field(_ name: String, _ value: String) {
            text(",\n  \"\(name)\" : ")
            JSONText.appendQuoted(value, to: &bytes)
        }
        text("{\n  \"Type\" : \"Notification\"")
        field("MessageId", message.messageId)
        if let sequence = message.sequenceNumber { field("SequenceNumber", String(sequence)) }
        field("TopicArn", topicArn)
        if let subject = message.request.subject { field("Subject", subject) }
        field("Message", body)
        field("Timestamp", SNSTimestamp.format(message.timestamp))
        if !fifo {
            // Not a real AWS signature, and it says so once decoded: code that reads the field finds base64 text.
            field("SignatureVersion", "1")
            field("Signature", Data("Broker placeholder signature, not signed by AWS: \(message.messageId)".utf8).base64EncodedString())
            field("SigningCertURL", "https://sns.\(region).amazonaws.com/SimpleNotificationService-broker.pem")
        }
        text(",\n  \"UnsubscribeURL\" : \"https://sns.\(region).amazonaws.com/?Action=Unsubscribe&SubscriptionArn=")
        head = bytes

        var tail: [UInt8] = [UInt8(ascii: "\"")]
        let attributes = message.request.messageAttributes
        if !attributes.isEmpty {
            tail.append(contentsOf: ",\n  \"MessageAttributes\" : {".utf8)
            for (index, name) in attributes.keys.sorted().enumerated() {
                guard let value = attributes[name] else { continue }
                if index > 0 { tail.append(UInt8(ascii: ",")) }
                JSONText.appendQuoted(name, to: &tail)
                tail.append(contentsOf: " : {\"Type\":".utf8)
                JSONText.appendQuoted(value.dataType, to: &tail)
                tail.append(contentsOf: ",\"Value\":".utf8)
                JSONText.appendQuoted(value.isBinary ? (value.binaryValue ?? Data()).base64EncodedString() : (value.stringValue ?? ""),
                                      to: &tail)
                tail.append(UInt8(ascii: "}"))
            }
            tail.append(UInt8(ascii: "}"))
        }
        tail.append(contentsOf: "\n}".utf8)
        self.tail = tail
    }

    func body(subscriptionArn: String) -> String {
        let arn = subscriptionArn.utf8
        return String(unsafeUninitializedCapacity: head.count + arn.count + tail.count) { buffer in
            var end = buffer[...].initialize(fromContentsOf: head)
            end = buffer[end...].initialize(fromContentsOf: arn)
            return buffer[end...].initialize(fromContentsOf: tail)
        }
    }
}

/// SNS's message-attribute rules (String, String.Array, Number, Binary), with its error code and wording.
enum SNSAttributes {
    static func validate(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) -> Int {
        var size = 0
        for (name, value) in attributes {
            do throws(BrokerError) {
                try MessageValidation.validateAttributeName(name)
            } catch {
                throw BrokerError(.parameterValueInvalid, "The message attribute name '\(name)' is invalid.")
            }
            let base = value.dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
            guard ["String", "Number", "Binary"].contains(base) else {
                throw BrokerError(.parameterValueInvalid,
                    "The message attribute '\(name)' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
            }
            if base == "Binary" {
                guard let data = value.binaryValue, !data.isEmpty else {
                    throw BrokerError(.parameterValueInvalid,
                        "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type 'Binary'.")
                }
                size += name.utf8.count + value.dataType.utf8.count + data.count
                continue
            }
            guard let text = value.stringValue, !text.isEmpty else {
                throw BrokerError(.parameterValueInvalid,
                    "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type '\(base)'.")
            }
            if base == "Number", !MessageValidation.isValidNumber(text) {
                throw BrokerError(.parameterValueInvalid, "Could not cast message attribute '\(name)' value to number.")
            }
            if value.dataType == "String.Array" {
                guard let data = text.data(using: .utf8),
                      let array = try? JSONSerialization.jsonObject(with: data) as? [Any],
                      array.allSatisfy({ $0 is String || $0 is NSNumber || $0 is NSNull })
                else {
                    throw BrokerError(.parameterValueInvalid,
                        "The message attribute '\(name)' with type 'String.Array' has an invalid value: it must be a JSON array of strings, numbers, booleans or nulls.")
                }
            }
            size += name.utf8.count + value.dataType.utf8.count + text.utf8.count
        }
        return size
    }
}

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
    func publish(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) -> PublishResult {
        let structured = try validate(request, attributeSize: attributeSize)
        let contentId = isFifo && request.messageDeduplicationId == nil ? SHA256.hash(request.message).hexString : nil
        let now = broker.clock.now
        let accepted = try withLiveState { (state) throws(BrokerError) -> (PublishedMessage?, PublishResult, [SubscriptionRecord]) in
            var deduplicationId: String?
            var sequence: UInt64?
            let id = state.ids.messageID()
            if isFifo {
                guard let deduplication = request.messageDeduplicationId
                    ?? (state.settings.contentBasedDeduplication ? contentId : nil) else {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: The topic should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
                }
                deduplicationId = deduplication
                state.deduplication.expire(now: now)
                let next = state.nextSequenceNumber + 1
                let record = DeduplicationRecord(expiresAt: now.addingTimeInterval(QueueCore.deduplicationWindow),
                                                 messageId: id, sequenceNumber: next)
                let group = state.settings.fifoThroughputScope == "MessageGroup" ? request.messageGroupId ?? "" : nil
                if let original = state.deduplication.recordUnlessDuplicate(id: deduplication, group: group, now: now,
                                                                            record: record) {
                    // Accepted, not delivered again: AWS's five-minute deduplication.
                    return (nil, PublishResult(messageId: original.messageId.string,
                                               sequenceNumber: String(original.sequenceNumber)), [])
                }
                state.nextSequenceNumber = next
                sequence = next
            }
            let messageId = id.string
            let message = PublishedMessage(messageId: messageId, timestamp: now,
                                           formattedTimestamp: state.timestamps.format(now), request: request,
                                           structuredBodies: structured, sequenceNumber: sequence,
                                           deduplicationId: deduplicationId)
            return (message, PublishResult(messageId: messageId, sequenceNumber: sequence.map { String($0) }), state.subscriptions)
        }
        if let message = accepted.0 { deliver(message, to: accepted.2) }
        return accepted.1
    }

    /// Publish's input rules, with SNS's error codes and wording; returns the per-protocol bodies of
    /// `MessageStructure=json`.
    func validate(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) -> [String: String]? {
        if request.message.isEmpty { throw BrokerError(.invalidParameter, "Invalid parameter: Empty message") }
        guard MessageValidation.hasOnlyAllowedCharacters(request.message) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message contains invalid characters")
        }
        var size = request.message.utf8.count
        if let attributeSize { size += attributeSize } else { size += try SNSAttributes.validate(request.messageAttributes) }
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
        // A protocol's entry that is not a string (an object, say) is not that protocol's body: AWS ignores it, and
        // that protocol gets `default`.
        var bodies: [String: String] = [:]
        for (key, value) in object {
            if let text = value as? String { bodies[key] = text }
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
    /// at most once, however many subscriptions use one; the envelope's common part is built at most once.
    func deliver(_ message: PublishedMessage, to subscriptions: [SubscriptionRecord]) {
        guard !subscriptions.isEmpty else { return }
        var input = FilterInput(attributes: message.request.messageAttributes, body: message.request.message)
        var parts = CopyParts(message: message, fragments: envelopeFragments, fifo: isFifo)
        for subscription in subscriptions {
            if let policy = subscription.settings.filterPolicy, !policy.matches(&input) {
                subscription.count { $0.filteredOut += 1 }
                continue
            }
            switch subscription.protocol {
            case .sqs: deliverToQueue(message, parts: &parts, subscription: subscription)
            case .lambda where subscription.handler != nil: deliverToHandler(message, subscription: subscription)
            default: deliverOutbound(message, parts: &parts, subscription: subscription)
            }
        }
    }

    /// The SQS message a subscription's queue gets: the envelope, or with raw delivery the message and its
    /// attributes.
    func queueMessage(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord,
                      queueIsFifo: Bool) -> SendMessageRequest {
        let raw = subscription.settings.rawMessageDelivery
        return SendMessageRequest(
            body: raw ? message.body(for: .sqs) : parts.envelope.body(subscriptionArn: subscription.arn),
            messageAttributes: raw ? message.request.messageAttributes : [:],
            // A FIFO topic's group goes to FIFO queues only: its copy in a standard queue has none.
            messageGroupId: queueIsFifo ? message.request.messageGroupId : nil,
            messageDeduplicationId: queueIsFifo ? message.deduplicationId : nil)
    }

    private func deliverToQueue(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord) {
        var queue = subscription.queue.core(for: subscription.endpoint, resolve: broker.resolveQueue)
        for attempt in 0..<2 {
            guard let core = queue else { break }
            let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: core.isFifo)
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
                return fail(message, parts: &parts, subscription: subscription, error: error)
            }
        }
        fail(message, parts: &parts, subscription: subscription,
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
                        var parts = CopyParts(message: message, fragments: envelopeFragments, fifo: isFifo)
                        return fail(message, parts: &parts, subscription: subscription,
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

    /// A delivery that failed for good: to the subscription's dead-letter queue, or dropped; counted either way,
    /// with the error kept as the subscription's last failure.
    func fail(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord, error: BrokerError) {
        guard let dlqArn = subscription.settings.deadLetterTargetArn, let dlq = broker.resolveQueue(dlqArn) else {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
            return
        }
        // The copy as the subscription would have had it, with no attributes added: why it failed is kept in the
        // subscription's statistics.
        let request = queueMessage(message, parts: &parts, subscription: subscription, queueIsFifo: dlq.isFifo)
        do throws(BrokerError) {
            try Queue(core: dlq).deliver(request)
            subscription.count { $0.deadLettered += 1; $0.lastFailure = error }
        } catch {
            subscription.count { $0.dropped += 1; $0.lastFailure = error }
        }
    }
}

/// What a publish's queue copies share, made by the first copy that needs it: the envelope (not at all when every
/// copy is raw or filtered out).
struct CopyParts {
    private let message: PublishedMessage
    private let fragments: EnvelopeFragments
    private let fifo: Bool
    private var builtEnvelope: Envelope?

    init(message: PublishedMessage, fragments: EnvelopeFragments, fifo: Bool) {
        self.message = message
        self.fragments = fragments
        self.fifo = fifo
    }

    var envelope: Envelope {
        mutating get {
            if let builtEnvelope { return builtEnvelope }
            let envelope = Envelope(message: message, fragments: fragments, fifo: fifo)
            builtEnvelope = envelope
            return envelope
        }
    }
}

/// The SNS notification envelope of a queue copy, built once per publish; only `UnsubscribeURL` differs between
/// subscriptions, so each copy is one allocation: the part before the subscription ARN, the ARN, the rest. The
/// common text stays bytes; each copy's String checks its UTF-8 once as it is made (ASCII, a word at a time).
struct Envelope {
    private let bytes: [UInt8]
    /// Where the subscription ARN goes in `bytes`.
    private let split: Int

    init(message: PublishedMessage, fragments: EnvelopeFragments, fifo: Bool) {
        let body = message.body(for: .sqs)
        var bytes: [UInt8] = []
        bytes.reserveCapacity(body.utf8.count + 640)
        func text(_ string: StaticString) { Self.append(string, to: &bytes) }
        text("{\n  \"Type\" : \"Notification\"")
        Self.appendField(",\n  \"MessageId\" : ", message.messageId, to: &bytes)
        if let sequence = message.sequenceNumber { Self.appendField(",\n  \"SequenceNumber\" : ", String(sequence), to: &bytes) }
        bytes.append(contentsOf: fragments.topicArnField)
        if let subject = message.request.subject { Self.appendField(",\n  \"Subject\" : ", subject, to: &bytes) }
        Self.appendField(",\n  \"Message\" : ", body, to: &bytes)
        Self.appendField(",\n  \"Timestamp\" : ", message.formattedTimestamp, to: &bytes)
        if !fifo {
            text(",\n  \"SignatureVersion\" : \"1\"")
            // Not a real AWS signature, and it says so once decoded: code that reads the field finds base64 text.
            text(",\n  \"Signature\" : \"")
            PlaceholderSignature.append(messageId: message.messageId, to: &bytes)
            text("\"")
            bytes.append(contentsOf: fragments.signingCertURLField)
        }
        bytes.append(contentsOf: fragments.unsubscribeURLPrefix)
        let headCount = bytes.count

        bytes.append(UInt8(ascii: "\""))
        let attributes = message.request.messageAttributes
        if !attributes.isEmpty {
            text(",\n  \"MessageAttributes\" : {")
            func attribute(_ name: String, _ value: MessageAttributeValue) {
                JSONText.appendQuoted(name, to: &bytes)
                text(" : {\"Type\":")
                JSONText.appendQuoted(value.dataType, to: &bytes)
                text(",\"Value\":")
                JSONText.appendQuoted(value.isBinary ? (value.binaryValue ?? Data()).base64EncodedString() : (value.stringValue ?? ""),
                                      to: &bytes)
                bytes.append(UInt8(ascii: "}"))
            }
            // One attribute, the usual case, needs no sorted copy of the names.
            if attributes.count == 1 {
                for (name, value) in attributes { attribute(name, value) }
            } else {
                for (index, name) in attributes.keys.sorted().enumerated() {
                    guard let value = attributes[name] else { continue }
                    if index > 0 { bytes.append(UInt8(ascii: ",")) }
                    attribute(name, value)
                }
            }
            bytes.append(UInt8(ascii: "}"))
        }
        text("\n}")
        self.bytes = bytes
        split = headCount
    }

    static func append(_ text: StaticString, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// `prefix` is the separator and the field's name: `,\n  "Name" : `.
    static func appendField(_ prefix: StaticString, _ value: String, to bytes: inout [UInt8]) {
        append(prefix, to: &bytes)
        JSONText.appendQuoted(value, to: &bytes)
    }

    /// One allocation and three copies. Appending to a String cost more: each append re-examined the string's
    /// storage, and slicing the shared text went through String indices.
    func body(subscriptionArn: String) -> String {
        var arn = subscriptionArn  // `withUTF8` is mutating; a native string is not copied by it
        return arn.withUTF8 { arn in
            bytes.withUnsafeBufferPointer { bytes in
                String(unsafeUninitializedCapacity: bytes.count + arn.count) { out in
                    var end = out.initialize(fromContentsOf: bytes[..<split])
                    end = out[end...].initialize(fromContentsOf: arn)
                    end = out[end...].initialize(fromContentsOf: bytes[split...])
                    return end
                }
            }
        }
    }
}

/// What an envelope takes from its topic rather than its publish, encoded once per topic.
struct EnvelopeFragments: Sendable {
    let topicArnField: [UInt8]
    let signingCertURLField: [UInt8]
    /// Up to the subscription ARN; the region is written as is here, as it always was, and quoted in the
    /// certificate's URL.
    let unsubscribeURLPrefix: [UInt8]

    init(topicArn: String, region: String) {
        var field: [UInt8] = []
        Envelope.appendField(",\n  \"TopicArn\" : ", topicArn, to: &field)
        topicArnField = field
        field = []
        Envelope.appendField(",\n  \"SigningCertURL\" : ", "https://sns.\(region).amazonaws.com/SimpleNotificationService-broker.pem",
                             to: &field)
        signingCertURLField = field
        unsubscribeURLPrefix = Array(
            ",\n  \"UnsubscribeURL\" : \"https://sns.\(region).amazonaws.com/?Action=Unsubscribe&SubscriptionArn=".utf8)
    }
}

/// The envelope's `Signature`: base64 of "Broker placeholder signature, not signed by AWS: <MessageId>". The fixed
/// text's whole 3-byte groups are encoded once; its last bytes and the id are encoded per publish.
enum PlaceholderSignature {
    static let prefix = "Broker placeholder signature, not signed by AWS: "
    private static let prefixBytes = Array(prefix.utf8)
    private static let wholeGroups = prefixBytes.count / 3 * 3
    private static let encodedPrefix = Base64.encode(Array(prefixBytes[..<wholeGroups]))
    private static let leftover = Array(prefixBytes[wholeGroups...])

    static func append(messageId: String, to bytes: inout [UInt8]) {
        bytes.append(contentsOf: encodedPrefix)
        let leftover = leftover
        var messageId = messageId  // `withUTF8` is mutating; a native string is not copied by it
        messageId.withUTF8 { id in
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: leftover.count + id.count) { input in
                var end = input.initialize(fromContentsOf: leftover)
                end = input[end...].initialize(fromContentsOf: id)
                Base64.append(UnsafeBufferPointer(rebasing: input[..<end]), to: &bytes)
            }
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
                // SNS's own per-message settings (`AWS.SNS.SMS.SMSType`, `AWS.SNS.MOBILE.APNS.TTL`, …) use the prefix
                // SQS reserves; checked only once the name has failed, so other names pay nothing for it.
                guard name.hasPrefix("AWS.SNS.") || name.hasPrefix("AWS.MM.") else {
                    throw BrokerError(.parameterValueInvalid, "The message attribute name '\(name)' is invalid.")
                }
            }
            let base = Self.baseType(value.dataType)
            // A custom type is the base type, a `.` and a label: `String.` has an empty label and no type at all.
            guard base == "String" || base == "Number" || base == "Binary",
                  value.dataType == base
                    || (value.dataType.hasPrefix(base + ".") && value.dataType.utf8.count > base.utf8.count + 1)
            else {
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
            // A `String.Array` value is not checked for being a JSON array: SNS takes any string, and a filter
            // policy reads one that is not an array as a single value, one that is not JSON as no value at all.
            size += name.utf8.count + value.dataType.utf8.count + text.utf8.count
        }
        return size
    }

    /// The type before its first `.` (the first non-empty part, as `split` finds it). The plain types, nearly every
    /// attribute, are their own base, without splitting.
    static func baseType(_ dataType: String) -> String {
        switch dataType {
        case "String", "Number", "Binary": dataType
        default: dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
        }
    }
}

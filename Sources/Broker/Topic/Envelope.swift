import Foundation

/// What a publish's queue copies share, made by the first copy that needs it: the envelope (not at all when every
/// copy is raw or filtered out).
struct CopyParts {
    private let message: PublishedMessage
    private let fragments: EnvelopeFragments
    private let fifo: Bool
    private let signing: EnvelopeSigning?
    private var builtEnvelope: Envelope?

    init(message: PublishedMessage, fragments: EnvelopeFragments, fifo: Bool, signing: EnvelopeSigning? = nil) {
        self.message = message
        self.fragments = fragments
        self.fifo = fifo
        self.signing = signing
    }

    var envelope: Envelope {
        mutating get {
            if let builtEnvelope { return builtEnvelope }
            let envelope = Envelope(message: message, fragments: fragments, fifo: fifo, signing: signing)
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

    init(message: PublishedMessage, fragments: EnvelopeFragments, fifo: Bool, signing: EnvelopeSigning? = nil) {
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
        if !fifo, let signing, let signature = signing.signature(message: message, body: body) {
            // The signature covers no subscription's part (UnsubscribeURL), so every copy shares this one.
            text(",\n  \"SignatureVersion\" : \"")
            bytes.append(contentsOf: signing.version.rawValue.utf8)
            text("\",\n  \"Signature\" : \"")
            signature.withUnsafeBufferPointer { Base64.append($0, to: &bytes) }
            text("\"")
            Self.appendField(",\n  \"SigningCertURL\" : ", signing.signer.signingCertURL, to: &bytes)
        } else if !fifo {
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
        String(unsafeUninitializedCapacity: bodyCount(subscriptionArn: subscriptionArn)) { out in
            write(subscriptionArn: subscriptionArn, into: out)
            return out.count
        }
    }

    /// The length in bytes of the copy for `subscriptionArn`.
    func bodyCount(subscriptionArn: String) -> Int { bytes.count + subscriptionArn.utf8.count }

    /// Writes the copy for `subscriptionArn` into `out`, which holds exactly ``bodyCount(subscriptionArn:)`` bytes:
    /// how a queue's message gets its body with no String made for it (`QueueCore.deliver(_:bodyCount:writeBody:)`).
    func write(subscriptionArn: String, into out: UnsafeMutableBufferPointer<UInt8>) {
        var arn = subscriptionArn  // `withUTF8` is mutating; a native string is not copied by it
        arn.withUTF8 { arn in
            bytes.withUnsafeBufferPointer { bytes in
                var end = out.initialize(fromContentsOf: bytes[..<split])
                end = out[end...].initialize(fromContentsOf: arn)
                _ = out[end...].initialize(fromContentsOf: bytes[split...])
            }
        }
    }
}

/// A signer and what it needs of the topic: the version the topic's `SignatureVersion` names and the topic's ARN.
struct EnvelopeSigning {
    let signer: any SNSMessageSigner
    let version: SNSSignatureVersion
    let topicArn: String

    /// The signature of a notification whose `Message` is `body`; nil if the signer failed, and the envelope
    /// keeps the unsigned placeholder rather than losing the delivery.
    func signature(message: PublishedMessage, body: String) -> [UInt8]? {
        let text = SNSStringToSign.notification(message: body, messageId: message.messageId,
                                                subject: message.request.subject,
                                                timestamp: message.formattedTimestamp, topicArn: topicArn)
        return try? signer.signature(of: text, version: version)
    }
}

/// What an envelope takes from its topic rather than its publish, encoded once per topic.
struct EnvelopeFragments: Sendable {
    let topicArnField: [UInt8]
    let signingCertURLField: [UInt8]
    /// Up to the subscription ARN, on the broker's SNS endpoint (AWS's regional one unless a server names itself).
    let unsubscribeURLPrefix: [UInt8]

    init(topicArn: String, region: String, endpoint: String? = nil) {
        var field: [UInt8] = []
        Envelope.appendField(",\n  \"TopicArn\" : ", topicArn, to: &field)
        topicArnField = field
        field = []
        Envelope.appendField(",\n  \"SigningCertURL\" : ", "https://sns.\(region).amazonaws.com/SimpleNotificationService-broker.pem",
                             to: &field)
        signingCertURLField = field
        let base = endpoint ?? "https://sns.\(region).amazonaws.com"
        unsubscribeURLPrefix = Array(",\n  \"UnsubscribeURL\" : \"\(base)/?Action=Unsubscribe&SubscriptionArn=".utf8)
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

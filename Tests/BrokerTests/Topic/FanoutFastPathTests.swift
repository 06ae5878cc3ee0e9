import Foundation
import Testing

@testable import Broker

/// The fan-out path's shortcuts (envelope built from cached fragments, the signature's precomputed base64, the
/// timestamp cache, the attribute checks and digest a trusted copy skips or shares) against the plain constructions
/// they replace.
@Suite struct FanoutFastPathTests {
    /// The envelope as it was built before the fast path: every field written and quoted per publish.
    static func legacyEnvelope(_ message: PublishedMessage, topicArn: String, region: String, fifo: Bool,
                               subscriptionArn: String) -> String {
        let body = message.body(for: .sqs)
        var bytes: [UInt8] = []
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
            field("SignatureVersion", "1")
            field("Signature", Data("Broker placeholder signature, not signed by AWS: \(message.messageId)".utf8).base64EncodedString())
            field("SigningCertURL", "https://sns.\(region).amazonaws.com/SimpleNotificationService-broker.pem")
        }
        text(",\n  \"UnsubscribeURL\" : \"https://sns.\(region).amazonaws.com/?Action=Unsubscribe&SubscriptionArn=")
        text(subscriptionArn)
        bytes.append(UInt8(ascii: "\""))
        let attributes = message.request.messageAttributes
        if !attributes.isEmpty {
            text(",\n  \"MessageAttributes\" : {")
            for (index, name) in attributes.keys.sorted().enumerated() {
                guard let value = attributes[name] else { continue }
                if index > 0 { bytes.append(UInt8(ascii: ",")) }
                JSONText.appendQuoted(name, to: &bytes)
                text(" : {\"Type\":")
                JSONText.appendQuoted(value.dataType, to: &bytes)
                text(",\"Value\":")
                JSONText.appendQuoted(value.isBinary ? (value.binaryValue ?? Data()).base64EncodedString() : (value.stringValue ?? ""),
                                      to: &bytes)
                bytes.append(UInt8(ascii: "}"))
            }
            bytes.append(UInt8(ascii: "}"))
        }
        text("\n}")
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Text with everything JSON escapes (quotes, backslashes, controls), multi-byte characters and plain runs.
    static func randomText(_ generator: inout SystemRandomNumberGenerator, maxLength: Int) -> String {
        let pieces = ["a", "order", "\"", "\\", "\n", "\t", "\u{1}", "\u{1F}", "é", "日本", "🎉", " ", "{\"k\":1}", "/", "\u{7F}"]
        let count = Int.random(in: 1...maxLength, using: &generator)
        return (0..<count).map { _ in pieces.randomElement(using: &generator) ?? "a" }.joined()
    }

    @Test func envelopeMatchesTheLegacyConstructionForRandomMessages() {
        var generator = SystemRandomNumberGenerator()
        for round in 0..<300 {
            let fifo = round % 3 == 0
            var attributes: [String: MessageAttributeValue] = [:]
            for index in 0..<Int.random(in: 0...4, using: &generator) {
                attributes["attr\(index)\(index % 2 == 0 ? "_x" : "")"] = switch index % 3 {
                case 0: .string(Self.randomText(&generator, maxLength: 8))
                case 1: .number(Int.random(in: -1000...1000, using: &generator))
                default: MessageAttributeValue(dataType: "Binary.raw", binaryValue: Data((0..<5).map { _ in UInt8.random(in: 0...255, using: &generator) }))
                }
            }
            let request = PublishRequest(message: Self.randomText(&generator, maxLength: 60),
                                         subject: round % 4 == 0 ? "Subject \(round)" : nil,
                                         messageAttributes: attributes)
            let date = Date(timeIntervalSince1970: Double.random(in: -1e9...4e9, using: &generator))
            let messageId = String(repeating: "0123456789abcdef-", count: round % 4) + UUID().uuidString.lowercased()
            let message = PublishedMessage(messageId: messageId, timestamp: date,
                                           formattedTimestamp: SNSTimestamp.format(date), request: request,
                                           structuredBodies: nil, sequenceNumber: fifo ? UInt64(round) * 1_000_003 : nil,
                                           deduplicationId: nil)
            let region = round % 2 == 0 ? "us-east-1" : "eu-\"odd\"-\(round)"
            let topicArn = "arn:aws:sns:\(region):000000000000:t\(round)"
            let envelope = Envelope(message: message, fragments: EnvelopeFragments(topicArn: topicArn, region: region), fifo: fifo)
            for subscriptionArn in [topicArn + ":abc", topicArn + ":é-\(round)"] {
                let expected = Self.legacyEnvelope(message, topicArn: topicArn, region: region, fifo: fifo,
                                                   subscriptionArn: subscriptionArn)
                #expect(Array(envelope.body(subscriptionArn: subscriptionArn).utf8) == Array(expected.utf8))
            }
        }
    }

    /// A copy's envelope is written straight into its queue's message; a dead-letter copy still goes through a
    /// String of it. Both must carry the same bytes, the subscription's ARN aside, on standard and FIFO queues.
    @Test(arguments: [false, true])
    func envelopeWrittenIntoTheMessageMatchesTheStringPath(fifo: Bool) async throws {
        let broker = Broker(configuration: BrokerConfiguration(seed: 3), clock: ManualClock())
        let suffix = fifo ? ".fifo" : ""
        let topic = try broker.createTopic(named: "t\(suffix)", attributes: TopicAttributes(fifoTopic: fifo ? true : nil))
        let queueAttributes = QueueAttributes(fifoQueue: fifo ? true : nil)
        let live = try broker.createQueue(named: "live\(suffix)", attributes: queueAttributes)
        let gone = try broker.createQueue(named: "gone\(suffix)", attributes: queueAttributes)
        let dlq = try broker.createQueue(named: "dlq\(suffix)", attributes: queueAttributes)
        let written = try topic.subscribe(live)
        let throughString = try topic.subscribe(gone, attributes: SubscriptionAttributes(
            redrivePolicy: #"{"deadLetterTargetArn":"\#(dlq.arn)"}"#))
        try broker.deleteQueue(gone)
        for round in 0..<3 {
            let text = round == 0 ? "plain" : #"{"quoted":"é \u{1} \#(round)","n":\#(round)}"#
            try topic.publish(PublishRequest(message: text, subject: round == 2 ? "Subject" : nil,
                                             messageAttributes: ["kind": .string("k\(round)")],
                                             messageGroupId: fifo ? "g" : nil,
                                             messageDeduplicationId: fifo ? "d\(round)" : nil))
            let copy = try #require(try await live.receiveMessages(messageSystemAttributeNames: [.all]).first)
            let deadLetter = try #require(try await dlq.receiveMessages(messageSystemAttributeNames: [.all]).first)
            #expect(copy.body.replacingOccurrences(of: written.arn, with: throughString.arn) == deadLetter.body)
            #expect(copy.md5OfBody == MessageDigest.md5Hex(of: copy.body))
            #expect(copy.attributes[.messageGroupId] == (fifo ? "g" : nil))
            try live.deleteMessage(receiptHandle: copy.receiptHandle)
            try dlq.deleteMessage(receiptHandle: deadLetter.receiptHandle)
        }
    }

    @Test func envelopeBodiesOfOnePublishAreIndependentStrings() {
        let message = PublishedMessage(messageId: "id", timestamp: Date(timeIntervalSince1970: 0),
                                       formattedTimestamp: "1970-01-01T00:00:00.000Z",
                                       request: PublishRequest(message: "m"), structuredBodies: nil,
                                       sequenceNumber: nil, deduplicationId: nil)
        let envelope = Envelope(message: message, fragments: EnvelopeFragments(topicArn: "arn:t", region: "r"), fifo: false)
        var first = envelope.body(subscriptionArn: "one")
        let second = envelope.body(subscriptionArn: "two")
        first.append("!")
        #expect(second.hasSuffix("SubscriptionArn=two\"\n}"))
        #expect(first.hasSuffix("SubscriptionArn=one\"\n}!"))
        #expect(envelope.body(subscriptionArn: "") .contains("SubscriptionArn=\"\n}"))
    }

    @Test func signatureDecodesToThePlaceholderText() throws {
        for messageId in ["", "a", "ab", "abc", "7c3e1f0a-1b2c-4d5e-8f90-0123456789ab", "é日本"] {
            var bytes: [UInt8] = []
            PlaceholderSignature.append(messageId: messageId, to: &bytes)
            let decoded = try #require(Data(base64Encoded: Data(bytes)))
            #expect(String(decoding: decoded, as: UTF8.self) == "Broker placeholder signature, not signed by AWS: \(messageId)")
        }
    }

    @Test func base64EncoderMatchesFoundationForEveryLength() {
        var generator = SystemRandomNumberGenerator()
        for length in 0..<70 {
            let bytes = (0..<length).map { _ in UInt8.random(in: 0...255, using: &generator) }
            #expect(String(decoding: Base64.encode(bytes), as: UTF8.self) == Data(bytes).base64EncodedString())
        }
    }

    @Test func timestampCacheFollowsTheMillisecond() {
        var cache = SNSTimestampCache()
        var generator = SystemRandomNumberGenerator()
        var date = Date(timeIntervalSince1970: 1_700_000_000.1234)
        for _ in 0..<2_000 {
            // Steps below, at and above a millisecond, forwards and back.
            let steps: [TimeInterval] = [0, 0.0001, 0.0004, 0.001, 0.0016, 1, -0.0003, -0.002, 86_400]
            let step = steps.randomElement(using: &generator) ?? 0
            date = date.addingTimeInterval(step)
            #expect(cache.format(date) == SNSTimestamp.format(date))
        }
        for seconds in [-0.0005, -0.001, 0, 0.0005, 0.9995, 1] {
            let date = Date(timeIntervalSince1970: seconds)
            #expect(cache.format(date) == SNSTimestamp.format(date))
        }
        #expect(cache.format(Date(timeIntervalSince1970: 0.0001)) == "1970-01-01T00:00:00.000Z")
        #expect(cache.format(Date(timeIntervalSince1970: 0.0019)) == "1970-01-01T00:00:00.001Z")
        #expect(cache.format(Date(timeIntervalSince1970: -0.0001)) == "1969-12-31T23:59:59.999Z")
    }

    @Test func publishedEnvelopesCarryTheClocksTimestampAsItMoves() async throws {
        let (broker, clock) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        try topic.subscribe(queue)
        var expected: [String] = []
        for step in [0, 0.0002, 0.0009, 0.5, 0, 3_600] {
            clock.advance(by: .seconds(step))
            try topic.publish("m")
            expected.append(SNSTimestamp.format(clock.now))
        }
        var stamps: [String] = []
        while stamps.count < expected.count {
            let messages = try await queue.receiveMessages(maxNumberOfMessages: 10)
            if messages.isEmpty { break }
            for message in messages {
                let object = try #require(try JSONSerialization.jsonObject(with: Data(message.body.utf8)) as? [String: Any])
                stamps.append(try #require(object["Timestamp"] as? String))
            }
        }
        #expect(stamps.sorted() == expected.sorted())
    }

    // MARK: JSON quoting

    /// JSON quoting byte by byte, as the word-at-a-time writer must produce it.
    static func referenceQuoted(_ text: String) -> String {
        var out = "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{8}": out += "\\b"
            case "\u{C}": out += "\\f"
            default:
                if scalar.value < 0x20 {
                    out += "\\u00" + String(repeating: "0", count: scalar.value < 0x10 ? 1 : 0) + String(scalar.value, radix: 16)
                } else {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out + "\""
    }

    @Test func quotingMatchesAByteByByteEscaperForRandomText() throws {
        var generator = SystemRandomNumberGenerator()
        let controls = (0..<0x20).map { String(UnicodeScalar(UInt8($0))) }
        let pieces = controls + ["a", "xxxxxxxx", "\"", "\\", "é", "日本", "🎉", "\u{7F}", "/", "{\"k\":\"v\"}"]
        for length in 0..<400 {
            let text = (0..<(length % 90)).map { _ in pieces.randomElement(using: &generator) ?? "a" }.joined()
            var bytes: [UInt8] = [0xAA]  // appended after existing bytes, which stay as they were
            JSONText.appendQuoted(text, to: &bytes)
            #expect(bytes.first == 0xAA)
            let quoted = String(decoding: bytes.dropFirst(), as: UTF8.self)
            #expect(quoted == Self.referenceQuoted(text))
            let decoded = try JSONSerialization.jsonObject(with: Data(quoted.utf8), options: .fragmentsAllowed) as? String
            #expect(decoded == text)
        }
    }

    @Test func escapeMaskFlagsExactlyTheBytesToEscape() {
        var generator = SystemRandomNumberGenerator()
        let interesting: [UInt8] = [0x00, 0x01, 0x1F, 0x20, 0x21, 0x22, 0x23, 0x5B, 0x5C, 0x5D, 0x7F, 0x80, 0xA2, 0xDC, 0xE0, 0xFF]
        for _ in 0..<20_000 {
            let bytes = (0..<8).map { _ in interesting.randomElement(using: &generator) ?? 0 }
            let word = bytes.enumerated().reduce(UInt64(0)) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
            let expected = bytes.enumerated().reduce(UInt64(0)) { mask, entry in
                entry.element < 0x20 || entry.element == 0x22 || entry.element == 0x5C ? mask | 0x80 << (8 * UInt64(entry.offset)) : mask
            }
            #expect(JSONText.escapeMask(word) == expected)
        }
    }

    // MARK: Attribute digest and checks

    /// The digest as it was computed before: each field hashed from its own array.
    static func legacyMD5(_ attributes: [String: MessageAttributeValue]) -> String? {
        guard !attributes.isEmpty else { return nil }
        var md5 = MD5()
        func lengthPrefixed(_ bytes: [UInt8]) {
            let length = UInt32(bytes.count)
            md5.update([UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)])
            md5.update(bytes)
        }
        for name in attributes.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            guard let value = attributes[name] else { continue }
            lengthPrefixed(Array(name.utf8))
            lengthPrefixed(Array(value.dataType.utf8))
            if value.isBinary {
                md5.update([2])
                lengthPrefixed(Array(value.binaryValue ?? Data()))
            } else {
                md5.update([1])
                lengthPrefixed(Array((value.stringValue ?? "").utf8))
            }
        }
        return md5.finalize().hexString
    }

    @Test func attributeDigestMatchesKnownValuesAndTheLegacyComputation() {
        // Computed independently (Python's hashlib over AWS's encoding).
        #expect(MessageDigest.md5OfAttributes(["eventType": .string("order.created")]) == "0bcce9c2fdc1b04512231a25470d3b9b")
        #expect(MessageDigest.md5OfAttributes([
            "eventType": .string("order.created"), "amount": .number("12.5"),
            "blob": MessageAttributeValue(dataType: "Binary", binaryValue: Data([0, 1, 2, 255])),
        ]) == "ccb9e4920eb9335ce813ed1eef95baf7")
        #expect(MessageDigest.md5OfAttributes([:]) == nil)
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<300 {
            var attributes: [String: MessageAttributeValue] = [:]
            for index in 0..<Int.random(in: 1...10, using: &generator) {
                let name = "n\(Int.random(in: 0...999, using: &generator))" + (index % 3 == 0 ? "é" : "")
                attributes[name] = index % 2 == 0
                    ? .string(Self.randomText(&generator, maxLength: 40))
                    : MessageAttributeValue(dataType: "Binary.x", binaryValue: Data((0..<Int.random(in: 0...80, using: &generator)).map { UInt8($0 & 0xFF) }))
            }
            #expect(MessageDigest.md5OfAttributes(attributes) == Self.legacyMD5(attributes))
        }
    }

    @Test func sharedEnvelopeMatchesWhatEachCopyWouldBuild() {
        func parts(_ attributes: [String: MessageAttributeValue]) -> (CopyParts, PublishedMessage, EnvelopeFragments) {
            let message = PublishedMessage(messageId: "id", timestamp: Date(timeIntervalSince1970: 1),
                                           formattedTimestamp: SNSTimestamp.format(Date(timeIntervalSince1970: 1)),
                                           request: PublishRequest(message: "m", messageAttributes: attributes),
                                           structuredBodies: nil, sequenceNumber: nil, deduplicationId: nil)
            let fragments = EnvelopeFragments(topicArn: "arn:aws:sns:us-east-1:000000000000:t", region: "us-east-1")
            return (CopyParts(message: message, fragments: fragments, fifo: false), message, fragments)
        }
        let attributes: [String: MessageAttributeValue] = ["a": .string("x"), "b": .number(3)]
        var (shared, message, fragments) = parts(attributes)
        for _ in 0..<2 {
            #expect(shared.envelope.body(subscriptionArn: "s")
                    == Envelope(message: message, fragments: fragments, fifo: false).body(subscriptionArn: "s"))
        }
    }

    /// The name rule written plainly, character by character: letters and digits of any script, `_`, `-`, `.`.
    static func plainNameIsValid(_ name: String) -> Bool {
        func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
            if scalar.isASCII {
                return ("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar)
                    || scalar == "_" || scalar == "-" || scalar == "."
            }
            return scalar.properties.isAlphabetic || scalar.properties.numericType == .decimal
        }
        let lowered = name.lowercased()
        return !name.isEmpty && name.utf8.count <= 256
            && name.unicodeScalars.allSatisfy(isAllowed)
            && !name.hasPrefix(".") && !name.hasSuffix(".") && !name.contains("..")
            && !lowered.hasPrefix("aws.") && !lowered.hasPrefix("amazon.")
    }

    @Test func singlePassAttributeNameRuleMatchesItsPlainStatement() {
        var generator = SystemRandomNumberGenerator()
        let pieces = ["a", "Z", "9", ".", "_", "-", "é", "ø", "ß", "§", "€", "٣", "名", " ", "AWS", "aws", "Amazon", "x.y", "\u{1}"]
        var names = ["", ".", "a", "a.", ".a", "a..b", "a.b", "AWS.x", "aws.x", "Aws", "amazon.", "Amazon.x", "AmazonX",
                     String(repeating: "a", count: 256), String(repeating: "a", count: 257)]
        for _ in 0..<5_000 {
            names.append((0..<Int.random(in: 1...6, using: &generator)).map { _ in pieces.randomElement(using: &generator) ?? "a" }.joined())
        }
        for name in names {
            let valid = (try? MessageValidation.validateAttributeName(name)) != nil
            #expect(valid == Self.plainNameIsValid(name), "\(name)")
        }
    }

    @Test func snsBaseTypeIsTheFirstPartOfTheType() {
        for type in ["String", "Number", "Binary", "String.Array", "Number.x.y", ".String", "..Binary.z", "String.", "", ".", "Text",
                     "string", "StringX", "Binary..", "日本.x"] {
            #expect(SNSAttributes.baseType(type) == (type.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""))
        }
    }

    /// What a trusted copy (attributes SNS accepted) skips must never change the outcome: the same error, or the
    /// same size and digest, as SQS's full checks.
    @Test func trustedCopiesFailOrPassExactlyAsFullChecksWould() throws {
        let (broker, _) = makeBroker()
        let core = try broker.createQueue(named: "q").core
        var generator = SystemRandomNumberGenerator()
        let types = ["String", "Number", "Binary", "String.custom", "Number.int", "Binary.gz", ".String", "String.", "String.Array",
                     "Number..", "Binary.", "String." + String(repeating: "x", count: 260), "String.\u{1}", "String.é"]
        let texts = ["x", "12", "-3.5e7", "order.created", "bad\u{1}", "\u{FFFE}", "tab\there", "[\"a\",1]", "é", " 7 ", "1e300"]
        var compared = 0
        for _ in 0..<3_000 {
            var attributes: [String: MessageAttributeValue] = [:]
            for index in 0..<Int.random(in: 0...12, using: &generator) {
                let type = types.randomElement(using: &generator) ?? "String"
                attributes["a\(index)"] = type.hasPrefix("Binary")
                    ? MessageAttributeValue(dataType: type, binaryValue: Data([UInt8(index)]))
                    : MessageAttributeValue(dataType: type, stringValue: texts.randomElement(using: &generator))
            }
            // Only what a topic accepts reaches a trusted copy.
            guard (try? SNSAttributes.validate(attributes)) != nil else { continue }
            compared += 1
            let request = SendMessageRequest(body: "body", messageAttributes: attributes)
            let full = Result { () throws(BrokerError) in try core.prepare(request) }
            let trusted = Result { () throws(BrokerError) in try core.prepare(request, trusted: true) }
            switch (full, trusted) {
            case let (.success(a), .success(b)):
                #expect(a.size == b.size)
                #expect(a.delaySeconds == b.delaySeconds)
            case let (.failure(a), .failure(b)):
                #expect(a == b)
            default:
                Issue.record("full checks \(full), trusted \(trusted) for \(attributes)")
            }
        }
        #expect(compared > 500)
    }

    @Test func rawCopiesOfAttributesOnlySQSRefusesAreDropped() throws {
        // (`String.` and `.Number`, which SQS refuses too, are refused by the publish itself: TopicPublishTests.)
        for attributes: [String: MessageAttributeValue] in [
            ["a": .string("bad\u{1}")],
        ] {
            let (broker, _) = makeBroker()
            let topic = try broker.createTopic(named: "t")
            let raw = try broker.createQueue(named: "raw")
            let wrapped = try broker.createQueue(named: "wrapped")
            let rawSubscription = try topic.subscribe(raw, attributes: SubscriptionAttributes(rawMessageDelivery: true))
            try topic.subscribe(wrapped)
            try topic.publish("m", messageAttributes: attributes)
            #expect(try rawSubscription.statistics().dropped == 1)
            #expect(try raw.statistics().approximateNumberOfMessages == 0)
            // The envelope carries attributes in its body, not as SQS attributes: it is delivered.
            #expect(try wrapped.statistics().approximateNumberOfMessages == 1)
        }
    }

    @Test func rawCopiesCarryTheSharedDigest() async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let attributes: [String: MessageAttributeValue] = ["eventType": .string("order.created"), "n": .number(7)]
        var queues: [Queue] = []
        for index in 0..<3 {
            let queue = try broker.createQueue(named: "raw\(index)")
            try topic.subscribe(queue, attributes: SubscriptionAttributes(rawMessageDelivery: true))
            queues.append(queue)
        }
        let wrapped = try broker.createQueue(named: "wrapped")
        try topic.subscribe(wrapped)
        try topic.publish("m", messageAttributes: attributes)
        for queue in queues {
            let message = try #require(try await queue.receiveMessages(messageAttributeNames: ["All"]).first)
            #expect(message.md5OfMessageAttributes == MessageDigest.md5OfAttributes(attributes))
            #expect(message.messageAttributes == attributes)
        }
        let envelope = try #require(try await wrapped.receiveMessages(messageAttributeNames: ["All"]).first)
        #expect(envelope.md5OfMessageAttributes == nil)
    }
}

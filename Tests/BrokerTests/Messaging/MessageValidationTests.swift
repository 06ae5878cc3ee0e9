import Foundation
import Testing

@testable import Broker

/// SendMessage and the batch calls: what SQS accepts and the error code of everything it rejects, plus the MD5
/// digests SDKs verify. Expected digests were computed with Python's `hashlib` following the reference's §3.4.
struct MessageValidationTests {
    static let maximumSize = 1_048_576

    private func makeQueue(_ attributes: QueueAttributes = QueueAttributes()) throws -> (Queue, ManualClock) {
        let (broker, clock) = makeBroker()
        return (try broker.createQueue(named: "validation", attributes: attributes), clock)
    }

    private func body(_ prefix: String, scalar value: UInt32, _ suffix: String) throws -> String {
        let scalar = try #require(Unicode.Scalar(value))
        var text = prefix
        text.unicodeScalars.append(scalar)
        return text + suffix
    }

    // MARK: Body

    @Test func emptyBodyIsMissingParameter() throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.missingParameter) { try queue.sendMessage("") }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test(arguments: [0x0000, 0x0008, 0x000B, 0xFFFE, 0xFFFF] as [UInt32])
    func bodyWithCharacterOutsideXMLSetIsInvalidMessageContents(_ value: UInt32) throws {
        let (queue, _) = try makeQueue()
        let text = try body("a", scalar: value, "b")
        expectBrokerError(.invalidMessageContents) { try queue.sendMessage(text) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    /// The scan reads eight bytes at a time: a bad character is found at every offset within a word, after a run
    /// of printable ASCII, and allowed ones (tab, LF, CR, U+FFFD) are not mistaken for it.
    @Test(arguments: [0x0000, 0x0001, 0x001F, 0xFFFE, 0xFFFF] as [UInt32])
    func characterOutsideXMLSetIsFoundAtEveryOffset(_ value: UInt32) throws {
        let scalar = try #require(Unicode.Scalar(value))
        for offset in 0..<24 {
            let bad = String(repeating: "x", count: offset) + String(Character(scalar)) + String(repeating: "y", count: 20)
            #expect(!MessageValidation.hasOnlyAllowedCharacters(bad), "offset \(offset)")
            let good = String(repeating: "x", count: offset) + "\t\n\r\u{FFFD}~ " + String(repeating: "y", count: 20)
            #expect(MessageValidation.hasOnlyAllowedCharacters(good), "offset \(offset)")
        }
    }

    @Test(arguments: [0x0009, 0x000A, 0x000D, 0x0020, 0xD7FF, 0xE000, 0xFFFD, 0x10000, 0x10FFFF] as [UInt32])
    func bodyWithEdgeCharacterOfXMLSetIsAcceptedAndReturnedUnchanged(_ value: UInt32) async throws {
        let (queue, _) = try makeQueue()
        let text = try body("a", scalar: value, "b")
        try queue.sendMessage(text)
        let received = try await MessageTestKit.receiveNow(queue)
        #expect(received.map(\.body) == [text])
    }

    @Test func bodyMadeOfOneAllowedControlCharacterIsAccepted() throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("\t")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    // MARK: Size

    @Test func messageOfExactlyMaximumMessageSizeIsAccepted() throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage(String(repeating: "a", count: Self.maximumSize))
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func messageOneByteOverMaximumMessageSizeIsInvalidParameterValue() throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage(String(repeating: "a", count: Self.maximumSize + 1)) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func sizeCountsAttributeNamesTypesAndValues() throws {
        let (queue, _) = try makeQueue()
        // "k" + "String" + "v" = 8 bytes; "b" + "Binary" + 4 bytes = 11 bytes.
        let attributes: [String: MessageAttributeValue] = ["k": .string("v"), "b": .binary(Data([0, 1, 2, 3]))]
        try queue.sendMessage(String(repeating: "a", count: Self.maximumSize - 19), messageAttributes: attributes)
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage(String(repeating: "a", count: Self.maximumSize - 18), messageAttributes: attributes)
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func multiByteAttributeValueCountsItsUTF8Bytes() throws {
        let (queue, _) = try makeQueue(QueueAttributes(maximumMessageSize: 1_024))
        // "k" + "String" + "€€" (6 bytes, 2 characters) = 13 bytes.
        let attributes: [String: MessageAttributeValue] = ["k": .string("€€")]
        try queue.sendMessage(String(repeating: "a", count: 1_024 - 13), messageAttributes: attributes)
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage(String(repeating: "a", count: 1_024 - 12), messageAttributes: attributes)
        }
    }

    @Test func multiByteBodyUnderLimitInCharactersButOverInBytesIsRejected() throws {
        let (queue, _) = try makeQueue()
        let characters = Self.maximumSize / 2 + 1
        let text = String(repeating: "é", count: characters)
        #expect(text.count < Self.maximumSize)
        #expect(text.utf8.count > Self.maximumSize)
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage(text) }
        // Exactly the limit in bytes is fine.
        try queue.sendMessage(String(repeating: "é", count: Self.maximumSize / 2))
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func lowerMaximumMessageSizeOfQueueIsHonoured() throws {
        let (queue, _) = try makeQueue(QueueAttributes(maximumMessageSize: 1_024))
        try queue.sendMessage(String(repeating: "a", count: 1_024))
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage(String(repeating: "a", count: 1_025)) }
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage(String(repeating: "a", count: 1_000), messageAttributes: ["attribute": .string(String(repeating: "v", count: 10))])
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test func maximumMessageSizeLoweredLaterIsHonoured() throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage(String(repeating: "a", count: 2_000))
        try queue.setAttributes(QueueAttributes(maximumMessageSize: 1_024))
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage(String(repeating: "a", count: 2_000)) }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    // MARK: Message attributes

    @Test func tenMessageAttributesAreAcceptedElevenAreInvalidParameterValue() throws {
        let (queue, _) = try makeQueue()
        var attributes: [String: MessageAttributeValue] = [:]
        for index in 0..<10 { attributes["a\(index)"] = .string("v") }
        try queue.sendMessage("ten", messageAttributes: attributes)
        attributes["a10"] = .string("v")
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("eleven", messageAttributes: attributes) }
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test(arguments: ["a.b", "A-b_9", "x", "aws", "awsx.y", "amazonx.y", "aw.s", String(repeating: "n", count: 256),
                      "attr.1øßä", "öther_encodings", "名前", "x٣"])
    func validAttributeNameIsAccepted(_ name: String) throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("body", messageAttributes: [name: .string("v")])
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test(arguments: [".a", "a.", "a..b", "AWS.x", "aws.x", "amazon.y", "Amazon.y", "aWs.x", "AMAZON.y", "a b", "a/b",
                      String(repeating: "n", count: 257), "Invalid-§-attr", "a€b", "ø..x", "ø.", "a\u{00A0}b"])
    func invalidAttributeNameIsInvalidParameterValue(_ name: String) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("body", messageAttributes: [name: .string("v")]) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test(arguments: [
        MessageAttributeValue.string("x"),
        .number("7"),
        .binary(Data([1, 2])),
        MessageAttributeValue(dataType: "String.custom", stringValue: "x"),
        MessageAttributeValue(dataType: "Number.int", stringValue: "7"),
        MessageAttributeValue(dataType: "Binary.gzip", binaryValue: Data([1])),
    ])
    func attributeOfValidDataTypeIsAcceptedAndReturned(_ value: MessageAttributeValue) async throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("body", messageAttributes: ["attr": value])
        let received = try await MessageTestKit.receiveNow(queue, messageAttributeNames: ["All"])
        #expect(received.first?.messageAttributes == ["attr": value])
    }

    @Test(arguments: [
        MessageAttributeValue(dataType: "Str", stringValue: "x"),
        MessageAttributeValue(dataType: "String.", stringValue: "x"),
        MessageAttributeValue(dataType: "", stringValue: "x"),
        MessageAttributeValue(dataType: "Integer", stringValue: "1"),
    ])
    func attributeOfInvalidDataTypeIsInvalidParameterValue(_ value: MessageAttributeValue) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("body", messageAttributes: ["attr": value]) }
    }

    @Test(arguments: [
        MessageAttributeValue.string(""),
        .number(""),
        .binary(Data()),
        MessageAttributeValue(dataType: "String"),
        MessageAttributeValue(dataType: "Binary"),
        MessageAttributeValue(dataType: "Binary", stringValue: "text instead of bytes"),
    ])
    func attributeWithEmptyOrMissingValueIsInvalidParameterValue(_ value: MessageAttributeValue) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("body", messageAttributes: ["attr": value]) }
    }

    @Test(arguments: ["String", "Number", "String.custom"], [0x0008, 0x000B, 0xFFFF] as [UInt32])
    func attributeValueWithCharacterOutsideXMLSetIsInvalidParameterValue(_ type: String, _ value: UInt32) throws {
        let (queue, _) = try makeQueue()
        let text = try body("Invalid-", scalar: value, "-1")
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage("body", messageAttributes: ["attr": MessageAttributeValue(dataType: type, stringValue: text)])
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test(arguments: ["1", "-1.5", "1e10", "0", "0.000001", String(repeating: "9", count: 38)])
    func validNumberAttributeIsAccepted(_ number: String) throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("body", messageAttributes: ["n": .number(number)])
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
    }

    @Test(arguments: ["abc", "1.2.3", "1e", "--1", "123456789012345678901234567890123456789"])
    func invalidNumberAttributeIsInvalidParameterValue(_ number: String) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("body", messageAttributes: ["n": .number(number)]) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    // MARK: System attributes

    static let traceHeader = "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=1"

    @Test func awsTraceHeaderSystemAttributeIsAcceptedAndReturned() async throws {
        let (queue, _) = try makeQueue()
        let result = try queue.sendMessage(SendMessageRequest(
            body: "traced", messageSystemAttributes: ["AWSTraceHeader": .string(Self.traceHeader)]))
        #expect(result.md5OfMessageSystemAttributes == "5f48eef650c1d0207456969c85af2fdd")
        let received = try #require(try await MessageTestKit.receiveNow(queue, system: [.awsTraceHeader]).first)
        #expect(received.attributes == [.awsTraceHeader: Self.traceHeader])
        // The trace header is a system attribute, never a user one.
        #expect(received.messageAttributes.isEmpty)
        #expect(received.md5OfMessageAttributes == nil)
    }

    @Test(arguments: ["SenderId", "SentTimestamp", "ApproximateReceiveCount", "MessageGroupId", "Custom"])
    func systemAttributeOtherThanAWSTraceHeaderIsInvalidParameterValue(_ name: String) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) {
            try queue.sendMessage(SendMessageRequest(body: "b", messageSystemAttributes: [name: .string("v")]))
        }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    // MARK: Per-message delay

    @Test(arguments: [0, 1, 900])
    func perMessageDelaySecondsInRangeIsAccepted(_ seconds: Int) throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("delayed", delaySeconds: .seconds(seconds))
        let statistics = try queue.statistics()
        #expect(statistics.approximateNumberOfMessages + statistics.approximateNumberOfMessagesDelayed == 1)
        #expect(statistics.approximateNumberOfMessagesDelayed == (seconds > 0 ? 1 : 0))
    }

    @Test(arguments: [901, -1])
    func perMessageDelaySecondsOutOfRangeIsInvalidParameterValue(_ seconds: Int) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidParameterValue) { try queue.sendMessage("delayed", delaySeconds: .seconds(seconds)) }
        #expect(try queue.statistics() == QueueStatistics(approximateNumberOfMessages: 0, approximateNumberOfMessagesNotVisible: 0,
                                                          approximateNumberOfMessagesDelayed: 0, oldestMessageAge: nil))
    }

    // MARK: Digests

    @Test func md5OfMessageBodyIsTheMD5OfTheUTF8Body() throws {
        let (queue, _) = try makeQueue()
        #expect(try queue.sendMessage("hello").md5OfMessageBody == "5d41402abc4b2a76b9719d911017c592")
        #expect(try queue.sendMessage("héllo 🎉").md5OfMessageBody == "38f29b0cfd3851fc66183ff1efa4b009")
    }

    @Test func md5OfMessageAttributesFollowsAWSEncoding() throws {
        let (queue, _) = try makeQueue()
        let result = try queue.sendMessage("hello", messageAttributes: ["baz": .string("qux")])
        #expect(result.md5OfMessageAttributes == "16bd0283a5b4962721ccd3efe4bc6257")
    }

    @Test func messageWithoutAttributesHasNoAttributeDigests() async throws {
        let (queue, _) = try makeQueue()
        let result = try queue.sendMessage("plain")
        #expect(result.md5OfMessageAttributes == nil)
        #expect(result.md5OfMessageSystemAttributes == nil)
        let received = try #require(try await MessageTestKit.receiveNow(queue, messageAttributeNames: ["All"]).first)
        #expect(received.md5OfMessageAttributes == nil)
        #expect(received.messageAttributes.isEmpty)
    }

    @Test func binaryAttributeDigestUsesTransportTypeTwo() throws {
        let (queue, _) = try makeQueue()
        let result = try queue.sendMessage("hello", messageAttributes: ["blob": .binary(Data([0x00, 0x01, 0x02, 0xFF]))])
        #expect(result.md5OfMessageAttributes == "3b1b4028306ffa157a32d5916f8f714b")
    }

    @Test func attributeDigestSortsAttributesByName() throws {
        let (queue, _) = try makeQueue()
        let result = try queue.sendMessage("hello", messageAttributes: MessageTestKit.mixedAttributes)
        #expect(result.md5OfMessageAttributes == MessageTestKit.mixedAttributesMD5)
    }

    @Test func receivedMessageCarriesTheDigestsOfTheSend() async throws {
        let (queue, _) = try makeQueue()
        let sent = try queue.sendMessage("hello", messageAttributes: MessageTestKit.mixedAttributes)
        let received = try #require(try await MessageTestKit.receiveNow(queue, messageAttributeNames: ["All"]).first)
        #expect(received.messageId == sent.messageId)
        #expect(received.md5OfBody == sent.md5OfMessageBody)
        #expect(received.md5OfBody == "5d41402abc4b2a76b9719d911017c592")
        #expect(received.md5OfMessageAttributes == sent.md5OfMessageAttributes)
        #expect(received.messageAttributes == MessageTestKit.mixedAttributes)
    }

    @Test func receivingSubsetOfAttributesGivesDigestOfThatSubset() async throws {
        let (queue, _) = try makeQueue()
        try queue.sendMessage("hello", messageAttributes: MessageTestKit.mixedAttributes)

        let two = try #require(try await MessageTestKit.receiveNow(queue, visibility: .zero, messageAttributeNames: ["baz", "n"]).first)
        #expect(Set(two.messageAttributes.keys) == ["baz", "n"])
        #expect(two.md5OfMessageAttributes == "6456090f569ccbd8b659b36c5dfdae42")

        let one = try #require(try await MessageTestKit.receiveNow(queue, visibility: .zero, messageAttributeNames: ["baz"]).first)
        #expect(one.md5OfMessageAttributes == "16bd0283a5b4962721ccd3efe4bc6257")

        let none = try #require(try await MessageTestKit.receiveNow(queue, visibility: .zero).first)
        #expect(none.messageAttributes.isEmpty)
        #expect(none.md5OfMessageAttributes == nil)
    }

    // MARK: Batches: request-level errors

    enum BatchKind: String, CaseIterable, Sendable {
        case sendMessageBatch
        case deleteMessageBatch
        case changeMessageVisibilityBatch

        func call(_ queue: Queue, ids: [String]) throws {
            switch self {
            case .sendMessageBatch:
                _ = try queue.sendMessageBatch(ids.map { SendMessageBatchRequestEntry(id: $0, body: "body") })
            case .deleteMessageBatch:
                _ = try queue.deleteMessageBatch(ids.map { DeleteMessageBatchRequestEntry(id: $0, receiptHandle: "handle") })
            case .changeMessageVisibilityBatch:
                _ = try queue.changeMessageVisibilityBatch(ids.map {
                    ChangeMessageVisibilityBatchRequestEntry(id: $0, receiptHandle: "handle", visibilityTimeout: .seconds(10))
                })
            }
        }
    }

    @Test(arguments: BatchKind.allCases)
    func batchWithNoEntriesIsEmptyBatchRequestNamingItsOwnEntryType(_ kind: BatchKind) throws {
        let (queue, _) = try makeQueue()
        let error = expectBrokerError(.emptyBatchRequest) { try kind.call(queue, ids: []) }
        let entryType = switch kind {
        case .sendMessageBatch: "SendMessageBatchRequestEntry"
        case .deleteMessageBatch: "DeleteMessageBatchRequestEntry"
        case .changeMessageVisibilityBatch: "ChangeMessageVisibilityBatchRequestEntry"
        }
        #expect(error?.message == "There should be at least one \(entryType) in the request.")
    }

    @Test(arguments: BatchKind.allCases)
    func batchWithElevenEntriesIsTooManyEntriesInBatchRequest(_ kind: BatchKind) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.tooManyEntriesInBatchRequest) { try kind.call(queue, ids: (0..<11).map { "e\($0)" }) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test(arguments: BatchKind.allCases)
    func batchWithRepeatedIdIsBatchEntryIdsNotDistinct(_ kind: BatchKind) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.batchEntryIdsNotDistinct) { try kind.call(queue, ids: ["a", "b", "a"]) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    /// Ids are compared by fingerprint first; equal ones must still be caught wherever they sit, and ids that
    /// differ in one character only must not be.
    @Test(arguments: BatchKind.allCases, [0, 4, 8])
    func batchWithRepeatedLongIdIsBatchEntryIdsNotDistinct(_ kind: BatchKind, _ first: Int) throws {
        let (queue, _) = try makeQueue()
        var ids = (0..<10).map { "entry-\($0)-" + String(repeating: "x", count: 60) }
        ids[9] = ids[first]
        expectBrokerError(.batchEntryIdsNotDistinct) { try kind.call(queue, ids: ids) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func batchWithIdsDifferingInTheirLastCharacterIsAccepted() throws {
        let (queue, _) = try makeQueue()
        let stem = String(repeating: "id_", count: 26)
        let result = try queue.sendMessageBatch(["a", "b", "A", "B", "-", "_", "0", "9", "z", "Z"].map {
            SendMessageBatchRequestEntry(id: stem + $0, body: "m")
        })
        #expect(result.failed.isEmpty)
        #expect(result.successful.count == 10)
    }

    @Test(arguments: BatchKind.allCases, ["", String(repeating: "i", count: 81), "a.b", "a b", "é"])
    func batchWithMalformedIdIsInvalidBatchEntryId(_ kind: BatchKind, _ id: String) throws {
        let (queue, _) = try makeQueue()
        expectBrokerError(.invalidBatchEntryId) { try kind.call(queue, ids: ["ok", id]) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func sendBatchOfTenEntriesWithLongestIdsSendsAll() throws {
        let (queue, _) = try makeQueue()
        let ids = (0..<10).map { String(String(repeating: "A-_9", count: 20).dropLast(1)) + String($0) }
        #expect(ids.allSatisfy { $0.count == 80 })
        let result = try queue.sendMessageBatch(ids.map { SendMessageBatchRequestEntry(id: $0, body: "m") })
        #expect(result.failed.isEmpty)
        #expect(result.successful.map(\.id) == ids)
        #expect(try queue.statistics().approximateNumberOfMessages == 10)
    }

    @Test func sendBatchLongerThanOneMebibyteIsBatchRequestTooLong() throws {
        let (queue, _) = try makeQueue()
        let entries = [
            SendMessageBatchRequestEntry(id: "a", body: String(repeating: "a", count: 600_000)),
            SendMessageBatchRequestEntry(id: "b", body: String(repeating: "b", count: 600_000)),
        ]
        expectBrokerError(.batchRequestTooLong) { _ = try queue.sendMessageBatch(entries) }
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test func sendBatchOfExactlyOneMebibyteIsAccepted() throws {
        let (queue, _) = try makeQueue()
        let entries = [
            SendMessageBatchRequestEntry(id: "a", body: String(repeating: "a", count: Self.maximumSize / 2)),
            SendMessageBatchRequestEntry(id: "b", body: String(repeating: "b", count: Self.maximumSize / 2)),
        ]
        let result = try queue.sendMessageBatch(entries)
        #expect(result.failed.isEmpty)
        #expect(try queue.statistics().approximateNumberOfMessages == 2)
    }

    // MARK: Batches: per-entry outcomes

    @Test func invalidSendBatchEntriesFailWithTheirCodesWhileValidOnesAreSent() async throws {
        let (queue, _) = try makeQueue()
        var tooMany: [String: MessageAttributeValue] = [:]
        for index in 0..<11 { tooMany["a\(index)"] = .string("v") }
        let entries = [
            SendMessageBatchRequestEntry(id: "first", body: "one", messageAttributes: ["baz": .string("qux")]),
            SendMessageBatchRequestEntry(id: "empty", body: ""),
            SendMessageBatchRequestEntry(id: "control", body: "bad\u{0}"),
            SendMessageBatchRequestEntry(id: "attributes", body: "b", messageAttributes: tooMany),
            SendMessageBatchRequestEntry(id: "delay", body: "b", delaySeconds: .seconds(901)),
            SendMessageBatchRequestEntry(id: "system", message: SendMessageRequest(
                body: "b", messageSystemAttributes: ["SenderId": .string("x")])),
            SendMessageBatchRequestEntry(id: "last", body: "two"),
        ]
        let result = try queue.sendMessageBatch(entries)
        #expect(result.successful.map(\.id) == ["first", "last"])
        #expect(result.result(for: "first")?.md5OfMessageBody == MessageDigest.md5Hex(of: "one"))
        #expect(result.result(for: "first")?.md5OfMessageAttributes == "16bd0283a5b4962721ccd3efe4bc6257")
        #expect(result.failed.map(\.id) == ["empty", "control", "attributes", "delay", "system"])
        #expect(result.failure(for: "empty")?.code == "MissingParameter")
        #expect(result.failure(for: "control")?.code == "InvalidMessageContents")
        #expect(result.failure(for: "attributes")?.code == "InvalidParameterValue")
        #expect(result.failure(for: "delay")?.code == "InvalidParameterValue")
        #expect(result.failure(for: "system")?.code == "InvalidParameterValue")
        #expect(result.failed.allSatisfy { $0.senderFault })
        #expect(result.failed.allSatisfy { !$0.message.isEmpty })

        let received = try await MessageTestKit.receiveNow(queue)
        #expect(Set(received.map(\.body)) == ["one", "two"])
        #expect(Set(received.map(\.messageId)) == Set(result.successful.map(\.result.messageId)))
    }

    @Test func sendBatchReportsFailuresInEntryOrderWhicheverCheckFoundThem() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "validation", attributes: QueueAttributes(maximumMessageSize: 1_024))
        // "too-big" passes the checks made outside the queue's lock and fails under it (the queue's own size limit);
        // "control" and "empty" fail before it.
        let entries = [
            SendMessageBatchRequestEntry(id: "first", body: "one"),
            SendMessageBatchRequestEntry(id: "too-big", body: String(repeating: "b", count: 1_025)),
            SendMessageBatchRequestEntry(id: "control", body: "\u{0}"),
            SendMessageBatchRequestEntry(id: "second", body: "two"),
            SendMessageBatchRequestEntry(id: "empty", body: ""),
        ]
        let result = try queue.sendMessageBatch(entries)
        #expect(result.successful.map(\.id) == ["first", "second"])
        #expect(result.failed.map(\.id) == ["too-big", "control", "empty"])
        #expect(result.failed.map(\.code) == ["InvalidParameterValue", "InvalidMessageContents", "MissingParameter"])
        let received = try await queue.receiveMessages(maxNumberOfMessages: 10)
        #expect(received.map(\.body) == ["one", "two"])
    }

    @Test func oversizedEntryOfSendBatchFailsAloneWhenTheBatchFits() throws {
        let (queue, _) = try makeQueue(QueueAttributes(maximumMessageSize: 1_024))
        let result = try queue.sendMessageBatch([
            SendMessageBatchRequestEntry(id: "small", body: "fits"),
            SendMessageBatchRequestEntry(id: "big", body: String(repeating: "x", count: 1_025)),
        ])
        #expect(result.successful.map(\.id) == ["small"])
        #expect(result.failure(for: "big")?.code == "InvalidParameterValue")
    }

    @Test func deleteBatchDeletesGoodHandlesAndReportsMalformedOnes() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        let other = try broker.createQueue(named: "other")
        try queue.sendMessage("one")
        try queue.sendMessage("two")
        try queue.sendMessage("three")
        try other.sendMessage("foreign")
        let received = try await MessageTestKit.receiveNow(queue)
        let foreign = try #require(try await MessageTestKit.receiveNow(other).first)
        #expect(received.count == 3)

        let result = try queue.deleteMessageBatch([
            DeleteMessageBatchRequestEntry(id: "a", receiptHandle: received[0].receiptHandle),
            DeleteMessageBatchRequestEntry(id: "garbage", receiptHandle: "not-a-receipt-handle"),
            DeleteMessageBatchRequestEntry(id: "b", receiptHandle: received[1].receiptHandle),
            DeleteMessageBatchRequestEntry(id: "foreign", receiptHandle: foreign.receiptHandle),
        ])
        #expect(result.successful.map(\.id) == ["a", "b"])
        #expect(result.failed.map(\.id) == ["garbage", "foreign"])
        #expect(result.failed.allSatisfy { $0.code == "ReceiptHandleIsInvalid" })
        let statistics = try queue.statistics()
        #expect(statistics.approximateNumberOfMessagesNotVisible == 1)
        #expect(statistics.approximateNumberOfMessages == 0)
        #expect(try other.statistics().approximateNumberOfMessagesNotVisible == 1)
    }

    @Test func changeVisibilityBatchAppliesGoodEntriesAndReportsBadOnes() async throws {
        let (queue, clock) = try makeQueue()
        for body in ["one", "two", "three"] { try queue.sendMessage(body) }
        let received = try await MessageTestKit.receiveNow(queue, visibility: .seconds(30))
        #expect(received.count == 3)

        let result = try queue.changeMessageVisibilityBatch([
            ChangeMessageVisibilityBatchRequestEntry(id: "release", receiptHandle: received[0].receiptHandle, visibilityTimeout: .zero),
            ChangeMessageVisibilityBatchRequestEntry(id: "garbage", receiptHandle: "xyz", visibilityTimeout: .seconds(10)),
            ChangeMessageVisibilityBatchRequestEntry(id: "extend", receiptHandle: received[1].receiptHandle, visibilityTimeout: .seconds(120)),
            ChangeMessageVisibilityBatchRequestEntry(id: "tooLong", receiptHandle: received[2].receiptHandle, visibilityTimeout: .seconds(43_201)),
        ])
        #expect(result.successful.map(\.id) == ["release", "extend"])
        #expect(result.failure(for: "garbage")?.code == "ReceiptHandleIsInvalid")
        #expect(result.failure(for: "tooLong")?.code == "InvalidParameterValue")

        var statistics = try queue.statistics()
        #expect(statistics.approximateNumberOfMessages == 1)
        #expect(statistics.approximateNumberOfMessagesNotVisible == 2)
        // "three" kept its 30 s; "two" was extended to 120 s.
        clock.advance(by: .seconds(30))
        statistics = try queue.statistics()
        #expect(statistics.approximateNumberOfMessages == 2)
        #expect(statistics.approximateNumberOfMessagesNotVisible == 1)
        clock.advance(by: .seconds(90))
        #expect(try queue.statistics().approximateNumberOfMessages == 3)
    }
}

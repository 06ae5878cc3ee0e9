import NIOCore

/// The inputs of the hottest SQS operations as small structs, read from an AWS JSON 1.0 body without a dictionary of
/// ``WireValue``s: building, hashing and reading those fields back was a fifth of a request's time on the server.
///
/// Each reader takes only the plainest form of its request: an object whose members are all declared for the
/// operation and that the fast path handles (a `MessageAttributes` member, for instance, is not), every value of its
/// declared type, and every member the general path would require present, plus `QueueUrl`. Anything else gives nil
/// and the request goes the general way (``JSONDirectDecoder``, then the strict parser), which accepts or refuses it
/// and words every error as before. So a reader has to be right about what it takes, never about how to refuse, and
/// whatever it takes the general path takes too, to the same values.
enum TypedInput {
    /// SendMessage without message attributes.
    struct SendMessage: Equatable {
        var queueUrl: String
        var message: Message
    }

    /// The fields of one message to send, shared by SendMessage and an entry of SendMessageBatch.
    struct Message: Equatable {
        var body: String
        var delaySeconds: Int?
        var messageGroupId: String?
        var messageDeduplicationId: String?
    }

    /// SendMessageBatch whose entries have no message attributes.
    struct SendMessageBatch: Equatable {
        var queueUrl: String
        var entries: [(id: String, message: Message)]

        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.queueUrl == rhs.queueUrl && lhs.entries.elementsEqual(rhs.entries) { $0.id == $1.id && $0.message == $1.message }
        }
    }

    /// ReceiveMessage, every member of it.
    struct ReceiveMessage: Equatable {
        var queueUrl: String
        var attributeNames: [String] = []
        var messageSystemAttributeNames: [String] = []
        var messageAttributeNames: [String] = []
        var maxNumberOfMessages: Int?
        var visibilityTimeout: Int?
        var waitTimeSeconds: Int?
        var receiveRequestAttemptId: String?
    }

    /// DeleteMessage.
    struct DeleteMessage: Equatable {
        var queueUrl: String
        var receiptHandle: String
    }

    /// DeleteMessageBatch.
    struct DeleteMessageBatch: Equatable {
        var queueUrl: String
        var entries: [(id: String, receiptHandle: String)]

        static func == (lhs: Self, rhs: Self) -> Bool {
            lhs.queueUrl == rhs.queueUrl && lhs.entries.elementsEqual(rhs.entries) { $0 == $1 }
        }
    }

    // MARK: Readers

    static func sendMessage(_ body: ByteBuffer) -> SendMessage? {
        read(body) { decoder in
            var queueUrl: String?
            var message = PartialMessage()
            guard decoder.members({ decoder, key in
                if key.is("QueueUrl") { return decoder.string().map { queueUrl = $0 } != nil }
                return message.read(key, from: &decoder)
            }), let queueUrl, let message = message.complete else { return nil }
            return SendMessage(queueUrl: queueUrl, message: message)
        }
    }

    static func sendMessageBatch(_ body: ByteBuffer) -> SendMessageBatch? {
        read(body) { decoder in
            var queueUrl: String?
            var entries: [(id: String, message: Message)]?
            guard decoder.members({ decoder, key in
                if key.is("QueueUrl") { return decoder.string().map { queueUrl = $0 } != nil }
                guard key.is("Entries") else { return false }
                entries = decoder.list { decoder in
                    var id: String?
                    var message = PartialMessage()
                    guard decoder.members({ decoder, key in
                        if key.is("Id") { return decoder.string().map { id = $0 } != nil }
                        return message.read(key, from: &decoder)
                    }), let id, let message = message.complete else { return nil }
                    return (id, message)
                }
                return entries != nil
            }), let queueUrl, let entries else { return nil }
            return SendMessageBatch(queueUrl: queueUrl, entries: entries)
        }
    }

    static func receiveMessage(_ body: ByteBuffer) -> ReceiveMessage? {
        read(body) { decoder in
            var queueUrl: String?
            var input = ReceiveMessage(queueUrl: "")
            guard decoder.members({ decoder, key in
                if key.is("QueueUrl") { return decoder.string().map { queueUrl = $0 } != nil }
                if key.is("MaxNumberOfMessages") { return decoder.integer().map { input.maxNumberOfMessages = $0 } != nil }
                if key.is("WaitTimeSeconds") { return decoder.integer().map { input.waitTimeSeconds = $0 } != nil }
                if key.is("VisibilityTimeout") { return decoder.integer().map { input.visibilityTimeout = $0 } != nil }
                if key.is("AttributeNames") { return decoder.strings().map { input.attributeNames = $0 } != nil }
                if key.is("MessageSystemAttributeNames") {
                    return decoder.strings().map { input.messageSystemAttributeNames = $0 } != nil
                }
                if key.is("MessageAttributeNames") { return decoder.strings().map { input.messageAttributeNames = $0 } != nil }
                if key.is("ReceiveRequestAttemptId") { return decoder.string().map { input.receiveRequestAttemptId = $0 } != nil }
                return false
            }), let queueUrl else { return nil }
            input.queueUrl = queueUrl
            return input
        }
    }

    static func deleteMessage(_ body: ByteBuffer) -> DeleteMessage? {
        read(body) { decoder in
            var queueUrl: String?
            var receiptHandle: String?
            guard decoder.members({ decoder, key in
                if key.is("QueueUrl") { return decoder.string().map { queueUrl = $0 } != nil }
                if key.is("ReceiptHandle") { return decoder.string().map { receiptHandle = $0 } != nil }
                return false
            }), let queueUrl, let receiptHandle else { return nil }
            return DeleteMessage(queueUrl: queueUrl, receiptHandle: receiptHandle)
        }
    }

    static func deleteMessageBatch(_ body: ByteBuffer) -> DeleteMessageBatch? {
        read(body) { decoder in
            var queueUrl: String?
            var entries: [(id: String, receiptHandle: String)]?
            guard decoder.members({ decoder, key in
                if key.is("QueueUrl") { return decoder.string().map { queueUrl = $0 } != nil }
                guard key.is("Entries") else { return false }
                entries = decoder.list { decoder in
                    var id: String?
                    var receiptHandle: String?
                    guard decoder.members({ decoder, key in
                        if key.is("Id") { return decoder.string().map { id = $0 } != nil }
                        if key.is("ReceiptHandle") { return decoder.string().map { receiptHandle = $0 } != nil }
                        return false
                    }), let id, let receiptHandle else { return nil }
                    return (id, receiptHandle)
                }
                return entries != nil
            }), let queueUrl, let entries else { return nil }
            return DeleteMessageBatch(queueUrl: queueUrl, entries: entries)
        }
    }

    /// The members of a message to send as they are read; complete once the required body is there.
    private struct PartialMessage {
        var body: String?
        var delaySeconds: Int?
        var messageGroupId: String?
        var messageDeduplicationId: String?

        var complete: Message? {
            body.map { Message(body: $0, delaySeconds: delaySeconds, messageGroupId: messageGroupId,
                               messageDeduplicationId: messageDeduplicationId) }
        }

        /// Reads the value of `key` if it is a member of a message this path handles; false for anything else.
        mutating func read(_ key: JSONDirectDecoder.Key, from decoder: inout JSONDirectDecoder) -> Bool {
            if key.is("MessageBody") { return decoder.string().map { body = $0 } != nil }
            if key.is("DelaySeconds") { return decoder.integer().map { delaySeconds = $0 } != nil }
            if key.is("MessageGroupId") { return decoder.string().map { messageGroupId = $0 } != nil }
            if key.is("MessageDeduplicationId") { return decoder.string().map { messageDeduplicationId = $0 } != nil }
            return false
        }
    }

    /// A whole body read by `read`, with nothing but whitespace around it.
    private static func read<T>(_ body: ByteBuffer, _ read: (inout JSONDirectDecoder) -> T?) -> T? {
        body.withUnsafeReadableBytes { raw in
            var decoder = JSONDirectDecoder(bytes: raw.assumingMemoryBound(to: UInt8.self))
            decoder.skipWhitespace()
            guard let value = read(&decoder) else { return nil }
            decoder.skipWhitespace()
            return decoder.index == decoder.bytes.count ? value : nil
        }
    }
}

extension JSONDirectDecoder {
    /// A member's name as it lies in the body: a key without escapes, compared with declared names byte for byte.
    struct Key {
        let bytes: UnsafeBufferPointer<UInt8>

        @inline(__always)
        func `is`(_ name: StaticString) -> Bool {
            guard bytes.count == name.utf8CodeUnitCount else { return false }
            return name.withUTF8Buffer { expected in
                for offset in 0..<expected.count where bytes[offset] != expected[offset] { return false }
                return true
            }
        }
    }

    /// An object whose every member `member` reads (it is handed the key, `index` at the value, and returns false to
    /// give up); false for anything that is not such an object.
    mutating func members(_ member: (inout JSONDirectDecoder, Key) -> Bool) -> Bool {
        guard consume(UInt8(ascii: "{")) else { return false }
        skipWhitespace()
        if consume(UInt8(ascii: "}")) { return true }
        while true {
            guard let key = key() else { return false }
            skipWhitespace()
            guard consume(UInt8(ascii: ":")) else { return false }
            skipWhitespace()
            guard member(&self, key) else { return false }
            switch separator(closing: UInt8(ascii: "}")) {
            case true?: continue
            case false?: return true
            case nil: return false
            }
        }
    }

    /// A list of at most ``QueryCodec/maximumElements`` elements, each read by `element`; nil for anything else
    /// (a longer list is refused by the general path, with its own error).
    mutating func list<Element>(_ element: (inout JSONDirectDecoder) -> Element?) -> [Element]? {
        guard consume(UInt8(ascii: "[")) else { return nil }
        var values: [Element] = []
        skipWhitespace()
        if consume(UInt8(ascii: "]")) { return values }
        while true {
            guard values.count < QueryCodec.maximumElements, let value = element(&self) else { return nil }
            values.append(value)
            switch separator(closing: UInt8(ascii: "]")) {
            case true?: continue
            case false?: return values
            case nil: return nil
            }
        }
    }

    /// A list of strings.
    mutating func strings() -> [String]? {
        list { $0.string() }
    }

    /// A key without escapes or control characters, its closing quote consumed.
    private mutating func key() -> Key? {
        guard consume(UInt8(ascii: "\"")) else { return nil }
        let start = index
        while index < bytes.count, bytes[index] != UInt8(ascii: "\"") {
            guard bytes[index] != UInt8(ascii: "\\"), bytes[index] >= 0x20 else { return nil }
            index += 1
        }
        guard index < bytes.count else { return nil }
        let key = Key(bytes: UnsafeBufferPointer(rebasing: bytes[start..<index]))
        index += 1
        return key
    }
}

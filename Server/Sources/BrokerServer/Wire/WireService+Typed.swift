@_spi(BrokerServer) import Broker
import NIOCore
import NIOHTTP1

/// The typed path of the hottest SQS operations over AWS JSON 1.0: the body read into a ``TypedInput`` struct, the
/// library called with it, and the answer written from the library's result into the buffer NIO sends, with no
/// dictionary of fields on either side. It does what the general path does, in the same order (the signature check,
/// the caller's account and region, the queue, the call), so an accepted request gets the same answer, error or not;
/// what it does not take, it leaves to the general path before doing anything.
extension WireService {
    /// The answer of the typed path, or nil when the request is to go the general way: a body the typed reader does
    /// not take, an operation without a typed path, or a receive that would wait (nothing has been done then).
    func typedAnswer(_ request: WireRequest, operation name: String, requestId: String,
                     start: ContinuousClock.Instant, memo: ConnectionMemo? = nil) -> WireResponse? {
        switch name {
        case "SendMessage":
            guard let input = TypedInput.sendMessage(request.body) else { return nil }
            return typed(request, "SendMessage", requestId, start, memo) { lookUp, payload in
                let result = try lookUp(input.queueUrl).sendMessage(input.message.request)
                Self.write(result, into: &payload)
                return true
            }
        case "ReceiveMessage":
            guard let input = TypedInput.receiveMessage(request.body) else { return nil }
            return typed(request, "ReceiveMessage", requestId, start, memo) { lookUp, payload in
                let queue = try lookUp(input.queueUrl)
                // Queue attribute names are allowed in AttributeNames too (a legacy of the API); only system ones select.
                let system = (input.attributeNames + input.messageSystemAttributeNames)
                    .compactMap(MessageSystemAttributeName.init(rawValue:))
                guard let messages = try queue.receiveMessagesWithoutWaiting(
                    maxNumberOfMessages: input.maxNumberOfMessages ?? 1,
                    visibilityTimeout: input.visibilityTimeout.map { .seconds($0) },
                    waitTimeSeconds: input.waitTimeSeconds.map { .seconds($0) },
                    messageAttributeNames: input.messageAttributeNames, messageSystemAttributeNames: system,
                    receiveRequestAttemptId: input.receiveRequestAttemptId) else { return false }
                Self.write(messages, into: &payload)
                return true
            }
        case "DeleteMessageBatch":
            guard let input = TypedInput.deleteMessageBatch(request.body) else { return nil }
            return typed(request, "DeleteMessageBatch", requestId, start, memo) { lookUp, payload in
                let entries = input.entries.map { DeleteMessageBatchRequestEntry(id: $0.id, receiptHandle: $0.receiptHandle) }
                let result = try lookUp(input.queueUrl).deleteMessageBatch(entries)
                Self.writeBatch(result, omittingEmptyFailed: false, into: &payload) { _, _, _ in }
                return true
            }
        case "SendMessageBatch":
            guard let input = TypedInput.sendMessageBatch(request.body) else { return nil }
            return typed(request, "SendMessageBatch", requestId, start, memo) { lookUp, payload in
                let queue = try lookUp(input.queueUrl)
                let entries = input.entries.map { SendMessageBatchRequestEntry(id: $0.id, message: $0.message.request) }
                // AWS leaves `Failed` out of a SendMessageBatch reply in which nothing failed.
                Self.writeBatch(try queue.sendMessageBatch(entries), omittingEmptyFailed: true, into: &payload) { _, sent, buffer in
                    Self.writeSentFields(sent, first: false, into: &buffer)
                }
                return true
            }
        case "DeleteMessage":
            guard let input = TypedInput.deleteMessage(request.body) else { return nil }
            return typed(request, "DeleteMessage", requestId, start, memo) { lookUp, payload in
                try lookUp(input.queueUrl).deleteMessage(receiptHandle: input.receiptHandle)
                payload.writeStaticString("{}")
                return true
            }
        default:
            return nil
        }
    }

    /// Runs `body` for the caller the request names, after the checks the general path makes first, and answers with
    /// what it wrote, counted and logged; nil when `body` returns false (it must have done nothing then). `body` finds
    /// its queue through the function it is given: the caller's queue a `QueueUrl` names.
    private func typed(_ request: WireRequest, _ name: String, _ requestId: String, _ start: ContinuousClock.Instant,
                       _ memo: ConnectionMemo?,
                       _ body: ((String?) throws(BrokerError) -> Queue, inout ByteBuffer) throws -> Bool) -> WireResponse? {
        var caller: Broker?
        do {
            // Found once for the signature check and the caller.
            let authorization = request.header("authorization")
            let credential = AccessPolicy.credentialField(of: authorization)
            if let refusal = access.refusal(operation: name, signed: credential != nil) { throw refusal }
            let host = request.header("host").flatMap { $0.isEmpty ? nil : $0 } ?? request.defaultHost
            let who = Self.caller(of: request, authorization: authorization, credential: credential, host: host,
                                  default: broker, memo: memo)
            caller = who
            var payload = Self.allocator.buffer(capacity: 256)
            let queue = { (url: String?) throws(BrokerError) -> Queue in
                guard let memo else { return try OperationContext.queue(url, of: who) }
                return try memo.queue(url, of: who)
            }
            guard try body(queue, &payload) else { return nil }
            var headers = HTTPHeaders()
            headers.reserveCapacity(4)
            headers.add(name: "Content-Type", value: Self.jsonContentType)
            headers.add(name: "x-amzn-RequestId", value: requestId)
            let duration = ContinuousClock.now - start
            metrics.recordRequest(operation: name, errorCode: nil, duration: duration)
            log(request, operation: name, caller: who, status: 200, error: nil, duration: duration,
                requestId: requestId)
            return WireResponse(status: 200, headers: headers, payload: payload)
        } catch {
            return completed(request, operationName: name, caller: caller, error: error, wire: .json(operation: name),
                             requestId: requestId, start: start)
        }
    }

    /// The broker of the account and region a request's credential scope names (``Caller``), from `memo` when the
    /// connection's last request had the same `Credential=` field and `Host`: the scope decides the caller, and
    /// SDKs sign each request anew but keep its scope for the day. `authorization` is the request's header and
    /// `field` where its `Credential=` ends (``AccessPolicy/credentialField(of:)``), found once per request.
    static func caller(of request: WireRequest, authorization: String?, credential field: Range<String.Index>?,
                       host: String, default broker: Broker, memo: ConnectionMemo?) -> Broker {
        guard let memo, let authorization, let field else {
            return Caller(of: request, host: host, default: broker).broker
        }
        let credential = authorization[field.upperBound...].prefix(beforeAnyOf: UInt8(ascii: ","), UInt8(ascii: " "))
        if let known = memo.caller, credential.hasSameBytes(as: memo.credential), host.hasSameBytes(as: memo.host) {
            return known
        }
        let who = Caller(of: request, host: host, default: broker).broker
        memo.credential = String(credential)
        memo.host = host
        memo.caller = who
        return who
    }

    // MARK: Output, in the members' order of the output shapes (SQSOperations)

    /// SendMessage's output: `{"MD5OfMessageBody":…,"MessageId":…}` and the optional members that are set.
    private static func write(_ result: SendMessageResult, into buffer: inout ByteBuffer) {
        buffer.writeInteger(UInt8(ascii: "{"))
        writeSentFields(result, first: true, into: &buffer)
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// The members of a sent message's result, each after a comma unless it is the object's `first`.
    private static func writeSentFields(_ result: SendMessageResult, first: Bool, into buffer: inout ByteBuffer) {
        member("MD5OfMessageBody", result.md5OfMessageBody, first: first, into: &buffer)
        if let digest = result.md5OfMessageAttributes { member("MD5OfMessageAttributes", digest, into: &buffer) }
        if let digest = result.md5OfMessageSystemAttributes { member("MD5OfMessageSystemAttributes", digest, into: &buffer) }
        member("MessageId", result.messageId, into: &buffer)
        if let sequence = result.sequenceNumber { member("SequenceNumber", sequence, into: &buffer) }
    }

    /// ReceiveMessage's output; no messages write no `Messages` member, as AWS answers.
    private static func write(_ messages: [Message], into buffer: inout ByteBuffer) {
        guard !messages.isEmpty else {
            buffer.writeStaticString("{}")
            return
        }
        buffer.writeStaticString(#"{"Messages":["#)
        for (index, message) in messages.enumerated() {
            if index > 0 { buffer.writeInteger(UInt8(ascii: ",")) }
            // A message with attributes of either kind goes through the shape's writer, which sorts and digests them
            // as the general path does; a plain one is four strings.
            guard message.messageAttributes.isEmpty, message.attributes.isEmpty else {
                JSONCodec.write(SQSOperations.fields(of: message), as: SQSOperations.message, into: &buffer)
                continue
            }
            buffer.writeInteger(UInt8(ascii: "{"))
            member("MessageId", message.messageId, first: true, into: &buffer)
            member("ReceiptHandle", message.receiptHandle, into: &buffer)
            member("MD5OfBody", message.md5OfBody, into: &buffer)
            member("Body", message.body, into: &buffer)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeStaticString("]}")
    }

    /// A batch's `Successful` entries (`Id` and what `success` writes after it) and its `Failed` ones, which are
    /// left out when there are none and `omittingEmptyFailed`.
    private static func writeBatch<Success>(_ result: BatchResult<Success>, omittingEmptyFailed: Bool,
                                            into buffer: inout ByteBuffer,
                                            _ success: (String, Success, inout ByteBuffer) -> Void) {
        buffer.writeStaticString(#"{"Successful":["#)
        for (index, entry) in result.successful.enumerated() {
            buffer.writeStaticString(index > 0 ? #",{"Id":"# : #"{"Id":"#)
            JSONCodec.writeQuoted(entry.id, into: &buffer)
            success(entry.id, entry.result, &buffer)
            buffer.writeInteger(UInt8(ascii: "}"))
        }
        buffer.writeInteger(UInt8(ascii: "]"))
        if !omittingEmptyFailed || !result.failed.isEmpty {
            buffer.writeStaticString(#","Failed":["#)
            for (index, failure) in result.failed.enumerated() {
                buffer.writeStaticString(index > 0 ? #",{"Id":"# : #"{"Id":"#)
                JSONCodec.writeQuoted(failure.id, into: &buffer)
                buffer.writeStaticString(failure.senderFault ? #","SenderFault":true"# : #","SenderFault":false"#)
                member("Code", failure.code, into: &buffer)
                member("Message", failure.message, into: &buffer)
                buffer.writeInteger(UInt8(ascii: "}"))
            }
            buffer.writeInteger(UInt8(ascii: "]"))
        }
        buffer.writeInteger(UInt8(ascii: "}"))
    }

    /// `"name":"value"`, after a comma unless `first`.
    @inline(__always)
    private static func member(_ name: StaticString, _ value: String, first: Bool = false, into buffer: inout ByteBuffer) {
        buffer.writeStaticString(first ? "\"" : ",\"")
        buffer.writeStaticString(name)
        buffer.writeStaticString("\":")
        JSONCodec.writeQuoted(value, into: &buffer)
    }
}

extension TypedInput.Message {
    /// The library's request for this message: no attributes of either kind, as the typed reader takes none.
    var request: SendMessageRequest {
        SendMessageRequest(body: body, delaySeconds: delaySeconds.map { .seconds($0) }, messageGroupId: messageGroupId,
                           messageDeduplicationId: messageDeduplicationId)
    }
}

/// What the last typed request of one connection resolved: the caller its credential scope named, and the queue its
/// `QueueUrl` named. An SDK sends request after request with the same scope and `Host` to the same queue, so the
/// next request compares a few bytes instead of parsing the scope, finding the account's broker, parsing the URL
/// and looking the queue up under the registry's lock. A connection's handler owns one and uses it on its event loop
/// only; a request answered on a task (a durable broker's) goes without.
final class ConnectionMemo {
    /// The `Credential=` field of the last signed request, its `Host`, and the caller they named.
    fileprivate var credential = ""
    fileprivate var host = ""
    fileprivate var caller: Broker?
    /// The last `QueueUrl`, the caller it was looked up for, and the queue it named then.
    private var queueURL = ""
    private var queueOwner: Broker?
    private var queue: Queue?

    init() {}

    /// ``OperationContext/queue(_:of:)``, or the queue found for the same URL and caller before, if it still exists:
    /// a queue deleted since (or emptied away by a reset) is looked up again, so a queue made anew under its name is
    /// the one used.
    func queue(_ url: String?, of caller: Broker) throws(BrokerError) -> Queue {
        if let queue, let url, queueOwner === caller, url.hasSameBytes(as: queueURL), queue.isCurrent {
            return queue
        }
        let found = try OperationContext.queue(url, of: caller)
        queueURL = url ?? ""
        queueOwner = caller
        queue = found
        return found
    }
}

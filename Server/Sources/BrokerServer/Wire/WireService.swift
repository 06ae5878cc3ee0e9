@_spi(BrokerServer) import Broker
import Foundation
import Logging
import NIOCore
import NIOHTTP1

/// Routes a request to an operation, decodes its input, runs it and encodes the answer, all in the protocol the
/// request came in: SQS over AWS JSON 1.0, SQS over AWS Query, or SNS over AWS Query.
struct WireService: Sendable {
    let broker: Broker
    /// Cross-site, Host and signature checks; open unless the server sets them.
    var access = AccessPolicy.open
    /// Requests, errors, latency and message counts, read at `/_broker/metrics`.
    var metrics = ServerMetrics()
    /// One line per AWS request; silent unless the server is given a logger.
    var logger = Logger(label: "broker-server", factory: { _ in SwiftLogNoOpLogHandler() })
    /// When the service was made, for `/_broker/health`'s uptime.
    var started = ContinuousClock.now
    /// The console's live feed; nil answers `/_broker/events` with 503.
    var events: ConsoleEvents?
    /// Whether the hottest SQS operations over AWS JSON 1.0 take their typed path (``TypedInput``) when the body
    /// allows it; off, every request goes the general way, which is how tests compare the two.
    var typedOperations = true

    /// The protocol of a request, decided before anything can fail, so every error answers in the caller's protocol.
    enum WireProtocol {
        case json(operation: String?)
        /// `json`: the client asked for JSON (`Accept: application/json`), which AWS's Query endpoints honour.
        case query(QueryService, parameters: [String: String]?, json: Bool = false)
    }

    /// A service spoken over Query: its operations, XML namespace and list style.
    enum QueryService {
        case sqs, sns, sts

        var operations: [String: Operation] {
            switch self {
            case .sqs: SQSOperations.all
            case .sns: SNSOperations.all
            case .sts: STSOperations.all
            }
        }

        var namespace: String {
            switch self {
            case .sqs: SQSOperations.namespace
            case .sns: SNSOperations.namespace
            case .sts: STSOperations.namespace
            }
        }

        var codec: QueryCodec { QueryCodec(flattened: self == .sqs) }
    }

    static let jsonContentType = "application/x-amz-json-1.0"

    /// SQS actions that act on the service, not on one queue: a queue's URL refuses them.
    static let serviceLevelActions: Set<String> = ["CreateQueue", "ListQueues", "GetQueueUrl"]

    /// Paths that empty every account and region: Broker's own, and moto's (its server-mode tests call it).
    static let resetPaths: Set<Substring> = ["/_broker/reset", "/moto-api/reset"]

    /// Whether requests are answered on the event loop that read them. A broker that journals to disk waits for it
    /// in every call that changes state, so its requests keep running on tasks.
    var answersOnEventLoop: Bool { broker.recoveryReport == nil }

    /// An operation decoded and admitted that must wait to be answered: a long poll that found nothing to receive.
    struct Waiting: Sendable {
        let request: WireRequest
        let operation: Operation
        let input: Input
        let context: OperationContext
        let caller: Broker
        let wire: WireProtocol
        let requestId: String
        let start: ContinuousClock.Instant
    }

    /// What ``answer(_:)`` decided: the answer, or an operation to run where it may wait.
    enum Answer: Sendable {
        case now(WireResponse)
        case later(Waiting)
    }

    /// Answers every request that need not wait, without suspending: every route, every error, every operation but a
    /// long poll that finds nothing, which comes back as ``Answer/later(_:)`` with nothing done yet. `memo` is the
    /// connection's, when the caller answers on the connection's event loop.
    func answer(_ request: WireRequest, memo: ConnectionMemo? = nil) -> Answer {
        if let refusal = access.refusal(of: request) {
            let response = Self.failure(refusal, Self.wireProtocol(of: request), Self.requestId())
            log(request, operation: nil, caller: nil, status: response.status, error: refusal, duration: nil)
            return .now(response)
        }
        // SDKs post to `/` (SQS Query may name a queue by its path): only other paths can be the server's own routes.
        if request.path.utf8.count > 1, let route = route(request) { return .now(route) }
        let start = ContinuousClock.now
        let requestId = Self.requestId()
        let wire = Self.wireProtocol(of: request)
        if typedOperations, case .json(let name?) = wire,
           let response = typedAnswer(request, operation: name, requestId: requestId, start: start, memo: memo) {
            return .now(response)
        }
        var operationName: String?
        var caller: Broker?
        do {
            let (operation, input) = try decode(request, as: wire)
            operationName = operation.name
            var parameters: [String: String]?
            if case .query(_, let form, _) = wire { parameters = form }
            if let refusal = access.refusal(of: request, operation: operation.name, parameters: parameters) { throw refusal }
            let host = request.header("host").flatMap { $0.isEmpty ? nil : $0 } ?? request.defaultHost
            // Only SQS Query names a queue by the request path; JSON always posts to `/`.
            var pathQueueURL: String?
            if case .query(.sqs, _, _) = wire, !request.path.split(separator: "/").isEmpty { pathQueueURL = String(request.path) }
            let who = Caller(of: request, host: host, default: broker)
            caller = who.broker
            let context = OperationContext(broker: who.broker, baseURL: "http://\(host)", pathQueueURL: pathQueueURL,
                                           accessKeyId: who.accessKeyId)
            guard let output = try operation.runWithoutWaiting(context, input) else {
                // The request is kept for its log line only; its body, decoded, is let go.
                var held = request
                held.body = ByteBuffer()
                return .later(Waiting(request: held, operation: operation, input: input, context: context,
                                      caller: who.broker, wire: wire, requestId: requestId, start: start))
            }
            return .now(completed(request, operation: operation, input: input, context: context, caller: who.broker,
                                  output: output, wire: wire, requestId: requestId, start: start))
        } catch {
            return .now(completed(request, operationName: operationName, caller: caller, error: error, wire: wire,
                                  requestId: requestId, start: start))
        }
    }

    /// The answer of one of the server's own routes (the signing certificate, the outbox, reset, the console and
    /// `/_broker/` endpoints), or nil when the path is none of theirs.
    private func route(_ request: WireRequest) -> WireResponse? {
        if let certificate = signingCertificate(for: request) { return certificate }
        if let outbox = SNSOutboxRoute.response(to: request, broker: broker) { return outbox }
        let path = request.path
        if request.method == "POST", Self.resetPaths.contains(path) {
            broker.reset()
            logger.notice("reset", metadata: ["path": "\(path)"])
            return WireResponse(status: 200, headers: [("Content-Type", "application/json")],
                                body: Array(#"{"status":"ok"}"#.utf8))
        }
        guard path.hasPlainPrefix("/_broker/") else { return nil }
        return ConsoleRoutes(broker: broker, events: events).response(to: request)
            ?? BrokerRoutes(broker: broker, metrics: metrics, started: started).response(to: request)
    }

    /// Runs an operation ``answer(_:)`` left waiting, and answers it.
    func respond(waiting: Waiting) async -> WireResponse {
        do {
            let output = try await waiting.operation.run(waiting.context, waiting.input)
            return completed(waiting.request, operation: waiting.operation, input: waiting.input, context: waiting.context,
                             caller: waiting.caller, output: output, wire: waiting.wire,
                             requestId: waiting.requestId, start: waiting.start)
        } catch {
            return completed(waiting.request, operationName: waiting.operation.name, caller: waiting.caller, error: error,
                             wire: waiting.wire, requestId: waiting.requestId, start: waiting.start)
        }
    }

    /// Answers a request, waiting when it must.
    ///
    /// A broker that journals to disk answers inside ``Broker/awaitingDurability(_:)``: the request's changes hand
    /// their wait for the disk to this task, which suspends, so that the requests of many connections share one
    /// sync instead of each holding one of the pool's few threads until its own.
    func respond(to request: WireRequest) async -> WireResponse {
        let decided: Answer
        if answersOnEventLoop {
            decided = answer(request)
        } else {
            let start = ContinuousClock.now
            do {
                decided = try await broker.awaitingDurability { answer(request) }
            } catch {
                // The answer was made, but a change it reports could not be stored: the client hears that instead.
                return completed(request, operationName: nil, caller: nil, error: error,
                                 wire: Self.wireProtocol(of: request), requestId: Self.requestId(), start: start)
            }
        }
        switch decided {
        case .now(let response): return response
        case .later(let waiting): return await respond(waiting: waiting)
        }
    }

    /// A successful operation's answer, counted and logged.
    private func completed(_ request: WireRequest, operation: Operation, input: Input, context: OperationContext,
                           caller: Broker, output: [String: WireValue], wire: WireProtocol,
                           requestId: String, start: ContinuousClock.Instant) -> WireResponse {
        let response = Self.success(output, of: operation, wire, requestId)
        let duration = ContinuousClock.now - start
        metrics.recordRequest(operation: operation.name, errorCode: nil, duration: duration)
        log(request, operation: operation.name, caller: caller, status: response.status, error: nil,
            duration: duration, requestId: requestId)
        return response
    }

    /// A failed request's answer, counted and logged.
    func completed(_ request: WireRequest, operationName: String?, caller: Broker?, error: any Error,
                           wire: WireProtocol, requestId: String, start: ContinuousClock.Instant) -> WireResponse {
        // Cancellation only happens when the client has gone, so an answer to it is never read.
        let failure = error as? BrokerError ?? BrokerError(.internalFailure, "\(error)")
        let response = Self.failure(failure, wire, requestId)
        let duration = ContinuousClock.now - start
        metrics.recordRequest(operation: operationName ?? "Unknown", errorCode: failure.code.name, duration: duration)
        log(request, operation: operationName, caller: caller, status: response.status, error: failure,
            duration: duration, requestId: requestId)
        return response
    }

    /// One line per request: debug for a success, info for a client's error, error for the server's own failure.
    func log(_ request: WireRequest, operation: String?, caller: Broker?, status: Int, error: BrokerError?,
                     duration: Duration?, requestId: String? = nil) {
        let level: Logger.Level = status >= 500 ? .error : status >= 400 ? .info : .debug
        guard logger.logLevel <= level else { return }
        var metadata: Logger.Metadata = [
            "operation": "\(operation ?? "-")", "status": "\(status)",
            "account": "\(caller?.configuration.accountId ?? "-")", "region": "\(caller?.configuration.region ?? "-")",
        ]
        if let duration {
            let microseconds = duration.components.seconds * 1_000_000 + duration.components.attoseconds / 1_000_000_000_000
            metadata["duration_ms"] = "\(Double(microseconds) / 1_000)"
        }
        if let error {
            metadata["error"] = "\(error.code.name)"
            if status >= 500 || logger.logLevel <= .debug { metadata["message"] = "\(error.message)" }
        }
        if let requestId { metadata["request_id"] = "\(requestId)" }
        if logger.logLevel <= .trace {
            metadata["method"] = "\(request.method)"
            metadata["path"] = "\(request.path)"
            if let agent = request.header("user-agent") { metadata["user_agent"] = "\(agent)" }
        }
        logger.log(level: level, "request", metadata: metadata)
    }

    /// An error answer in the request's protocol for a request that was never decoded (too large to read), with the
    /// status the connection chose (417 rather than 413 when the client waits for `100 Continue`).
    static func reject(_ request: WireRequest, with error: BrokerError, status: Int) -> WireResponse {
        failure(error, wireProtocol(of: WireRequest(method: request.method, uri: request.uri, headers: request.headers,
                                                    body: ByteBuffer(), defaultHost: request.defaultHost)),
                requestId(), status: status)
    }

    // MARK: Routing (wire.md §5.1)

    /// `X-Amz-Target` first; then a form's `Action` with `Version` (2012-11-05 SQS, 2010-03-31 SNS); then the service
    /// of the SigV4 credential scope; then the action's name, as only AddPermission and RemovePermission are shared.
    static func wireProtocol(of request: WireRequest) -> WireProtocol {
        if let target = request.header("x-amz-target") {
            // The name after the prefix, cut at its byte offset: the prefix is ASCII, so that is a scalar boundary.
            guard target.hasPlainPrefix("AmazonSQS.") else { return .json(operation: nil) }
            return .json(operation: String(Substring(target.utf8.dropFirst("AmazonSQS.".utf8.count))))
        }
        let contentType = request.header("content-type")?.lowercased() ?? ""
        if contentType.hasPrefix("application/x-amz-json") { return .json(operation: nil) }
        var parameters = request.queryString.map { QueryCodec.parseForm($0.utf8) } ?? [:]
        if contentType.contains("x-www-form-urlencoded") || (contentType.isEmpty && request.body.readableBytes > 0) {
            let form = QueryCodec.parseForm(request.body.readableBytesView)
            parameters = form.flatMap { form in parameters?.merging(form) { $1 } }
        }
        let action = parameters?["Action"]
        let service: QueryService = switch (parameters?["Version"], credentialScope(request, parameters)?.service) {
        case ("2012-11-05", _): .sqs
        case ("2010-03-31", _): .sns
        case ("2011-06-15", _): .sts
        case (_, "sqs"): .sqs
        case (_, "sns"): .sns
        case (_, "sts"): .sts
        default: action.map { SNSOperations.all[$0] != nil && SQSOperations.all[$0] == nil } == true ? .sns : .sqs
        }
        let json = request.header("accept")?.lowercased().contains("application/json") == true
        return .query(service, parameters: parameters, json: json)
    }

    /// The SigV4 credential scope `Credential=<key>/<date>/<region>/<service>/aws4_request`, from the Authorization
    /// header or a presigned URL's `X-Amz-Credential`.
    static func credentialScope(_ request: WireRequest, _ parameters: [String: String]?)
        -> (accessKeyId: String, region: String, service: String)? {
        let credential: Substring? = if let authorization = request.header("authorization"),
                                        let range = Substring(authorization).byteRange(of: "Credential=") {
            authorization[range.upperBound...].prefix(beforeAnyOf: UInt8(ascii: ","), UInt8(ascii: " "))
        } else if let presigned = parameters?["X-Amz-Credential"] {
            Substring(presigned)
        } else if let query = request.queryString, let presigned = QueryCodec.parseForm(query.utf8)?["X-Amz-Credential"] {
            Substring(presigned)
        } else {
            nil
        }
        // <key>/<date>/<region>/<service>/aws4_request, the key itself possibly holding slashes: the last four
        // slashes divide it.
        // The four slashes, last first, kept in locals: an array of them cost every request an allocation.
        guard let credential else { return nil }
        let utf8 = credential.utf8
        var slashes = (utf8.endIndex, utf8.endIndex, utf8.endIndex, utf8.endIndex)
        var found = 0
        var index = utf8.endIndex
        while found < 4, index != utf8.startIndex {
            utf8.formIndex(before: &index)
            guard utf8[index] == UInt8(ascii: "/") else { continue }
            switch found {
            case 0: slashes.0 = index
            case 1: slashes.1 = index
            case 2: slashes.2 = index
            default: slashes.3 = index
            }
            found += 1
        }
        guard found == 4 else { return nil }
        return (String(credential[..<slashes.3]),
                String(credential[utf8.index(after: slashes.2)..<slashes.1]),
                String(credential[utf8.index(after: slashes.1)..<slashes.0]))
    }

    private func decode(_ request: WireRequest, as wire: WireProtocol) throws -> (Operation, Input) {
        switch wire {
        case .json(let name):
            guard let name, let operation = SQSOperations.all[name] else {
                let target = request.header("x-amz-target") ?? ""
                throw BrokerError(.unknownOperation, target.isEmpty ? "Missing X-Amz-Target header." : "Unknown operation \(target).")
            }
            // What SDKs send is read straight into the fields; anything else (and every error) goes the general way.
            if let fields = request.body.withUnsafeReadableBytes({ JSONDirectDecoder.decode($0, as: operation.input) }) {
                try Self.checkRequired(fields, operation.input, service: .sqs)
                return (operation, Input(fields))
            }
            let document: JSONValue
            do {
                document = try request.body.readableBytes == 0 ? .object([]) : Self.parseJSON(request.body)
            } catch {
                throw BrokerError(.serialization, "The request body is not valid JSON: \(error.reason) at byte \(error.offset).")
            }
            let fields: [String: WireValue]
            do {
                fields = try JSONCodec.decode(document, as: operation.input)
            } catch {
                throw BrokerError(.serialization, "\(error.path): \(error.reason).")
            }
            try Self.checkRequired(fields, operation.input, service: .sqs)
            return (operation, Input(fields))
        case .query(let service, let parameters, _):
            guard let parameters else {
                throw BrokerError(.invalidQueryParameter, "The AWS query string is malformed or does not adhere to AWS standards.")
            }
            guard let action = parameters["Action"] else {
                throw BrokerError(.missingAction, "An unknown operation was requested.")
            }
            guard let operation = service.operations[action] else {
                throw BrokerError(.invalidAction, "The action \(action) is not valid for this endpoint.")
            }
            // A queue's URL takes only the actions that act on a queue, as SQS's endpoint does.
            if service == .sqs, !request.path.split(separator: "/").isEmpty, Self.serviceLevelActions.contains(action) {
                throw BrokerError(.invalidAction, "The action \(action) is not valid for this endpoint.")
            }
            let fields: [String: WireValue]
            do {
                fields = try service.codec.decode(parameters, as: operation.input)
            } catch {
                throw BrokerError(service == .sqs ? .invalidParameterValue : .invalidParameter, error.reason)
            }
            try Self.checkRequired(fields, operation.input, service: service)
            return (operation, Input(fields))
        }
    }

    /// Required members, checked the same way for every protocol, nested entries included.
    private static func checkRequired(_ fields: [String: WireValue], _ structure: Structure, service: QueryService,
                                      path: String = "") throws(BrokerError) {
        for member in structure.members {
            // Only a required member or a nested shape has anything to check: the others are not even looked up.
            guard member.required || member.shape.nestsStructures else { continue }
            // Only an error or a nested shape needs the member's full path: not built for every member of every request.
            var name: String { path + member.name }
            guard let value = fields[member.name] else {
                guard member.required else { continue }
                if service == .sns {
                    let camel = member.name.prefix(1).lowercased() + member.name.dropFirst()
                    throw BrokerError(.snsValidation,
                        "1 validation error detected: Value null at '\(camel)' failed to satisfy constraint: Member must not be null")
                }
                throw BrokerError(.missingParameter, "The request must contain the parameter \(name).")
            }
            switch (value, member.shape) {
            case (.structure(let nested), .structure(let shape)):
                try checkRequired(nested, shape, service: service, path: name + ".")
            case (.list(let items), .list(.structure(let shape))):
                for (index, item) in items.enumerated() {
                    if case .structure(let nested) = item { try checkRequired(nested, shape, service: service, path: "\(name).\(index + 1).") }
                }
            case (.map(let entries), .map(.structure(let shape), _, _)):
                for entry in entries {
                    if case .structure(let nested) = entry.value { try checkRequired(nested, shape, service: service, path: "\(name).\(entry.key).") }
                }
            default: break
            }
        }
    }

    /// The body parsed where it lies in the buffer it arrived in.
    private static func parseJSON(_ body: ByteBuffer) throws(JSONParseError) -> JSONValue {
        let result = body.withUnsafeReadableBytes { bytes -> Result<JSONValue, JSONParseError> in
            do throws(JSONParseError) {
                return .success(try JSONParser.parse(bytes, options: .wire))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    private static let requestIds = RequestIDs()

    /// A request id as AWS writes them: a random UUID in lower case.
    static func requestId() -> String {
        requestIds.next()
    }

    // MARK: Answers

    /// Answers are encoded into buffers of this allocator and handed to NIO as they are.
    static let allocator = ByteBufferAllocator()

    private static func success(_ output: [String: WireValue], of operation: Operation, _ wire: WireProtocol,
                                _ requestId: String) -> WireResponse {
        switch wire {
        case .json:
            var payload = allocator.buffer(capacity: 256)
            if let shape = operation.output {
                JSONCodec.write(output, as: shape, into: &payload)
            } else {
                payload.writeStaticString("{}")
            }
            var headers = HTTPHeaders()
            headers.reserveCapacity(4)
            headers.add(name: "Content-Type", value: jsonContentType)
            headers.add(name: "x-amzn-RequestId", value: requestId)
            return WireResponse(status: 200, headers: headers, payload: payload)
        case .query(_, _, json: true):
            // {"<Op>Response": {"<Op>Result": {…}, "ResponseMetadata": {"RequestId": …}}}
            var response: [(key: String, value: JSONValue)] = []
            if let shape = operation.output { response.append(("\(operation.name)Result", JSONCodec.encode(output, as: shape))) }
            response.append(("ResponseMetadata", .object([("RequestId", .string(requestId))])))
            let body = JSONValue.object([("\(operation.name)Response", .object(response))])
            return WireResponse(status: 200, headers: [("Content-Type", "application/json"), ("x-amzn-RequestId", requestId)],
                                body: body.jsonBytes)
        case .query(let service, _, json: false):
            var xml = XMLWriter()
            xml.raw("<?xml version=\"1.0\"?>")
            xml.element("\(operation.name)Response", attributes: " xmlns=\"\(service.namespace)\"") { xml in
                if let shape = operation.output {
                    xml.element("\(operation.name)Result") { xml in service.codec.encode(output, as: shape, into: &xml) }
                }
                xml.element("ResponseMetadata") { xml in xml.element("RequestId", text: requestId) }
            }
            return WireResponse(status: 200, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestId)],
                                body: Array(xml.text.utf8))
        }
    }

    static func failure(_ error: BrokerError, _ wire: WireProtocol, _ requestId: String, status: Int? = nil) -> WireResponse {
        let code = error.code
        let status = status ?? code.httpStatus
        switch wire {
        case .json:
            let body = JSONValue.object([("__type", .string(code.jsonType)), ("message", .string(error.message))])
            return WireResponse(status: status, headers: [
                ("Content-Type", jsonContentType), ("x-amzn-RequestId", requestId),
                ("x-amzn-query-error", "\(code.queryCode);\(code.fault)"),
            ], body: body.jsonBytes)
        case .query(let service, _, let json):
            // SQS's Query API words this one error differently from its JSON API.
            let message = service == .sqs && code == .queueDoesNotExist
                ? "The specified queue does not exist for this wsdl version." : error.message
            if json {
                let body = JSONValue.object([
                    ("Error", .object([("Type", .string(code.fault)), ("Code", .string(code.queryCode)), ("Message", .string(message))])),
                    ("RequestId", .string(requestId)),
                ])
                return WireResponse(status: status, headers: [("Content-Type", "application/json"), ("x-amzn-RequestId", requestId)],
                                    body: body.jsonBytes)
            }
            var xml = XMLWriter()
            xml.raw("<?xml version=\"1.0\"?>")
            xml.element("ErrorResponse", attributes: " xmlns=\"\(service.namespace)\"") { xml in
                xml.element("Error") { xml in
                    xml.element("Type", text: code.fault)
                    xml.element("Code", text: code.queryCode)
                    xml.element("Message", text: message)
                    if service == .sqs { xml.raw("<Detail/>") }
                }
                xml.element("RequestId", text: requestId)
            }
            return WireResponse(status: status, headers: [("Content-Type", "text/xml"), ("x-amzn-RequestId", requestId)],
                                body: Array(xml.text.utf8))
        }
    }
}

/// Who is asking, as AWS's endpoints tell it: the region from the SigV4 credential scope (else the host name
/// `<service>.<region>.…`), the account from an access key id of 12 digits (else the server's default account).
struct Caller {
    let broker: Broker
    let accessKeyId: String?

    init(of request: WireRequest, host: String, default broker: Broker) {
        let scope = WireService.credentialScope(request, nil)
        accessKeyId = scope?.accessKeyId
        var region = scope?.region
        if region == nil {
            let labels = host.prefix { $0 != ":" }.split(separator: ".")
            if labels.count >= 3, ["sqs", "sns", "sts"].contains(labels[0]) { region = String(labels[1]) }
        }
        let account = accessKeyId.flatMap { key in
            key.utf8.count == 12 && key.utf8.allSatisfy { $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") } ? key : nil
        }
        // A malformed region or account in a request falls back to the server's own, as a signature is never checked.
        self.broker = (try? broker.scoped(accountId: account, region: region)) ?? broker
    }
}

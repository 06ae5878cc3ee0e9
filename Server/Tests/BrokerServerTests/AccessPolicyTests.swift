import Broker
@testable import BrokerServer
import Testing

/// A web page in a developer's browser must not drive the server: cross-site requests, rebound host names and
/// unsigned state changes are refused with an AWS-shaped 403, and nothing changes.
@Suite("Access policy")
struct AccessPolicyTests {
    static let queueUrl = "http://127.0.0.1/000000000000/orders"
    static let signed = ("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=00")

    struct Attempt: CustomTestStringConvertible, Sendable {
        let name: String
        let request: WireRequest
        let code: String
        var testDescription: String { name }
    }

    static func purge(_ headers: [(String, String)], uri: String = "/") -> WireRequest {
        WireRequest(method: "POST", uri: uri,
                    headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers.map { ($0.0, $0.1) },
                    body: Array("Action=PurgeQueue&Version=2012-11-05&QueueUrl=\(queueUrl)".utf8))
    }

    static let refused: [Attempt] = [
        Attempt(name: "a cross-site form POST", request: purge([("Host", "127.0.0.1:4566"), ("Origin", "https://evil.example"), signed]),
                code: "AccessDenied"),
        Attempt(name: "a cross-site GET with the Query in its URL",
                request: WireRequest(method: "GET", uri: "/?Action=PurgeQueue&Version=2012-11-05&QueueUrl=\(queueUrl)",
                                     headers: [("Host", "127.0.0.1:4566"), ("Sec-Fetch-Site", "cross-site")]),
                code: "AccessDenied"),
        Attempt(name: "a sandboxed page (Origin: null)", request: purge([("Host", "localhost:4566"), ("Origin", "null"), signed]),
                code: "AccessDenied"),
        Attempt(name: "a rebound host name", request: purge([("Host", "rebind.evil.example:4566"), signed]), code: "AccessDenied"),
        Attempt(name: "an unsigned state change", request: purge([("Host", "127.0.0.1:4566")]), code: "MissingAuthenticationToken"),
        Attempt(name: "a reset from a web page",
                request: WireRequest(method: "POST", uri: "/_broker/reset", headers: [("Host", "127.0.0.1:4566"), ("Origin", "http://evil.example")]),
                code: "AccessDenied"),
    ]

    @Test("Requests a web page could send are refused and change nothing", arguments: refused)
    func webPageRequestsAreRefused(_ attempt: Attempt) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("kept")
        let service = WireService(broker: broker, access: AccessPolicy())
        let response = await service.respond(to: attempt.request)
        #expect(response.status == 403)
        #expect(response.text.contains("<Code>\(attempt.code)</Code>"), "\(response.text)")
        #expect(try queue.statistics().approximateNumberOfMessages == 1)
        #expect(try broker.queue(named: "orders").url == queue.url)
    }

    static let served: [Attempt] = [
        Attempt(name: "an SDK request to 127.0.0.1", request: purge([("Host", "127.0.0.1:4566"), signed]), code: ""),
        Attempt(name: "an SDK request to localhost", request: purge([("Host", "localhost:4566"), signed]), code: ""),
        Attempt(name: "an SDK request to a *.localhost name", request: purge([("Host", "sqs.us-east-1.localhost:4566"), signed]), code: ""),
        Attempt(name: "an SDK request to [::1]", request: purge([("Host", "[::1]:4566"), signed]), code: ""),
        Attempt(name: "a page served from loopback", request: purge([("Host", "localhost:4566"), ("Origin", "http://localhost:3000"),
                                                                       ("Sec-Fetch-Site", "same-site"), signed]), code: ""),
        Attempt(name: "an allowed host name", request: purge([("Host", "broker.internal:4566"), signed]), code: ""),
        Attempt(name: "a presigned URL",
                request: WireRequest(method: "GET", uri: "/?Action=PurgeQueue&Version=2012-11-05&QueueUrl=\(queueUrl)&X-Amz-Credential=test%2F20261206%2Fus-east-1%2Fsqs%2Faws4_request",
                                     headers: [("Host", "127.0.0.1:4566")]), code: ""),
    ]

    @Test("SDK requests, pages served from loopback and allowed hosts are served", arguments: served)
    func sdkRequestsAreServed(_ attempt: Attempt) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("purged")
        let service = WireService(broker: broker, access: AccessPolicy(allowedHosts: ["Broker.Internal"]))
        let response = await service.respond(to: attempt.request)
        #expect(response.status == 200, "\(response.text)")
        #expect(try queue.statistics().approximateNumberOfMessages == 0)
    }

    @Test("Reading needs no signature, and a server told not to ask for one serves unsigned changes")
    func unsignedReadsAndOptOut() async throws {
        let broker = Broker()
        _ = try broker.createQueue(named: "orders")
        let list = WireRequest(method: "GET", uri: "/?Action=ListQueues&Version=2012-11-05", headers: [("Host", "127.0.0.1:4566")])
        #expect(await WireService(broker: broker, access: AccessPolicy()).respond(to: list).status == 200)
        // SNS's SubscribeURL and UnsubscribeURL are opened as they are, unsigned.
        let unsubscribe = WireRequest(method: "GET", uri: "/?Action=Unsubscribe&Version=2010-03-31&SubscriptionArn=arn:aws:sns:us-east-1:000000000000:t:x",
                                      headers: [("Host", "127.0.0.1:4566")])
        #expect(await WireService(broker: broker, access: AccessPolicy()).respond(to: unsubscribe).status == 200)
        let unsigned = Self.purge([("Host", "127.0.0.1:4566")])
        #expect(await WireService(broker: broker, access: AccessPolicy(requireSignature: false)).respond(to: unsigned).status == 200)
    }

    static func jsonSend(_ headers: [(String, String)]) -> WireRequest {
        WireRequest(method: "POST", uri: "/",
                    headers: [("Content-Type", "application/x-amz-json-1.0"), ("X-Amz-Target", "AmazonSQS.SendMessage")]
                        + headers.map { ($0.0, $0.1) },
                    body: Array(#"{"QueueUrl":"\#(queueUrl)","MessageBody":"hello"}"#.utf8))
    }

    static let jsonAttempts: [Attempt] = [
        Attempt(name: "an unsigned SendMessage", request: jsonSend([("Host", "127.0.0.1:4566")]), code: "MissingAuthenticationToken"),
        Attempt(name: "a SendMessage whose Authorization is not SigV4",
                request: jsonSend([("Host", "127.0.0.1:4566"), ("Authorization", "Basic Credential=dGVzdA==")]),
                code: "MissingAuthenticationToken"),
        Attempt(name: "a cross-site SendMessage, ORIGIN in capitals",
                request: jsonSend([("HOST", "127.0.0.1:4566"), ("ORIGIN", "https://evil.example"), signed]), code: "AccessDenied"),
        Attempt(name: "a cross-site SendMessage, sec-fetch-SITE in mixed case",
                request: jsonSend([("host", "127.0.0.1:4566"), ("sec-fetch-SITE", "Cross-Site"), signed]), code: "AccessDenied"),
        Attempt(name: "a SendMessage to a rebound host, host in lower case",
                request: jsonSend([("host", "rebind.evil.example"), signed]), code: "AccessDenied"),
        Attempt(name: "a signed SendMessage, authorization in lower case",
                request: jsonSend([("host", "127.0.0.1:4566"), ("authorization", signed.1)]), code: ""),
    ]

    @Test("The JSON protocol's typed path applies the same checks, header names in any case", arguments: jsonAttempts)
    func typedPathChecksLikeTheGeneralOne(_ attempt: Attempt) async throws {
        let broker = Broker()
        let queue = try broker.createQueue(named: "orders")
        let service = WireService(broker: broker, access: AccessPolicy())
        let response = await service.respond(to: attempt.request)
        if attempt.code.isEmpty {
            #expect(response.status == 200, "\(response.text)")
            #expect(try queue.statistics().approximateNumberOfMessages == 1)
        } else {
            #expect(response.status == 403)
            #expect(response.text.contains(attempt.code), "\(response.text)")
            #expect(try queue.statistics().approximateNumberOfMessages == 0)
        }
    }

    @Test("An unsigned Unsubscribe is refused for a subscription confirmed with AuthenticateOnUnsubscribe")
    func authenticatedSubscriptionNeedsASignedUnsubscribe() async throws {
        let broker = Broker()
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(protocol: "email", endpoint: "ops@example.com")
        _ = try topic.confirmSubscription(token: try #require(try subscription.confirmationToken()), authenticateOnUnsubscribe: true)
        let service = WireService(broker: broker, access: AccessPolicy())
        let uri = "/?Action=Unsubscribe&Version=2010-03-31&SubscriptionArn=\(subscription.arn)"
        let unsigned = await service.respond(to: WireRequest(method: "GET", uri: uri, headers: [("Host", "127.0.0.1:4566")]))
        #expect(unsigned.status == 403)
        #expect(unsigned.text.contains("<Code>AuthorizationError</Code>"))
        #expect(try topic.listSubscriptions().subscriptions.count == 1)
        let signed = await service.respond(to: WireRequest(method: "GET", uri: uri, headers: [
            ("Host", "127.0.0.1:4566"),
            ("Authorization", "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/sns/aws4_request, SignedHeaders=host, Signature=00"),
        ]))
        #expect(signed.status == 200)
        #expect(try topic.listSubscriptions().subscriptions.isEmpty)
    }

    @Test("A server bound to a non-loopback address does not check the Host name", arguments: ["0.0.0.0", "192.168.1.20"])
    func nonLoopbackBindingAcceptsAnyHost(address: String) {
        #expect(!BrokerServer.isLoopback(address: address))
        let server = BrokerServer(broker: Broker(), configuration: BrokerServer.Configuration(host: address))
        #expect(!server.access.loopbackOnly)
        #expect(BrokerServer(broker: Broker(), configuration: BrokerServer.Configuration(host: "127.0.0.1")).access.loopbackOnly)
        #expect(BrokerServer(broker: Broker(), configuration: BrokerServer.Configuration(host: "::1")).access.loopbackOnly)
    }

    static let hostHeaders: [(host: String, quick: Bool)] = [
        ("127.0.0.1:4566", true), ("127.0.0.1", true), ("127.8.9.10:1", true), ("localhost:4566", true),
        ("LocalHost", true), ("localhost", true), ("sqs.us-east-1.localhost:4566", false), ("[::1]:4566", false),
        ("127.0.0.256:1", false), ("128.0.0.1:1", false), ("localhosts:1", false), ("evil.example:4566", false),
        ("127.0.0.1.evil.example", false), ("localhost.evil.example:1", false), (":4566", false),
    ]

    @Test("A loopback Host is recognised without copies only where the full check accepts it", arguments: hostHeaders)
    func quickHostCheckAgreesWithTheFullOne(_ host: String, quick: Bool) {
        #expect(AccessPolicy.isLoopbackHostHeader(host) == quick)
        if quick { #expect(AccessPolicy.isLoopback(AccessPolicy.stripPort(host).lowercased())) }
    }

    static let prefixed = [
        "AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request", "AWS4-HMAC-SHA256", "AWS4-HMAC-SHA25", "aws4-hmac-sha256 x",
        "AWS4-HMAC-SHA256\u{301} Credential=a", "AWS4-HMAC-SHA256é", "AWS4-HMAC-SHA256\r\n", "", "AWS", "\u{FEFF}AWS4-HMAC-SHA256",
    ]

    @Test("The byte-level prefix check agrees with hasPrefix, combining marks after the prefix included", arguments: prefixed)
    func plainPrefixAgreesWithHasPrefix(_ text: String) {
        #expect(text.hasPlainPrefix("AWS4-HMAC-SHA256") == text.hasPrefix("AWS4-HMAC-SHA256"))
        #expect(Substring(text).hasPlainPrefix("AWS") == text.hasPrefix("AWS"))
    }
}

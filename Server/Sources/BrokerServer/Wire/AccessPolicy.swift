import Broker

/// Who may reach a server, against the two ways a web page could drive it from a developer's browser: a cross-site
/// request (a form POST or an image GET with the Query in its URL) and DNS rebinding (a hostile name resolving to
/// loopback). Credentials are never verified; a SigV4-shaped `Authorization` header is asked of requests that change
/// state because every SDK sends one and no browser form can.
public struct AccessPolicy: Sendable {
    /// `Host` names accepted besides loopback ones (`localhost`, `*.localhost`, `127.x.x.x`, `[::1]`), compared
    /// without the port and case-insensitively. Only checked while ``loopbackOnly``.
    public var allowedHosts: Set<String>
    /// Refuse a `Host` that is not loopback (or allowed): true when the server listens on a loopback address.
    public var loopbackOnly: Bool
    /// Refuse a request that changes state (every action but `Get…` and `List…`, and SNS's `ConfirmSubscription` and
    /// `Unsubscribe`, whose URLs AWS hands out to be opened as they are) unless it carries a SigV4 `Authorization`
    /// header or a presigned URL's `X-Amz-Credential`.
    public var requireSignature: Bool

    /// A policy; the defaults suit a server on loopback used by SDKs.
    public init(allowedHosts: Set<String> = [], loopbackOnly: Bool = true, requireSignature: Bool = true) {
        self.allowedHosts = Set(allowedHosts.map { $0.lowercased() })
        self.loopbackOnly = loopbackOnly
        self.requireSignature = requireSignature
    }

    /// No checks: for a service driven in process (tests of the codecs and operations).
    public static let open = AccessPolicy(loopbackOnly: false, requireSignature: false)

    /// Why a request may not be served at all, before it is decoded; nil when it may.
    func refusal(of request: WireRequest) -> BrokerError? {
        // The three headers in one pass over the request's: each lookup by name is a pass of its own.
        var origin: String?, fetchSite: String?, host: String?
        for (name, value) in request.headers {
            switch name.utf8.count {
            case 4 where host == nil && name.utf8.hasCaseInsensitiveBytes("host"): host = value
            case 6 where origin == nil && name.utf8.hasCaseInsensitiveBytes("origin"): origin = value
            case 14 where fetchSite == nil && name.utf8.hasCaseInsensitiveBytes("sec-fetch-site"): fetchSite = value
            default: break
            }
        }
        if let origin, !origin.isEmpty, origin != "null" {
            guard isTrusted(host: Self.host(ofOrigin: origin)) else {
                return BrokerError(.accessDenied, "Cross-site requests are refused (Origin: \(origin)).")
            }
        } else if fetchSite?.lowercased() == "cross-site" || origin == "null" {
            return BrokerError(.accessDenied, "Cross-site requests are refused.")
        }
        if loopbackOnly, let host, !host.isEmpty, !Self.isLoopbackHostHeader(host),
           !isTrusted(host: Self.stripPort(host)) {
            return BrokerError(.accessDenied,
                "The Host \(host) is not served: this server answers loopback names (add others with --allow-host).")
        }
        return nil
    }

    /// Why an operation may not run unsigned; nil when it may.
    func refusal(of request: WireRequest, operation: String, parameters: [String: String]?) -> BrokerError? {
        refusal(operation: operation, signed: Self.credentialField(of: request.header("authorization")) != nil
                    || parameters?["X-Amz-Credential"] != nil)
    }

    /// Why an operation may not run unsigned, given whether the request is signed: a SigV4 `Authorization` header
    /// with a credential scope (``credentialField(of:)``), or a presigned URL's `X-Amz-Credential`.
    func refusal(operation: String, signed: Bool) -> BrokerError? {
        // SNS's SubscribeURL and UnsubscribeURL are bearer links an endpoint's owner opens without credentials: the
        // token or the subscription ARN is the proof, as on AWS.
        guard requireSignature, !signed, !operation.hasPlainPrefix("Get"), !operation.hasPlainPrefix("List"),
              operation != "ConfirmSubscription", operation != "Unsubscribe" else { return nil }
        return BrokerError(.missingAuthenticationToken, "Request is missing Authentication Token")
    }

    /// Where `Credential=` ends in a SigV4 `Authorization` header: the credential scope follows. Nil when the header
    /// is missing, is not SigV4, or names no credential.
    static func credentialField(of authorization: String?) -> Range<String.Index>? {
        guard let authorization, authorization.hasPlainPrefix("AWS4-HMAC-SHA256") else { return nil }
        return Substring(authorization).byteRange(of: "Credential=")
    }

    private func isTrusted(host: String) -> Bool {
        let host = host.lowercased()
        return Self.isLoopback(host) || allowedHosts.contains(host)
    }

    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" || host.hasSuffix(".localhost") || host == "[::1]" || host == "::1" { return true }
        return isLoopbackAddress(host.utf8)
    }

    /// Whether a `Host` header names `127.a.b.c` or `localhost` (any case), with or without a port: what nearly every
    /// request sends, recognised without the copies ``stripPort(_:)`` and lower-casing make. False leaves the host to
    /// the full check, so it only ever accepts what that check accepts.
    static func isLoopbackHostHeader(_ host: String) -> Bool {
        let utf8 = host.utf8
        let name = utf8[..<(utf8.firstIndex(of: UInt8(ascii: ":")) ?? utf8.endIndex)]
        if isLoopbackAddress(name) { return true }
        return name.hasCaseInsensitiveBytes("localhost")
    }

    /// `127.a.b.c`, each part a decimal number up to 255, read byte by byte: every request's `Host` goes through
    /// this, and splitting it into strings was a twentieth of a request.
    private static func isLoopbackAddress(_ bytes: some Sequence<UInt8>) -> Bool {
        var parts = 0, value = 0, digits = 0
        var firstIs127 = false
        for byte in bytes {
            if byte == UInt8(ascii: ".") {
                guard digits > 0 else { return false }
                if parts == 0 { firstIs127 = digits == 3 && value == 127 }
                parts += 1
                value = 0
                digits = 0
            } else if byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") {
                value = value * 10 + Int(byte - UInt8(ascii: "0"))
                digits += 1
                guard value <= 255 else { return false }
            } else {
                return false
            }
        }
        return digits > 0 && parts == 3 && firstIs127
    }

    /// `example.com` from `https://example.com:8443`.
    static func host(ofOrigin origin: String) -> String {
        var rest = Substring(origin)
        if let scheme = rest.range(of: "://") { rest = rest[scheme.upperBound...] }
        return stripPort(String(rest.prefix { $0 != "/" }))
    }

    /// `example.com` from `example.com:4566`, `[::1]` from `[::1]:4566`.
    static func stripPort(_ host: String) -> String {
        if host.hasPrefix("[") { return String(Substring(host).prefix(beforeAnyOf: UInt8(ascii: "]"))) + "]" }
        return String(Substring(host).prefix(beforeAnyOf: UInt8(ascii: ":")))
    }
}

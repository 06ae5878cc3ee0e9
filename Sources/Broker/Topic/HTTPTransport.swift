import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One POST of an SNS HTTP/HTTPS delivery: a notification, a subscription confirmation or an unsubscribe
/// confirmation, with AWS's `x-amz-sns-*` headers.
public struct SNSHTTPRequest: Sendable, Hashable {
    /// The subscription's endpoint.
    public var url: String
    /// Header names and values, in the order SNS sends them.
    public var headers: [SNSHTTPHeader]
    /// The body: the JSON envelope, or the message itself with raw delivery.
    public var body: String

    /// Creates a request.
    public init(url: String, headers: [SNSHTTPHeader], body: String) {
        self.url = url
        self.headers = headers
        self.body = body
    }

    /// The value of the header named `name` (compared case-insensitively).
    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// An HTTP header.
public struct SNSHTTPHeader: Sendable, Hashable {
    /// Its name.
    public var name: String
    /// Its value.
    public var value: String

    /// Creates a header.
    public init(_ name: String, _ value: String) {
        self.name = name
        self.value = value
    }
}

/// How an endpoint answered: its status, or why no status came (refused, timed out, not a URL).
public enum SNSHTTPOutcome: Sendable, Hashable {
    /// The endpoint answered with this status.
    case status(Int)
    /// No answer: the connection failed or timed out.
    case failed(String)

    /// SNS counts 2xx as delivered; everything else is retried under the delivery policy.
    public var isSuccess: Bool {
        if case .status(let code) = self { return (200..<300).contains(code) }
        return false
    }
}

/// Sends SNS's HTTP/HTTPS deliveries. Broker posts through ``URLSessionSNSTransport`` (Foundation's own client,
/// so the library keeps no package dependency); a test can pass its own transport to see every request without a
/// network, and a server can pass one over its own client.
public protocol SNSHTTPTransport: Sendable {
    /// Posts `request`, waiting at most `timeout` of real time for the answer.
    func post(_ request: SNSHTTPRequest, timeout: Duration) async -> SNSHTTPOutcome
}

/// ``SNSHTTPTransport`` over Foundation's `URLSession`.
public struct URLSessionSNSTransport: SNSHTTPTransport {
    private let session: URLSession

    /// A transport over `session` (default: an ephemeral session of its own, with no cache and no cookies).
    public init(session: URLSession? = nil) {
        self.session = session ?? URLSession(configuration: .ephemeral)
    }

    /// Posts `request`; a redirect is followed as `URLSession` does, and any error becomes ``SNSHTTPOutcome/failed(_:)``.
    public func post(_ request: SNSHTTPRequest, timeout: Duration) async -> SNSHTTPOutcome {
        guard let url = URL(string: request.url), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
            return .failed("not an http or https URL: \(request.url)")
        }
        var urlRequest = URLRequest(url: url)
        urlRequest.httpMethod = "POST"
        urlRequest.timeoutInterval = max(0.001, Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18)
        for header in request.headers { urlRequest.addValue(header.value, forHTTPHeaderField: header.name) }
        urlRequest.httpBody = Data(request.body.utf8)
        do {
            let (_, response) = try await session.data(for: urlRequest)
            guard let http = response as? HTTPURLResponse else { return .failed("not an HTTP response") }
            return .status(http.statusCode)
        } catch {
            return .failed(String(describing: error))
        }
    }
}

import Foundation

/// A platform application as ListPlatformApplications reports it.
public struct PlatformApplicationInfo: Sendable, Hashable {
    /// `PlatformApplicationArn`: `arn:aws:sns:<region>:<account>:app/<platform>/<name>`.
    public let arn: String
    /// The application's attributes, as GetPlatformApplicationAttributes answers them.
    public let attributes: [String: String]
}

/// A platform endpoint as ListEndpointsByPlatformApplication reports it.
public struct PlatformEndpointInfo: Sendable, Hashable {
    /// `EndpointArn`: `arn:aws:sns:<region>:<account>:endpoint/<platform>/<application>/<id>`.
    public let arn: String
    /// `Token`, `Enabled` and `CustomUserData` when set.
    public let attributes: [String: String]
}

struct PlatformApplicationRecord {
    let arn: String
    let name: String
    let platform: String
    var attributes: [String: String]

    var enabled: Bool { attributes["Enabled"] != "false" }

    /// What AWS answers: never the credential it was given.
    var visibleAttributes: [String: String] {
        var result = attributes.filter { $0.key != "PlatformCredential" }
        if result["Enabled"] == nil { result["Enabled"] = "true" }
        return result
    }
}

struct PlatformEndpointRecord {
    let arn: String
    let applicationArn: String
    let platform: String
    /// `Token`, `Enabled`, `CustomUserData`.
    var attributes: [String: String]

    var enabled: Bool { attributes["Enabled"] != "false" }
}

/// The platform applications and endpoints of one account and region.
struct PlatformRegistry {
    var applications: [String: PlatformApplicationRecord] = [:]
    var endpoints: [String: PlatformEndpointRecord] = [:]

    func endpoint(arn: String) -> PlatformEndpointRecord? { endpoints[arn] }

    /// The platform whose payload a copy carries, and whether the endpoint and its application take it.
    func deliveryTarget(arn: String) -> (platform: String, enabled: Bool)? {
        guard let endpoint = endpoints[arn] else { return nil }
        return (endpoint.platform, endpoint.enabled && applications[endpoint.applicationArn]?.enabled != false)
    }

    /// The platforms SNS pushes to, with the credential attributes each needs.
    static let requiredAttributes: [String: [String]] = [
        "APNS": ["PlatformCredential", "PlatformPrincipal"], "APNS_SANDBOX": ["PlatformCredential", "PlatformPrincipal"],
        "MACOS": ["PlatformCredential", "PlatformPrincipal"], "MACOS_SANDBOX": ["PlatformCredential", "PlatformPrincipal"],
        "GCM": ["PlatformCredential"], "ADM": ["PlatformCredential", "PlatformPrincipal"],
        "BAIDU": ["PlatformCredential", "PlatformPrincipal"], "WNS": ["PlatformCredential", "PlatformPrincipal"],
        "MPNS": ["PlatformCredential", "PlatformPrincipal"],
    ]

    static let applicationAttributes: Set<String> = [
        "PlatformCredential", "PlatformPrincipal", "EventEndpointCreated", "EventEndpointDeleted", "EventEndpointUpdated",
        "EventDeliveryFailure", "SuccessFeedbackRoleArn", "FailureFeedbackRoleArn", "SuccessFeedbackSampleRate",
        "ApplePlatformTeamID", "ApplePlatformBundleID", "AuthenticationMethod", "Enabled",
    ]

    static func validateApplicationAttributes(_ attributes: [String: String]) throws(BrokerError) {
        for (name, value) in attributes {
            guard applicationAttributes.contains(name) else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Invalid attribute name: \(name)")
            }
            if name == "Enabled", value != "true", value != "false" {
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Enabled must be true or false")
            }
            if name == "SuccessFeedbackSampleRate", Int(value).map({ (0...100).contains($0) }) != true {
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: SuccessFeedbackSampleRate must be an integer from 0 to 100")
            }
        }
    }

    static func validateEndpointAttributes(_ attributes: [String: String]) throws(BrokerError) {
        for (name, value) in attributes {
            switch name {
            case "CustomUserData":
                guard value.utf8.count <= 2048 else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: CustomUserData is at most 2048 bytes")
                }
            case "Enabled":
                guard value == "true" || value == "false" else {
                    throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Enabled must be true or false")
                }
            case "Token":
                guard !value.isEmpty else { throw BrokerError(.invalidParameter, "Invalid parameter: Token Reason: cannot be empty") }
            default:
                throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: Invalid attribute name: \(name)")
            }
        }
    }
}

extension BrokerError {
    static func applicationNotFound() -> BrokerError { BrokerError(.notFound, "PlatformApplication does not exist") }
    static func endpointNotFound() -> BrokerError { BrokerError(.notFound, "Endpoint does not exist") }
}

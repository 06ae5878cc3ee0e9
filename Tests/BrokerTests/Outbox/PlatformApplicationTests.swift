import Foundation
import Testing

@testable import Broker

/// Mobile push: platform applications, their endpoints, and what a publish to them records.
@Suite struct PlatformApplicationTests {
    private func app(_ broker: Broker, _ platform: String = "GCM") throws -> String {
        try broker.createPlatformApplication(name: "app", platform: platform, attributes: ["PlatformCredential": "key"])
    }

    @Test("Each platform requires its credential attributes; the credential is never returned")
    func platformCredentialsAreRequired() throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameter) {
            _ = try broker.createPlatformApplication(name: "a", platform: "APNS", attributes: ["PlatformCredential": "k"])
        }
        expectBrokerError(.invalidParameter) { _ = try broker.createPlatformApplication(name: "a", platform: "PALM", attributes: [:]) }
        let arn = try broker.createPlatformApplication(name: "a", platform: "APNS",
                                                       attributes: ["PlatformCredential": "k", "PlatformPrincipal": "p"])
        #expect(arn == "arn:aws:sns:us-east-1:000000000000:app/APNS/a")
        #expect(try broker.platformApplicationAttributes(arn: arn) == ["PlatformPrincipal": "p", "Enabled": "true"])
        try broker.setPlatformApplicationAttributes(arn: arn, ["PlatformPrincipal": "q"])
        #expect(try broker.platformApplicationAttributes(arn: arn)["PlatformPrincipal"] == "q")
        #expect(try broker.listPlatformApplications().applications.map(\.arn) == [arn])
        try broker.deletePlatformApplication(arn: arn)
        expectBrokerError(.notFound) { _ = try broker.platformApplicationAttributes(arn: arn) }
    }

    @Test("CreatePlatformEndpoint is idempotent on the same token and attributes, and refuses different ones")
    func createEndpointIsIdempotent() throws {
        let (broker, _) = makeBroker()
        let application = try app(broker)
        let first = try broker.createPlatformEndpoint(applicationArn: application, token: "t")
        #expect(try broker.createPlatformEndpoint(applicationArn: application, token: "t", attributes: ["Enabled": "true"]) == first)
        let error = expectBrokerError(.invalidParameter) {
            _ = try broker.createPlatformEndpoint(applicationArn: application, token: "t", customUserData: "data")
        }
        #expect(error?.message == "Invalid parameter: Token Reason: Endpoint \(first) already exists with the same Token, but different attributes.")
        #expect(first.hasPrefix("arn:aws:sns:us-east-1:000000000000:endpoint/GCM/app/"))
        expectBrokerError(.notFound) { _ = try broker.createPlatformEndpoint(applicationArn: application + "2", token: "t") }
    }

    @Test("Endpoint attributes are read, set, listed; deleting the application deletes its endpoints")
    func endpointAttributes() throws {
        let (broker, _) = makeBroker()
        let application = try app(broker)
        let endpoint = try broker.createPlatformEndpoint(applicationArn: application, token: "t", customUserData: "u")
        #expect(try broker.endpointAttributes(arn: endpoint) == ["Token": "t", "Enabled": "true", "CustomUserData": "u"])
        try broker.setEndpointAttributes(arn: endpoint, ["Enabled": "false"])
        #expect(try broker.listEndpoints(applicationArn: application).endpoints.first?.attributes["Enabled"] == "false")
        try broker.deletePlatformApplication(arn: application)
        let error = expectBrokerError(.notFound) { _ = try broker.endpointAttributes(arn: endpoint) }
        #expect(error?.message == "Endpoint does not exist")
        try broker.deleteEndpoint(arn: endpoint)
    }

    @Test("A publish to an endpoint records the platform's payload; a disabled endpoint is EndpointDisabled")
    func publishToEndpoint() throws {
        let (broker, _) = makeBroker()
        let application = try app(broker)
        let endpoint = try broker.createPlatformEndpoint(applicationArn: application, token: "t")
        try broker.publish(targetArn: endpoint, message: #"{"default":"plain","GCM":"{\"data\":{\"k\":\"v\"}}"}"#,
                           messageStructure: "json")
        #expect(broker.outbox(matching: SNSOutboxFilter(endpoint: endpoint)).first?.body == #"{"data":{"k":"v"}}"#)
        try broker.setEndpointAttributes(arn: endpoint, ["Enabled": "false"])
        let error = expectBrokerError(.endpointDisabled) {
            _ = try broker.publish(targetArn: endpoint, message: "msg", messageStructure: "json")
        }
        #expect(error?.message == "Endpoint is disabled")
    }

    @Test("A topic delivers to a subscribed endpoint while it is enabled, and a deleted endpoint cannot be subscribed")
    func topicSubscriptionsOfEndpoints() throws {
        let (broker, _) = makeBroker()
        let application = try app(broker, "GCM")
        let endpoint = try broker.createPlatformEndpoint(applicationArn: application, token: "t")
        let topic = try broker.createTopic(named: "news")
        let subscription = try topic.subscribe(protocol: "application", endpoint: endpoint)
        try topic.publish(PublishRequest(message: #"{"default":"d","GCM":"g"}"#, messageStructure: "json"))
        #expect(broker.outbox(matching: SNSOutboxFilter(protocol: "application")).map(\.body).last == "g")
        try broker.setEndpointAttributes(arn: endpoint, ["Enabled": "false"])
        try topic.publish("dropped")
        #expect(broker.outbox().count == 1)
        #expect(try subscription.statistics().lastFailure?.code == .endpointDisabled)
        try broker.deleteEndpoint(arn: endpoint)
        try topic.publish("to a deleted endpoint")
        #expect(try subscription.statistics().lastFailure?.message == "Endpoint does not exist")
        #expect(try subscription.statistics().dropped == 2)
        let other = try broker.createTopic(named: "other")
        let error = expectBrokerError(.invalidParameter) { _ = try other.subscribe(protocol: "application", endpoint: endpoint) }
        #expect(error?.message == "Invalid parameter: Endpoint Reason: Endpoint does not exist for endpoint arn\(endpoint)")
    }
}

import Broker
@testable import BrokerServer
import Foundation
import Testing

/// SNS deliveries that leave the machine, over the wire: confirmation, SMS, mobile push and the outbox's JSON.
@Suite("SNS captured deliveries over the wire")
struct SNSCapturedWireTests {
    static let encodedTopicArn = "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At"

    private func sns(_ client: TestClient, _ form: String) async throws -> TestResponse {
        try await client.query("Version=2010-03-31&" + form)
    }

    private func element(_ name: String, in text: String) -> String? {
        guard let start = text.range(of: "<\(name)>"), let end = text.range(of: "</\(name)>", range: start.upperBound..<text.endIndex) else {
            return nil
        }
        return String(text[start.upperBound..<end.lowerBound])
    }

    @Test("An email subscription answers 'pending confirmation' and is confirmed by its token")
    func emailSubscriptionIsConfirmedByToken() async throws {
        try await withServer { server, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            let subscribed = try await sns(client, "Action=Subscribe&TopicArn=\(Self.encodedTopicArn)&Protocol=email&Endpoint=a%40example.com")
            #expect(element("SubscriptionArn", in: subscribed.text) == "pending confirmation", "\(subscribed.text)")
            let listed = try await sns(client, "Action=ListSubscriptions")
            #expect(element("SubscriptionArn", in: listed.text) == "PendingConfirmation")
            let withArn = try await sns(client, "Action=Subscribe&TopicArn=\(Self.encodedTopicArn)&Protocol=email"
                + "&Endpoint=a%40example.com&ReturnSubscriptionArn=true")
            let arn = try #require(element("SubscriptionArn", in: withArn.text))
            #expect(arn.hasPrefix("arn:aws:sns:us-east-1:000000000000:t:"))

            let token = try #require(try server.broker.subscription(arn: arn).confirmationToken())
            let confirmed = try await sns(client, "Action=ConfirmSubscription&TopicArn=\(Self.encodedTopicArn)&Token=\(token)"
                + "&AuthenticateOnUnsubscribe=true")
            #expect(element("SubscriptionArn", in: confirmed.text) == arn, "\(confirmed.text)")
            let attributes = try await sns(client, "Action=GetSubscriptionAttributes&SubscriptionArn=\(arn)")
            #expect(attributes.text.contains("<key>PendingConfirmation</key><value>false</value>"), "\(attributes.text)")
            #expect(attributes.text.contains("<key>ConfirmationWasAuthenticated</key><value>true</value>"))
        }
    }

    @Test("A GET of the SubscribeURL's query is routed to ConfirmSubscription and confirms the subscription")
    func subscribeURLQueryConfirms() async throws {
        let broker = Broker(clock: ManualClock())
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(protocol: "https", endpoint: "https://example.com/hook")
        let url = try #require(try subscription.subscribeURL())
        let query = String(url[try #require(url.firstIndex(of: "?"))...])
        let confirmed = await WireService(broker: broker).respond(to: WireRequest(method: "GET", uri: "/" + query))
        #expect(confirmed.status == 200, "\(confirmed.text)")
        #expect(confirmed.text.contains("<SubscriptionArn>\(subscription.arn)</SubscriptionArn>"))
        #expect(try !subscription.isPendingConfirmation())
    }

    @Test("Publish with PhoneNumber is captured; a bad number is InvalidParameter; SMS attributes round-trip")
    func smsOverTheWire() async throws {
        try await withServer { server, client in
            let published = try await sns(client, "Action=Publish&PhoneNumber=%2B15551234567&Message=hello")
            #expect(published.status == 200, "\(published.text)")
            #expect(server.broker.outbox(matching: .phoneNumber("+15551234567")).first?.body == "hello")
            let bad = try await sns(client, "Action=Publish&PhoneNumber=NAA%2B15551234567&Message=hello")
            #expect(bad.text.contains("<Code>InvalidParameter</Code>") && bad.text.contains("does not meet the E164 format"))

            let set = try await sns(client, "Action=SetSMSAttributes&attributes.entry.1.key=DefaultSMSType&attributes.entry.1.value=Transactional")
            #expect(set.status == 200, "\(set.text)")
            let read = try await sns(client, "Action=GetSMSAttributes&attributes.member.1=DefaultSMSType")
            #expect(read.text.contains("<key>DefaultSMSType</key><value>Transactional</value>"), "\(read.text)")
            let optedOut = try await sns(client, "Action=CheckIfPhoneNumberIsOptedOut&phoneNumber=%2B15551234567")
            #expect(element("isOptedOut", in: optedOut.text) == "false", "\(optedOut.text)")
            let sandbox = try await sns(client, "Action=GetSMSSandboxAccountStatus")
            #expect(element("IsInSandbox", in: sandbox.text) == "false", "\(sandbox.text)")
            _ = try await sns(client, "Action=CreateSMSSandboxPhoneNumber&PhoneNumber=%2B15550001111")
            let numbers = try await sns(client, "Action=ListSMSSandboxPhoneNumbers")
            #expect(element("Status", in: numbers.text) == "Pending", "\(numbers.text)")
        }
    }

    @Test("Platform applications and endpoints over the wire; a disabled endpoint is EndpointDisabled")
    func mobilePushOverTheWire() async throws {
        try await withServer { server, client in
            let created = try await sns(client, "Action=CreatePlatformApplication&Name=app&Platform=GCM"
                + "&Attributes.entry.1.key=PlatformCredential&Attributes.entry.1.value=key")
            let application = try #require(element("PlatformApplicationArn", in: created.text), "\(created.text)")
            #expect(application == "arn:aws:sns:us-east-1:000000000000:app/GCM/app")
            let endpoint = try await sns(client, "Action=CreatePlatformEndpoint&PlatformApplicationArn=\(application)&Token=device"
                + "&Attributes.entry.1.key=Enabled&Attributes.entry.1.value=false")
            let endpointArn = try #require(element("EndpointArn", in: endpoint.text), "\(endpoint.text)")
            let listed = try await sns(client, "Action=ListEndpointsByPlatformApplication&PlatformApplicationArn=\(application)")
            #expect(listed.text.contains(endpointArn))
            let disabled = try await sns(client, "Action=Publish&TargetArn=\(endpointArn)&Message=msg&MessageStructure=json")
            #expect(disabled.text.contains("<Code>EndpointDisabled</Code>") && disabled.text.contains("<Message>Endpoint is disabled</Message>"),
                    "\(disabled.text)")
            _ = try await sns(client, "Action=SetEndpointAttributes&EndpointArn=\(endpointArn)&Attributes.entry.1.key=Enabled"
                + "&Attributes.entry.1.value=true")
            let sent = try await sns(client, "Action=Publish&TargetArn=\(endpointArn)&Message=hi")
            #expect(sent.status == 200, "\(sent.text)")
            #expect(server.broker.outbox(matching: SNSOutboxFilter(endpoint: endpointArn)).first?.body == "hi")
            let missing = try await sns(client, "Action=GetPlatformApplicationAttributes&PlatformApplicationArn=\(application)2")
            #expect(missing.text.contains("<Code>NotFound</Code>") && missing.text.contains("PlatformApplication does not exist"))
        }
    }

    @Test("The outbox route answers JSON, filters by query parameters, and empties on DELETE")
    func outboxRoute() throws {
        let broker = Broker(clock: ManualClock())
        try broker.publish(phoneNumber: "+15551234567", message: "one")
        try broker.publish(phoneNumber: "+15557654321", message: "two", messageAttributes: ["AWS.SNS.SMS.SMSType": .string("Promotional")])
        #expect(SNSOutboxRoute.response(to: WireRequest(method: "GET", uri: "/_broker/other"), broker: broker) == nil)
        let all = try #require(SNSOutboxRoute.response(to: WireRequest(method: "GET", uri: "/_broker/sns/outbox"), broker: broker))
        #expect(all.status == 200)
        #expect(all.header("content-type") == "application/json")
        let parsed = try #require(try JSONSerialization.jsonObject(with: Data(all.body)) as? [String: [[String: Any]]])
        #expect(parsed["messages"]?.map { $0["body"] as? String } == ["one", "two"])
        let filtered = try #require(SNSOutboxRoute.response(
            to: WireRequest(method: "GET", uri: "/_broker/sns/outbox?phoneNumber=%2B15557654321"), broker: broker))
        let one = try #require(try JSONSerialization.jsonObject(with: Data(filtered.body)) as? [String: [[String: Any]]])
        #expect(one["messages"]?.count == 1)
        #expect((one["messages"]?.first?["attributes"] as? [String: String]) == ["AWS.SNS.SMS.SMSType": "Promotional"])
        let other = try #require(SNSOutboxRoute.response(
            to: WireRequest(method: "GET", uri: "/_broker/sns/outbox?region=eu-west-1"), broker: broker))
        #expect(other.text == #"{"messages":[]}"#)
        _ = SNSOutboxRoute.response(to: WireRequest(method: "DELETE", uri: "/_broker/sns/outbox"), broker: broker)
        #expect(broker.outbox().isEmpty)
    }
}

import Broker
@testable import BrokerServer
import Foundation
import Testing

/// SNS's Query answers for the rules of topics, subscriptions and publishing, over a real loopback socket.
@Suite("SNS over the wire")
struct SNSWireTests {
    static let topicArn = "arn:aws:sns:us-east-1:000000000000:t"
    static let encodedTopicArn = "arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3At"

    private func sns(_ client: TestClient, _ form: String) async throws -> TestResponse {
        try await client.query("Version=2010-03-31&" + form)
    }

    private func expectError(_ response: TestResponse, _ code: String, _ message: String, status: Int = 400,
                             sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(response.status == status, sourceLocation: sourceLocation)
        #expect(response.text.contains("<Code>\(code)</Code>"), "\(response.text)", sourceLocation: sourceLocation)
        #expect(response.text.contains("<Message>\(message)</Message>"), "\(response.text)", sourceLocation: sourceLocation)
    }

    @Test("FilterPolicyScope before FilterPolicy is accepted and shown once a policy exists")
    func filterPolicyScopeBeforePolicy() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            let subscribed = try await sns(client, "Action=Subscribe&TopicArn=\(Self.encodedTopicArn)&Protocol=sqs"
                + "&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Aq"
                + "&Attributes.entry.1.key=FilterPolicyScope&Attributes.entry.1.value=MessageBody")
            #expect(subscribed.status == 200, "\(subscribed.text)")
            let arn = try #require(subscribed.text.range(of: "<SubscriptionArn>").flatMap { start in
                subscribed.text.range(of: "</SubscriptionArn>").map { String(subscribed.text[start.upperBound..<$0.lowerBound]) }
            })
            var attributes = try await sns(client, "Action=GetSubscriptionAttributes&SubscriptionArn=\(arn)")
            #expect(!attributes.text.contains("FilterPolicyScope"))
            let set = try await sns(client, "Action=SetSubscriptionAttributes&SubscriptionArn=\(arn)&AttributeName=FilterPolicy"
                + "&AttributeValue=%7B%22a%22%3A%7B%22b%22%3A%5B%22c%22%5D%7D%7D")
            #expect(set.status == 200, "\(set.text)")
            attributes = try await sns(client, "Action=GetSubscriptionAttributes&SubscriptionArn=\(arn)")
            #expect(attributes.text.contains("<key>FilterPolicyScope</key><value>MessageBody</value>"), "\(attributes.text)")
        }
    }

    @Test("Unsubscribe: an unknown subscription succeeds, text that is not an ARN is InvalidParameter")
    func unsubscribeAnswers() async throws {
        try await withServer { _, client in
            let unknown = try await sns(client, "Action=Unsubscribe&SubscriptionArn=\(Self.encodedTopicArn)%3Aabc")
            #expect(unknown.status == 200, "\(unknown.text)")
            expectError(try await sns(client, "Action=Unsubscribe&SubscriptionArn=invalid"), "InvalidParameter",
                        "Invalid parameter: SubscriptionArn Reason: An ARN must have at least 6 elements, not 1")
        }
    }

    @Test("Publish to a TargetArn that names nothing, and ConfirmSubscription with a bad token")
    func targetArnAndTokenErrors() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            expectError(try await sns(client, "Action=Publish&Message=m&TargetArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Aendpoint%2FAPNS%2Fx%2Fy"),
                        "InvalidParameter", "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified")
            let viaTarget = try await sns(client, "Action=Publish&Message=m&TargetArn=\(Self.encodedTopicArn)")
            #expect(viaTarget.status == 200)
            expectError(try await sns(client, "Action=ConfirmSubscription&TopicArn=\(Self.encodedTopicArn)&Token=2336412f37fb"),
                        "InvalidParameter", "Invalid parameter: Token")
        }
    }

    @Test("AddPermission and RemovePermission with the SNS Version edit the topic's Policy, not a queue's")
    func topicPermissionsOverTheWire() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            let added = try await sns(client, "Action=AddPermission&TopicArn=\(Self.encodedTopicArn)&Label=p"
                + "&AWSAccountId.member.1=999999999999&ActionName.member.1=Publish")
            #expect(added.status == 200, "\(added.text)")
            #expect(added.text.contains("<AddPermissionResponse"))
            expectError(try await sns(client, "Action=AddPermission&TopicArn=\(Self.encodedTopicArn)&Label=p"
                + "&AWSAccountId.member.1=999999999999&ActionName.member.1=Publish"), "InvalidParameter", "Statement already exists")
            let attributes = try await sns(client, "Action=GetTopicAttributes&TopicArn=\(Self.encodedTopicArn)")
            #expect(attributes.text.contains("arn:aws:iam::999999999999:root"), "\(attributes.text)")
            let removed = try await sns(client, "Action=RemovePermission&TopicArn=\(Self.encodedTopicArn)&Label=p")
            #expect(removed.status == 200, "\(removed.text)")
            expectError(try await sns(client, "Action=RemovePermission&TopicArn=\(Self.encodedTopicArn)x&Label=p"),
                        "NotFound", "Topic does not exist", status: 404)
        }
    }

    @Test("PutDataProtectionPolicy and GetDataProtectionPolicy, and CreateTopic's DataProtectionPolicy")
    func dataProtectionPolicyOverTheWire() async throws {
        try await withServer { _, client in
            let created = try await sns(client, "Action=CreateTopic&Name=t&DataProtectionPolicy=%7B%22Name%22%3A%22a%22%7D")
            #expect(created.status == 200, "\(created.text)")
            var got = try await sns(client, "Action=GetDataProtectionPolicy&ResourceArn=\(Self.encodedTopicArn)")
            #expect(got.text.contains("<DataProtectionPolicy>{&quot;Name&quot;:&quot;a&quot;}</DataProtectionPolicy>")
                    || got.text.contains(#"<DataProtectionPolicy>{"Name":"a"}</DataProtectionPolicy>"#), "\(got.text)")
            let put = try await sns(client, "Action=PutDataProtectionPolicy&ResourceArn=\(Self.encodedTopicArn)"
                + "&DataProtectionPolicy=%7B%22Name%22%3A%22b%22%7D")
            #expect(put.status == 200, "\(put.text)")
            got = try await sns(client, "Action=GetDataProtectionPolicy&ResourceArn=\(Self.encodedTopicArn)")
            #expect(got.text.contains("b&quot;}") || got.text.contains(#""b"}"#), "\(got.text)")
        }
    }

    @Test("TagResource with a key twice is InvalidParameter; ListTopics pages by a numeric token")
    func tagsAndPaging() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            expectError(try await sns(client, "Action=TagResource&ResourceArn=\(Self.encodedTopicArn)"
                + "&Tags.member.1.Key=k&Tags.member.1.Value=1&Tags.member.2.Key=k&Tags.member.2.Value=2"),
                        "InvalidParameter", "Invalid parameter: Duplicated keys are not allowed.")
            for index in 0..<100 { _ = try await sns(client, "Action=CreateTopic&Name=p\(index)") }
            let first = try await sns(client, "Action=ListTopics")
            #expect(first.text.contains("<NextToken>100</NextToken>"), "\(first.text)")
        }
    }

    @Test("PublishBatch: SNS's batch wording, and a FIFO entry without MessageGroupId fails the whole request")
    func publishBatchOverTheWire() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            let entries = (1...11).map { "&PublishBatchRequestEntries.member.\($0).Id=e\($0)&PublishBatchRequestEntries.member.\($0).Message=m" }
            expectError(try await sns(client, "Action=PublishBatch&TopicArn=\(Self.encodedTopicArn)" + entries.joined()),
                        "TooManyEntriesInBatchRequest", "The batch request contains more entries than permissible.")
            expectError(try await sns(client, "Action=PublishBatch&TopicArn=\(Self.encodedTopicArn)"
                + "&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m"
                + "&PublishBatchRequestEntries.member.2.Id=a&PublishBatchRequestEntries.member.2.Message=m"),
                        "BatchEntryIdsNotDistinct", "Two or more batch entries in the request have the same Id.")
            expectError(try await sns(client, "Action=PublishBatch&TopicArn=\(Self.encodedTopicArn)"
                + "&PublishBatchRequestEntries.member.1.Id=a+b&PublishBatchRequestEntries.member.1.Message=m"),
                        "InvalidBatchEntryId", "The Id of a batch entry in the batch request contains an impermissible character.")

            _ = try await sns(client, "Action=CreateTopic&Name=f.fifo&Attributes.entry.1.key=FifoTopic&Attributes.entry.1.value=true"
                + "&Attributes.entry.2.key=ContentBasedDeduplication&Attributes.entry.2.value=true")
            expectError(try await sns(client, "Action=PublishBatch&TopicArn=arn%3Aaws%3Asns%3Aus-east-1%3A000000000000%3Af.fifo"
                + "&PublishBatchRequestEntries.member.1.Id=a&PublishBatchRequestEntries.member.1.Message=m"
                + "&PublishBatchRequestEntries.member.1.MessageGroupId=g"
                + "&PublishBatchRequestEntries.member.2.Id=b&PublishBatchRequestEntries.member.2.Message=m"),
                        "InvalidParameter", "Invalid parameter: The MessageGroupId parameter is required for FIFO topics")
        }
    }

    @Test("Publish refuses a custom data type with no label")
    func emptyCustomTypeIsRefused() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            expectError(try await sns(client, "Action=Publish&TopicArn=\(Self.encodedTopicArn)&Message=m"
                + "&MessageAttributes.entry.1.Name=a&MessageAttributes.entry.1.Value.DataType=String."
                + "&MessageAttributes.entry.1.Value.StringValue=v"),
                        "ParameterValueInvalid",
                        "The message attribute 'a' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
        }
    }

    @Test("GetTopicAttributes lists AWS's attributes; CreateTopic again compares attributes and tags; FifoTopic is fixed")
    func topicAttributesAndCreateTopicAgain() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t&Tags.member.1.Key=team&Tags.member.1.Value=a")
            let attributes = try await sns(client, "Action=GetTopicAttributes&TopicArn=\(Self.encodedTopicArn)")
            #expect(attributes.text.contains("<key>EffectiveDeliveryPolicy</key><value>{&quot;http&quot;:{&quot;defaultHealthyRetryPolicy&quot;")
                    || attributes.text.contains(#"<key>EffectiveDeliveryPolicy</key><value>{"http":{"defaultHealthyRetryPolicy""#),
                    "\(attributes.text)")
            for absent in ["SignatureVersion", "TracingConfig", "DeliveryPolicy</key>", "FifoTopic"] {
                #expect(!attributes.text.contains("<key>\(absent)"), "\(absent) listed")
            }
            let again = try await sns(client, "Action=CreateTopic&Name=t&Attributes.entry.1.key=FifoTopic&Attributes.entry.1.value=false")
            #expect(again.status == 200, "\(again.text)")
            expectError(try await sns(client, "Action=CreateTopic&Name=t&Tags.member.1.Key=team&Tags.member.1.Value=b"),
                        "InvalidParameter", "Invalid parameter: Tags Reason: Topic already exists with different tags")
            expectError(try await sns(client, "Action=SetTopicAttributes&TopicArn=\(Self.encodedTopicArn)&AttributeName=FifoTopic&AttributeValue=false"),
                        "InvalidParameter", "Invalid parameter: AttributeName")
            expectError(try await sns(client, "Action=CreateTopic&Name=bad.name"), "InvalidParameter", "Invalid parameter: Topic Name")
        }
    }

    @Test("Subscribe takes the ARN of a queue that does not exist, twice to the same subscription")
    func subscribeMissingQueue() async throws {
        try await withServer { _, client in
            _ = try await sns(client, "Action=CreateTopic&Name=t")
            let form = "Action=Subscribe&TopicArn=\(Self.encodedTopicArn)&Protocol=sqs&Endpoint=arn%3Aaws%3Asqs%3Aus-east-1%3A000000000000%3Anone"
            let first = try await sns(client, form)
            let second = try await sns(client, form)
            #expect(first.status == 200, "\(first.text)")
            #expect(first.text.contains("<SubscriptionArn>\(Self.topicArn):"))
            let arn = { (text: String) in text.components(separatedBy: "<SubscriptionArn>").last?.components(separatedBy: "<").first }
            #expect(arn(first.text) == arn(second.text))
            expectError(try await sns(client, "Action=Subscribe&TopicArn=\(Self.encodedTopicArn)&Protocol=sqs&Endpoint=unknown"),
                        "InvalidParameter", "Invalid parameter: SQS endpoint ARN")
            let published = try await sns(client, "Action=Publish&TopicArn=\(Self.encodedTopicArn)&Message=m")
            #expect(published.status == 200)
        }
    }
}

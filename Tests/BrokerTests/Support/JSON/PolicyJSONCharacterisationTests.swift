import Foundation
import Testing

@testable import Broker

/// What the policy readers (redrive, allow, delivery and access policies, `MessageStructure`, a subscription's
/// redrive policy, a Lambda batch response, the event-source filter document) accept and what they make of odd
/// content. These pin the behaviour the library had when it read them with Foundation's `JSONSerialization`, which is
/// more lenient than RFC 8259 in places (a trailing comma, a leading byte-order mark) and stricter in others (lone
/// surrogates, numbers beyond `Double`, more than 512 levels).
@Suite("Policy JSON characterisation")
struct PolicyJSONCharacterisationTests {
    static let deep512 = #"{"default":"d","x":"# + String(repeating: "[", count: 511) + String(repeating: "]", count: 511) + "}"
    static let deep513 = #"{"default":"d","x":"# + String(repeating: "[", count: 512) + String(repeating: "]", count: 512) + "}"

    /// Documents that all hold a `default` string, with whether the policy readers take them as a JSON object.
    static let documents: [(String, Bool)] = [
        (#"{"default":"d"}"#, true),
        (" \t\n{\"default\":\"d\"}\r\n ", true),
        (#"{"default":"d",}"#, true),
        (#"{"default":"d","x":[1,]}"#, true),
        (#"{"default":"d" , }"#, true),
        (#"{"default":"d","x":{"y":1,},}"#, true),
        (#"{,"default":"d"}"#, false),
        (#"{"default":"d",,}"#, false),
        (#"{"default":"d","x":[,]}"#, false),
        (#"{"default":"d","x":[1,,2]}"#, false),
        ("\u{FEFF}{\"default\":\"d\"}", true),
        ("\u{FEFF} {\"default\":\"d\"}", true),
        (" \u{FEFF}{\"default\":\"d\"}", false),
        ("\u{FEFF}\u{FEFF}{\"default\":\"d\"}", false),
        (#"{"default":"d","x":1.}"#, false),
        (#"{"default":"d","x":.5}"#, false),
        (#"{"default":"d","x":01}"#, false),
        (#"{"default":"d","x":-01}"#, false),
        (#"{"default":"d","x":+1}"#, false),
        (#"{"default":"d","x":1e}"#, false),
        (#"{"default":"d","x":1.e5}"#, false),
        (#"{"default":"d","x":NaN}"#, false),
        (#"{"default":"d","x":Infinity}"#, false),
        (#"{"default":"d","x":-0.0e-0}"#, true),
        (#"{"default":"d","x":1e308}"#, true),
        (#"{"default":"d","x":1.8e308}"#, false),
        (#"{"default":"d","x":-1e400}"#, false),
        (#"{"default":"d","x":1e-400}"#, true),
        (#"{"default":"d","x":1"# + String(repeating: "0", count: 400) + "}", false),
        (#"{"default":"d","x":123456789012345678901234567890}"#, true),
        (#"{"default":"d","x":18446744073709551616}"#, true),
        (#"{"default":"d","x":"\ud800"}"#, false),
        (#"{"default":"d","x":"\udc00x"}"#, false),
        (#"{"default":"d","x":"\ud800\u0041"}"#, false),
        (#"{"default":"d","\ud800":1}"#, false),
        (#"{"default":"d","x":"\ud83d\ude00\udbff\udfff"}"#, true),
        ("{\"default\":\"d\",\"x\":\"\t\"}", false),
        (#"{"default":"d","x":"\u0000"}"#, true),
        ("{\"default\":\"d\",\"x\":\"\u{7F}\"}", true),
        (#"{"default":"d","x":"\x"}"#, false),
        (#"{"default":"d","x":"\U0041"}"#, false),
        (#"{"default":"d"}x"#, false),
        (#"{"default":"d"}{}"#, false),
        ("{\"default\":\"d\"}\u{0}", false),
        ("{\"default\":\"d\"}\u{A0}", false),
        (#"{'default':'d'}"#, false),
        (#"{default:"d"}"#, false),
        ("{\"default\":\"d\" // note\n}", false),
        (#"{"default":"d","x":tru}"#, false),
        (#"{"default":"d","default":"d"}"#, true),
        (#"[{"default":"d"}]"#, false),
        (#""{\"default\":\"d\"}""#, false),
        (deep512, true),
        (deep513, false),
    ]

    @Test("MessageStructure, topic Policy and DataProtectionPolicy accept the same documents",
          arguments: documents)
    func acceptance(_ document: String, _ accepted: Bool) throws {
        let request = PublishRequest(message: document, messageStructure: "json")
        #expect((try? PublishValidation.structuredBodies(request)) != nil ? accepted : !accepted)
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        #expect((try? topic.setAttribute("Policy", document)) != nil ? accepted : !accepted)
        #expect((try? topic.putDataProtectionPolicy(document)) != nil ? accepted : !accepted)
        let redrive = document.replacingOccurrences(of: #""default""#, with: #""deadLetterTargetArn""#)
            .replacingOccurrences(of: #""d""#, with: #""arn:aws:sqs:us-east-1:000000000000:dlq""#)
        var settings = SubscriptionSettings()
        let subscribed: Void? = try? settings.apply(SubscriptionAttributes(redrivePolicy: redrive), protocol: .sqs)
        #expect(subscribed != nil ? accepted : !accepted)
    }

    @Test("MessageStructure keeps the last of repeated keys and ignores entries that are not strings")
    func messageStructureOddContent() throws {
        func bodies(_ message: String) -> [String: String]? {
            try? PublishValidation.structuredBodies(PublishRequest(message: message, messageStructure: "json"))
        }
        #expect(bodies(#"{"default":"a","default":"b"}"#) == ["default": "b"])
        #expect(bodies(#"{"default":"a","default":1}"#) == nil)
        #expect(bodies(#"{"default":1,"default":"b"}"#) == ["default": "b"])
        #expect(bodies(#"{"default":"d","sqs":{"a":1},"email":null,"http":true,"lambda":["x"],"sms":5}"#) == ["default": "d"])
        #expect(bodies(#"{"default":"","sqs":"\u00e9\n"}"#) == ["default": "", "sqs": "é\n"])
        let error = expectBrokerError(.invalidParameter) {
            _ = try PublishValidation.structuredBodies(PublishRequest(message: #"{"default":null}"#, messageStructure: "json"))
        }
        #expect(error?.message == "Invalid parameter: Message Structure - No default entry in JSON message body")
    }

    @Test("RedrivePolicy reads maxReceiveCount as Foundation's number bridging did", arguments: [
        ("5", 5), (#""5""#, 5), ("5.0", 5), ("5e0", 5), ("true", 1), ("false", 0), ("-3", -3), ("0.5e1", 5),
        ("9007199254740993", 9_007_199_254_740_992), (#""-2""#, -2),
    ])
    func redriveCounts(_ count: String, _ expected: Int) throws {
        let policy = try RedrivePolicy(json: #"{"deadLetterTargetArn":"arn:x","maxReceiveCount":\#(count)}"#)
        #expect(policy.maxReceiveCount == expected)
        #expect(policy.deadLetterTargetArn == "arn:x")
    }

    @Test("RedrivePolicy refuses with AWS's reasons, in AWS's order", arguments: [
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":5.5}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":" 5"}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":"5.0"}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":1e300}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":null}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":[5]}"#, "Redrive policy does not contain mandatory attribute: maxReceiveCount."),
        (#"{"deadLetterTargetArn":5,"maxReceiveCount":5}"#, "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."),
        (#"{"maxReceiveCount":"x"}"#, "Redrive policy does not contain mandatory attribute: deadLetterTargetArn."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":5,"x":1}"#, "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount]."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":5,}"#, nil),
        (#"{"deadLetterTargetArn":"a","deadLetterTargetArn":"b","maxReceiveCount":5}"#, nil),
        (#"[1]"#, "Redrive policy is not a valid JSON map."),
        (#"{"deadLetterTargetArn":"a","maxReceiveCount":5"#, "Redrive policy is not a valid JSON map."),
    ] as [(String, String?)])
    func redriveErrors(_ json: String, _ reason: String?) {
        do {
            let policy = try RedrivePolicy(json: json)
            #expect(reason == nil)
            #expect(policy.maxReceiveCount == 5)
            #expect(policy.deadLetterTargetArn == (json.contains(#""b""#) ? "b" : "a"))
        } catch {
            #expect(error.message.hasSuffix("Reason: \(reason ?? "")") || error.message.contains(reason ?? "<accepted>"),
                    "\(error.message)")
        }
    }

    @Test("RedriveAllowPolicy reads lists of strings only, and a null list counts as a list")
    func redriveAllow() throws {
        #expect(try RedriveAllowPolicy(json: #"{"redrivePermission":"byQueue","sourceQueueArns":["a","b"],}"#) == .byQueue(["a", "b"]))
        for json in [#"{"redrivePermission":"byQueue","sourceQueueArns":["a",1]}"#,
                     #"{"redrivePermission":"byQueue","sourceQueueArns":[]}"#,
                     #"{"redrivePermission":"byQueue","sourceQueueArns":"a"}"#,
                     #"{"redrivePermission":"allowAll","sourceQueueArns":null}"#,
                     #"{"redrivePermission":true}"#] {
            #expect(throws: BrokerError.self) { try RedriveAllowPolicy(json: json) }
        }
        #expect(try RedriveAllowPolicy(json: #"{"redrivePermission":"denyAll","redrivePermission":"allowAll"}"#) == .allowAll)
    }

    @Test("DeliveryPolicy reads integers and booleans as Foundation's number bridging did")
    func deliveryPolicy() throws {
        let policy = try DeliveryPolicy(json: #"{"healthyRetryPolicy":{"numRetries":true,"minDelayTarget":2.0,"maxDelayTarget":2e1},"throttlePolicy":{"maxReceivesPerSecond":1.0},}"#)
        #expect(policy.numRetries == 1 && policy.minDelayTarget == 2 && policy.maxDelayTarget == 20)
        #expect(policy.maxReceivesPerSecond == 1)
        let topic = try DeliveryPolicy(json: #"{"http":{"defaultHealthyRetryPolicy":{"numRetries":0},"disableSubscriptionOverrides":1}}"#)
        #expect(topic.disableSubscriptionOverrides && topic.numRetries == 0)
        #expect(try !DeliveryPolicy(json: #"{"http":{"disableSubscriptionOverrides":0.0}}"#).disableSubscriptionOverrides)
        #expect(try DeliveryPolicy(json: #"{"healthyRetryPolicy":[1]}"#).numRetries == 3)
        #expect(try DeliveryPolicy(json: #"{"throttlePolicy":{"maxReceivesPerSecond":true}}"#).maxReceivesPerSecond == 1)
        for json in [#"{"healthyRetryPolicy":{"numRetries":"3"}}"#, #"{"healthyRetryPolicy":{"numRetries":1.5}}"#,
                     #"{"healthyRetryPolicy":{"numRetries":null}}"#, #"{"http":{"disableSubscriptionOverrides":2}}"#,
                     #"{"http":{"disableSubscriptionOverrides":"true"}}"#, #"{"healthyRetryPolicy":{"backoffFunction":1}}"#,
                     #"{"throttlePolicy":{"maxReceivesPerSecond":false}}"#, "[]"] {
            #expect(throws: BrokerError.self, "\(json)") { try DeliveryPolicy(json: json) }
        }
    }

    @Test("AddPermission and RemovePermission rewrite the policy: AWS's key order, last of repeated keys, numbers as Foundation wrote them")
    func permissionsRewrite() throws {
        let policy = #"{"Statement":[{"Sid":"a","Condition":{"NumericLessThan":{"x":1.0,"y":1e-7,"z":-0,"w":12345678901234567890,"v":2.50,"u":1e21}},"Effect":"Allow","Zed":true,"Alpha":null}],"Version":"2012-10-17","Id":"x","Id":"y","extra":[1.5,false,"\u00e9\b"],}"#
        let added = try TopicPermissions.adding(label: "b", accountIds: ["1", "2"], actionNames: ["Publish"], to: policy, topicArn: "arn:t")
        #expect(added == #"{"Version":"2012-10-17","Id":"y","Statement":[{"Sid":"a","Effect":"Allow","Condition":{"NumericLessThan":{"u":1e+21,"v":2.5,"w":12345678901234567890,"x":1,"y":1e-07,"z":0}},"Alpha":null,"Zed":true},{"Sid":"b","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::1:root","arn:aws:iam::2:root"]},"Action":"SNS:Publish","Resource":"arn:t"}],"extra":[1.5,false,"é\b"]}"#)
        let removed = TopicPermissions.removing(label: "a", from: policy)
        #expect(removed == #"{"Version":"2012-10-17","Id":"y","Statement":[],"extra":[1.5,false,"é\b"]}"#)
        #expect(TopicPermissions.removing(label: "none", from: policy) == nil)
        #expect(TopicPermissions.removing(label: "a", from: "not json") == nil)
        #expect(try TopicPermissions.adding(label: "b", accountIds: ["1"], actionNames: ["*"], to: "not json", topicArn: "t")
                == #"{"Statement":[{"Sid":"b","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::1:root"},"Action":"SNS:*","Resource":"t"}]}"#)
        #expect(throws: BrokerError.self) {
            try TopicPermissions.adding(label: "a", accountIds: ["1"], actionNames: ["*"], to: policy, topicArn: "t")
        }
    }

    @Test("a Lambda batch response is read as it was", arguments: [
        (#"{"batchItemFailures":[{"itemIdentifier":"a"},{"itemIdentifier":"b"}]}"#, ["a", "b"], false),
        (#"{"batchItemFailures":[{"itemIdentifier":1}]}"#, [nil], false),
        (#"{"batchItemFailures":[{"itemIdentifier":"a","itemIdentifier":"c"}],}"#, ["c"], false),
        (#"{"batchItemFailures":[{"itemIdentifier":"a","x":1},{"itemIdentifier":"b"}]}"#, ["b"], true),
        (#"{"batchItemFailures":[[]]}"#, [], true),
        (#"{"batchItemFailures":{}}"#, nil, true),
        (#"{"batchItemFailures":null}"#, nil, false),
        (#"{}"#, nil, false),
        ("[]", nil, true),
        ("not json", nil, true),
    ] as [(String, [String?]?, Bool)])
    func batchResponse(_ json: String, _ identifiers: [String?]?, _ malformed: Bool) {
        let response = SQSBatchResponse(json: json)
        #expect(response.batchItemFailures?.map(\.itemIdentifier) == identifiers)
        #expect(response.isMalformed == malformed)
    }

    @Test("the event-source filter document embeds a JSON body as written and quotes any other", arguments: [
        (#"{"a":1}"#, #"{"body":{"a":1},"#),
        ("  [1, 2]\n", #"{"body":[1, 2],"#),
        (#"{"a":1,}"#, #"{"body":{"a":1,},"#),
        ("\u{FEFF}{}", "{\"body\":\"\u{FEFF}{}\","),
        (#"{"a":"\ud800"}"#, #"{"body":"{\"a\":\"\\ud800\"}","#),
        (#"{"a":1e400}"#, #"{"body":"{\"a\":1e400}","#),
        ("\"text\"", #"{"body":"\"text\"","#),
        ("plain\ttext", #"{"body":"plain\ttext","#),
        ("{not json", #"{"body":"{not json","#),
    ])
    func filterDocument(_ body: String, _ prefix: String) async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        try queue.sendMessage(body)
        let message = try #require(try await queue.receiveMessages().first)
        let document = EventSourceMapping.filterDocument(SQSEventRecord(message, queueArn: queue.arn, region: "us-east-1"))
        #expect(document.hasPrefix(prefix), "\(document)")
        #expect(document.hasSuffix(#""messageAttributes":{}}"#))
    }
}

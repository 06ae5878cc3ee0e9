import Foundation
import Testing

@testable import Broker

/// CreateTopic, Get/SetTopicAttributes, tags, permissions and data protection as AWS answers them.
@Suite struct TopicAttributeTests {
    static let defaultEffectiveDeliveryPolicy =
        #"{"http":{"defaultHealthyRetryPolicy":{"minDelayTarget":20,"maxDelayTarget":20,"numRetries":3,"numMaxDelayRetries":0,"numNoDelayRetries":0,"numMinDelayRetries":0,"backoffFunction":"linear"},"disableSubscriptionOverrides":false,"defaultRequestPolicy":{"headerContentType":"text/plain; charset=UTF-8"}}}"#

    @Test("A new topic lists only the attributes AWS lists, with AWS's default EffectiveDeliveryPolicy")
    func newTopicListsAWSsAttributes() throws {
        let (broker, _) = makeBroker()
        let standard = try broker.createTopic(named: "t").attributes()
        #expect(Set(standard.keys) == ["TopicArn", "Owner", "DisplayName", "Policy", "SubscriptionsConfirmed",
                                       "SubscriptionsPending", "SubscriptionsDeleted", "EffectiveDeliveryPolicy"])
        #expect(standard["EffectiveDeliveryPolicy"] == Self.defaultEffectiveDeliveryPolicy)
        let fifo = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true)).attributes()
        #expect(fifo["FifoTopic"] == "true")
        #expect(fifo["ContentBasedDeduplication"] == "false")
        #expect(fifo["FifoThroughputScope"] == nil)
    }

    @Test("SignatureVersion, TracingConfig and FifoThroughputScope are listed once set")
    func optionalAttributesAreListedOnceSet() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t.fifo", attributes: TopicAttributes(fifoTopic: true))
        try topic.setAttribute("SignatureVersion", "2")
        try topic.setAttribute("TracingConfig", "Active")
        try topic.setAttribute("FifoThroughputScope", "MessageGroup")
        let attributes = try topic.attributes()
        #expect(attributes["SignatureVersion"] == "2")
        #expect(attributes["TracingConfig"] == "Active")
        #expect(attributes["FifoThroughputScope"] == "MessageGroup")
    }

    @Test("SetTopicAttributes refuses FifoTopic, whatever its value", arguments: ["false", "true"])
    func setTopicAttributesRefusesFifoTopic(value: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let error = expectBrokerError(.invalidParameter) { try topic.setAttribute("FifoTopic", value) }
        #expect(error?.message == "Invalid parameter: AttributeName")
    }

    @Test("CreateTopic again: FifoTopic=false is the same standard topic; other attributes must match")
    func createTopicAgainComparesOnlyTheGivenAttributes() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t", attributes: TopicAttributes(displayName: "Orders"))
        #expect(try broker.createTopic(named: "t", attributes: TopicAttributes(fifoTopic: false)) == topic)
        #expect(try broker.createTopic(named: "t", attributes: TopicAttributes(displayName: "Orders")) == topic)
        let error = expectBrokerError(.invalidParameter) {
            try broker.createTopic(named: "t", attributes: TopicAttributes(displayName: "Other"))
        }
        #expect(error?.message == "Invalid parameter: Attributes Reason: Topic already exists with different attributes")
    }

    @Test("CreateTopic again with tags: the same tags are the same topic, different ones fail, none is fine")
    func createTopicAgainWithDifferentTagsFails() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t", tags: ["team": "orders"])
        #expect(try broker.createTopic(named: "t", tags: ["team": "orders"]) == topic)
        #expect(try broker.createTopic(named: "t") == topic)
        let error = expectBrokerError(.invalidParameter) { try broker.createTopic(named: "t", tags: ["team": "billing"]) }
        #expect(error?.message == "Invalid parameter: Tags Reason: Topic already exists with different tags")
        #expect(try topic.tags() == ["team": "orders"])
    }

    @Test("TagResource with a key twice fails and changes nothing")
    func tagResourceWithADuplicateKeyFails() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let error = expectBrokerError(.invalidParameter) {
            try topic.tag(keyValuePairs: [(key: "a", value: "1"), (key: "a", value: "2")])
        }
        #expect(error?.message == "Invalid parameter: Duplicated keys are not allowed.")
        #expect(try topic.tags().isEmpty)
        try topic.tag(keyValuePairs: [(key: "a", value: "1"), (key: "b", value: "2")])
        #expect(try topic.tags() == ["a": "1", "b": "2"])
    }

    @Test("ListTopics' NextToken is the next page's offset")
    func listTopicsTokenIsAnOffset() throws {
        let (broker, _) = makeBroker()
        for index in 0..<150 { try broker.createTopic(named: "t\(index)") }
        let first = try broker.listTopics()
        #expect(first.nextToken == "100")
        let second = try broker.listTopics(nextToken: "100")
        #expect(second.topicArns.count == 50)
        #expect(second.nextToken == nil)
        expectBrokerError(.invalidParameter) { _ = try broker.listTopics(nextToken: "MTAw") }
    }
}

@Suite struct TopicPermissionTests {
    private func statements(_ topic: Topic) throws -> [[String: Any]] {
        let policy = try #require(try topic.attributes()["Policy"])
        let document = try #require(try JSONSerialization.jsonObject(with: Data(policy.utf8)) as? [String: Any])
        #expect(document["Version"] as? String == "2008-10-17")
        return try #require(document["Statement"] as? [[String: Any]])
    }

    @Test("AddPermission adds a labelled statement after the default one; RemovePermission takes it away")
    func addAndRemovePermission() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        try topic.addPermission(label: "one", accountIds: ["999999999999"], actionNames: ["Publish"])
        var all = try statements(topic)
        #expect(all.count == 2)
        #expect(all[0]["Sid"] as? String == "__default_statement_ID")
        #expect(all[1]["Sid"] as? String == "one")
        #expect(all[1]["Effect"] as? String == "Allow")
        #expect(all[1]["Action"] as? String == "SNS:Publish")
        #expect((all[1]["Principal"] as? [String: String])?["AWS"] == "arn:aws:iam::999999999999:root")
        #expect(all[1]["Resource"] as? String == topic.arn)

        try topic.addPermission(label: "two", accountIds: ["888888888888", "999999999999"], actionNames: ["Publish", "Subscribe"])
        all = try statements(topic)
        #expect(all[2]["Action"] as? [String] == ["SNS:Publish", "SNS:Subscribe"])
        #expect((all[2]["Principal"] as? [String: [String]])?["AWS"] == ["arn:aws:iam::888888888888:root", "arn:aws:iam::999999999999:root"])

        try topic.removePermission(label: "one")
        try topic.removePermission(label: "never-added")
        #expect(try statements(topic).map { $0["Sid"] as? String } == ["__default_statement_ID", "two"])
    }

    @Test("AddPermission refuses a label in use and an action SNS does not have")
    func addPermissionErrors() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        try topic.addPermission(label: "one", accountIds: ["999999999999"], actionNames: ["Publish"])
        var error = expectBrokerError(.invalidParameter) {
            try topic.addPermission(label: "one", accountIds: ["999999999999"], actionNames: ["AddPermission"])
        }
        #expect(error?.message == "Statement already exists")
        error = expectBrokerError(.invalidParameter) {
            try topic.addPermission(label: "two", accountIds: ["999999999999"], actionNames: ["NotExistingAction"])
        }
        #expect(error?.message == "Policy statement action out of service scope!")
        broker.deleteTopic(topic)
        expectBrokerError(.notFound) { try topic.addPermission(label: "x", accountIds: ["999999999999"], actionNames: ["Publish"]) }
        expectBrokerError(.notFound) { try topic.removePermission(label: "one") }
    }

    @Test("A data protection policy is stored and returned")
    func dataProtectionPolicyIsStored() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        #expect(try topic.dataProtectionPolicy() == nil)
        let policy = #"{"Name":"p","Description":"","Version":"2021-06-01","Statement":[]}"#
        try topic.putDataProtectionPolicy(policy)
        #expect(try topic.dataProtectionPolicy() == policy)
        expectBrokerError(.invalidParameter) { try topic.putDataProtectionPolicy("not json") }
    }
}

/// Topic values AWS refuses at write time, so nothing stored can later break an answer.
struct TopicInputRulesTests {
    @Test(arguments: ["bell\u{7}", "tab\there", "é accent", "line\nbreak", String(repeating: "x", count: 101)])
    func displayNameOutsidePrintableASCIIIsRefused(name: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        #expect(throws: BrokerError(.invalidParameter, "Invalid parameter: DisplayName")) {
            try topic.setAttribute("DisplayName", name)
        }
        #expect(try topic.attributes()["DisplayName"] == "")
    }

    @Test func printableDisplayNameIsStored() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        try topic.setAttribute("DisplayName", "Orders & Co. <shop> ~ 100%")
        #expect(try topic.attributes()["DisplayName"] == "Orders & Co. <shop> ~ 100%")
    }

    @Test(arguments: ["bell\u{7}", "quote\"", "semi;colon", "\u{FFFF}"])
    func tagsOutsideAWSAlphabetAreRefused(text: String) throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        #expect(throws: BrokerError.self) { try topic.tag(["team": text]) }
        #expect(throws: BrokerError.self) { try topic.tag([text: "x"]) }
        #expect(throws: BrokerError.self) { try broker.createTopic(named: "tagged", tags: ["team": text]) }
        #expect(try topic.tags().isEmpty)
        try topic.tag(["Größe": "shop floor_1.a:b/c=d+e-f@g"])
        #expect(try topic.tags() == ["Größe": "shop floor_1.a:b/c=d+e-f@g"])
    }
}

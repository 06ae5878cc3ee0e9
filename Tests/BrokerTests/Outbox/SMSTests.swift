import Foundation
import Testing

@testable import Broker

/// Text messages: Publish to a phone number, account SMS attributes, opt-outs and the SMS sandbox.
@Suite struct SMSTests {
    @Test("Publishing to a phone number is captured with its SMS attributes")
    func publishToPhoneNumberIsCaptured() throws {
        let (broker, _) = makeBroker()
        let id = try broker.publish(phoneNumber: "+15551234567", message: "your code is 1234",
                                    messageAttributes: ["AWS.SNS.SMS.SenderID": .string("Shop")])
        let text = try #require(broker.outbox(matching: .phoneNumber("+15551234567")).first)
        #expect(text.messageId == id)
        #expect(text.body == "your code is 1234")
        #expect(text.attributes == ["AWS.SNS.SMS.SenderID": "Shop"])
        #expect(text.topicArn == nil && text.subscriptionArn == nil)
    }

    @Test("Message ids of texts follow the broker's seed: the same seed repeats them, another differs")
    func smsMessageIdsFollowTheSeed() throws {
        let ids = { (seed: UInt64) throws -> [String] in
            let (broker, _) = makeBroker(seed: seed)
            return try (0..<3).map { _ in try broker.publish(phoneNumber: "+15551234567", message: "x") }
        }
        #expect(try ids(1) == ids(1))
        #expect(try ids(1) != ids(2))
        #expect(try Set(ids(1)).count == 3)
    }

    @Test("With MessageStructure json the text is the sms entry, else default")
    func structuredMessageToPhoneNumber() throws {
        let (broker, _) = makeBroker()
        try broker.publish(phoneNumber: "+15551234567", message: #"{"default":"d","sms":"s"}"#, messageStructure: "json")
        try broker.publish(phoneNumber: "+15551234567", message: #"{"default":"d"}"#, messageStructure: "json")
        #expect(broker.outbox().map(\.body) == ["s", "d"])
        expectBrokerError(.invalidParameter) {
            try broker.publish(phoneNumber: "+15551234567", message: "not json", messageStructure: "json")
        }
    }

    @Test("A phone number that is not E.164, or a text over 1600 characters, is refused")
    func badNumbersAndLongTextsAreRefused() {
        let (broker, _) = makeBroker()
        let bad = expectBrokerError(.invalidParameter) { try broker.publish(phoneNumber: "NAA+15551234567", message: "x") }
        #expect(bad?.message.contains("does not meet the E164 format") == true)
        let long = expectBrokerError(.invalidParameter) {
            try broker.publish(phoneNumber: "+15551234567", message: String(repeating: "a", count: 1601))
        }
        #expect(long?.message.contains("must be less than 1600") == true)
        expectBrokerError(.invalidParameter) {
            try broker.publish(phoneNumber: "+15551234567", message: "x", messageAttributes: ["AWS.SNS.SMS.SMSType": .string("Urgent")])
        }
    }

    @Test("SMS attributes take AWS's names and values; reading filters by name")
    func smsAttributesAreValidated() throws {
        let (broker, _) = makeBroker()
        try broker.setSMSAttributes(["DefaultSMSType": "Transactional", "DefaultSenderID": "Shop1", "MonthlySpendLimit": "5"])
        #expect(broker.smsAttributes(names: ["DefaultSMSType"]) == ["DefaultSMSType": "Transactional"])
        #expect(broker.smsAttributes().count == 3)
        for (name, value) in [("DefaultSMSType", "Urgent"), ("DefaultSenderID", "12345"), ("DefaultSenderID", "TwelveLetters"),
                              ("DeliveryStatusSuccessSamplingRate", "101"), ("MonthlySpendLimit", "lots"), ("test", "test")] {
            expectBrokerError(.invalidParameter) { try broker.setSMSAttributes([name: value]) }
        }
        #expect(broker.smsAttributes().count == 3)
    }

    @Test("An opted-out number is reported, listed, gets no texts, and can opt back in")
    func optOutAndOptIn() throws {
        let (broker, _) = makeBroker()
        #expect(try !broker.isPhoneNumberOptedOut("+15551234567"))
        try broker.optOut(phoneNumber: "+15551234567")
        #expect(try broker.isPhoneNumberOptedOut("+15551234567"))
        #expect(try broker.listPhoneNumbersOptedOut().phoneNumbers == ["+15551234567"])
        try broker.publish(phoneNumber: "+15551234567", message: "hello")
        #expect(broker.outbox().isEmpty)
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(protocol: "sms", endpoint: "+1-555-123-4567")
        try topic.publish("from a topic")
        #expect(broker.outbox().isEmpty, "an opted-out number gets nothing from a topic either")
        #expect(try subscription.statistics().dropped == 1)
        try broker.optInPhoneNumber("+15551234567")
        try topic.publish("again")
        #expect(broker.outbox().map(\.body) == ["again"])
        #expect(try broker.listPhoneNumbersOptedOut().phoneNumbers.isEmpty)
        expectBrokerError(.invalidParameter) { _ = try broker.isPhoneNumberOptedOut("+44742LALALA") }
    }

    @Test("A sandbox number is texted a one-time password, verified by it, listed and deleted")
    func sandboxNumbers() throws {
        let (broker, _) = makeBroker()
        try broker.createSMSSandboxPhoneNumber("+15551234567")
        #expect(try broker.listSMSSandboxPhoneNumbers().phoneNumbers.map(\.status) == [.pending])
        let text = try #require(broker.outbox(matching: .phoneNumber("+15551234567")).first)
        let password = String(text.body.suffix(6))
        expectBrokerError(.verification) { try broker.verifySMSSandboxPhoneNumber("+15551234567", oneTimePassword: "000000x") }
        try broker.verifySMSSandboxPhoneNumber("+15551234567", oneTimePassword: password)
        #expect(try broker.listSMSSandboxPhoneNumbers().phoneNumbers.map(\.status) == [.verified])
        try broker.deleteSMSSandboxPhoneNumber("+15551234567")
        expectBrokerError(.snsResourceNotFound) { try broker.deleteSMSSandboxPhoneNumber("+15551234567") }
        expectBrokerError(.invalidParameter) { try broker.createSMSSandboxPhoneNumber("+15551234567", languageCode: "xx-XX") }
        #expect(!broker.isInSMSSandbox)
        #expect(try broker.listOriginationNumbers().phoneNumbers.isEmpty)
    }
}

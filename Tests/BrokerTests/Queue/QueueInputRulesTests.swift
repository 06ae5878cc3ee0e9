import Foundation
import Testing

@testable import Broker

/// Values AWS refuses at write time, so nothing stored can later break an answer.
struct QueueInputRulesTests {
    @Test(arguments: [("VisibilityTimeout", " 30"), ("VisibilityTimeout", "30 "), ("DelaySeconds", " 5"),
                      ("DelaySeconds", "5\t"), ("MessageRetentionPeriod", " 60")])
    func numbersWithSurroundingSpaceAreInvalidAttributeValues(name: String, value: String) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        #expect(throws: BrokerError(.invalidAttributeValue, "Invalid value for the parameter \(name).")) {
            try queue.setAttributes(awsAttributes: [name: value])
        }
        #expect(throws: BrokerError.self) { try broker.createQueue(named: "other", awsAttributes: [name: value]) }
    }

    @Test(arguments: ["not json", "[1, 2]", "\"a string\"", "{\"Statement\": ", "{\u{1}}"])
    func policyThatIsNotAJSONObjectIsRefused(policy: String) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        #expect(throws: BrokerError(.invalidAttributeValue, "Invalid value for the parameter Policy.")) {
            try queue.setAttributes(awsAttributes: ["Policy": policy])
        }
        #expect(try queue.attributes(["Policy"])["Policy"] == nil)
    }

    @Test func policyDocumentIsStoredAndAnEmptyOneRemovesIt() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        let document = #"{"Version":"2012-10-17","Statement":[]}"#
        try queue.setAttributes(awsAttributes: ["Policy": document])
        #expect(try queue.attributes(["Policy"])["Policy"] == document)
        try queue.setAttributes(awsAttributes: ["Policy": ""])
        #expect(try queue.attributes(["Policy"])["Policy"] == nil)
    }

    @Test(arguments: ["bell\u{7}", "nul\u{0}", "tab\tinside", "line\nbreak", "quote\"", "angle<", "semi;colon", "\u{FFFE}"])
    func tagValuesOutsideAWSAlphabetAreRefused(value: String) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        #expect(throws: BrokerError.self) { try queue.tag(["team": value]) }
        #expect(throws: BrokerError.self) { try queue.tag([value: "x"]) }
        #expect(throws: BrokerError.self) { try broker.createQueue(named: "tagged", tags: ["team": value]) }
        #expect(try queue.tags().isEmpty)
    }

    @Test func tagValuesInAWSAlphabetAreStored() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "q")
        let tags = ["team": "shop floor_1.a:b/c=d+e-f@g", "Größe": "日本語 ٣", "empty": ""]
        try queue.tag(tags)
        #expect(try queue.tags() == tags)
    }
}

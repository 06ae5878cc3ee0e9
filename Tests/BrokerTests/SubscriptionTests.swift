import Foundation
import Testing

@testable import Broker

/// Subscribe, SetSubscriptionAttributes and Unsubscribe as AWS answers them.
@Suite struct SubscriptionTests {
    @Test("FilterPolicyScope set before any FilterPolicy is accepted, hidden, and applied to the next policy",
          arguments: [false, true])
    func filterPolicyScopeBeforePolicyAppliesToTheNextPolicy(onSubscribe: Bool) async throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let queue = try broker.createQueue(named: "q")
        let subscription: Subscription
        if onSubscribe {
            subscription = try topic.subscribe(queue, attributes: SubscriptionAttributes(filterPolicyScope: "MessageBody"))
        } else {
            subscription = try topic.subscribe(queue)
            try subscription.setAttribute("FilterPolicyScope", "MessageBody")
        }
        #expect(try subscription.attributes()["FilterPolicyScope"] == nil)
        #expect(try subscription.attributes()["FilterPolicy"] == nil)

        try subscription.setAttribute("FilterPolicy", #"{"store": ["example_corp"]}"#)
        #expect(try subscription.attributes()["FilterPolicyScope"] == "MessageBody")
        try topic.publish(#"{"store": "other"}"#, messageAttributes: ["store": .string("example_corp")])
        try topic.publish(#"{"store": "example_corp"}"#)
        let bodies = try await queue.receiveMessages(maxNumberOfMessages: 10).map(\.body)
        #expect(bodies.count == 1)
        #expect(bodies.first?.contains(#"{\"store\": \"example_corp\"}"#) == true)
    }

    @Test("Removing the filter policy hides its scope; a later policy keeps it")
    func removedPolicyKeepsItsScopeForTheNext() throws {
        let (broker, _) = makeBroker()
        let topic = try broker.createTopic(named: "t")
        let subscription = try topic.subscribe(try broker.createQueue(named: "q"), attributes: SubscriptionAttributes(
            filterPolicy: #"{"a": ["b"]}"#, filterPolicyScope: "MessageBody"))
        try subscription.setAttribute("FilterPolicy", "")
        #expect(try subscription.attributes()["FilterPolicyScope"] == nil)
        try subscription.setAttribute("FilterPolicy", #"{"a": {"b": ["c"]}}"#)
        #expect(try subscription.attributes()["FilterPolicyScope"] == "MessageBody")
    }

    @Test("An invalid FilterPolicyScope is refused with or without a policy")
    func invalidFilterPolicyScopeIsRefused() throws {
        let (broker, _) = makeBroker()
        let subscription = try broker.createTopic(named: "t").subscribe(try broker.createQueue(named: "q"))
        let error = expectBrokerError(.invalidParameter) { try subscription.setAttribute("FilterPolicyScope", "Body") }
        #expect(error?.message == "Invalid parameter: FilterPolicyScope: Invalid value [Body]. Please use either MessageBody or MessageAttributes")
    }
}

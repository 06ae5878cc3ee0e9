import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

/// AddPermission and RemovePermission: the `Policy` document they write, and AWS's errors.
@Suite("Queue permissions")
struct QueuePermissionsTests {
    private func makeQueue() throws -> Queue {
        let (broker, _) = makeBroker()
        return try broker.createQueue(named: "orders")
    }

    private func policy(of queue: Queue) throws -> JSONValue? {
        guard let text = try queue.attributes(["Policy"])["Policy"] else { return nil }
        return try JSONParser.parse(text)
    }

    @Test func addPermissionWritesAWSPolicyDocumentWithOnePrincipalOrActionAsAString() throws {
        let queue = try makeQueue()
        try queue.addPermission(label: "one", awsAccountIds: ["111111111111"], actions: ["*"])
        try queue.addPermission(label: "two", awsAccountIds: ["111111111111", "222222222222"],
                                actions: ["SendMessage", "ReceiveMessage"])
        let text = try #require(try queue.attributes(["Policy"])["Policy"])
        #expect(text == #"{"Version":"2008-10-17","Id":"arn:aws:sqs:us-east-1:000000000000:orders/SQSDefaultPolicy","#
            + #""Statement":[{"Sid":"one","Effect":"Allow","Principal":{"AWS":"arn:aws:iam::111111111111:root"},"#
            + #""Action":"SQS:*","Resource":"arn:aws:sqs:us-east-1:000000000000:orders"},"#
            + #"{"Sid":"two","Effect":"Allow","Principal":{"AWS":["arn:aws:iam::111111111111:root","#
            + #""arn:aws:iam::222222222222:root"]},"Action":["SQS:SendMessage","SQS:ReceiveMessage"],"#
            + #""Resource":"arn:aws:sqs:us-east-1:000000000000:orders"}]}"#)
    }

    @Test func removingTheLastStatementRemovesThePolicy() throws {
        let queue = try makeQueue()
        try queue.addPermission(label: "one", awsAccountIds: ["111111111111"], actions: ["SendMessage"])
        try queue.addPermission(label: "two", awsAccountIds: ["222222222222"], actions: ["ReceiveMessage"])
        try queue.removePermission(label: "one")
        guard case .object(let members)? = try policy(of: queue),
              case .array(let statements)? = members.first(where: { $0.key == "Statement" })?.value else {
            Issue.record("no policy")
            return
        }
        #expect(statements.count == 1)
        try queue.removePermission(label: "two")
        #expect(try queue.attributes(["Policy"])["Policy"] == nil)
        #expect(try queue.configuration().policy == nil)
    }

    @Test func addPermissionAppendsToAPolicySetByHand() throws {
        let queue = try makeQueue()
        let handWritten = #"{"Version":"2012-10-17","Statement":[{"Sid":"mine","Effect":"Deny","Principal":"*","Action":"sqs:*"}]}"#
        try queue.setAttributes(awsAttributes: ["Policy": handWritten])
        try queue.addPermission(label: "shop", awsAccountIds: ["111111111111"], actions: ["SendMessage"])
        let text = try #require(try queue.attributes(["Policy"])["Policy"])
        #expect(text.contains(#"{"Sid":"mine","Effect":"Deny","Principal":"*","Action":"sqs:*"}"#))
        #expect(text.contains(#""Sid":"shop""#))
        try queue.removePermission(label: "mine")
        #expect(try queue.attributes(["Policy"])["Policy"]?.contains("mine") == false)
    }

    struct Refusal: Sendable, CustomTestStringConvertible {
        let accounts: [String]
        let actions: [String]
        let code: BrokerError.Code
        let message: String
        var testDescription: String { message }
    }

    static let refusals: [Refusal] = [
        .init(accounts: ["111111111111"], actions: ["RemovePermission"], code: .invalidParameterValue,
              message: "Value SQS:RemovePermission for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."),
        .init(accounts: ["111111111111"], actions: ["SetQueueAttributes"], code: .invalidParameterValue,
              message: "Value SQS:SetQueueAttributes for parameter ActionName is invalid. Reason: Only the queue owner is allowed to invoke this action."),
        .init(accounts: ["111111111111"], actions: [], code: .missingParameter,
              message: "The request must contain the parameter Actions."),
        .init(accounts: [], actions: ["SendMessage"], code: .invalidParameterValue,
              message: "Value [] for parameter PrincipalId is invalid. Reason: Unable to verify."),
        .init(accounts: ["111111111111"], actions: ["ChangeMessageVisibility", "DeleteMessage", "GetQueueAttributes", "GetQueueUrl",
                                                    "ListDeadLetterSourceQueues", "PurgeQueue", "ReceiveMessage", "SendMessage"],
              code: .overLimit, message: "8 Actions were found, maximum allowed is 7."),
    ]

    @Test(arguments: refusals)
    func addPermissionRefusesWithAWSError(_ refusal: Refusal) throws {
        let queue = try makeQueue()
        let error = expectBrokerError(refusal.code) {
            try queue.addPermission(label: "label", awsAccountIds: refusal.accounts, actions: refusal.actions)
        }
        #expect(error?.message == refusal.message)
        #expect(try queue.attributes(["Policy"])["Policy"] == nil)
    }

    @Test func aLabelIsAddedOnceAndAnUnknownOneCannotBeRemoved() throws {
        let queue = try makeQueue()
        try queue.addPermission(label: "test", awsAccountIds: ["111111111111"], actions: ["ReceiveMessage"])
        let exists = expectBrokerError(.invalidParameterValue) {
            try queue.addPermission(label: "test", awsAccountIds: ["111111111111"], actions: ["SendMessage"])
        }
        #expect(exists?.message == "Value test for parameter Label is invalid. Reason: Already exists.")
        let unknown = expectBrokerError(.invalidParameterValue) { try queue.removePermission(label: "other") }
        #expect(unknown?.message == "Value other for parameter Label is invalid. Reason: can't find label.")
    }
}

@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import Testing

/// SQS rules as a client sees them over the wire: receipt handles, FIFO batches and groups, attribute selection and
/// queue-attribute errors, each with AWS's code and wording.
@Suite("SQS rules over the wire")
struct SQSRulesWireTests {
    private static let orders = "/000000000000/orders"

    private func messages(_ response: TestResponse) -> [JSONValue] {
        guard case .array(let messages)? = response.json?["Messages"] else { return [] }
        return messages
    }

    private func receiptHandle(_ response: TestResponse) throws -> String {
        guard case .string(let handle)? = messages(response).first?["ReceiptHandle"] else {
            throw BrokerError(.invalidParameterValue, "no message: \(response.text)")
        }
        return handle
    }

    @Test("A superseded receipt handle still deletes; a deleted message's handle cannot change visibility")
    func supersededHandleDeletesAndDeletedMessageRefusesVisibilityChange() async throws {
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "orders", "Attributes": {"VisibilityTimeout": "0"}}"#)
            _ = try await client.sqs("SendMessage", #"{"QueueUrl": "\#(Self.orders)", "MessageBody": "body"}"#)
            let first = try receiptHandle(try await client.sqs("ReceiveMessage", #"{"QueueUrl": "\#(Self.orders)"}"#))
            let second = try receiptHandle(try await client.sqs("ReceiveMessage", #"{"QueueUrl": "\#(Self.orders)"}"#))
            #expect(first != second)
            let deleted = try await client.sqs("DeleteMessage", #"{"QueueUrl": "\#(Self.orders)", "ReceiptHandle": "\#(first)"}"#)
            #expect(deleted.status == 200)
            #expect(messages(try await client.sqs("ReceiveMessage", #"{"QueueUrl": "\#(Self.orders)"}"#)).isEmpty)
            let changed = try await client.sqs("ChangeMessageVisibility",
                #"{"QueueUrl": "\#(Self.orders)", "ReceiptHandle": "\#(second)", "VisibilityTimeout": 10}"#)
            #expect(changed.status == 400)
            #expect(changed.header("x-amzn-query-error") == "InvalidParameterValue;Sender")
            #expect(changed.json?["message"] == .string("Value \(second) for parameter ReceiptHandle is invalid. Reason: "
                + "Message does not exist or is not available for visibility timeout change."))
        }
    }

    @Test("A FIFO SendMessageBatch entry without MessageGroupId fails the whole request")
    func fifoBatchWithoutGroupFailsWholeRequest() async throws {
        try await withServer { server, client in
            let queue = try server.broker.createQueue(named: "orders.fifo",
                awsAttributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
            let response = try await client.sqs("SendMessageBatch", #"{"QueueUrl": "/000000000000/orders.fifo", "Entries": ["#
                + #"{"Id": "a", "MessageBody": "one", "MessageGroupId": "g"}, {"Id": "b", "MessageBody": "two"}]}"#)
            #expect(response.status == 400)
            #expect(response.header("x-amzn-query-error") == "MissingParameter;Sender")
            #expect(response.json?["message"] == .string("The request must contain the parameter MessageGroupId."))
            #expect(try queue.statistics().approximateNumberOfMessages == 0)
        }
    }

    @Test("MessageAttributeNames: 'Prefix.*' selects names that start with Prefix, '*' selects all")
    func attributeNameWildcards() async throws {
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "orders", "Attributes": {"VisibilityTimeout": "0"}}"#)
            _ = try await client.sqs("SendMessage", #"{"QueueUrl": "\#(Self.orders)", "MessageBody": "m", "MessageAttributes": {"#
                + #""Hello": {"DataType": "String", "StringValue": "a"}, "Help.Me": {"DataType": "String", "StringValue": "b"}, "#
                + #""Other": {"DataType": "String", "StringValue": "c"}}}"#)
            for (names, expected) in [(#"["Hel.*"]"#, ["Hello", "Help.Me"]), (#"["*"]"#, ["Hello", "Help.Me", "Other"])] {
                let response = try await client.sqs("ReceiveMessage",
                    #"{"QueueUrl": "\#(Self.orders)", "MessageAttributeNames": \#(names)}"#)
                guard case .object(let members)? = messages(response).first?["MessageAttributes"] else {
                    Issue.record("no attributes: \(response.text)")
                    continue
                }
                #expect(Set(members.map(\.key)) == Set(expected))
            }
        }
    }

    @Test("CreateQueue of a standard queue refuses FifoQueue, even false; SetQueueAttributes cannot change it")
    func fifoQueueAttributeErrors() async throws {
        try await withServer { _, client in
            let standard = try await client.sqs("CreateQueue", #"{"QueueName": "orders", "Attributes": {"FifoQueue": "false"}}"#)
            #expect(standard.header("x-amzn-query-error") == "InvalidAttributeName;Sender")
            #expect(standard.json?["message"] == .string("Unknown Attribute FifoQueue."))
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "orders.fifo", "Attributes": {"FifoQueue": "true"}}"#)
            let set = try await client.sqs("SetQueueAttributes",
                #"{"QueueUrl": "/000000000000/orders.fifo", "Attributes": {"FifoQueue": "false"}}"#)
            #expect(set.header("x-amzn-query-error") == "InvalidAttributeValue;Sender")
            #expect(set.json?["message"]
                == .string("Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported."))
        }
    }

    @Test("An empty DeleteMessageBatch names its own entry type")
    func emptyDeleteBatchNamesItsEntryType() async throws {
        try await withServer { _, client in
            _ = try await client.sqs("CreateQueue", #"{"QueueName": "orders"}"#)
            let response = try await client.sqs("DeleteMessageBatch", #"{"QueueUrl": "\#(Self.orders)", "Entries": []}"#)
            #expect(response.status == 400)
            #expect(response.json?["message"] == .string("There should be at least one DeleteMessageBatchRequestEntry in the request."))
        }
    }
}

import Foundation

/// An entry of ChangeMessageVisibilityBatch.
public struct ChangeMessageVisibilityBatchRequestEntry: Sendable, Hashable, ReceiptHandleEntry {
    /// `Id`, distinct within the batch.
    public var id: String
    /// `ReceiptHandle`.
    public var receiptHandle: String
    /// `VisibilityTimeout`, counted from the call.
    public var visibilityTimeout: Duration

    /// Creates an entry.
    public init(id: String, receiptHandle: String, visibilityTimeout: Duration) {
        self.id = id
        self.receiptHandle = receiptHandle
        self.visibilityTimeout = visibilityTimeout
    }
}

/// An entry of DeleteMessageBatch.
public struct DeleteMessageBatchRequestEntry: Sendable, Hashable, ReceiptHandleEntry {
    /// `Id`, distinct within the batch.
    public var id: String
    /// `ReceiptHandle`.
    public var receiptHandle: String

    /// Creates an entry.
    public init(id: String, receiptHandle: String) {
        self.id = id
        self.receiptHandle = receiptHandle
    }
}

import Foundation

/// A failed batch entry, as AWS reports it in `Failed`.
public struct BatchResultErrorEntry: Sendable, Hashable {
    /// The entry's `Id`.
    public let id: String
    /// The error code (`Code`), e.g. `InvalidParameterValue`.
    public let code: String
    /// `Message`.
    public let message: String
    /// `SenderFault`: true when the request was at fault.
    public let senderFault: Bool

    init(id: String, error: BrokerError) {
        self.id = id
        self.code = error.code.queryCode
        self.message = error.message
        // Every code the library raises is the caller's fault; the server's own faults never reach a batch entry.
        self.senderFault = true
    }
}

/// The per-entry outcome of a batch call: `Successful` and `Failed`, never thrown away together.
public struct BatchResult<Success: Sendable & Hashable>: Sendable, Hashable {
    /// Entries that succeeded, keyed by their `Id`, in request order.
    public var successful: [(id: String, result: Success)] { successfulEntries.map { ($0.id, $0.result) } }
    /// Entries that failed, in request order.
    public let failed: [BatchResultErrorEntry]

    struct Entry: Sendable, Hashable {
        let id: String
        let result: Success
    }

    let successfulEntries: [Entry]

    /// The result of the entry with `id`, if it succeeded.
    public func result(for id: String) -> Success? {
        successfulEntries.first { $0.id == id }?.result
    }

    /// The failure of the entry with `id`, if it failed.
    public func failure(for id: String) -> BatchResultErrorEntry? {
        failed.first { $0.id == id }
    }
}

/// Nothing to report for a successful DeleteMessageBatch or ChangeMessageVisibilityBatch entry but its `Id`.
public struct BatchEntryAcknowledged: Sendable, Hashable {}

/// A batch entry that names a message by receipt handle (DeleteMessageBatch, ChangeMessageVisibilityBatch).
protocol ReceiptHandleEntry {
    var id: String { get }
    var receiptHandle: String { get }
}

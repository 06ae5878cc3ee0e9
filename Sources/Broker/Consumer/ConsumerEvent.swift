/// What a consumer reports as it works, in order. A test can wait for `.processed(messageId:)` instead of sleeping;
/// a dashboard can count and show lag.
public enum ConsumerEvent: Sendable, Hashable {
    /// The consumer started polling.
    case started
    /// A message was received.
    case received(messageId: String)
    /// A handler finished a message successfully (and, unless acknowledgement is manual, it was deleted).
    case processed(messageId: String)
    /// A handler failed a message; it stays on the queue under the failure policy.
    case failed(messageId: String, error: String)
    /// A handler ran past its timeout; its messages stay on the queue.
    case timedOut(messageIds: [String])
    /// A filter criterion rejected the message, and it was deleted (as Lambda does).
    case filteredOut(messageId: String)
    /// An event-source-mapping batch finished: how many records were deleted and how many kept.
    case batchCompleted(size: Int, deleted: Int, failed: Int)
    /// A receive returned nothing.
    case emptyPoll
    /// A delete failed (for example a stale receipt handle on a FIFO queue): the message will come again.
    case deleteFailed(messageId: String, error: String)
    /// A fetched message was released unstarted (visibility 0) at shutdown.
    case released(messageId: String)
    /// The consumer stopped.
    case stopped
}

/// Counters of a consumer since it was created.
public struct ConsumerStatistics: Sendable, Hashable {
    /// Messages received.
    public var received = 0
    /// Messages processed successfully.
    public var processed = 0
    /// Messages whose handler failed (each attempt counts).
    public var failed = 0
    /// Handler invocations that timed out.
    public var timedOut = 0
    /// Messages deleted because no filter matched.
    public var filteredOut = 0
    /// Receives that returned nothing.
    public var emptyPolls = 0
    /// Deletes that failed.
    public var deleteFailures = 0
    /// Messages released unstarted at shutdown.
    public var released = 0
    /// Handlers running now.
    public var inFlight = 0
}

/// `DeduplicationScope` of a FIFO queue.
public enum DeduplicationScope: String, Sendable, Hashable {
    /// Deduplication ids are unique across the queue (the default).
    case queue
    /// Deduplication ids are unique within a message group (high-throughput FIFO).
    case messageGroup
}

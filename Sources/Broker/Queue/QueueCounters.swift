import Foundation

/// A queue's CloudWatch counters (namespace `AWS/SQS`), kept in its state machine and counted under the lock each
/// operation takes anyway: a few integer additions on paths that already write the message.
///
/// As CloudWatch counts them (SQS Developer Guide, *Available CloudWatch metrics for Amazon SQS*): a message moved
/// to a dead-letter queue after its last receive, or moved back by a redrive task, was not sent to the queue that
/// takes it; a copy an SNS subscription delivers was. A delete with a handle that once was valid counts each time,
/// a second delete of the same message included; messages purged or expired are not deleted.
struct QueueCounters: Sendable, Hashable {
    var sent = 0
    var received = 0
    var deleted = 0
    var emptyReceives = 0

    /// One ReceiveMessage call's answer, counted once when it returns (a long poll when it is served or times out).
    mutating func countReceive(_ count: Int) {
        if count == 0 { emptyReceives += 1 } else { received += count }
    }
}

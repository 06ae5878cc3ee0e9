import Foundation
import Testing

@testable import Broker

/// The FIFO sequencer that FIFO queues and FIFO topics share: sequence numbers, the five-minute window, both
/// deduplication scopes and a scope change.
@Suite("FIFO sequencer")
struct FifoSequencerTests {
    private static let start = Date(timeIntervalSince1970: 1_767_225_600)

    private static func id(_ n: UInt64) -> MessageID { MessageID(high: n, low: ~n) }

    private static func at(_ seconds: TimeInterval) -> Date { start.addingTimeInterval(seconds) }

    /// The sequence number given, or the original's message id number for a duplicate.
    private enum Outcome: Equatable {
        case accepted(UInt64)
        case duplicate(of: UInt64, sequence: UInt64)
    }

    private static func admit(_ sequencer: inout FifoSequencer, _ deduplicationId: String, group: String?,
                              scope: DeduplicationScope, message: UInt64, at seconds: TimeInterval) -> Outcome {
        switch sequencer.admit(deduplicationId: deduplicationId, messageGroup: group, scope: scope,
                               messageId: id(message), now: at(seconds)) {
        case .accepted(let sequence): .accepted(sequence)
        case .duplicate(let original): .duplicate(of: original.messageId.high, sequence: original.sequenceNumber)
        }
    }

    @Test func sequenceNumbersGrowByOneAndADuplicateUsesNoneUp() {
        var sequencer = FifoSequencer(lastSequenceNumber: 41)
        #expect(Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 1, at: 0) == .accepted(42))
        #expect(Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 2, at: 1) == .duplicate(of: 1, sequence: 42))
        #expect(Self.admit(&sequencer, "b", group: "g", scope: .queue, message: 3, at: 2) == .accepted(43))
        #expect(sequencer.nextSequenceNumber() == 44)
        #expect(Self.admit(&sequencer, "c", group: "g", scope: .queue, message: 4, at: 3) == .accepted(45))
        #expect(sequencer.lastSequenceNumber == 45)
    }

    @Test("an id stays taken for exactly five minutes from the first accepted send", arguments: [
        (299.999, true), (300.0, false),
    ])
    func window(secondSendAt: TimeInterval, duplicate: Bool) {
        var sequencer = FifoSequencer(lastSequenceNumber: 0)
        _ = Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 1, at: 0)
        // A duplicate in between does not extend the window.
        _ = Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 2, at: 200)
        let outcome = Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 3, at: secondSendAt)
        #expect(outcome == (duplicate ? .duplicate(of: 1, sequence: 1) : .accepted(2)))
    }

    @Test("both scopes", arguments: [
        (DeduplicationScope.queue, "g", true), (.queue, "h", true), (.queue, nil, true),
        (.messageGroup, "g", true), (.messageGroup, "h", false), (.messageGroup, nil, false),
    ] as [(DeduplicationScope, String?, Bool)])
    func scopes(scope: DeduplicationScope, secondGroup: String?, duplicate: Bool) {
        var sequencer = FifoSequencer(lastSequenceNumber: 0)
        _ = Self.admit(&sequencer, "a", group: "g", scope: scope, message: 1, at: 0)
        let outcome = Self.admit(&sequencer, "a", group: secondGroup, scope: scope, message: 2, at: 1)
        #expect(outcome == (duplicate ? .duplicate(of: 1, sequence: 1) : .accepted(2)))
    }

    @Test("records made under the other scope stay in their window after a scope change",
          arguments: [DeduplicationScope.queue, .messageGroup])
    func scopeChange(from oldScope: DeduplicationScope) {
        let newScope: DeduplicationScope = oldScope == .queue ? .messageGroup : .queue
        var sequencer = FifoSequencer(lastSequenceNumber: 0)
        _ = Self.admit(&sequencer, "a", group: "g", scope: oldScope, message: 1, at: 0)
        sequencer.scopeChanged(now: Self.at(100))
        #expect(Self.admit(&sequencer, "a", group: "g", scope: newScope, message: 2, at: 150) == .duplicate(of: 1, sequence: 1))
        let otherGroup = Self.admit(&sequencer, "a", group: "h", scope: newScope, message: 3, at: 160)
        switch (oldScope, newScope) {
        case (.queue, _):
            // Recorded for the whole queue: taken in every group.
            #expect(otherGroup == .duplicate(of: 1, sequence: 1))
        default:
            // Recorded in group g only; the new whole-queue record for "h"'s send takes the id from now on.
            #expect(otherGroup == .accepted(2))
        }
        // Once the first record's window ends, only records made under the new scope count.
        #expect(Self.admit(&sequencer, "a", group: "g", scope: newScope, message: 4, at: 300)
            == (oldScope == .queue ? .accepted(2) : .duplicate(of: 3, sequence: 2)))
    }

    @Test func withoutAScopeChangeTheOtherScopesRecordsAreNotConsulted() {
        var sequencer = FifoSequencer(lastSequenceNumber: 0)
        _ = Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 1, at: 0)
        // A caller that switches scope without saying so (a topic) starts the new scope afresh.
        #expect(Self.admit(&sequencer, "a", group: "g", scope: .messageGroup, message: 2, at: 1) == .accepted(2))
    }

    @Test func forgettingTheHistoryFreesEveryIdButKeepsTheSequence() {
        var sequencer = FifoSequencer(lastSequenceNumber: 0)
        _ = Self.admit(&sequencer, "a", group: "g", scope: .queue, message: 1, at: 0)
        sequencer.scopeChanged(now: Self.at(1))
        sequencer.forgetHistory()
        #expect(Self.admit(&sequencer, "a", group: "g", scope: .messageGroup, message: 2, at: 2) == .accepted(2))
        #expect(Self.admit(&sequencer, "a", group: "h", scope: .messageGroup, message: 3, at: 3) == .accepted(3))
    }
}

import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

/// The durability levels a restart after a clean close must restore the same at.
let durableLevels: [Durability] = [.acknowledged, .interval(.milliseconds(5)), .none]

/// Opens a durable broker on `directory`, recording the failure.
func durableBroker(_ directory: TemporaryDirectory, clock: ManualClock,
                   durability: Durability = .acknowledged) throws -> Broker {
    try Broker(configuration: BrokerConfiguration(seed: 7), clock: clock,
               storage: .directory(directory.path, durability: durability))
}

/// Closes `broker` and opens the directory again, as a restart does.
func restart(_ broker: Broker, _ directory: TemporaryDirectory, clock: ManualClock,
             durability: Durability = .acknowledged) throws -> Broker {
    try restart(broker, directory, clock: clock) { try durableBroker(directory, clock: clock, durability: durability) }
}

/// A durable broker that snapshots only when asked, copying one message slot per hold of a queue's lock.
func slotBySlotBroker(_ directory: TemporaryDirectory, clock: ManualClock, durability: Durability) throws -> Broker {
    try Broker(configuration: BrokerConfiguration(seed: 7), clock: clock,
               storage: .directory(directory.path, durability: durability), snapshotThreshold: 1 << 40,
               snapshotSlotsPerHold: 1)
}

/// Closes `broker` and opens the directory again with `opening`.
func restart(_ broker: Broker, _ directory: TemporaryDirectory, clock: ManualClock,
             opening: () throws -> Broker) throws -> Broker {
    broker.closeStorage()
    return try opening()
}

@Suite("Durable broker")
struct DurableBrokerTests {
    @Test("A restart restores queues with their attributes and tags", arguments: durableLevels)
    func queuesSurvive(durability: Durability) throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "45"], tags: ["team": "a"])
        try queue.tag(["env": "test"])
        try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
        let deleted = try broker.createQueue(named: "gone")
        try broker.deleteQueue(deleted)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        #expect(broker.queues.map(\.name) == ["orders", "orders.fifo"])
        let restored = try broker.queue(named: "orders")
        #expect(try restored.attributes(["VisibilityTimeout"])["VisibilityTimeout"] == "45")
        #expect(try restored.tags() == ["team": "a", "env": "test"])
        #expect(try broker.queue(named: "orders.fifo").attributes(["ContentBasedDeduplication"])["ContentBasedDeduplication"] == "true")
        #expect(restored.url == queue.url)
    }

    @Test("Sent messages come back with id, body, attributes and send time", arguments: durableLevels)
    func messagesSurvive(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q")
        let sent = try queue.sendMessage("hello", messageAttributes: ["k": MessageAttributeValue(dataType: "String", stringValue: "v")])
        let batch = try queue.sendMessageBatch((0..<10).map {
            SendMessageBatchRequestEntry(id: "e\($0)", message: SendMessageRequest(body: "b\($0)"))
        })
        #expect(batch.successful.count == 10)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let restored = try broker.queue(named: "q")
        var received: [Message] = []
        for _ in 0..<3 { received += try await restored.receiveMessages(maxNumberOfMessages: 10, messageAttributeNames: ["All"]) }
        #expect(received.count == 11)
        let first = try #require(received.first { $0.messageId == sent.messageId })
        #expect(first.body == "hello")
        #expect(first.messageAttributes["k"]?.stringValue == "v")
        #expect(first.md5OfBody == sent.md5OfMessageBody)
        #expect(Set(received.map(\.body)) == Set(["hello"] + (0..<10).map { "b\($0)" }))
    }

    @Test("A delayed message stays delayed until its recorded deadline")
    func delayedSurvives() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        try broker.createQueue(named: "q").sendMessage("later", delaySeconds: .seconds(30))
        clock.advance(by: .seconds(10))
        broker = try restart(broker, directory, clock: clock)
        let queue = try broker.queue(named: "q")
        #expect(try await queue.receiveMessages().isEmpty)
        clock.advance(by: .seconds(20))
        #expect(try await queue.receiveMessages().map(\.body) == ["later"])
    }

    @Test("An in-flight message stays hidden until its deadline, its handle still deletes, and its receive count is kept",
          arguments: durableLevels)
    func inFlightSurvives(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q")
        try queue.sendMessage("a")
        try queue.sendMessage("b")
        let first = try await queue.receiveMessages(visibilityTimeout: .seconds(30))
        clock.advance(by: .seconds(30))
        let second = try await queue.receiveMessages(maxNumberOfMessages: 10, visibilityTimeout: .seconds(60))
        #expect(second.count == 2)
        let handle = try #require(second.first { $0.body == "b" }).receiptHandle
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let restored = try broker.queue(named: "q")
        #expect(try await restored.receiveMessages().isEmpty)
        try restored.deleteMessage(receiptHandle: handle)
        clock.advance(by: .seconds(60))
        let again = try await restored.receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.all])
        #expect(again.map(\.body) == ["a"])
        #expect(again.first?.receiveCount == 3)
        #expect(first.first?.body == "a")
    }

    @Test("A deleted message never comes back, by single or batch delete", arguments: durableLevels)
    func deletesSurvive(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q")
        for index in 0..<12 { try queue.sendMessage("m\(index)") }
        var kept: [String] = []
        let taken = try await queue.receiveMessages(maxNumberOfMessages: 10, visibilityTimeout: .seconds(5))
        try queue.deleteMessage(receiptHandle: taken[0].receiptHandle)
        _ = try queue.deleteMessageBatch(taken[1..<8].enumerated().map {
            DeleteMessageBatchRequestEntry(id: "d\($0.offset)", receiptHandle: $0.element.receiptHandle)
        })
        kept = taken[8...].map(\.body)
        broker = try restart(broker, directory, clock: clock, durability: durability)
        clock.advance(by: .seconds(5))
        let restored = try broker.queue(named: "q")
        var bodies: [String] = []
        for _ in 0..<3 { bodies += try await restored.receiveMessages(maxNumberOfMessages: 10).map(\.body) }
        #expect(Set(bodies) == Set(kept + ["m10", "m11"]))
    }

    @Test("A purge survives a restart")
    func purgeSurvives() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        try queue.sendMessage("old")
        try queue.purge()
        try queue.sendMessage("new")
        broker = try restart(broker, directory, clock: clock)
        #expect(try await broker.queue(named: "q").receiveMessages(maxNumberOfMessages: 10).map(\.body) == ["new"])
    }

    @Test("FIFO order, group blocking and sequence numbers continue after a restart", arguments: durableLevels)
    func fifoSurvives(durability: Durability) async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: durability)
        let queue = try broker.createQueue(named: "q.fifo", awsAttributes: ["FifoQueue": "true"])
        var sequences: [String] = []
        for index in 0..<4 {
            let result = try queue.sendMessage("g\(index)", messageGroupId: "g", messageDeduplicationId: "d\(index)")
            sequences.append(try #require(result.sequenceNumber))
        }
        let head = try await queue.receiveMessages(visibilityTimeout: .seconds(30))
        #expect(head.map(\.body) == ["g0"])
        broker = try restart(broker, directory, clock: clock, durability: durability)
        let restored = try broker.queue(named: "q.fifo")
        // The group is blocked while its head is in flight.
        #expect(try await restored.receiveMessages(maxNumberOfMessages: 10).isEmpty)
        try restored.deleteMessage(receiptHandle: head[0].receiptHandle)
        let rest = try await restored.receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.all])
        #expect(rest.map(\.body) == ["g1", "g2", "g3"])
        let next = try restored.sendMessage("g4", messageGroupId: "g", messageDeduplicationId: "d4")
        let last = try #require(sequences.last)
        #expect(try #require(next.sequenceNumber) > last)
    }

    @Test("FIFO deduplication holds across a restart within its window and expires after it")
    func deduplicationSurvives() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q.fifo", awsAttributes: ["FifoQueue": "true"])
        let original = try queue.sendMessage("x", messageGroupId: "g", messageDeduplicationId: "same")
        clock.advance(by: .seconds(200))
        broker = try restart(broker, directory, clock: clock)
        var restored = try broker.queue(named: "q.fifo")
        let repeated = try restored.sendMessage("x", messageGroupId: "g", messageDeduplicationId: "same")
        #expect(repeated.messageId == original.messageId)
        #expect(try restored.statistics().approximateNumberOfMessages == 1)
        clock.advance(by: .seconds(101))
        broker = try restart(broker, directory, clock: clock)
        restored = try broker.queue(named: "q.fifo")
        let fresh = try restored.sendMessage("x", messageGroupId: "g", messageDeduplicationId: "same")
        #expect(fresh.messageId != original.messageId)
        #expect(try restored.statistics().approximateNumberOfMessages == 2)
    }

    /// Queue `q` with dead-letter queue `dlq` after one receive; its one message, "poison", received once and, on the
    /// next receive, moved.
    private func deadLetterOnePoisonMessage(_ broker: Broker, clock: ManualClock) async throws -> Queue {
        let dlq = try broker.createQueue(named: "dlq")
        let queue = try broker.createQueue(named: "q", awsAttributes: [
            "RedrivePolicy": "{\"deadLetterTargetArn\":\"\(dlq.arn)\",\"maxReceiveCount\":\"1\"}"])
        try queue.sendMessage("poison")
        _ = try await queue.receiveMessages(visibilityTimeout: .seconds(1))
        clock.advance(by: .seconds(1))
        #expect(try await queue.receiveMessages().isEmpty)
        return queue
    }

    @Test("A dead-letter move survives a restart on both sides")
    func deadLetterSurvives() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try await deadLetterOnePoisonMessage(broker, clock: clock)
        broker = try restart(broker, directory, clock: clock)
        #expect(try await broker.queue(named: "q").receiveMessages().isEmpty)
        let moved = try await broker.queue(named: "dlq").receiveMessages(messageSystemAttributeNames: [.all])
        #expect(moved.map(\.body) == ["poison"])
        #expect(moved.first?.attributes[.deadLetterQueueSourceArn] == queue.arn)
    }

    @Test("A dead-letter move cut in half by a crash is finished at recovery, neither lost nor doubled")
    func halfDeadLetterMove() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let queue = try await deadLetterOnePoisonMessage(broker, clock: clock)
        broker.closeStorage()
        // The last record is the dead-letter queue's copy: drop it, as a crash between the two halves would.
        let segment = try #require(directory.segmentNames.last)
        let bytes = directory.read(segment)
        var offset = 32
        var lastStart = offset
        while offset + 8 <= bytes.count {
            let length = Int(bytes[offset]) | Int(bytes[offset + 1]) << 8 | Int(bytes[offset + 2]) << 16 | Int(bytes[offset + 3]) << 24
            lastStart = offset
            offset += 8 + length
        }
        directory.write(segment, Array(bytes[..<lastStart]))
        let reopened = try durableBroker(directory, clock: clock)
        #expect(try await reopened.queue(named: "q").receiveMessages().isEmpty)
        let moved = try await reopened.queue(named: "dlq").receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.all])
        #expect(moved.map(\.body) == ["poison"])
        #expect(moved.first?.attributes[.deadLetterQueueSourceArn] == queue.arn)
    }

    @Test("A snapshot plus the records after it restore the same state, and old segments go")
    func snapshotAndTail() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q.fifo", awsAttributes: ["FifoQueue": "true"])
        for index in 0..<5 { try queue.sendMessage("a\(index)", messageGroupId: "g", messageDeduplicationId: "a\(index)") }
        let first = try await queue.receiveMessages(visibilityTimeout: .seconds(10))
        try broker.snapshot()
        #expect(directory.snapshotNames.count == 1)
        try queue.deleteMessage(receiptHandle: first[0].receiptHandle)
        try queue.sendMessage("b", messageGroupId: "g", messageDeduplicationId: "b")
        broker = try restart(broker, directory, clock: clock)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        let restored = try broker.queue(named: "q.fifo")
        let bodies = try await restored.receiveMessages(maxNumberOfMessages: 10).map(\.body)
        #expect(bodies == ["a1", "a2", "a3", "a4", "b"])
        let duplicate = try restored.sendMessage("a2", messageGroupId: "g", messageDeduplicationId: "a2")
        #expect(try restored.statistics().approximateNumberOfMessagesNotVisible == 5)
        #expect(!duplicate.messageId.isEmpty)
    }

    @Test("A snapshot comes due at the threshold; later ones only once the journal holds as much dead as live")
    func snapshotSchedule() async throws {
        let directory = TemporaryDirectory()
        let threshold = 16 << 10
        let held = try HeldSnapshots(directory, threshold: threshold)
        let (broker, store) = (held.broker, held.store)
        defer { broker.closeStorage() }
        func runDue() throws {
            let ran = held.runDue()
            try #require(ran == 1, "\(ran) snapshots due")
        }
        #expect(store.journal.bytesUntilMark == threshold)

        // 64 KiB of bodies resident, four times the threshold: the mark is passed once, and the first snapshot,
        // which has nothing to weigh yet, is taken.
        let queue = try broker.createQueue(named: "resident")
        let body = String(repeating: "r", count: 1_024)
        for _ in 0..<64 { try queue.sendMessage(body) }
        #expect(store.journal.bytesUntilMark == nil)
        try runDue()
        let first = store.lastSnapshotBytes
        #expect(first > 64 * 1_024 && directory.snapshotNames.count == 1)
        // The next look comes after as many bytes as that snapshot: not at the threshold.
        #expect(store.journal.bytesUntilMark == first)

        // As much again, all of it live: a snapshot would rewrite it and win nothing back, so none is taken, and the
        // next look is put off. (A send's record is shorter than the message's part of a snapshot: a few more.)
        while store.journal.bytesUntilMark != nil { try queue.sendMessage(body) }
        try runDue()
        #expect(store.lastSnapshotBytes == first && directory.snapshotNames.count == 1)
        let putOff = try #require(store.journal.bytesUntilMark)
        #expect(putOff >= threshold)

        // Every message deleted, and more sent and deleted until the next look: the journal is now all dead
        // records, and the snapshot taken is of an empty queue.
        func drain() async throws {
            while true {
                let received = try await queue.receiveMessages(maxNumberOfMessages: 10)
                if received.isEmpty { return }
                _ = try queue.deleteMessageBatch(received.enumerated().map {
                    DeleteMessageBatchRequestEntry(id: "e\($0.offset)", receiptHandle: $0.element.receiptHandle)
                })
            }
        }
        try await drain()
        #expect(held.due == 0)
        let small = String(repeating: "s", count: 100)
        while store.journal.bytesUntilMark != nil {
            for _ in 0..<10 { try queue.sendMessage(small) }
            try await drain()
        }
        try runDue()
        #expect(directory.snapshotNames.count == 1)
        #expect(store.lastSnapshotMessages == 0 && store.lastSnapshotBytes < 1_024)
    }

    @Test("A snapshot's settings and tags are weighed once, not once per message it held")
    func snapshotWeighsItsFixedPartOnce() async throws {
        let held = try HeldSnapshots(TemporaryDirectory(), threshold: 16 << 10)
        let (broker, store) = (held.broker, held.store)
        defer { broker.closeStorage() }
        func runDue() { held.runDue() }
        // Some 19 KiB of tags and two messages: the first snapshot is almost all fixed part.
        let queue = try broker.createQueue(named: "tagged")
        try queue.tag(Dictionary(uniqueKeysWithValues: (0..<50).map {
            (String(format: "%03d", $0) + String(repeating: "k", count: 125), String(repeating: "v", count: 256))
        }))
        try queue.sendMessage("first")
        try queue.sendMessage("second")
        while store.journal.bytesUntilMark != nil { try queue.tag(["filler": String(repeating: "f", count: 256)]) }
        runDue()
        let first = store.lastSnapshotBytes
        #expect(first > 19_000 && store.lastSnapshotMessages == 2)

        // A hundred small messages stay resident (live: the tags and some 15 KiB), and others are sent and deleted
        // until the journal holds well over as much dead as live. Weighing the tags once per message held would
        // count the live state at some 1 MB and put the next snapshot off that long.
        for index in 0..<100 { try queue.sendMessage("resident \(index) " + String(repeating: "r", count: 90)) }
        let churn = try broker.createQueue(named: "churn")
        let start = store.journal.statistics.bytes
        let small = String(repeating: "s", count: 100)
        while store.lastSnapshotBytes == first && store.journal.statistics.bytes - start < 1_000_000 {
            for _ in 0..<10 { try churn.sendMessage(small) }
            let received = try await churn.receiveMessages(maxNumberOfMessages: 10)
            _ = try churn.deleteMessageBatch(received.enumerated().map {
                DeleteMessageBatchRequestEntry(id: "e\($0.offset)", receiptHandle: $0.element.receiptHandle)
            })
            runDue()
        }
        #expect(store.lastSnapshotBytes != first)
        #expect(store.journal.statistics.bytes - start < 150_000)
    }

    /// Ten snapshots per case, each copying its queue one message slot per hold of the lock, with a change between
    /// every two holds (a send, a receive with deletes and visibility changes, time passing, a purge), as senders
    /// make them; then a restart, which must bring back exactly the state the queue had when it closed.
    @Test("A snapshot copied a slot per hold while the queue changes restores the state the queue had at close",
          arguments: [false, true])
    func fuzzySnapshotCopiesComeBackExact(fifo: Bool) throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        func open() throws -> Broker { try slotBySlotBroker(directory, clock: clock, durability: .none) }
        var broker = try open()
        let name = fifo ? "fuzzy.fifo" : "fuzzy"
        let queue = try broker.createQueue(named: name, awsAttributes: fifo ? ["FifoQueue": "true", "ContentBasedDeduplication": "true"] : [:])
        let sent = LockedState(0)
        @Sendable func send() throws {
            let index = sent.withLock { count in
                count += 1
                return count
            }
            if fifo {
                try queue.sendMessage("m\(index)", messageGroupId: "g\(index % 5)")
            } else {
                try queue.sendMessage("m\(index)")
            }
        }
        let random = LockedState(IDGenerator(seed: fifo ? 11 : 12))
        let changes = LockedState(0)
        let failure = LockedState<(any Error)?>(nil)
        let store = try #require(broker.directory.store)
        store.setSnapshotHoldHook { _ in
            do {
                let number = changes.withLock { count in
                    count += 1
                    return count
                }
                // One purge, during the second snapshot's copy.
                if number == 400 {
                    try queue.purge()
                    return
                }
                switch random.withLock({ $0.int(0...18) }) {
                case 0...6: try send()
                case 7...12:
                    let messages = try queue.receiveMessagesWithoutWaiting(maxNumberOfMessages: 2,
                                                                          visibilityTimeout: .seconds(30)) ?? []
                    for message in messages where random.withLock({ $0.chance(0.3) }) {
                        try queue.deleteMessage(receiptHandle: message.receiptHandle)
                    }
                    for message in messages where random.withLock({ $0.chance(0.3) }) {
                        try? queue.changeMessageVisibility(receiptHandle: message.receiptHandle,
                                                           visibilityTimeout: .seconds(random.withLock { $0.int(0...60) }))
                    }
                default:
                    clock.advance(by: .seconds(random.withLock { $0.int(1...20) }))
                }
            } catch {
                failure.withLock { $0 = error }
            }
        }
        for _ in 0..<10 {
            // Topped up to 300, so that each copy takes 300 holds and as many changes, the purge's too.
            for _ in min(300, try queue.peek().count)..<300 { try send() }
            try broker.snapshot()
            if let error = failure.withLock({ $0 }) { throw error }
        }
        #expect(changes.withLock { $0 } >= 3_000)
        let before = try queue.peek().sorted { $0.messageId < $1.messageId }
        #expect(before.count >= 300)
        broker = try restart(broker, directory, clock: clock, opening: open)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        let after = try broker.queue(named: name).peek().sorted { $0.messageId < $1.messageId }
        #expect(after.count == before.count)
        #expect(after == before)
    }

    /// The source queue is copied first (queues go in the order they were made), and its messages move to the
    /// dead-letter queue while its copy is under way: the source's records of the moves come after its image and are
    /// replayed, the dead-letter queue's records of the copies come before its image, which holds them already.
    /// Recovery must see the moves as whole, not finish them a second time.
    @Test("Dead-letter moves made while a snapshot copies the source queue come back once")
    func deadLetterMovesDuringASnapshotComeBackOnce() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        func open() throws -> Broker { try slotBySlotBroker(directory, clock: clock, durability: .acknowledged) }
        var broker = try open()
        let source = try broker.createQueue(named: "source")
        let dlq = try broker.createQueue(named: "dlq")
        try source.setAttributes(awsAttributes: [
            "RedrivePolicy": "{\"deadLetterTargetArn\":\"\(dlq.arn)\",\"maxReceiveCount\":\"1\"}"])
        for index in 0..<3 { try source.sendMessage("poison \(index)") }
        #expect(try await source.receiveMessages(maxNumberOfMessages: 10, visibilityTimeout: .seconds(10)).count == 3)
        clock.advance(by: .seconds(11))
        let moved = LockedState(false)
        try #require(broker.directory.store).setSnapshotHoldHook { queue in
            guard queue == "source", !moved.withLock({ $0 }) else { return }
            moved.withLock { $0 = true }
            // Received past their maximum, all three move to the dead-letter queue instead.
            _ = try? source.receiveMessagesWithoutWaiting(maxNumberOfMessages: 10)
        }
        try broker.snapshot()
        #expect(moved.withLock { $0 })
        #expect(try dlq.peek().count == 3)
        broker = try restart(broker, directory, clock: clock, opening: open)
        #expect(broker.recoveryReport?.loadedSnapshot == true)
        #expect(try broker.queue(named: "source").peek().isEmpty)
        let restored = try broker.queue(named: "dlq").peek()
        #expect(restored.map(\.body).sorted() == ["poison 0", "poison 1", "poison 2"])
    }

    /// A queue copied later in a snapshot has an image as of a later LSN than the snapshot's own: records appended
    /// while the earlier queues were copied come before it. A crash can keep those records from the disk (they
    /// were never acknowledged), and the directory then holds the snapshot and nothing after it. The next broker
    /// must number its records past the later image's LSN, or the recovery after it skips them as already in that
    /// image: a message acknowledged after the restart would be lost.
    @Test("Records after a restart are numbered past every image of the snapshot, so the next recovery replays them")
    func recordsAfterARestartAreNumberedPastEveryImage() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        func open() throws -> Broker { try slotBySlotBroker(directory, clock: clock, durability: .acknowledged) }
        var broker = try open()
        let first = try broker.createQueue(named: "first")
        let other = try broker.createQueue(named: "other")
        _ = try broker.createQueue(named: "later")
        for index in 0..<3 { try first.sendMessage("first \(index)") }
        // Sends while "first" is copied, one slot per hold: each takes an LSN before "later"'s image is made.
        try #require(broker.directory.store).setSnapshotHoldHook { queue in
            guard queue == "first" else { return }
            _ = try? other.sendMessage("during the snapshot")
        }
        try broker.snapshot()
        broker.closeStorage()
        // As if the crash came before the records appended during the snapshot were written: only the snapshot is
        // left.
        for name in directory.segmentNames { try FileManager.default.removeItem(atPath: directory.file(name)) }
        broker = try open()
        try broker.queue(named: "later").sendMessage("after the restart")
        broker = try restart(broker, directory, clock: clock, opening: open)
        #expect(try broker.queue(named: "later").peek().map(\.body) == ["after the restart"])
        #expect(try broker.queue(named: "first").peek().count == 3)
        #expect(broker.recoveryReport?.damage == [])
    }

    @Test("A snapshot larger than the pieces it is written in restores every message")
    func snapshotInPieces() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        var broker = try durableBroker(directory, clock: clock, durability: .none)
        let queue = try broker.createQueue(named: "large")
        // Some 3 MB of state, so the snapshot is written in several pieces with messages cut across them.
        let count = 3 * SnapshotOutput.pieceSize / 1_000
        for index in 0..<count { try queue.sendMessage("\(index)-" + String(repeating: "x", count: 1_000)) }
        try broker.snapshot()
        let size = try #require(broker.directory.store?.lastSnapshotBytes)
        #expect(size > 3 * SnapshotOutput.pieceSize)
        broker = try restart(broker, directory, clock: clock, durability: .none)
        #expect(broker.recoveryReport?.loadedSnapshot == true && broker.recoveryReport?.damage.isEmpty == true)
        #expect(broker.recoveryReport?.records == 0)
        let restored = try broker.queue(named: "large")
        var seen = Set<String>()
        while true {
            let batch = try await restored.receiveMessages(maxNumberOfMessages: 10)
            if batch.isEmpty { break }
            for message in batch { seen.insert(String(message.body.prefix { $0 != "-" })) }
        }
        #expect(seen == Set((0..<count).map(String.init)))
    }

    @Test("A journal cut at every byte of its last records recovers a consistent prefix of the sends")
    func tornTail() async throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        for index in 0..<6 { try queue.sendMessage("m\(index)") }
        broker.closeStorage()
        let segment = try #require(directory.segmentNames.last)
        let whole = directory.read(segment)
        let copy = TemporaryDirectory()
        // The last three sends' records; each cut must give exactly the sends whose records are whole.
        var previous = -1
        for cut in stride(from: whole.count - 3 * 40, through: whole.count, by: 1) where cut > 32 {
            for name in copy.segmentNames { try? FileManager.default.removeItem(atPath: copy.file(name)) }
            copy.write(segment, Array(whole[..<cut]))
            let reopened = try durableBroker(copy, clock: clock)
            defer { reopened.closeStorage() }
            let restored = try reopened.queue(named: "q")
            let count = try restored.statistics().approximateNumberOfMessages
            #expect(count >= previous)
            previous = count
            var bodies: [String] = []
            for _ in 0..<2 { bodies += try await restored.receiveMessages(maxNumberOfMessages: 10).map(\.body) }
            #expect(Set(bodies) == Set((0..<count).map { "m\($0)" }))
        }
        #expect(previous == 6)
    }

    @Test("A corrupted byte in the last record ends replay there, keeping every record before it")
    func corruptByte() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        for index in 0..<4 { try queue.sendMessage("m\(index)") }
        broker.closeStorage()
        let segment = try #require(directory.segmentNames.last)
        var bytes = directory.read(segment)
        bytes[bytes.count - 5] ^= 0x40
        directory.write(segment, bytes)
        let reopened = try durableBroker(directory, clock: clock)
        #expect(try reopened.queue(named: "q").statistics().approximateNumberOfMessages == 3)
        #expect(reopened.recoveryReport?.damage.count == 1)
        // Appends follow the last good record: the next restart sees them.
        try reopened.queue(named: "q").sendMessage("after")
        let again = try restart(reopened, directory, clock: clock)
        #expect(try again.queue(named: "q").statistics().approximateNumberOfMessages == 4)
        #expect(again.recoveryReport?.damage.isEmpty == true)
    }

    @Test("A second broker on the same directory fails with a clear error")
    func secondBrokerRefused() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        #expect(throws: BrokerError.self) { try durableBroker(directory, clock: clock) }
        broker.closeStorage()
        #expect(throws: BrokerError.self) {
            try Broker(storage: .directory(directory.path + "/missing"))
        }
    }

    @Test("A closed journal makes changes fail while reads keep working")
    func failedWritesKeepReads() throws {
        let directory = TemporaryDirectory()
        let clock = ManualClock()
        let broker = try durableBroker(directory, clock: clock)
        let queue = try broker.createQueue(named: "q")
        try queue.sendMessage("kept")
        broker.closeStorage()
        #expect(throws: BrokerError.self) { try queue.sendMessage("lost") }
        #expect(try queue.attributes(["ApproximateNumberOfMessages"]).isEmpty == false)
    }

    @Test("An in-memory broker writes no journal")
    func memoryIsDefault() throws {
        let broker = try Broker(storage: .memory)
        let queue = try broker.createQueue(named: "q")
        #expect(queue.core.durable == nil)
        #expect(broker.recoveryReport == nil)
    }
}

/// A durable broker at `none` (seed 7, a manual clock) whose snapshots that come due are held and run when the test
/// says, so that none runs behind its back.
private final class HeldSnapshots {
    let broker: Broker
    let store: BrokerStore
    /// Kept for as long as the broker: a temporary directory is removed when dropped.
    let directory: TemporaryDirectory
    private let jobs = LockedState<[@Sendable () -> Void]>([])

    init(_ directory: TemporaryDirectory, threshold: Int) throws {
        self.directory = directory
        broker = try Broker(configuration: BrokerConfiguration(seed: 7), clock: ManualClock(),
                            storage: .directory(directory.path, durability: .none), snapshotThreshold: threshold)
        store = try #require(broker.directory.store)
        store.setSnapshotScheduler { [jobs] job in jobs.withLock { $0.append(job) } }
    }

    /// Snapshots due and not yet run.
    var due: Int { jobs.withLock { $0.count } }

    /// Runs the snapshots due; returns how many there were.
    @discardableResult
    func runDue() -> Int {
        let due = jobs.withLock { jobs in
            defer { jobs.removeAll() }
            return jobs
        }
        for job in due { job() }
        return due.count
    }
}

import Broker
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// MARK: The durable broker's crash-test child

/// `broker-bench durable-crash-child DIRECTORY RUN [SNAPSHOT_BYTES]`: a durable broker at `acknowledged` on
/// DIRECTORY (its first snapshot due after SNAPSHOT_BYTES of records, 64 MiB by default; given, its snapshots copy
/// four message slots per hold of a queue's lock), with producers,
/// consumers and admin calls running until killed. After each call returns it prints what was acknowledged, one
/// line per message, each line one `write(2)` (so it reaches the parent whole or not at all):
///
/// - `S BODY` a standard send; `R BODY COUNT` a receive with its receive count; `D BODY` a delete;
/// - `F GROUP BODY` a FIFO send (its body also its deduplication id); `Q GROUP BODY` a FIFO receive; `E GROUP BODY`
///   a FIFO delete;
/// - `A ARN` the subscription of queue `crash-sub` to topic `crash-topic` (filter `{"keep":["yes"]}`, raw delivery),
///   once at start: the same ARN every run when topics are durable; `P BODY yes|no` a publish with its `keep`
///   attribute; `H BODY` a message received (and then deleted) from `crash-sub`.
///
/// A receive is printed before its message is deleted, so a message the parent finds gone was either deleted by an
/// acknowledged delete or by one the kill cut short after its receive was printed.
///
/// Bodies are `RUN.THREAD.SEQUENCE`, so the parent can order a group's bodies. Not listed in `--help`: a test fixture.
func runDurableCrashChild(_ arguments: [String]) -> Int32 {
    guard arguments.count == 2 || arguments.count == 3, let run = Int(arguments[1]),
          let snapshotBytes = arguments.count == 3 ? Int(arguments[2]) : 64 << 20, snapshotBytes > 0 else {
        FileHandle.standardError.write(Data("usage: broker-bench durable-crash-child DIRECTORY RUN [SNAPSHOT_BYTES]\n".utf8))
        return 2
    }
    let broker: Broker
    let queue: Queue
    let fifo: Queue
    let topic: Topic
    let subscribed: Queue
    let subscription: Subscription
    do {
        // A child that snapshots often also copies its queues a few messages per hold of their locks, so that its
        // snapshots are cut by the producers' and consumers' changes, and recovery must make each fuzzy copy exact.
        let storage = BrokerStorage.directory(arguments[0], durability: .acknowledged)
        broker = arguments.count == 3
            ? try Broker(storage: storage, snapshotThreshold: snapshotBytes, snapshotSlotsPerHold: 4)
            : try Broker(storage: storage, snapshotThreshold: snapshotBytes)
        queue = try broker.createQueue(named: "crash", awsAttributes: ["VisibilityTimeout": "30"])
        fifo = try broker.createQueue(named: "crash.fifo", awsAttributes: ["FifoQueue": "true", "VisibilityTimeout": "30"])
        topic = try broker.createTopic(named: "crash-topic")
        subscribed = try broker.createQueue(named: "crash-sub", awsAttributes: ["VisibilityTimeout": "30"])
        // Again on every run: the same subscription when the first one was restored.
        subscription = try topic.subscribe(subscribed, attributes: SubscriptionAttributes(
            filterPolicy: #"{"keep":["yes"]}"#, rawMessageDelivery: true))
        let bytes = Array("A \(subscription.arn)\n".utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    } catch {
        FileHandle.standardError.write(Data("durable-crash-child: \(error)\n".utf8))
        return 1
    }
    @Sendable func say(_ line: String) {
        let bytes = Array((line + "\n").utf8)
        _ = bytes.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
    }
    @Sendable func fail(_ error: any Error) -> Never {
        FileHandle.standardError.write(Data("durable-crash-child: \(error)\n".utf8))
        exit(1)
    }
    // Two standard producers, batches of 1–10.
    for thread in 0..<2 {
        Thread {
            var sequence = 0
            while true {
                let count = 1 + sequence % 10
                let bodies = (0..<count).map { "\(run).\(thread).\(sequence + $0)" }
                sequence += count
                do {
                    let result = try queue.sendMessageBatch(bodies.enumerated().map {
                        SendMessageBatchRequestEntry(id: "e\($0.offset)", message: SendMessageRequest(body: $0.element))
                    })
                    guard result.failed.isEmpty else { fail(ChildFailure(message: "a send failed")) }
                    for body in bodies { say("S \(body)") }
                } catch { fail(error) }
            }
        }.start()
    }
    // One FIFO producer over four groups; every send is repeated once, which deduplication must absorb.
    Thread {
        var sequence = 0
        while true {
            let group = "g\(sequence % 4)"
            let body = "\(run).9.\(sequence)"
            sequence += 1
            do {
                let first = try fifo.sendMessage(body, messageGroupId: group, messageDeduplicationId: body)
                say("F \(group) \(body)")
                let again = try fifo.sendMessage(body, messageGroupId: group, messageDeduplicationId: body)
                guard again.messageId == first.messageId else { fail(ChildFailure(message: "deduplication escaped")) }
            } catch { fail(error) }
        }
    }.start()
    // A publisher through the topic; a third of its messages do not match the subscription's filter.
    Thread {
        var sequence = 0
        while true {
            let body = "\(run).5.\(sequence)"
            let keep = sequence % 3 == 0 ? "no" : "yes"
            sequence += 1
            do {
                try topic.publish(body, messageAttributes: ["keep": MessageAttributeValue(dataType: "String", stringValue: keep)])
                // A publish succeeds though its copy failed (SNS's rule), so a failed copy is looked for here: the
                // parent would otherwise find only a copy missing after the restart, with nothing to say why.
                let statistics = try subscription.statistics()
                if statistics.dropped > 0 || statistics.deadLettered > 0 {
                    fail(ChildFailure(message: "the copy of publish \(body) failed: \(statistics.lastFailure.map { "\($0)" } ?? "no reason kept")"))
                }
                say("P \(body) \(keep)")
            } catch { fail(error) }
        }
    }.start()
    // Consumers: receive, then delete most (some are left to come back after their visibility timeout).
    Thread {
        let semaphore = DispatchSemaphore(value: 0)
        Task {
            var round = 0
            while true {
                round += 1
                do {
                    let messages = try await queue.receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.all])
                    for message in messages { say("R \(message.body) \(message.receiveCount ?? 0)") }
                    let deleting = messages.filter { _ in round % 7 != 0 }
                    if !deleting.isEmpty {
                        let result = try queue.deleteMessageBatch(deleting.enumerated().map {
                            DeleteMessageBatchRequestEntry(id: "d\($0.offset)", receiptHandle: $0.element.receiptHandle)
                        })
                        let failed = Set(result.failed.map(\.id))
                        for (index, message) in deleting.enumerated() where !failed.contains("d\(index)") {
                            say("D \(message.body)")
                        }
                    }
                    let ordered = try await fifo.receiveMessages(maxNumberOfMessages: 10, messageSystemAttributeNames: [.all])
                    for message in ordered { say("Q \(message.attributes[.messageGroupId] ?? "") \(message.body)") }
                    for message in ordered {
                        try fifo.deleteMessage(receiptHandle: message.receiptHandle)
                        say("E \(message.attributes[.messageGroupId] ?? "") \(message.body)")
                    }
                    let copies = try await subscribed.receiveMessages(maxNumberOfMessages: 10)
                    for message in copies { say("H \(message.body)") }
                    if !copies.isEmpty {
                        _ = try subscribed.deleteMessageBatch(copies.enumerated().map {
                            DeleteMessageBatchRequestEntry(id: "h\($0.offset)", receiptHandle: $0.element.receiptHandle)
                        })
                    }
                    if round % 50 == 0 { try queue.setAttributes(awsAttributes: ["DelaySeconds": "0"]) }
                } catch { fail(error) }
            }
        }
        semaphore.wait()
    }.start()
    while true { pause() }
}

/// A broken promise the child noticed itself.
struct ChildFailure: Error {
    let message: String
}

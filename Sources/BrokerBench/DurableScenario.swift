import Broker
import Foundation

// broker-bench durable: send+receive+delete on a durable broker, batches of 10, producers and consumers as tasks
// that suspend for the disk (Broker.awaitingDurability). One row per level at the chosen concurrency (64 producers
// and 64 consumers by default), beside the same run in memory; then, at `acknowledged`, a sweep of concurrency
// (1 to 64 each), which is what sets how many records each sync carries: the figure of throughput against the
// fsync batch in Docs/Performance.md. Last, the recovery of 1,000,000 resident messages (`--resident N`), and the
// directory's bytes per message after compaction.

/// The levels of the first rows, by name.
private let durableLevels: [(name: String, durability: Durability?)] = [
    ("memory", nil),
    ("acknowledged", .acknowledged),
    ("interval 10ms", .interval(.milliseconds(10))),
    ("none", Durability.none),
]

/// Producers = consumers of the sweep.
private let sweepConcurrency = [1, 2, 4, 8, 16, 32, 64]

func runDurableRuns(_ options: Options) async throws -> [RunResult] {
    let root = (ProcessInfo.processInfo.environment["BROKER_BENCH_DATA_DIR"] ?? NSTemporaryDirectory())
        + "/broker-bench-durable-\(getpid())"
    try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: root) }

    func shape(_ durability: Durability?, producers: Int, consumers: Int, quiet: Bool) -> QueueRunShape {
        var shape = QueueRunShape(fifo: false, groups: 1, batch: 10, bodySize: options.bodySize, producers: producers,
                                  consumers: consumers, clock: .manual, quiet: quiet)
        shape.durability = durability
        shape.dataRoot = root
        return shape
    }
    func once(_ name: String, _ durability: Durability?, producers: Int, consumers: Int) async throws -> RunResult {
        note("durable: \(name), \(producers) producers, \(consumers) consumers", quiet: options.quiet)
        var result = try await runQueueProducersConsumers(shape(durability, producers: producers, consumers: consumers, quiet: true),
                                                          budget: options.budget)
        for index in result.rows.indices {
            result.rows[index].scenario = "durable"
            result.rows[index].variant = "\(name),producers=\(producers),consumers=\(consumers),batch=10"
        }
        try? FileManager.default.removeItem(atPath: root)
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        return result
    }

    // 64 and 64 unless the command line chose otherwise.
    let shapeChosen = options.producers > 1 || options.consumers > 1
    let producers = shapeChosen ? options.producers : 64
    let consumers = shapeChosen ? options.consumers : 64
    var results: [RunResult] = []
    for run in 1...options.runs {
        if options.runs > 1 { note("run \(run)/\(options.runs)", quiet: options.quiet) }
        var combined = RunResult(rows: [], failures: [])
        func add(_ result: RunResult) {
            combined.rows += result.rows
            combined.failures += result.failures
        }
        func chosen(_ row: String) -> Bool { options.levels?.contains(row) ?? true }
        for (name, durability) in durableLevels where chosen(String(name.prefix { $0 != " " })) {
            add(try await once(name, durability, producers: producers, consumers: consumers))
        }
        for concurrency in sweepConcurrency where chosen("sweep") && (concurrency != producers || concurrency != consumers) {
            add(try await once("acknowledged", .acknowledged, producers: concurrency, consumers: concurrency))
        }
        let resident = options.resident
        guard chosen("recovery") else {
            results.append(combined)
            continue
        }
        note("durable: recovery of \(resident) resident messages", quiet: options.quiet)
        add(try runDurableRecovery(resident: resident, bodySize: options.bodySize, root: root))
        results.append(combined)
    }
    return results
}

/// Recovery and size: `resident` 100-byte messages sent in batches of 10 to a durable broker (`none`, so the fill is
/// quick), compacted by a snapshot, then the broker is closed and opened again. Reports the seconds the open took
/// (snapshot loaded, tail replayed, queues rebuilt) and the directory's bytes per resident message, and checks that
/// every message came back.
func runDurableRecovery(resident: Int, bodySize: Int, root: String) throws -> RunResult {
    let path = root + "/recovery"
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: path) }
    let configuration = BrokerConfiguration(seed: 42)
    var failures: [String] = []
    do {
        let broker = try Broker(configuration: configuration, clock: ManualClock(), storage: .directory(path, durability: .none))
        let queue = try broker.createQueue(named: "resident", attributes: benchQueueAttributes(fifo: false))
        var entries: [SendMessageBatchRequestEntry] = []
        var sent = 0
        while sent < resident {
            entries.removeAll(keepingCapacity: true)
            for index in 0..<min(10, resident - sent) {
                entries.append(SendMessageBatchRequestEntry(
                    id: Names.entryIds[index], body: Payload.body(seq: sent + index, group: 0, sentAt: 0, size: bodySize)))
            }
            let result = try queue.sendMessageBatch(entries)
            if let failure = result.failed.first { failures.append("send failed: \(failure.message)") }
            sent += entries.count
        }
        try broker.snapshot()
        broker.closeStorage()
    }
    var bytes = 0
    for name in try FileManager.default.contentsOfDirectory(atPath: path) {
        let attributes = try FileManager.default.attributesOfItem(atPath: path + "/" + name)
        bytes += (attributes[.size] as? Int) ?? 0
    }
    let start = nanosecondsNow()
    let reopened = try Broker(configuration: configuration, clock: ManualClock(), storage: .directory(path, durability: .none))
    let seconds = Double(nanosecondsNow() - start) / 1e9
    let count = try reopened.queue(named: "resident").statistics().approximateNumberOfMessages
    if count != resident { failures.append("\(resident) messages resident, \(count) recovered") }
    reopened.closeStorage()
    var row = Row(scenario: "durable", variant: "recovery,resident=\(resident),size=\(bodySize)", unit: "msgs/s",
                  throughput: Double(count) / seconds, count: count, seconds: seconds, latency: nil,
                  latencyOf: "messages recovered per second of open")
    row.extras = [("open s", seconds), ("directory bytes/msg", Double(bytes) / Double(max(1, resident))),
                  ("bytes/msg over body", Double(bytes) / Double(max(1, resident)) / Double(bodySize))]
    return RunResult(rows: [row], failures: failures)
}

import Broker
import Foundation
#if canImport(Glibc)
import Glibc
#endif

// broker-bench journal: the storage engine alone, no queue above it. Threads append batches of 10 records, each the
// size of a journal record for a 100-byte message, at each durability level; a row is one level and thread count.

/// A level and a commit strategy measured by the journal scenario.
private struct JournalMode {
    var name: String
    var durability: Durability
    var commit: Journal.CommitStrategy
}

private let journalModes: [JournalMode] = [
    JournalMode(name: "acknowledged", durability: .acknowledged, commit: .leader),
    JournalMode(name: "acknowledged (flusher thread)", durability: .acknowledged, commit: .flusherThread),
    JournalMode(name: "interval 10ms", durability: .interval(.milliseconds(10)), commit: .leader),
    JournalMode(name: "none", durability: .none, commit: .leader),
]

/// The thread counts of each mode.
private let journalThreadCounts = [1, 8, 64]

/// A record as a send would journal it: kind, queue, message id, deadlines, a 100-byte body.
private func journalRecord(_ encoder: inout JournalEncoder, thread: Int, sequence: Int, body: [UInt8]) {
    encoder.write(byte: 1)
    encoder.write(count: thread)
    encoder.write(count: sequence)
    encoder.write(fixed: UInt64(truncatingIfNeeded: thread &* 0x9E37_79B9 &+ sequence))
    encoder.write(date: Date(timeIntervalSinceReferenceDate: Double(sequence)))
    encoder.write(bytes: body)
}

func runJournalRuns(_ options: Options) throws -> [RunResult] {
    let seconds: Double = switch options.budget {
    case .duration(let value): value
    case .messages: 1
    }
    var results: [RunResult] = []
    for run in 1...options.runs {
        if options.runs > 1 { note("run \(run)/\(options.runs)", quiet: options.quiet) }
        var rows: [Row] = []
        var failures: [String] = []
        for mode in journalModes {
            for threads in journalThreadCounts {
                note("journal \(mode.name), \(threads) thread(s), \(Format.number(seconds)) s", quiet: options.quiet)
                let outcome = try runJournalOnce(mode: mode, threads: threads, seconds: seconds, bodySize: options.bodySize)
                rows.append(outcome.row)
                failures += outcome.failures.map { "\(mode.name), \(threads) threads: \($0)" }
            }
        }
        results.append(RunResult(rows: rows, failures: failures))
    }
    return results
}

private func runJournalOnce(mode: JournalMode, threads: Int, seconds: Double, bodySize: Int) throws -> (row: Row, failures: [String]) {
    let directory = NSTemporaryDirectory() + "/broker-bench-journal-\(getpid())-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: directory) }
    var journalOptions = Journal.Options()
    journalOptions.commit = mode.commit
    let (journal, _) = try Journal.open(directory: directory, durability: mode.durability, options: journalOptions)

    let stop = LockedFlag()
    let histograms = LockedBox([Histogram]())
    let errors = LockedBox([String]())
    let counts = LockedBox([Int](repeating: 0, count: threads))
    let group = DispatchGroup()
    let body = [UInt8](repeating: UInt8(ascii: "m"), count: bodySize)
    let start = nanosecondsNow()
    for thread in 0..<threads {
        group.enter()
        Thread {
            defer { group.leave() }
            var histogram = Histogram()
            var batch = JournalBatch(capacity: 16 * (bodySize + 64))
            var sequence = 0
            while !stop.isSet {
                batch.removeAll()
                do {
                    for _ in 0..<10 {
                        try batch.append { journalRecord(&$0, thread: thread, sequence: sequence, body: body) }
                        sequence += 1
                    }
                    let began = nanosecondsNow()
                    try journal.append(batch)
                    histogram.record(nanosecondsNow() - began)
                } catch {
                    errors.update { $0.append("\(error)") }
                    sequence -= batch.count
                    break
                }
            }
            histograms.update { $0.append(histogram) }
            counts.update { $0[thread] = sequence }
        }.start()
    }
    Thread.sleep(forTimeInterval: seconds)
    stop.set()
    group.wait()
    let elapsed = Double(nanosecondsNow() - start) / 1e9
    let statistics = journal.statistics
    journal.close()

    // Verify: every record appended comes back, intact and in each thread's order.
    var failures = errors.value
    // Timed: open (read and checksum every segment) plus one pass over the records, decoding their headers.
    let recoveryStart = nanosecondsNow()
    let (reopened, recovery) = try Journal.open(directory: directory, durability: .none)
    var next = [Int](repeating: 0, count: threads)
    for record in recovery.records {
        var decoder = JournalDecoder(record.payload)
        do {
            guard try decoder.readByte() == 1 else { failures.append("record \(record.lsn): wrong kind"); break }
            let thread = try decoder.readCount()
            let sequence = try decoder.readCount()
            guard thread < threads, sequence == next[thread] else {
                failures.append("record \(record.lsn): thread \(thread) sequence \(sequence), expected \(thread < threads ? next[thread] : -1)")
                break
            }
            next[thread] += 1
        } catch {
            failures.append("record \(record.lsn): \(error)")
            break
        }
    }
    let recoverySeconds = Double(nanosecondsNow() - recoveryStart) / 1e9
    reopened.close()
    if next != counts.value { failures.append("recovered \(next.reduce(0, +)) records, appended \(counts.value.reduce(0, +))") }
    if !recovery.damage.isEmpty { failures.append("damage after a clean close: \(recovery.damage)") }

    var merged = Histogram()
    for histogram in histograms.value { merged.merge(histogram) }
    let records = statistics.records
    var row = Row(scenario: "journal", variant: "\(mode.name), threads=\(threads)", unit: "records/s",
                  throughput: Double(records) / elapsed, count: records, seconds: elapsed,
                  latency: merged.summary, latencyOf: "one append of a batch of 10 records, until it returns")
    row.extras = [
        ("appends/s", Double(statistics.appends) / elapsed),
        ("syncs/s", Double(statistics.syncs) / elapsed),
        ("records per sync", statistics.syncs > 0 ? Double(records) / Double(statistics.syncs) : 0),
        ("bytes per record", records > 0 ? Double(statistics.bytes) / Double(records) : 0),
        ("recovery s", recoverySeconds),
        ("recovered records/s", recoverySeconds > 0 ? Double(next.reduce(0, +)) / recoverySeconds : 0),
    ]
    return (row, failures)
}

/// A flag set once, read by many threads.
private final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var flag = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return flag }
    func set() { lock.lock(); flag = true; lock.unlock() }
}

/// A value updated from several threads.
private final class LockedBox<Value>: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Value
    init(_ value: Value) { stored = value }
    var value: Value { lock.lock(); defer { lock.unlock() }; return stored }
    func update(_ body: (inout Value) -> Void) { lock.lock(); body(&stored); lock.unlock() }
}

// MARK: The crash test's child

/// `broker-bench journal-crash-child DIRECTORY RUN THREADS`: appends acknowledged records from THREADS threads
/// until killed, printing `RUN THREAD SEQUENCE LSN` on stdout after each append returns. The crash test kills it
/// with SIGKILL and checks that every printed record is in the journal. Not listed in `--help`: a test fixture.
func runJournalCrashChild(_ arguments: [String]) -> Int32 {
    guard arguments.count == 3, let run = Int(arguments[1]), let threads = Int(arguments[2]), threads > 0 else {
        FileHandle.standardError.write(Data("usage: broker-bench journal-crash-child DIRECTORY RUN THREADS\n".utf8))
        return 2
    }
    let journal: Journal
    do {
        var options = Journal.Options()
        // Small segments, so kills land during rollovers too.
        options.segmentSize = 16 << 10
        (journal, _) = try Journal.open(directory: arguments[0], durability: .acknowledged, options: options)
    } catch {
        FileHandle.standardError.write(Data("journal-crash-child: \(error)\n".utf8))
        return 1
    }
    for thread in 0..<threads {
        Thread {
            var sequence = 0
            while true {
                do {
                    var batch = JournalBatch()
                    try batch.append { encoder in
                        encoder.write(count: run)
                        encoder.write(count: thread)
                        encoder.write(count: sequence)
                        encoder.write(bytes: crashChildBody(run: run, thread: thread, sequence: sequence))
                    }
                    let lsn = try journal.append(batch).lowerBound
                    let line = Array("\(run) \(thread) \(sequence) \(lsn)\n".utf8)
                    // One write(2) per line, under PIPE_BUF: a line reaches the parent whole or not at all.
                    _ = line.withUnsafeBytes { write(1, $0.baseAddress, $0.count) }
                    sequence += 1
                } catch {
                    FileHandle.standardError.write(Data("journal-crash-child: \(error)\n".utf8))
                    exit(1)
                }
            }
        }.start()
    }
    while true { pause() }
}

/// The body of a crash-test record: every byte follows from its name, so the parent can tell it came back intact.
func crashChildBody(run: Int, thread: Int, sequence: Int) -> [UInt8] {
    let size = 20 + (run * 31 + thread * 7 + sequence) % 200
    return (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ run &* 17 &+ thread &* 5 &+ sequence) }
}

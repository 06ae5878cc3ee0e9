import Dispatch
import Foundation

/// CPU time of the whole process in nanoseconds (user + system, every thread). Single-thread scenarios report
/// throughput per CPU-second beside wall-clock throughput: on a shared machine other processes take the core away
/// from the benchmark, which lowers the wall-clock figure but not the CPU-time one.
func processCPUNanoseconds() -> UInt64 {
    var spec = timespec()
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &spec)
    return UInt64(spec.tv_sec) * 1_000_000_000 + UInt64(spec.tv_nsec)
}

/// Monotonic time in nanoseconds (`DispatchTime`, CLOCK_MONOTONIC on Linux): the harness's only timer. The library
/// itself reads time only through its `BrokerClock`.
@inline(__always)
func nanosecondsNow() -> UInt64 {
    DispatchTime.now().uptimeNanoseconds
}

/// A log-linear latency histogram: exact below 1,024 ns, then 128 sub-buckets per power of two (under 0.4% error
/// at the bucket midpoint). Constant memory, so a run of a billion messages records every one.
struct Histogram: Sendable {
    private static let exact = 1_024
    private static let subBuckets = 128
    private var counts = [UInt64](repeating: 0, count: Histogram.exact + 54 * Histogram.subBuckets)
    private(set) var count: UInt64 = 0
    private(set) var maximum: UInt64 = 0
    private(set) var sum: UInt64 = 0

    @inline(__always)
    mutating func record(_ nanoseconds: UInt64) {
        count += 1
        sum &+= nanoseconds
        if nanoseconds > maximum { maximum = nanoseconds }
        counts[Self.index(of: nanoseconds)] += 1
    }

    @inline(__always)
    private static func index(of value: UInt64) -> Int {
        if value < UInt64(exact) { return Int(value) }
        let exponent = 63 - value.leadingZeroBitCount          // ≥ 10
        let sub = Int((value >> UInt64(exponent - 7)) & 127)
        return exact + (exponent - 10) * subBuckets + sub
    }

    /// The middle of a bucket's range of values.
    private static func value(at index: Int) -> Double {
        if index < exact { return Double(index) }
        let exponent = (index - exact) / subBuckets + 10
        let sub = (index - exact) % subBuckets
        let width = Double(UInt64(1) << UInt64(exponent - 7))
        return Double(128 + sub) * width + width / 2
    }

    mutating func merge(_ other: Histogram) {
        for index in counts.indices { counts[index] += other.counts[index] }
        count += other.count
        sum &+= other.sum
        maximum = max(maximum, other.maximum)
    }

    /// The value at quantile `q` (0...1), in nanoseconds; the maximum is exact.
    func quantile(_ q: Double) -> Double {
        guard count > 0 else { return 0 }
        if q >= 1 { return Double(maximum) }
        let rank = UInt64((q * Double(count)).rounded(.up))
        var seen: UInt64 = 0
        for (index, bucket) in counts.enumerated() where bucket > 0 {
            seen += bucket
            if seen >= max(rank, 1) { return min(Self.value(at: index), Double(maximum)) }
        }
        return Double(maximum)
    }

    /// p50, p90, p99 and max in microseconds; nil when nothing was recorded.
    var summary: LatencySummary? {
        guard count > 0 else { return nil }
        return LatencySummary(p50: quantile(0.5) / 1_000, p90: quantile(0.9) / 1_000, p99: quantile(0.99) / 1_000,
                              max: Double(maximum) / 1_000)
    }
}

/// Latency percentiles in microseconds.
struct LatencySummary: Codable, Sendable {
    var p50: Double
    var p90: Double
    var p99: Double
    var max: Double
}

/// One line of a report from one run: a throughput, latencies, extra figures and whether the run checked out.
struct Row: Sendable {
    /// What was measured, e.g. `send-receive-delete` and `batch=10`.
    var scenario: String
    var variant: String
    /// "msgs/s", "publishes/s", "rounds/s".
    var unit: String
    var throughput: Double
    /// Messages (or publishes, rounds) counted in `throughput`.
    var count: Int
    var seconds: Double
    var latency: LatencySummary?
    /// What one latency sample is.
    var latencyOf: String
    /// Scenario-specific figures (bytes per message, µs of overhead, …), by name.
    var extras: [(name: String, value: Double)] = []

    var key: String { "\(scenario) \(variant)" }
}

/// What one run of a scenario produced.
struct RunResult: Sendable {
    var rows: [Row]
    /// Verification failures; empty when every check passed.
    var failures: [String]
}

/// A scenario's rows aggregated over its runs: medians, with the spread of the throughput.
struct AggregatedRow: Codable {
    var scenario: String
    var variant: String
    var unit: String
    var runs: Int
    var throughputMedian: Double
    var throughputMin: Double
    var throughputMax: Double
    var throughputPerRun: [Double]
    var countMedian: Double
    var latencyOf: String
    /// Medians over runs of each percentile, in microseconds.
    var latencyMicroseconds: LatencySummary?
    var extras: [String: Double]

    init(_ rows: [Row]) {
        let first = rows[0]
        scenario = first.scenario
        variant = first.variant
        unit = first.unit
        runs = rows.count
        throughputPerRun = rows.map(\.throughput)
        throughputMedian = median(throughputPerRun)
        throughputMin = throughputPerRun.min() ?? 0
        throughputMax = throughputPerRun.max() ?? 0
        countMedian = median(rows.map { Double($0.count) })
        latencyOf = first.latencyOf
        let latencies = rows.compactMap(\.latency)
        latencyMicroseconds = latencies.isEmpty ? nil : LatencySummary(
            p50: median(latencies.map(\.p50)), p90: median(latencies.map(\.p90)),
            p99: median(latencies.map(\.p99)), max: median(latencies.map(\.max)))
        var extras: [String: Double] = [:]
        for (name, _) in first.extras {
            extras[name] = median(rows.compactMap { row in row.extras.first { $0.name == name }?.value })
        }
        self.extras = extras
    }
}

func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return 0 }
    let sorted = values.sorted()
    let middle = sorted.count / 2
    return sorted.count % 2 == 1 ? sorted[middle] : (sorted[middle - 1] + sorted[middle]) / 2
}

/// Groups the rows of several runs by key, in first-seen order, and aggregates each group.
func aggregate(_ runs: [RunResult]) -> [AggregatedRow] {
    var order: [String] = []
    var groups: [String: [Row]] = [:]
    for run in runs {
        for row in run.rows {
            if groups[row.key] == nil { order.append(row.key) }
            groups[row.key, default: []].append(row)
        }
    }
    return order.map { AggregatedRow(groups[$0]!) }
}

/// Decides when a run is over: by elapsed time or by messages sent.
struct RunBudget {
    let budget: Budget
    let start: UInt64

    init(_ budget: Budget, start: UInt64 = nanosecondsNow()) {
        self.budget = budget
        self.start = start
    }

    @inline(__always)
    func isSpent(sent: Int, now: UInt64) -> Bool {
        switch budget {
        case .duration(let seconds): Double(now &- start) >= seconds * 1e9
        case .messages(let count): sent >= count
        }
    }

    /// For pre-sizing: the message count, or nil for a time budget.
    var messageLimit: Int? {
        if case .messages(let count) = budget { return count }
        return nil
    }
}

/// The progress line on stderr: after a run has gone on for two seconds, every two seconds; redrawn in place on a
/// terminal, plain lines otherwise.
final class Progress: @unchecked Sendable {
    private let label: String
    private let enabled: Bool
    private let start = nanosecondsNow()
    private var nextReport: UInt64
    private var printed = false
    private let lock = NSLock()
    private static let isTerminal = isatty(2) != 0

    init(_ label: String, enabled: Bool) {
        self.label = label
        self.enabled = enabled
        nextReport = start + 2_000_000_000
    }

    /// Call often; prints only when a report is due. `now` is the caller's latest timestamp.
    @inline(__always)
    func tick(_ done: Int, unit: String = "msgs", now: UInt64) {
        guard enabled, now >= nextReport else { return }
        report(done, unit: unit, now: now)
    }

    private func report(_ done: Int, unit: String, now: UInt64) {
        lock.lock()
        defer { lock.unlock() }
        guard now >= nextReport else { return }
        nextReport = now + 2_000_000_000
        let seconds = Double(now - start) / 1e9
        let rate = Double(done) / max(seconds, 1e-9)
        let line = "\(label): \(Format.number(seconds, digits: 1)) s, \(Format.grouped(done)) \(unit), \(Format.rate(rate))/s"
        if Self.isTerminal {
            FileHandle.standardError.write(Data(("\r\u{1B}[K" + line).utf8))
        } else {
            FileHandle.standardError.write(Data((line + "\n").utf8))
        }
        printed = true
    }

    /// Clears the line (on a terminal) at the end of a run.
    func finish() {
        lock.lock()
        defer { lock.unlock() }
        if printed, Self.isTerminal { FileHandle.standardError.write(Data("\r\u{1B}[K".utf8)) }
    }
}

/// Prints a note on stderr (phases of long scenarios), unless quiet.
func note(_ text: String, quiet: Bool) {
    guard !quiet else { return }
    FileHandle.standardError.write(Data((text + "\n").utf8))
}

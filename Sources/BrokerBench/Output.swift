import Foundation

/// Number formatting for the table.
enum Format {
    static func number(_ value: Double, digits: Int = 2) -> String {
        if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
        return String(format: "%.\(digits)f", value)
    }

    static func grouped(_ value: Int) -> String {
        let digits = String(abs(value))
        var out = ""
        for (index, character) in digits.enumerated() {
            if index > 0, (digits.count - index) % 3 == 0 { out.append(",") }
            out.append(character)
        }
        return value < 0 ? "-" + out : out
    }

    /// 1234567 → "1.23M", 12345 → "12.3k".
    static func rate(_ value: Double) -> String {
        switch value {
        case 1e6...: String(format: "%.2fM", value / 1e6)
        case 1e4...: String(format: "%.1fk", value / 1e3)
        case 1e3...: String(format: "%.2fk", value / 1e3)
        default: String(format: "%.1f", value)
        }
    }

    /// Microseconds with sensible precision.
    static func micros(_ value: Double) -> String {
        switch value {
        case 10_000...: String(format: "%.1fms", value / 1_000)
        case 100...: String(format: "%.0fµs", value)
        case 10...: String(format: "%.1fµs", value)
        default: String(format: "%.2fµs", value)
        }
    }

    /// A throughput with the time per item it means: "1,234,567 msgs/s (810 ns/msg)".
    static func perMessage(_ throughput: Double, unit: String) -> String {
        let item = unit.hasPrefix("publishes") ? "publish" : "msg"
        let nanoseconds = throughput > 0 ? 1e9 / throughput : .infinity
        return "\(grouped(Int(throughput.rounded()))) \(unit) (\(number(nanoseconds, digits: 0)) ns/\(item))"
    }

    /// A floor's figure: nanoseconds for the rings, microseconds for the continuation, a throughput otherwise.
    static func floor(_ value: Double, label: String) -> String {
        if label.contains("ring") { return String(format: "%.1f ns/msg", value) }
        if label.contains("continuation") { return micros(value) }
        return "\(grouped(Int(value.rounded()))) msgs/s"
    }

    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
        let count = text.count
        guard count < width else { return text }
        let padding = String(repeating: " ", count: width - count)
        return right ? padding + text : text + padding
    }
}

/// The report of one invocation.
struct Report: Codable {
    struct Machine: Codable {
        var cpu: String
        var cores: Int
        var os: String
    }
    struct Goal: Codable {
        var goal: String
        /// The absolute figure.
        var measured: String
        var target: String
        var pass: Bool
        /// The figure as a multiple of its floor; nil for a goal stated in absolute terms (memory).
        var ratio: Double?
        /// The floor measured beside the scenario, in its own unit.
        var floor: String?
        /// The same ratio in process CPU time (single-thread throughput goals), not judged: what the ratio would
        /// be if no other process took the core, so a loaded host's MISS can be told from the code's.
        var cpuRatio: Double?
        var cpuFloor: String?
    }
    var tool = "broker-bench"
    var scenario: String
    var command: String
    var runs: Int
    var budgetPerRun: String
    var warmupSeconds: Double
    var clock: String
    var memoryMethod: String?
    var machine: Machine
    var results: [AggregatedRow]
    var goals: [Goal]?
    /// Figures reported beside the goals and not judged.
    var notes: [String]?
    /// What verification checked.
    var checks: String
    var verified: Bool
    var failures: [String]
}

extension Report.Machine {
    static var current: Report.Machine {
        let cpuinfo = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        let model = cpuinfo.split(separator: "\n").first { $0.hasPrefix("model name") }
            .map { String($0.split(separator: ":", maxSplits: 1).last ?? "").trimmingCharacters(in: .whitespaces) } ?? "unknown"
        return Report.Machine(cpu: model, cores: ProcessInfo.processInfo.activeProcessorCount,
                              os: ProcessInfo.processInfo.operatingSystemVersionString)
    }
}

/// Renders a report as the human table.
func renderTable(_ report: Report) -> String {
    var lines: [String] = []
    lines.append("broker-bench \(report.scenario) — median of \(report.runs) run(s), \(report.budgetPerRun) per run, warm-up \(Format.number(report.warmupSeconds)) s, \(report.clock)")
    lines.append("machine: \(report.machine.cpu), \(report.machine.cores) cores")
    let variantWidth = max(20, report.results.map(\.variant.count).max() ?? 0)
    let header = [Format.pad("scenario", 20), Format.pad("variant", variantWidth), Format.pad("throughput", 16, right: true),
                  Format.pad("min–max", 17, right: true), Format.pad("p50", 9, right: true), Format.pad("p90", 9, right: true),
                  Format.pad("p99", 9, right: true), Format.pad("max", 9, right: true)].joined(separator: " ")
    lines.append(header)
    lines.append(String(repeating: "-", count: header.count))
    for row in report.results {
        let latency = row.latencyMicroseconds
        lines.append([
            Format.pad(row.scenario, 20), Format.pad(row.variant, variantWidth),
            Format.pad("\(Format.grouped(Int(row.throughputMedian.rounded()))) \(row.unit.replacingOccurrences(of: "/s", with: ""))/s", 16, right: true),
            Format.pad("\(Format.rate(row.throughputMin))–\(Format.rate(row.throughputMax))", 17, right: true),
            Format.pad(latency.map { Format.micros($0.p50) } ?? "—", 9, right: true),
            Format.pad(latency.map { Format.micros($0.p90) } ?? "—", 9, right: true),
            Format.pad(latency.map { Format.micros($0.p99) } ?? "—", 9, right: true),
            Format.pad(latency.map { Format.micros($0.max) } ?? "—", 9, right: true),
        ].joined(separator: " "))
        if latency != nil { lines.append("    latency: \(row.latencyOf)") }
        if !row.extras.isEmpty {
            let extras = row.extras.sorted { $0.key < $1.key }.map { "\($0.key) \(Format.number($0.value, digits: 2))" }
            lines.append("    " + extras.joined(separator: ", "))
        }
    }
    if let method = report.memoryMethod { lines.append("memory: \(method)") }
    if let goals = report.goals {
        lines.append("")
        lines.append("GOALS (issue 22: each a multiple of its floor, measured beside it in this run)")
        let goalWidth = goals.map(\.goal.count).max() ?? 0
        for goal in goals {
            let ratio = goal.ratio.map { Format.pad(String(format: "%.2f×", $0), 8, right: true) } ?? Format.pad("—", 8, right: true)
            var line = "  \(goal.pass ? "PASS" : "MISS")  \(Format.pad(goal.goal, goalWidth))  \(ratio)  target \(Format.pad(goal.target, 34))  \(goal.measured)"
            if let floor = goal.floor { line += ", floor \(floor)" }
            if let cpuRatio = goal.cpuRatio, let cpuFloor = goal.cpuFloor {
                line += String(format: "; in CPU time %.2f×", cpuRatio) + " (floor \(cpuFloor))"
            }
            lines.append(line)
        }
    }
    if let notes = report.notes, !notes.isEmpty {
        lines.append("")
        lines.append("NOT JUDGED")
        for note in notes { lines.append("  \(note)") }
    }
    lines.append("")
    if report.verified {
        lines.append("verification: OK — \(report.checks)")
    } else {
        lines.append("verification: FAILED (checked: \(report.checks))")
        for failure in report.failures { lines.append("  - \(failure)") }
    }
    return lines.joined(separator: "\n")
}

func renderJSON(_ report: Report) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    guard let data = try? encoder.encode(report), let text = String(data: data, encoding: .utf8) else { return "{}" }
    return text
}

import Foundation

/// The scenarios broker-bench runs.
enum Scenario: String, CaseIterable {
    case sendReceiveDelete = "send-receive-delete"
    case fifo
    case fanout
    case longPollLatency = "long-poll-latency"
    case consumer
    case depthSweep = "depth-sweep"
    case goals
    case floors
    case journal
    case durable

    /// What a run of the scenario checks before it reports.
    var checks: String {
        switch self {
        case .sendReceiveDelete: "every message received exactly once, the queue empty at the end"
        case .fifo: "every message received exactly once and in order within its group, the queue empty at the end"
        case .fanout: "each subscription got exactly the publishes its filter admits, once each, raw or in SNS's envelope as configured; no copy left over"
        case .longPollLatency: "each round's receive was parked before the send and returned exactly that message"
        case .consumer: "the handler saw every message exactly once, the worker counted each processed, no failure, the queues empty"
        case .depthSweep: "every message received at most once, as many received as sent, the depth unchanged at the end"
        case .goals: "each scenario's own checks (exactly once, order per group, fan-out counts, parked long polls) and the floors' own"
        case .floors: "the ring returned every message once and in order; each continuation was resumed after its task had parked"
        case .journal: "after each row the journal is reopened: every record appended comes back intact, in each thread's order, with no damage"
        case .durable: "every message received exactly once, the queue empty at the end"
        }
    }

    var summary: String {
        switch self {
        case .sendReceiveDelete: "standard queue: send → receive → delete (single, or --batch 10)"
        case .fifo: "FIFO queue with --groups N message groups: send → receive → delete, order checked per group"
        case .fanout: "topic → N queue subscriptions (2 attribute-filtered, 1 raw, 1 envelope); every copy received and deleted"
        case .longPollLatency: "a receive parked in a 20 s long poll (SystemClock), a send: time until the receive returns"
        case .consumer: "QueueWorker with --concurrency K and an empty handler draining N messages, beside raw receive+delete"
        case .depthSweep: "send+receive+delete with 1k → 1M messages resident, and heap bytes per resident message"
        case .goals: "every goal of issue 22 as a multiple of its floor, with PASS/MISS and the absolute figure"
        case .floors: "the floors alone: a locked ring, push+pop 1 and 10 at a time (ns/msg); a continuation resumed from a thread"
        case .journal: "the storage journal alone: batches of 10 records from 1, 8, 64 threads at each durability level"
        case .durable: "durable send+receive+delete, batches of 10, at each level, then acknowledged at 1–64 producers and consumers"
        }
    }
}

/// How long a run lasts: a time budget or a message count.
enum Budget: Equatable {
    case duration(Double)
    case messages(Int)

    var description: String {
        switch self {
        case .duration(let seconds): "\(Format.number(seconds)) s"
        case .messages(let count): "\(count) messages"
        }
    }
}

/// Which clock a broker runs on.
enum ClockChoice: String {
    case manual, system
}

/// Parsed command line.
struct Options {
    var scenario: Scenario = .sendReceiveDelete
    var producers = 1
    var consumers = 1
    var messageSize: Int?
    var batch: Int?
    var groups = 10
    var subscriptions = 4
    var bodyScope = false
    var publishBatch = false
    var concurrency = 10
    var depths = [1_000, 10_000, 100_000, 1_000_000]
    /// durable: resident messages of the recovery row.
    var resident = 1_000_000
    /// durable: the levels of the first rows, and whether the acknowledged sweep and the recovery row run (all when nil).
    var levels: [String]?
    var duration: Double?
    var messages: Int?
    var warmup = 0.3
    var runs = 5
    var clock: ClockChoice?
    var json = false
    var quiet = false
    var gapMicroseconds = 500

    /// The usage text of `--help`.
    static let usage: String = {
        let scenarios = Scenario.allCases.map { "  \($0.rawValue.padding(toLength: 21, withPad: " ", startingAt: 0)) \($0.summary)" }
        return """
        USAGE: swift run -c release broker-bench <scenario> [options]

        Throughput and latency of Broker's in-process SQS/SNS. Every scenario checks its own result (each message
        delivered exactly once, FIFO order per group, fan-out counts) and exits 1 if the check fails.

        SCENARIOS:
        \(scenarios.joined(separator: "\n"))

        OPTIONS:
          --producers N        send-receive-delete, fifo: producer threads (default 1)
          --consumers N        send-receive-delete, fifo: consumer tasks (default 1). With 1 producer and 1 consumer one
                               thread sends, receives and deletes in turn (latency = one such iteration); otherwise
                               latency is send → receive of each message
          --message-size B     body bytes (default 100; fanout 300, a JSON document; at least 48)
          --batch N            messages per send, receive and delete call, 1–10 (default 1 for send-receive-delete,
                               10 for the others)
          --groups N           fifo: message groups (default 10)
          --subscriptions N    fanout: subscriptions (default 4: 2 attribute-filtered, 1 raw, 1 envelope)
          --body-scope         fanout: the two filters match on the JSON body (FilterPolicyScope MessageBody)
          --publish-batch      fanout: PublishBatch of --batch entries instead of single publishes
          --concurrency K      consumer: QueueWorker concurrency (default 10)
          --depths LIST        depth-sweep: resident messages, comma-separated (default 1000,10000,100000,1000000)
          --resident N         durable: resident messages of the recovery row (default 1000000)
          --levels LIST        durable: rows to run, comma-separated, of memory, acknowledged, interval, none, sweep,
                               recovery (default all)
          --duration SECONDS   time budget of each run (default 1; floors: of each ring run, default 0.3)
          --messages N         message budget of each run instead of --duration; long-poll-latency, floors: rounds
                               (default 2000); consumer: messages drained (default 100000)
          --warmup SECONDS     the same scenario on a throw-away broker before each run (default 0.3; 0 skips)
          --runs N             runs; figures are the median over runs (default 5)
          --clock manual|system  the brokers' clock (default manual: nothing waits in these scenarios, and time
                               standing still makes them deterministic). consumer always uses SystemClock, and
                               long-poll-latency does by default (--clock manual there is a diagnostic: no Dispatch
                               timer is set for the 20 s deadline)
          --gap MICROSECONDS   long-poll-latency, floors: how long the receive is parked before the send (default 500)
          --json               print JSON instead of the table
          --quiet              no progress line on stderr
          -h, --help           this text

        EXAMPLES:
          swift run -c release broker-bench send-receive-delete --batch 10 --runs 5
          swift run -c release broker-bench fifo --groups 10 --batch 10
          swift run -c release broker-bench fanout --body-scope
          swift run -c release broker-bench depth-sweep --depths 1000,1000000 --json
          swift run -c release broker-bench goals --runs 5
          swift run -c release broker-bench floors --runs 5
        """
    }()

    /// Parses `arguments` (without the program name). Throws `UsageError` with a message for the user.
    static func parse(_ arguments: [String]) throws(UsageError) -> Options {
        var options = Options()
        var scenario: Scenario?
        var index = 0
        func value(_ name: String) throws(UsageError) -> String {
            index += 1
            guard index < arguments.count else { throw UsageError("\(name) needs a value") }
            return arguments[index]
        }
        func integer(_ name: String, _ range: ClosedRange<Int>) throws(UsageError) -> Int {
            let text = try value(name)
            guard let number = Int(text.replacingOccurrences(of: "_", with: "")), range.contains(number) else {
                throw UsageError("\(name) must be an integer in \(range.lowerBound)...\(range.upperBound), not '\(text)'")
            }
            return number
        }
        func seconds(_ name: String) throws(UsageError) -> Double {
            var text = try value(name)
            if text.hasSuffix("ms"), let ms = Double(text.dropLast(2)) { return ms / 1_000 }
            if text.hasSuffix("s") { text.removeLast() }
            guard let number = Double(text), number >= 0, number.isFinite else {
                throw UsageError("\(name) must be a number of seconds, not '\(text)'")
            }
            return number
        }
        while index < arguments.count {
            let argument = arguments[index]
            switch argument {
            case "-h", "--help", "help": throw UsageError(nil)
            case "--producers": options.producers = try integer(argument, 1...64)
            case "--consumers": options.consumers = try integer(argument, 1...64)
            case "--message-size": options.messageSize = try integer(argument, 1...262_144)
            case "--batch": options.batch = try integer(argument, 1...10)
            case "--groups": options.groups = try integer(argument, 1...100_000)
            case "--subscriptions": options.subscriptions = try integer(argument, 1...100)
            case "--body-scope": options.bodyScope = true
            case "--publish-batch": options.publishBatch = true
            case "--concurrency": options.concurrency = try integer(argument, 1...1_000)
            case "--resident": options.resident = try integer(argument, 1...100_000_000)
            case "--levels":
                let text = try value(argument)
                let known = ["memory", "acknowledged", "interval", "none", "sweep", "recovery"]
                let levels = text.split(separator: ",").map(String.init)
                guard !levels.isEmpty, levels.allSatisfy(known.contains) else {
                    throw UsageError("--levels takes \(known.joined(separator: ", ")) separated by commas, not '\(text)'")
                }
                options.levels = levels
            case "--depths":
                let text = try value(argument)
                let depths = text.split(separator: ",").compactMap { Int($0.replacingOccurrences(of: "_", with: "")) }
                guard !depths.isEmpty, depths.count == text.split(separator: ",").count, depths.allSatisfy({ $0 > 0 }) else {
                    throw UsageError("--depths takes positive integers separated by commas, not '\(text)'")
                }
                options.depths = depths
            case "--duration": options.duration = try seconds(argument)
            case "--messages": options.messages = try integer(argument, 1...1_000_000_000)
            case "--warmup": options.warmup = try seconds(argument)
            case "--runs": options.runs = try integer(argument, 1...1_000)
            case "--clock":
                let text = try value(argument)
                guard let clock = ClockChoice(rawValue: text) else { throw UsageError("--clock is manual or system, not '\(text)'") }
                options.clock = clock
            case "--gap": options.gapMicroseconds = try integer(argument, 0...1_000_000)
            case "--json": options.json = true
            case "--quiet": options.quiet = true
            default:
                if argument.hasPrefix("-") { throw UsageError("unknown option '\(argument)'") }
                guard scenario == nil else { throw UsageError("one scenario at a time: '\(scenario!.rawValue)' and '\(argument)'") }
                guard let named = Scenario(rawValue: argument) else {
                    throw UsageError("unknown scenario '\(argument)'; one of: \(Scenario.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                scenario = named
            }
            index += 1
        }
        guard let scenario else { throw UsageError("name a scenario") }
        options.scenario = scenario
        if options.duration != nil, options.messages != nil { throw UsageError("give --duration or --messages, not both") }
        if options.producers > 1 || options.consumers > 1,
           ![.sendReceiveDelete, .fifo, .durable].contains(scenario) {
            throw UsageError("--producers and --consumers apply to send-receive-delete and fifo; \(scenario.rawValue) runs on one thread")
        }
        if scenario == .fifo, options.producers > options.groups {
            throw UsageError("fifo needs at least as many --groups as --producers (each group has one producer, so its order is defined)")
        }
        if let size = options.messageSize, size < Payload.minimumSize {
            throw UsageError("--message-size must be at least \(Payload.minimumSize) bytes (the body carries a sequence number, group and send time)")
        }
        return options
    }

    /// The batch size, with the scenario's default.
    var batchSize: Int { batch ?? (scenario == .sendReceiveDelete ? 1 : 10) }

    /// The body size, with the scenario's default.
    var bodySize: Int { messageSize ?? (scenario == .fanout ? 300 : 100) }

    /// The budget of one run.
    var budget: Budget {
        if let messages { return .messages(messages) }
        return .duration(duration ?? 1)
    }

    /// The clock of brokers whose scenario never waits.
    var brokerClock: ClockChoice { clock ?? .manual }
}

/// A command-line mistake; nil message means `--help`.
struct UsageError: Error {
    let message: String?
    init(_ message: String?) { self.message = message }
}

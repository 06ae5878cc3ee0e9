import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// A durable broker under `kill -9`: a child process (`broker-bench durable-crash-child`) runs producers, consumers
/// and admin calls at `acknowledged` and prints every acknowledgment; the test kills it at a random moment (seeded),
/// recovers a copy of the directory and checks the child's promises against the recovered state; then it starts the
/// next child on the same directory. The child also publishes through a topic whose filtered subscription feeds a
/// queue: the subscription must keep its ARN across every kill, and every acknowledged publish that matches the
/// filter must be in that queue or have been received from it, and none that does not.
///
/// One snapshotting child in twenty is killed only once a snapshot it started is complete, however slow the machine,
/// and the recovery after it must start from that snapshot; the others are killed wherever the count falls, in a
/// snapshot or compaction too. (Not more: a child that waits for its snapshot keeps sending, the state grows, and the
/// next snapshot takes longer; under ThreadSanitizer every fourth child waiting grew it to 30 MB by run 180.)
///
/// `BROKER_DURABLE_CRASH_ITERATIONS` (default 200) and `BROKER_CRASH_SEED`.
struct DurableCrashTests {
    private static var childExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("broker-bench").path
    }

    /// What the children were told, over every run so far.
    private struct Ledger {
        var sent = Set<String>()
        var deleted = Set<String>()
        var received: [String: Int] = [:]
        var fifoSent: [String: String] = [:]  // body → group
        var fifoDeleted = Set<String>()
        var fifoReceived = Set<String>()
        var subscriptionArns = Set<String>()
        var published: [String: Bool] = [:]  // body → matches the filter
        var copiesReceived = Set<String>()

        mutating func read(_ line: Substring) {
            let fields = line.split(separator: " ")
            guard let kind = fields.first else { return }
            switch (kind, fields.count) {
            case ("S", 2): sent.insert(String(fields[1]))
            case ("D", 2): deleted.insert(String(fields[1]))
            case ("R", 3): received[String(fields[1]), default: 0] = max(received[String(fields[1]), default: 0], Int(fields[2]) ?? 0)
            case ("F", 3): fifoSent[String(fields[2])] = String(fields[1])
            case ("E", 3): fifoDeleted.insert(String(fields[2]))
            case ("Q", 3): fifoReceived.insert(String(fields[2]))
            case ("A", 2): subscriptionArns.insert(String(fields[1]))
            case ("P", 3): published[String(fields[1])] = fields[2] == "yes"
            case ("H", 2): copiesReceived.insert(String(fields[1]))
            default: break
            }
        }
    }

    /// `RUN.THREAD.SEQUENCE` as a comparable pair (run, sequence).
    private static func rank(_ body: String) -> (Int, Int) {
        let parts = body.split(separator: ".").compactMap { Int($0) }
        return parts.count == 3 ? (parts[0], parts[2]) : (-1, -1)
    }

    /// The completed snapshots in `directory` (a snapshot is renamed to `.snap` only once it is on disk).
    private static func snapshots(in directory: String) -> Set<String> {
        Set(((try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []).filter { $0.hasSuffix(".snap") })
    }

    @Test func acknowledgedQueueStateSurvivesKillNine() throws {
        let executable = Self.childExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build broker-bench first: \(executable) is missing")
        let environment = ProcessInfo.processInfo.environment
        let iterations = environment["BROKER_DURABLE_CRASH_ITERATIONS"].flatMap(Int.init) ?? 200
        var random = IDGenerator(seed: environment["BROKER_CRASH_SEED"].flatMap(UInt64.init) ?? 20)
        let directory = TemporaryDirectory()
        var ledger = Ledger()
        var kills = 0
        var problems: [String] = []
        var publishedTotal = 0
        var recoveredFromSnapshots = 0

        for run in 0..<iterations where problems.isEmpty {
            let killAfter = 1 + Int(random.next() % 200)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            // Every other child snapshots after 4 KiB of records (a score of acknowledgments), so kills also
            // land while a snapshot is written or compacts, and recoveries start from snapshots.
            process.arguments = ["durable-crash-child", directory.path, String(run)] + (run % 2 == 1 ? [String(4 << 10)] : [])
            let output = Pipe()
            process.standardOutput = output
            // Read once the child is gone: a child that stops by itself says why there, in a line or two.
            let errors = Pipe()
            process.standardError = errors
            let snapshotsBefore = Self.snapshots(in: directory.path)
            let awaitsSnapshot = run % 40 == 3
            try process.run()
            let reader = output.fileHandleForReading
            var buffer: [UInt8] = []
            var lines = 0
            var snapshotWritten = false
            // A generous bound: a snapshot that has not finished after this long is a fault, not a slow machine.
            let deadline = ContinuousClock.now.advanced(by: .seconds(120))
            while lines < killAfter || (awaitsSnapshot && !snapshotWritten && ContinuousClock.now < deadline) {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                lines += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                buffer += chunk
                if awaitsSnapshot && lines >= killAfter {
                    snapshotWritten = !Self.snapshots(in: directory.path).subtracting(snapshotsBefore).isEmpty
                }
            }
            if awaitsSnapshot && !snapshotWritten { problems.append("run \(run): no snapshot finished in 120 s") }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            if process.terminationReason != .uncaughtSignal {
                let said = String(decoding: errors.fileHandleForReading.readDataToEndOfFile().prefix(2_000), as: UTF8.self)
                problems.append("run \(run): the child exited by itself (status \(process.terminationStatus)): \(said)")
            }
            kills += 1
            buffer += reader.readDataToEndOfFile()
            if let lastNewline = buffer.lastIndex(of: UInt8(ascii: "\n")) { buffer.removeSubrange((lastNewline + 1)...) } else { buffer = [] }
            for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") { ledger.read(line) }

            // Recover a copy (the check must not change what the next child finds).
            let copy = TemporaryDirectory()
            for name in (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? [] where name != "journal.lock" {
                try FileManager.default.copyItem(atPath: directory.file(name), toPath: copy.file(name))
            }
            let broker = try Broker(clock: ManualClock(now: Date().addingTimeInterval(3_600)), storage: .directory(copy.path, durability: .none))
            defer { broker.closeStorage() }
            if broker.recoveryReport?.loadedSnapshot == true {
                recoveredFromSnapshots += 1
            } else if awaitsSnapshot {
                problems.append("run \(run): the recovery did not start from the snapshot the child finished")
            }
            let live: [String: Int] = try broker.queue(named: "crash").core.state.withLock { state in
                var bodies: [String: Int] = [:]
                for message in state.messages.values { bodies[message.body] = message.receiveCount }
                return bodies
            }
            let groups: [String: [String]] = try broker.queue(named: "crash.fifo").core.state.withLock { state in
                var groups: [String: [String]] = [:]
                for (name, slot) in state.groupSlots {
                    var offset = 0
                    while let message = state.groups[slot].messages.element(at: offset) {
                        offset += 1
                        if message.state != .gone { groups[name, default: []].append(message.body) }
                    }
                }
                return groups
            }
            // Gone without an acknowledged delete is fine only for a message whose receive was printed: the kill may
            // have cut its delete's acknowledgment short.
            let lost = ledger.sent.filter { live[$0] == nil && ledger.received[$0] == nil }
            let resurrected = ledger.deleted.filter { live[$0] != nil }
            let lowered = ledger.received.filter { body, count in live[body].map { $0 < count } ?? false }
            var fifoLive: [String: String] = [:]
            var outOfOrder: [String] = []
            var duplicates: [String] = []
            for (group, bodies) in groups {
                for (index, body) in bodies.enumerated() {
                    if fifoLive.updateValue(group, forKey: body) != nil { duplicates.append(body) }
                    if index > 0, !(Self.rank(bodies[index - 1]) < Self.rank(body)) { outOfOrder.append("\(group): \(bodies[index - 1]) before \(body)") }
                }
            }
            let copies: Set<String> = try broker.queue(named: "crash-sub").core.state.withLock { state in
                Set(state.messages.values.map(\.body))
            }
            let topic = try broker.topic(arn: "arn:aws:sns:us-east-1:000000000000:crash-topic")
            let subscriptions = try topic.listSubscriptions().subscriptions.map(\.subscriptionArn)
            if ledger.subscriptionArns.count != 1 || subscriptions != Array(ledger.subscriptionArns) {
                problems.append("run \(run): subscriptions \(subscriptions), the children reported \(ledger.subscriptionArns.sorted())")
            }
            let publishesLost = ledger.published.filter { body, matches in
                matches && !copies.contains(body) && !ledger.copiesReceived.contains(body)
            }
            let unfiltered = ledger.published.filter { body, matches in !matches && copies.contains(body) }
            publishedTotal = ledger.published.count
            let fifoLost = ledger.fifoSent.keys.filter { fifoLive[$0] == nil && !ledger.fifoReceived.contains($0) }
            let fifoResurrected = ledger.fifoDeleted.filter { fifoLive[$0] != nil }
            // With the bodies (RUN.THREAD.SEQUENCE: which child sent them), so that a failure says where to look.
            let found: [(String, [String])] = [
                ("acknowledged sends lost", Array(lost)), ("acknowledged deletes resurrected", Array(resurrected)),
                ("receive counts lowered", Array(lowered.keys)), ("FIFO sends lost", Array(fifoLost)),
                ("FIFO deletes resurrected", Array(fifoResurrected)), ("FIFO order broken", outOfOrder),
                ("FIFO duplicates", duplicates), ("matching publishes lost", Array(publishesLost.keys)),
                ("publishes past the filter", Array(unfiltered.keys))]
            for (name, bodies) in found where !bodies.isEmpty {
                problems.append("run \(run): \(bodies.count) \(name): \(bodies.sorted().prefix(5).joined(separator: ", "))")
            }
            // What the recovery reported and the directory held, so that a failure says where to look.
            if !problems.isEmpty {
                let files = ((try? FileManager.default.contentsOfDirectory(atPath: copy.path)) ?? []).sorted()
                problems.append("run \(run): recovery damage \(broker.recoveryReport?.damage ?? []); files \(files)")
            }
        }
        #expect(problems.isEmpty, "\(problems)")
        #expect(kills == iterations)
        #expect(ledger.sent.count >= iterations)
        #expect(publishedTotal > 0)
        #expect(recoveredFromSnapshots >= (iterations + 36) / 40)
        print("durable crash test: \(kills) kills, \(ledger.sent.count) sends, \(ledger.deleted.count) deletes, "
              + "\(ledger.fifoSent.count) FIFO sends, \(publishedTotal) publishes acknowledged; "
              + "\(recoveredFromSnapshots) recoveries from a snapshot; problems: \(problems.count)")
    }
}

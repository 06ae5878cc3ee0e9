import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// `broker-demo --data-dir` under `kill -9`: the demo is killed at seeded random points of its output (orders being
/// placed, charges being made, the dead letters being redriven) at least five times, run again on the same
/// directory until it finishes, and then every order must be charged exactly once: none twice across a kill, none
/// lost. `BROKER_DEMO_KILL_SEED` picks other points.
struct DemoKillTests {
    private static var demoExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("broker-demo").path
    }

    static let orders = 30

    /// Runs the demo on `directory` and kills it as soon as its output so far satisfies `killWhen` (never when nil).
    /// Returns its output, whether it was killed, and its exit status otherwise.
    private static func run(_ directory: String, killWhen: ((String) -> Bool)?) throws -> (output: String, killed: Bool, status: Int32) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: demoExecutable)
        process.arguments = ["--data-dir", directory, "--orders", String(orders), "--speed", "50"]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let reader = output.fileHandleForReading
        var buffer: [UInt8] = []
        var killed = false
        if let killWhen {
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer += chunk
                if killWhen(String(decoding: buffer, as: UTF8.self)) {
                    kill(process.processIdentifier, SIGKILL)
                    killed = true
                    break
                }
            }
        }
        buffer += reader.readDataToEndOfFile()
        process.waitUntilExit()
        return (String(decoding: buffer, as: UTF8.self), killed && process.terminationReason == .uncaughtSignal,
                process.terminationStatus)
    }

    private static func charged(in directory: String) -> Int {
        ((try? String(contentsOfFile: directory + "/charges.log", encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    @Test func theDemoKilledMidPipelineAndRunAgainChargesEveryOrderExactlyOnce() throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.demoExecutable),
                     "build broker-demo first: \(Self.demoExecutable) is missing")
        var random = IDGenerator(seed: ProcessInfo.processInfo.environment["BROKER_DEMO_KILL_SEED"].flatMap(UInt64.init) ?? 21)
        let directory = TemporaryDirectory()
        // The kill points: while the orders are placed (right after the banner); at five seeded numbers of orders
        // charged, in increasing order, among the good orders (27 of 30: 3 are bad until the fix); and once the
        // payment fix has shipped, while the dead letters are redriven.
        var targets = Set<Int>()
        while targets.count < 5 { targets.insert(1 + Int(random.next() % UInt64(Self.orders - 4))) }
        var points: [(String, (String) -> Bool)] = [("placing", { $0.contains("speed ×") })]
        for target in targets.sorted() {
            points.append(("\(target) charged", { output in
                Self.charged(in: directory.path) >= target && output.contains("charged ")
            }))
        }
        points.append(("redriving", { $0.contains("payment fixed") }))
        var kills: [String] = []
        var chargedAtKills: [Int] = []
        for (name, point) in points {
            let result = try Self.run(directory.path, killWhen: point)
            #expect(result.killed, "the run to be killed at \(name) finished first:\n\(result.output)")
            if result.killed {
                kills.append(name)
                chargedAtKills.append(Self.charged(in: directory.path))
            }
        }
        #expect(kills.count >= 5)
        // Mid-pipeline: some kills land after the first charge and before the last.
        #expect(chargedAtKills.filter { $0 > 0 && $0 < Self.orders }.count >= 5, "charged at the kills: \(chargedAtKills)")
        let final = try Self.run(directory.path, killWhen: nil)
        #expect(final.status == 0, "the last run did not finish:\n\(final.output)")
        #expect(final.output.contains("\(Self.orders) of \(Self.orders) orders are charged"))
        #expect(final.output.contains("Double charges: 0"))

        let ledger = try String(contentsOfFile: directory.path + "/charges.log", encoding: .utf8)
        var charges: [String: Int] = [:]
        for orderId in ledger.split(separator: "\n") { charges[String(orderId), default: 0] += 1 }
        let expected = Set((0..<Self.orders).map { "order-\($0)" })
        #expect(Set(charges.keys) == expected, "charged: \(charges.keys.sorted())")
        #expect(charges.values.allSatisfy { $0 == 1 }, "charged twice: \(charges.filter { $0.value > 1 })")
        print("demo kill test: \(kills.count) kills (\(kills.joined(separator: ", ")); orders charged at each: \(chargedAtKills)), "
              + "then a run to the end; \(charges.count) orders charged once each")
    }
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// The journal under `kill -9`: a child process appends acknowledged records and prints each one the journal
/// acknowledged; the test kills it at a random moment, reopens the directory and checks that every printed record
/// is there, intact, in its thread's order. Then it starts the next child on the same directory.
struct JournalCrashTests {
    /// `broker-bench`, built beside this test binary (`swift build --build-tests` and `swift test` build it).
    private static var childExecutable: String {
        let me = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
        var directory = URL(fileURLWithPath: me).deletingLastPathComponent()
        // On macOS the test binary sits inside an .xctest bundle.
        while directory.pathExtension == "xctest" || directory.lastPathComponent == "MacOS" || directory.lastPathComponent == "Contents" {
            directory.deleteLastPathComponent()
        }
        return directory.appendingPathComponent("broker-bench").path
    }

    /// The body the child writes for a record; the same rule as `crashChildBody` in broker-bench.
    private func body(run: Int, thread: Int, sequence: Int) -> [UInt8] {
        let size = 20 + (run * 31 + thread * 7 + sequence) % 200
        return (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ run &* 17 &+ thread &* 5 &+ sequence) }
    }

    private struct Acknowledged: Hashable {
        var run: Int
        var thread: Int
        var sequence: Int
    }

    @Test func everyAcknowledgedRecordSurvivesKillNine() throws {
        let executable = Self.childExecutable
        try #require(FileManager.default.isExecutableFile(atPath: executable), "build broker-bench first: \(executable) is missing")
        let iterations = ProcessInfo.processInfo.environment["BROKER_CRASH_ITERATIONS"].flatMap(Int.init) ?? 25
        var random = IDGenerator(seed: ProcessInfo.processInfo.environment["BROKER_CRASH_SEED"].flatMap(UInt64.init) ?? 20)
        let directory = TemporaryDirectory()
        var acknowledged: [Acknowledged: UInt64] = [:]
        var kills = 0

        for run in 0..<iterations {
            let threads = 1 + Int(random.next() % 16)
            // Kill after a random number of acknowledgments, so the kill lands anywhere in the append cycle.
            let killAfter = 1 + Int(random.next() % 300)
            let process = Process()
            process.executableURL = URL(fileURLWithPath: executable)
            process.arguments = ["journal-crash-child", directory.path, String(run), String(threads)]
            let output = Pipe()
            process.standardOutput = output
            try process.run()

            let reader = output.fileHandleForReading
            var buffer: [UInt8] = []
            var lines = 0
            while lines < killAfter {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                lines += chunk.reduce(0) { $0 + ($1 == UInt8(ascii: "\n") ? 1 : 0) }
                buffer += chunk
            }
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            #expect(process.terminationReason == .uncaughtSignal, "run \(run): the child exited by itself (status \(process.terminationStatus))")
            kills += 1
            buffer += reader.readDataToEndOfFile()
            // Only whole lines: each was printed after its append returned.
            if let lastNewline = buffer.lastIndex(of: UInt8(ascii: "\n")) { buffer.removeSubrange((lastNewline + 1)...) } else { buffer = [] }
            for line in String(decoding: buffer, as: UTF8.self).split(separator: "\n") {
                let fields = line.split(separator: " ").compactMap { UInt64($0) }
                try #require(fields.count == 4, "malformed line '\(line)'")
                acknowledged[Acknowledged(run: Int(fields[0]), thread: Int(fields[1]), sequence: Int(fields[2]))] = fields[3]
            }

            // Reopen (as the next child will) and check every acknowledgment so far, from this run and earlier ones.
            let (journal, recovery) = try openJournal(directory, durability: .none)
            var found: [Acknowledged: UInt64] = [:]
            var nextSequence: [Int: [Int: Int]] = [:]
            for record in recovery.records {
                var decoder = JournalDecoder(record.payload)
                let key = Acknowledged(run: try decoder.readCount(), thread: try decoder.readCount(), sequence: try decoder.readCount())
                let bytes = Array(try decoder.readBytes())
                #expect(bytes == body(run: key.run, thread: key.thread, sequence: key.sequence), "record \(record.lsn) damaged")
                // Per thread, the records of a run are in the order the thread appended them, with no gap.
                let expected = nextSequence[key.run, default: [:]][key.thread, default: 0]
                #expect(key.sequence == expected, "run \(key.run) thread \(key.thread): sequence \(key.sequence) after \(expected - 1)")
                nextSequence[key.run, default: [:]][key.thread] = key.sequence + 1
                found[key] = record.lsn
            }
            let lost = acknowledged.filter { found[$0.key] != $0.value }
            #expect(lost.count == 0, "run \(run): \(lost.count) acknowledged records lost or moved, e.g. \(lost.first.map { "\($0.key) at LSN \($0.value)" } ?? "")")
            journal.close()
            if !lost.isEmpty { break }
        }
        #expect(kills == iterations)
        #expect(acknowledged.count >= iterations)
    }
}

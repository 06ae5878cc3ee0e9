import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// A fresh directory under the system's temporary directory, deleted (with everything in it) when released.
final class TemporaryDirectory {
    let path: String

    init() {
        var template = Array((NSTemporaryDirectory() + "/broker-journal-XXXXXX").utf8CString)
        let made = template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }
        path = made.map { String(cString: $0) } ?? NSTemporaryDirectory() + "/broker-journal-\(UUID().uuidString)"
        if made == nil { try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true) }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: path)
    }

    func file(_ name: String) -> String { path + "/" + name }

    /// The names of the segment files, oldest first.
    var segmentNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasPrefix("journal-") && $0.hasSuffix(".log") }.sorted()
    }

    var snapshotNames: [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: path)) ?? []).filter { $0.hasPrefix("snapshot-") }.sorted()
    }

    func read(_ name: String) -> [UInt8] {
        (FileManager.default.contents(atPath: file(name))).map { Array($0) } ?? []
    }

    func write(_ name: String, _ bytes: [UInt8]) {
        _ = FileManager.default.createFile(atPath: file(name), contents: Data(bytes))
    }
}

/// A payload whose every byte follows from `index`, so a recovered record shows whether it came back intact.
func testPayload(_ index: Int, size: Int? = nil) -> [UInt8] {
    let size = size ?? (index * 7) % 40
    var encoder = JournalEncoder()
    encoder.write(count: index)
    encoder.write(bytes: (0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ index) })
    return encoder.bytes
}

/// Opens a journal in `directory` or records the failure.
func openJournal(_ directory: TemporaryDirectory, durability: Durability = .acknowledged,
                 options: Journal.Options = Journal.Options(),
                 sourceLocation: SourceLocation = #_sourceLocation) throws -> (Journal, Recovery) {
    do {
        return try Journal.open(directory: directory.path, durability: durability, options: options)
    } catch {
        Issue.record("open failed: \(error)", sourceLocation: sourceLocation)
        throw error
    }
}

extension Recovery {
    /// The payloads, in order.
    var payloads: [[UInt8]] { records.map { Array($0.payload) } }
}

/// Whether this test process runs under ThreadSanitizer (its runtime is linked in): timing-dependent ratios, such as
/// how many appends share one sync, are weaker there.
let runningUnderThreadSanitizer: Bool = {
    #if os(Linux)
    return dlsym(nil, "__tsan_init") != nil
    #else
    return dlsym(UnsafeMutableRawPointer(bitPattern: -2), "__tsan_init") != nil
    #endif
}()

/// Checks that the records recovered are, for each of `writers` writers, its records 0..<`perWriter` in the order it
/// appended them; each payload starts with the writer's number and the record's. `rest` checks what follows.
func expectEachWritersOrder(in directory: TemporaryDirectory, writers: Int, perWriter: Int,
                            rest: (inout JournalDecoder, _ writer: Int, _ sequence: Int) throws -> Void = { _, _, _ in },
                            sourceLocation: SourceLocation = #_sourceLocation) throws {
    let (_, recovery) = try openJournal(directory)
    var next = [Int](repeating: 0, count: writers)
    for record in recovery.records {
        var decoder = JournalDecoder(record.payload)
        let writer = try decoder.readCount()
        let sequence = try decoder.readCount()
        try rest(&decoder, writer, sequence)
        #expect(sequence == next[writer], "writer \(writer)", sourceLocation: sourceLocation)
        next[writer] = sequence + 1
    }
    #expect(next == [Int](repeating: perWriter, count: writers), sourceLocation: sourceLocation)
}

import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@testable import Broker

/// The journal engine: what it stores comes back after a reopen, in order and intact; what was torn or damaged
/// ends the log at the last good record; snapshots let old segments go; the directory is one journal's at a time.
struct JournalTests {
    @Test func appendedRecordsComeBackInOrderAfterAReopen() throws {
        let directory = TemporaryDirectory()
        let (journal, first) = try openJournal(directory)
        #expect(first.lastLSN == 0 && first.snapshot == nil && first.records.count == 0 && first.damage.isEmpty)
        var lsns: [Journal.LSN] = []
        for index in 0..<20 { lsns.append(try journal.append(testPayload(index))) }
        var batch = JournalBatch()
        for index in 20..<30 { try batch.append(testPayload(index)) }
        let range = try journal.append(batch)
        #expect(lsns == Array(1...20))
        #expect(range == 21..<31)
        journal.close()

        let (again, recovery) = try openJournal(directory)
        #expect(recovery.payloads == (0..<30).map { testPayload($0) })
        #expect(recovery.records.map(\.lsn) == Array(1...30))
        #expect(recovery.lastLSN == 30 && recovery.damage.isEmpty)
        #expect(try again.append(testPayload(30)) == 31)
        again.close()
        let (_, last) = try openJournal(directory)
        #expect(last.payloads.count == 31 && last.payloads.last == testPayload(30))
    }

    @Test func recordsEncodedStraightIntoTheBufferComeBackSealedAfterAReopen() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        var tickets: [JournalTicket] = []
        for index in 0..<10 {
            tickets.append(try journal.enqueueRecord { $0.bytes.append(contentsOf: testPayload(index)) })
        }
        for ticket in tickets { try journal.wait(for: ticket) }
        #expect(tickets.map(\.lsns) == (1...10).map { $0..<($0 + 1) })
        journal.close()
        // Recovery checks every record's checksum: a record the writer had not sealed would end the log at once.
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.payloads == (0..<10).map { testPayload($0) })
        #expect(recovery.damage.isEmpty)
    }

    @Test(arguments: [Durability.acknowledged, .interval(.milliseconds(5)), .none])
    func theMarkIsReportedOnceByTheAppendThatReachesItAndAgainOnlyOnceReset(durability: Durability) throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory, durability: durability)
        defer { journal.close() }
        #expect(journal.bytesUntilMark == nil)
        // Each record: an 8-byte frame header and a 92-byte payload.
        let payload = [UInt8](repeating: 7, count: 92)
        func append() throws -> Bool {
            let ticket = try journal.enqueueRecord { $0.bytes.append(contentsOf: payload) }
            try journal.wait(for: ticket)
            return ticket.marked
        }
        #expect(try append() == false)
        journal.setMark(afterBytes: 250)
        #expect(try append() == false && journal.bytesUntilMark == 150)
        #expect(try append() == false && journal.bytesUntilMark == 50)
        #expect(try append() == true && journal.bytesUntilMark == nil)
        // Past the mark, nothing more is reported until it is set again.
        for _ in 0..<10 { #expect(try append() == false) }
        journal.setMark(afterBytes: 100)
        #expect(try append() == true)
        journal.setMark(afterBytes: 100)
        journal.setMark(afterBytes: nil)
        #expect(try append() == false && journal.bytesUntilMark == nil)
    }

    @Test func appendingAfterCloseThrows() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        journal.close()
        #expect(throws: BrokerError.self) { try journal.append(testPayload(0)) }
    }

    /// Writes `count` records, closes, and returns the segment's bytes and where each record starts.
    private func writeJournal(_ directory: TemporaryDirectory, count: Int) throws -> (bytes: [UInt8], starts: [Int]) {
        let (journal, _) = try openJournal(directory, durability: .none)
        for index in 0..<count { try journal.append(testPayload(index)) }
        journal.close()
        let name = try #require(directory.segmentNames.first)
        let bytes = directory.read(name)
        var starts: [Int] = []
        var offset = JournalFormat.segmentHeaderSize
        while offset < bytes.count {
            starts.append(offset)
            offset += JournalFormat.frameHeaderSize + Int(JournalFormat.load32(bytes[...], offset))
        }
        #expect(starts.count == count)
        return (bytes, starts)
    }

    @Test func aJournalCutAtEveryByteOfItsLastRecordsRecoversExactlyTheWholeRecordsBeforeTheCut() throws {
        let source = TemporaryDirectory()
        let (bytes, starts) = try writeJournal(source, count: 12)
        let name = try #require(source.segmentNames.first)
        let from = starts[8]
        for cut in from..<bytes.count {
            let directory = TemporaryDirectory()
            directory.write(name, Array(bytes[..<cut]))
            let (journal, recovery) = try openJournal(directory, durability: .none)
            let whole = starts.filter { $0 + JournalFormat.frameHeaderSize <= cut }.enumerated().filter { index, start in
                index + 1 < starts.count ? starts[index + 1] <= cut : bytes.count <= cut
            }.count
            #expect(recovery.payloads == (0..<whole).map { testPayload($0) }, "cut at \(cut)")
            let atBoundary = starts.contains(cut)
            #expect(recovery.damage.count == (atBoundary ? 0 : 1), "cut at \(cut)")
            if let damage = recovery.damage.first {
                #expect(damage.segment == name && damage.offset == starts[whole] && damage.droppedBytes == cut - starts[whole])
            }
            // The torn tail is cut away: a new record follows the last whole one.
            #expect(try journal.append(testPayload(99)) == Journal.LSN(whole + 1))
            journal.close()
            let (_, again) = try openJournal(directory, durability: .none)
            #expect(again.payloads == (0..<whole).map { testPayload($0) } + [testPayload(99)], "cut at \(cut)")
            #expect(again.damage.isEmpty)
        }
    }

    @Test func aCorruptedByteAnywhereInTheLastRecordsStopsReplayAtThatRecord() throws {
        let source = TemporaryDirectory()
        let (bytes, starts) = try writeJournal(source, count: 12)
        let name = try #require(source.segmentNames.first)
        for position in starts[8]..<bytes.count {
            let record = starts.lastIndex { $0 <= position }!
            for flip: UInt8 in [0x01, 0x80, 0xFF] {
                var damaged = bytes
                damaged[position] ^= flip
                let directory = TemporaryDirectory()
                directory.write(name, damaged)
                let (journal, recovery) = try openJournal(directory, durability: .none)
                #expect(recovery.payloads == (0..<record).map { testPayload($0) }, "byte \(position) ^ \(flip)")
                #expect(recovery.damage.first?.offset == starts[record], "byte \(position) ^ \(flip)")
                #expect(recovery.damage.first?.droppedBytes == bytes.count - starts[record])
                journal.close()
            }
        }
    }

    @Test func damageInAnEarlierSegmentDropsTheSegmentsAfterIt() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 200
        let (journal, _) = try openJournal(directory, durability: .none, options: options)
        for index in 0..<40 { try journal.append(testPayload(index, size: 30)) }
        journal.close()
        let names = directory.segmentNames
        #expect(names.count >= 3)
        var second = directory.read(names[1])
        second[second.count - 5] ^= 0x40
        directory.write(names[1], second)

        let (reopened, recovery) = try openJournal(directory, durability: .none, options: options)
        let firstOfSecond = try #require(JournalFormat.lsn(in: names[1], prefix: "journal-", suffix: ".log"))
        let recovered = recovery.records.map(\.lsn)
        #expect(recovered.first == 1 && recovered.last! >= firstOfSecond && recovered.last! < 40)
        #expect(recovered == Array(1...recovered.last!))
        #expect(recovery.damage.count == 1 + names.count - 2)
        #expect(recovery.damage.dropFirst().allSatisfy { $0.offset == 0 && $0.reason.contains("follows") })
        #expect(directory.segmentNames == Array(names.prefix(2)))
        reopened.close()
    }

    @Test(arguments: [1, 2, 3] as [UInt64])
    func randomGarbageInSegmentsNeverCrashesRecoveryAndEndsTheLogWhereItStarts(seed: UInt64) throws {
        var random = IDGenerator(seed: seed)
        let source = TemporaryDirectory()
        let (bytes, starts) = try writeJournal(source, count: 10)
        let name = try #require(source.segmentNames.first)
        for _ in 0..<40 {
            // Overwrite a random stretch with random bytes, sometimes in the header, sometimes past the end.
            let from = Int(random.next() % UInt64(bytes.count))
            let length = 1 + Int(random.next() % 64)
            var damaged = bytes
            for offset in from..<(from + length) {
                let byte = UInt8(truncatingIfNeeded: random.next())
                if offset < damaged.count { damaged[offset] = byte } else { damaged.append(byte) }
            }
            let directory = TemporaryDirectory()
            directory.write(name, damaged)
            let (journal, recovery) = try openJournal(directory, durability: .none)
            let ends = starts.dropFirst() + [bytes.count]
            let wholeBefore = ends.filter { $0 <= from }.count
            let payloads = recovery.payloads
            // Everything recovered is a prefix of what was written, and every record wholly before the damage is in
            // it (a damaged header may end the log before the first record).
            #expect(payloads == (0..<payloads.count).map { testPayload($0) })
            if from >= JournalFormat.segmentHeaderSize {
                #expect(payloads.count >= wholeBefore, "damage at \(from)")
            }
            journal.close()
        }
    }

    /// Where the records of a segment end: the offset after the last frame whose header is not zero.
    private func recordsEnd(_ bytes: [UInt8]) -> Int {
        var offset = JournalFormat.segmentHeaderSize
        while offset + JournalFormat.frameHeaderSize <= bytes.count,
              bytes[offset..<offset + JournalFormat.frameHeaderSize].contains(where: { $0 != 0 }) {
            offset += JournalFormat.frameHeaderSize + Int(JournalFormat.load32(bytes[...], offset))
        }
        return offset
    }

    /// Zeros after the records: written ahead at `acknowledged`; at the other levels only a direct write's padding of
    /// its last block, and through the page cache none.
    @Test(arguments: [Durability.acknowledged, .interval(.seconds(3600)), .none], [true, false])
    func zerosAfterTheRecordsAreWrittenAheadOnlyAtAcknowledgedAndACrashLeavingThemRecoversEveryRecord(
        durability: Durability, directWrites: Bool
    ) throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.preallocation = 4096
        options.directWrites = directWrites
        let (journal, _) = try openJournal(directory, durability: durability, options: options)
        // 40 records of about 1 KB: the zeros ahead are extended several times.
        for index in 0..<40 { try journal.append(testPayload(index, size: 1000)) }
        try journal.flush()
        // A file system that refuses direct writes (tmpfs on older kernels) gets the page cache's path.
        let direct = journal.writesDirectly
        #expect(direct == false || directWrites)
        let name = try #require(directory.segmentNames.first)
        let open = directory.read(name)
        let end = recordsEnd(open)
        #expect(end > 40 * 1000)
        #expect(open[end...].allSatisfy { $0 == 0 })
        if durability == .acknowledged {
            // Extended a page-rounded 4 KB past the records that reached its end, as often as they did.
            #expect(open.count > end && open.count <= end + 2 * 4096 && open.count % 4096 == 0,
                    "\(open.count) bytes, records end at \(end)")
        } else if direct {
            #expect(open.count == (end + 4095) / 4096 * 4096, "\(open.count) bytes, records end at \(end)")
        } else {
            #expect(open.count == end)
        }

        // The files as a kill -9 leaves them: copied while the journal is open.
        let crashed = TemporaryDirectory()
        crashed.write(name, open)
        let (reopened, recovery) = try openJournal(crashed, durability: durability, options: options)
        #expect(recovery.payloads == (0..<40).map { testPayload($0, size: 1000) })
        #expect(recovery.damage.isEmpty)
        #expect(try reopened.append(testPayload(40)) == 41)
        reopened.close()
        // Closed, a segment ends with its last record.
        let closed = crashed.read(name)
        #expect(closed.count == recordsEnd(closed))
        let (_, again) = try openJournal(crashed, durability: durability, options: options)
        #expect(again.payloads.count == 41 && again.payloads.last == testPayload(40))

        journal.close()
        let original = directory.read(name)
        #expect(original.count == end && original.count == recordsEnd(original))
    }

    /// Copies the segments of a journal still open (what `kill -9` leaves), opens the copy, and expects exactly
    /// `kept`, with no damage. Compared whole, reported short: the payloads run to megabytes.
    private func expectACrashCopyRecovers(_ kept: [[UInt8]], from directory: TemporaryDirectory,
                                          durability: Durability = .acknowledged,
                                          sourceLocation: SourceLocation = #_sourceLocation) throws {
        let crashed = TemporaryDirectory()
        for name in directory.segmentNames { crashed.write(name, directory.read(name)) }
        let (reopened, recovery) = try openJournal(crashed, durability: durability)
        defer { reopened.close() }
        let recovered = recovery.payloads
        let firstWrong = zip(recovered, kept).enumerated().first { $0.element.0 != $0.element.1 }?.offset
        #expect(recovered.count == kept.count && firstWrong == nil,
                "\(recovered.count) of \(kept.count) recovered, first differing \(String(describing: firstWrong))",
                sourceLocation: sourceLocation)
        #expect(recovery.damage.isEmpty, sourceLocation: sourceLocation)
    }

    /// Records of every length, so that writes start and end anywhere within a block, each written on its own; a
    /// write or sync that fails now and then, so the segment is cut back and its last block read again. A copy of
    /// the directory taken while the journal is open (what `kill -9` leaves) must hold exactly the records appended
    /// without an error, in order.
    @Test(arguments: [Durability.acknowledged, .none], [true, false])
    func recordsOfEveryLengthWrittenOneByOneWithFailuresBetweenComeBackWholeFromACrash(
        durability: Durability, directWrites: Bool
    ) throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.directWrites = directWrites
        options.preallocation = 8192
        let faults = JournalFaults()
        options.faults = faults
        let (journal, _) = try openJournal(directory, durability: durability, options: options)
        defer { journal.close() }
        var random = IDGenerator(seed: 7)
        var kept: [[UInt8]] = []
        for index in 0..<240 {
            if index % 37 == 36 {
                // `none` never syncs: its failure is the write's.
                faults.fail(durability == .acknowledged && index % 2 == 0 ? .sync : .write, with: EIO)
                #expect(throws: BrokerError.self) { try journal.append(testPayload(index, size: 100)) }
            }
            let payload = testPayload(index, size: Int(random.next() % 9_000))
            try journal.append(payload)
            kept.append(payload)
            if index % 60 == 59 { try expectACrashCopyRecovers(kept, from: directory, durability: durability) }
        }
    }

    /// A file system that refuses a direct write, or a device that takes only part of one, leaves the journal
    /// writing through the page cache, every record intact: refused, for the rest of the journal's life; cut short,
    /// until the next segment.
    @Test(arguments: [EINVAL, EIO])
    func aDirectWriteRefusedOrCutShortGoesOnThroughThePageCacheWithEveryRecordIntact(code: Int32) throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 64 << 10
        let faults = JournalFaults()
        options.faults = faults
        let (journal, _) = try openJournal(directory, durability: .acknowledged, options: options)
        defer { journal.close() }
        var random = IDGenerator(seed: 11)
        var kept: [[UInt8]] = []
        var directBefore = false
        for index in 0..<120 {
            if index % 40 == 20 {
                directBefore = journal.writesDirectly
                faults.fail(.directWrite, with: code)
            }
            // Some records longer than a block, so that a short write leaves part of one to the page cache.
            let payload = testPayload(index, size: Int(random.next() % 6_000))
            try journal.append(payload)
            kept.append(payload)
            if index % 40 == 20, directBefore {
                #expect(!journal.writesDirectly, "after the fault at \(index)")
            }
        }
        try expectACrashCopyRecovers(kept, from: directory)
        // Refused: no later segment is written directly either. Cut short: the next segment is again.
        #expect(journal.writesDirectly == (code != EINVAL && directBefore))
    }

    @Test func aByteThatIsNotZeroAfterTheLastRecordIsDamage() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory, durability: .acknowledged)
        defer { journal.close() }
        for index in 0..<5 { try journal.append(testPayload(index)) }
        let name = try #require(directory.segmentNames.first)
        var bytes = directory.read(name)
        let end = recordsEnd(bytes)
        #expect(bytes.count > end + 100)
        // A page of a record the crash cut short reached the disk, the one holding its header did not.
        bytes[end + 100] = 1
        let crashed = TemporaryDirectory()
        crashed.write(name, bytes)
        let (reopened, recovery) = try openJournal(crashed)
        defer { reopened.close() }
        #expect(recovery.payloads == (0..<5).map { testPayload($0) })
        #expect(recovery.damage.count == 1)
        #expect(recovery.damage.first?.offset == end && recovery.damage.first?.droppedBytes == bytes.count - end)
        #expect(try reopened.append(testPayload(5)) == 6)
    }

    @Test func aNewSegmentStartsWhenTheCurrentOnePassesTheSizeLimit() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 256
        let (journal, _) = try openJournal(directory, options: options)
        for index in 0..<50 { try journal.append(testPayload(index, size: 40)) }
        let segments = journal.segments
        journal.close()
        #expect(segments.count > 5)
        #expect(directory.segmentNames == segments.map { JournalFormat.segmentName(firstLSN: $0) })
        for name in directory.segmentNames {
            let bytes = directory.read(name)
            // A segment passes the limit by at most one batch, and each starts with its header.
            #expect(bytes.count < 256 + 40 + 16)
            #expect(Array(bytes[0..<8]) == JournalFormat.segmentMagic)
        }
        let (_, recovery) = try openJournal(directory, options: options)
        #expect(recovery.payloads == (0..<50).map { testPayload($0, size: 40) })
        #expect(recovery.records.map(\.lsn) == Array(1...50))
    }

    @Test func aSnapshotDeletesTheSegmentsItCoversAndReplayStartsAfterIt() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 256
        let (journal, _) = try openJournal(directory, durability: .none, options: options)
        for index in 0..<100 { try journal.append(testPayload(index, size: 20)) }
        let before = journal.segments
        try journal.writeSnapshot(upTo: 60, bytes: Array("state after 60".utf8))
        let after = journal.segments
        #expect(after.count < before.count)
        // Every segment left holds a record after 60: its successor starts after 61.
        #expect(zip(after, after.dropFirst()).allSatisfy { $0.1 > 61 })
        #expect(directory.segmentNames == after.map { JournalFormat.segmentName(firstLSN: $0) })
        #expect(directory.snapshotNames == [JournalFormat.snapshotName(lsn: 60)])
        for index in 100..<110 { try journal.append(testPayload(index, size: 20)) }
        journal.close()

        let (reopened, recovery) = try openJournal(directory, durability: .none, options: options)
        #expect(recovery.snapshot?.lsn == 60)
        #expect(recovery.snapshot?.bytes == Array("state after 60".utf8))
        #expect(recovery.records.map(\.lsn) == Array(61...110))
        #expect(recovery.payloads == (60..<110).map { testPayload($0, size: 20) })
        // A later snapshot replaces the earlier one.
        try reopened.writeSnapshot(upTo: 110, bytes: [1, 2, 3])
        #expect(directory.snapshotNames == [JournalFormat.snapshotName(lsn: 110)])
        #expect(throws: BrokerError.self) { try reopened.writeSnapshot(upTo: 100, bytes: []) }
        #expect(throws: BrokerError.self) { try reopened.writeSnapshot(upTo: 500, bytes: []) }
        reopened.close()
        let (_, last) = try openJournal(directory, durability: .none, options: options)
        #expect(last.snapshot?.bytes == [1, 2, 3] && last.records.count == 0 && last.lastLSN == 110)
    }

    @Test func aCrashBetweenWritingASnapshotAndDeletingSegmentsIsHarmless() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 256
        let (journal, _) = try openJournal(directory, durability: .none, options: options)
        for index in 0..<100 { try journal.append(testPayload(index, size: 20)) }
        try journal.writeSnapshot(upTo: 30, bytes: [30])
        let saved = directory.segmentNames.map { ($0, directory.read($0)) }
        let oldSnapshot = directory.read(JournalFormat.snapshotName(lsn: 30))
        try journal.writeSnapshot(upTo: 60, bytes: [60])
        journal.close()
        // Put back what the second snapshot deleted, as if the process died right after its rename.
        for (name, bytes) in saved { directory.write(name, bytes) }
        directory.write(JournalFormat.snapshotName(lsn: 30), oldSnapshot)
        // And a temporary snapshot a crash left half-written.
        directory.write(JournalFormat.temporarySnapshotName(lsn: 90), [1, 2, 3])

        let (reopened, recovery) = try openJournal(directory, durability: .none, options: options)
        #expect(recovery.snapshot?.bytes == [60])
        #expect(recovery.records.map(\.lsn) == Array(61...100))
        #expect(directory.snapshotNames == [JournalFormat.snapshotName(lsn: 60)])
        #expect(zip(reopened.segments, reopened.segments.dropFirst()).allSatisfy { $0.1 > 61 })
        reopened.close()
    }

    @Test func aSnapshotAheadOfTheLastRecordMovesTheNextLSNPastIt() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory, durability: .none)
        for index in 0..<10 { try journal.append(testPayload(index)) }
        try journal.writeSnapshot(upTo: 10, bytes: [10])
        journal.close()
        // Records 6…10 lost from the segment (not synced before a machine crash), the snapshot kept.
        let name = try #require(directory.segmentNames.last)
        let bytes = directory.read(name)
        var offset = JournalFormat.segmentHeaderSize
        for _ in 0..<5 { offset += JournalFormat.frameHeaderSize + Int(JournalFormat.load32(bytes[...], offset)) }
        directory.write(name, Array(bytes[..<offset]))

        let (reopened, recovery) = try openJournal(directory, durability: .none)
        #expect(recovery.lastLSN == 10 && recovery.records.count == 0)
        #expect(try reopened.append(testPayload(11)) == 11)
        reopened.close()
        let (_, again) = try openJournal(directory, durability: .none)
        #expect(again.records.map(\.lsn) == [11])
    }

    @Test func closingDuringASnapshotWaitsForItToGiveUpAndLeavesNoSnapshotFile() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        try journal.append(testPayload(0))
        let closed = DispatchSemaphore(value: 0)
        let closeReturned = LockedState(false)
        var encoder = JournalEncoder(capacity: 16)
        #expect(throws: BrokerError.self) {
            try journal.writeSnapshot(upTo: 1) { (output: SnapshotOutput) throws(BrokerError) in
                encoder.bytes = [1, 2, 3]
                try output.drain(&encoder)
                Thread {
                    journal.close()
                    closeReturned.withLock { $0 = true }
                    closed.signal()
                }.start()
                // Until close has marked the journal closed (an empty enqueue then throws); close itself cannot
                // return while this snapshot runs.
                while (try? journal.enqueue(JournalBatch())) != nil { sched_yield() }
                #expect(closeReturned.withLock { $0 } == false)
                encoder.bytes = [4, 5, 6]
                try output.drain(&encoder)
            }
        }
        closed.wait()
        #expect(directory.snapshotNames.isEmpty)
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.snapshot == nil && recovery.payloads == [testPayload(0)])
    }

    @Test func aCorruptSnapshotIsAClearError() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        try journal.append(testPayload(1))
        try journal.writeSnapshot(upTo: 1, bytes: Array(repeating: 7, count: 100))
        journal.close()
        let name = JournalFormat.snapshotName(lsn: 1)
        var bytes = directory.read(name)
        bytes[70] ^= 1
        directory.write(name, bytes)
        #expect {
            _ = try Journal.open(directory: directory.path, durability: .acknowledged)
        } throws: { error in
            guard let error = error as? BrokerError else { return false }
            return error.code == .storageFailure && error.message.contains("snapshot") && error.message.contains("corrupt")
        }
        // The failed open released the lock: after repairing the file, the journal opens.
        bytes[70] ^= 1
        directory.write(name, bytes)
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.snapshot?.bytes == Array(repeating: 7, count: 100))
    }

    @Test func aSecondOpenOfALockedDirectoryFailsUntilTheFirstCloses() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory)
        try journal.append(testPayload(0))
        #expect {
            _ = try Journal.open(directory: directory.path, durability: .none)
        } throws: { error in
            guard let error = error as? BrokerError else { return false }
            return error.code == .storageFailure && error.message.contains("is locked") && error.message.contains("\(getpid())")
        }
        journal.close()
        let (second, recovery) = try openJournal(directory)
        #expect(recovery.payloads == [testPayload(0)])
        second.close()
    }

    @Test func aMissingDirectoryIsAClearError() {
        let directory = TemporaryDirectory()
        #expect {
            _ = try Journal.open(directory: directory.path + "/absent", durability: .acknowledged)
        } throws: { error in
            (error as? BrokerError)?.message.contains("does not exist") == true
        }
    }

    @Test func aReadOnlyDirectoryIsAClearError() throws {
        let directory = TemporaryDirectory()
        var target = directory.file("read-only")
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false)
        chmod(target, 0o555)
        // Permission bits do not stop root; the immutable attribute does, where the file system has it. Failing
        // that, /proc/self is a directory nobody may create files in.
        var immutable = false
        if getuid() == 0 {
            immutable = chattr("+i", target)
            if !immutable { target = "/proc/self" }
        }
        defer {
            if immutable { _ = chattr("-i", target) }
            chmod(directory.file("read-only"), 0o755)
        }
        #expect {
            _ = try Journal.open(directory: target, durability: .acknowledged)
        } throws: { error in
            guard let error = error as? BrokerError else { return false }
            return error.code == .storageFailure && error.message.contains("not writable")
        }
    }

    /// Runs `chattr`; whether it succeeded.
    private func chattr(_ flag: String, _ path: String) -> Bool {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/chattr")
        process.arguments = [flag, path]
        process.standardError = FileHandle.nullDevice
        guard (try? process.run()) != nil else { return false }
        process.waitUntilExit()
        return process.terminationStatus == 0
    }

    @Test(arguments: [true, false])
    func aFullDiskFailsTheAppendKeepsWhatWasAcknowledgedAndLaterAppendsSucceed(directWrites: Bool) throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.directWrites = directWrites
        let faults = JournalFaults()
        options.faults = faults
        let (journal, _) = try openJournal(directory, options: options)
        try journal.append(testPayload(0))
        try journal.append(testPayload(1))

        faults.fail(.write, with: ENOSPC)
        #expect {
            try journal.append(testPayload(2))
        } throws: { error in
            guard let error = error as? BrokerError else { return false }
            return error.code == .storageUnavailable && error.message.contains("full")
        }
        // A sync that fails for lack of space (delayed allocation) fails its append the same way, and its bytes are
        // cut back so they do not come back after a restart.
        faults.fail(.sync, with: EDQUOT)
        #expect(throws: BrokerError.self) { try journal.append(testPayload(3)) }
        // The next segment cannot be created either while the disk is full.
        faults.fail(.create, with: ENOSPC)
        #expect(throws: BrokerError.self) { try journal.append(testPayload(4)) }

        let lsn = try journal.append(testPayload(5))
        #expect(lsn == 6)
        journal.close()
        let (_, recovery) = try openJournal(directory, options: options)
        #expect(recovery.payloads == [testPayload(0), testPayload(1), testPayload(5)])
        #expect(recovery.records.map(\.lsn) == [1, 2, 6])
        #expect(recovery.damage.isEmpty)
    }

    @Test func theIntervalLevelWritesNothingUntilItsFlushAndKeepsRecordsAcrossAFailedFlush() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        let faults = JournalFaults()
        options.faults = faults
        // An interval no test run reaches: only the explicit flush writes.
        let (journal, _) = try openJournal(directory, durability: .interval(.seconds(3_600)), options: options)
        for index in 0..<5 { try journal.append(testPayload(index)) }
        #expect(journal.statistics.syncs == 0 && journal.statistics.writes == 0)
        #expect(directory.segmentNames.isEmpty)

        try journal.flush()
        #expect(journal.statistics.syncs == 1)
        let name = try #require(directory.segmentNames.first)
        #expect(JournalCore.scanRecords(directory.read(name), firstLSN: 1, limit: .max).records == 5)

        faults.fail(.write, with: ENOSPC)
        try journal.append(testPayload(5))
        #expect(throws: BrokerError.self) { try journal.flush() }
        // While the disk is full, new appends are refused; the records appended before are kept for the retry.
        #expect(throws: BrokerError.self) { try journal.append(testPayload(6)) }
        try journal.flush()
        try journal.append(testPayload(7))
        journal.close()
        let (_, recovery) = try openJournal(directory)
        #expect(recovery.payloads == [0, 1, 2, 3, 4, 5, 7].map { testPayload($0) })
    }

    @Test func aWriteThatFailsRightAfterARolloverIsRetriedIntoAGoodSegment() throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.segmentSize = 100
        let faults = JournalFaults()
        options.faults = faults
        let (journal, _) = try openJournal(directory, durability: .interval(.seconds(3_600)), options: options)
        for index in 0..<5 { try journal.append(testPayload(index, size: 30)) }
        try journal.flush()
        #expect(directory.segmentNames.count == 1)
        for index in 5..<8 { try journal.append(testPayload(index, size: 30)) }
        // The full segment makes the next write start a new one; that write fails.
        faults.fail(.write, with: ENOSPC)
        #expect(throws: BrokerError.self) { try journal.flush() }
        try journal.flush()
        journal.close()
        let (acknowledged, _) = try openJournal(directory, options: options)
        try acknowledged.append(testPayload(8, size: 30))
        faults.fail(.write, with: ENOSPC)
        #expect(throws: BrokerError.self) { try acknowledged.append(testPayload(9, size: 30)) }
        try acknowledged.append(testPayload(10, size: 30))
        acknowledged.close()

        let (_, recovery) = try openJournal(directory, options: options)
        #expect(recovery.payloads == [0, 1, 2, 3, 4, 5, 6, 7, 8, 10].map { testPayload($0, size: 30) })
        #expect(recovery.records.map(\.lsn) == [1, 2, 3, 4, 5, 6, 7, 8, 9, 11])
        #expect(recovery.damage.isEmpty)
    }

    @Test func theNoneLevelHandsEachAppendToTheKernelBeforeReturning() throws {
        let directory = TemporaryDirectory()
        let (journal, _) = try openJournal(directory, durability: .none)
        for index in 0..<5 { try journal.append(testPayload(index)) }
        let name = try #require(directory.segmentNames.first)
        // Read by another descriptor while the journal is open: what a crashed process would leave.
        #expect(JournalCore.scanRecords(directory.read(name), firstLSN: 1, limit: .max).records == 5)
        #expect(journal.statistics.syncs == 0)
        try journal.flush()
        #expect(journal.statistics.syncs == 1)
        journal.close()
    }

    @Test(arguments: [Journal.CommitStrategy.leader, .flusherThread])
    func concurrentAcknowledgedAppendsAreAllRecoveredInPerThreadOrderWithFarFewerSyncs(strategy: Journal.CommitStrategy) throws {
        let directory = TemporaryDirectory()
        var options = Journal.Options()
        options.commit = strategy
        let (journal, _) = try openJournal(directory, options: options)
        let threads = 64
        let perThread = 40
        let group = DispatchGroup()
        let failures = LockedState<[String]>([])
        for thread in 0..<threads {
            group.enter()
            Thread {
                defer { group.leave() }
                var batch = JournalBatch()
                for sequence in 0..<perThread {
                    batch.removeAll()
                    do {
                        try batch.append { encoder in
                            encoder.write(count: thread)
                            encoder.write(count: sequence)
                            encoder.write(bytes: testPayload(thread * 1_000 + sequence))
                        }
                        try journal.append(batch)
                    } catch {
                        failures.withLock { $0.append("\(thread)/\(sequence): \(error)") }
                    }
                }
            }.start()
        }
        group.wait()
        let statistics = journal.statistics
        journal.close()
        #expect(failures.withLock { $0 }.isEmpty)
        #expect(statistics.appends == threads * perThread)
        // Group commit: many appends share each sync. ThreadSanitizer slows the appenders and not the disk, so fewer
        // arrive during each sync; there only the sharing itself is asserted.
        let ratio = runningUnderThreadSanitizer ? 1 : 4
        #expect(statistics.syncs * ratio < statistics.appends, "\(statistics.syncs) syncs for \(statistics.appends) appends")

        try expectEachWritersOrder(in: directory, writers: threads, perWriter: perThread) { decoder, thread, sequence throws in
            let payload = Array(try decoder.readBytes())
            #expect(payload == testPayload(thread * 1_000 + sequence))
        }
    }
}

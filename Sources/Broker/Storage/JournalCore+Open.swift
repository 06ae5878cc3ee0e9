import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension JournalCore {
    /// Locks `directory`, reads what it holds, repairs a torn or corrupt tail so appends continue from a clean end,
    /// and returns the core ready to append with what was recovered.
    static func open(directory rawDirectory: String, durability: Durability,
                     options: Journal.Options) throws(BrokerError) -> (core: JournalCore, recovery: Recovery) {
        let directory = rawDirectory.count > 1 && rawDirectory.hasSuffix("/") ? String(rawDirectory.dropLast()) : rawDirectory
        let files = JournalFiles(faults: options.faults)
        var status = stat()
        guard stat(directory, &status) == 0, (status.st_mode & S_IFMT) == S_IFDIR else {
            throw .storageDirectoryMissing(directory)
        }
        if access(directory, W_OK | X_OK) != 0 { throw .storageDirectoryNotWritable(directory, errno: errno) }
        let lockDescriptor = try lock(directory, files: files)
        do throws(BrokerError) {
            let core = try recover(directory: directory, durability: durability, options: options,
                                   files: files, lockDescriptor: lockDescriptor)
            core.core.startFlusher()
            return core
        } catch {
            flock(lockDescriptor, LOCK_UN)
            closeDescriptor(lockDescriptor)
            throw error
        }
    }

    /// Creates and locks `journal.lock`; writes this process's id into it for the message a second opener gets.
    private static func lock(_ directory: String, files: JournalFiles) throws(BrokerError) -> Int32 {
        let path = directory + "/" + JournalFormat.lockName
        let descriptor: Int32
        switch files.openReportingErrno(path, flags: O_RDWR | O_CREAT) {
        case .success(let opened): descriptor = opened
        case .failure(let code) where [EACCES, EROFS, EPERM].contains(code.rawValue):
            throw .storageDirectoryNotWritable(directory, errno: code.rawValue)
        case .failure(let code): throw .storageIO("create", path, errno: code.rawValue)
        }
        if flock(descriptor, LOCK_EX | LOCK_NB) != 0 {
            let code = errno
            let holder = (try? files.read(path)).flatMap { String(decoding: $0, as: UTF8.self).split(separator: "\n").first.map(String.init) }
            closeDescriptor(descriptor)
            if code == EWOULDBLOCK || code == EAGAIN { throw .storageDirectoryLocked(directory, holder: holder) }
            throw .storageIO("lock", path, errno: code)
        }
        let pid = Array("\(getpid())\n".utf8)
        if ftruncate(descriptor, 0) == 0 {
            _ = pid.withUnsafeBytes { pwrite(descriptor, $0.baseAddress, $0.count, 0) }
        }
        return descriptor
    }

    private struct ScannedSegment {
        var firstLSN: LSN
        var name: String
        var bytes: [UInt8]
        /// The end of the last whole, valid record.
        var end: Int
        var records: Int
    }

    private static func recover(directory: String, durability: Durability, options: Journal.Options,
                                files: JournalFiles, lockDescriptor: Int32) throws(BrokerError) -> (core: JournalCore, recovery: Recovery) {
        let names = try files.list(directory)
        // A snapshot still called .tmp was never renamed: its writer crashed before it counted.
        for name in names where name.hasPrefix("snapshot-") && name.hasSuffix(".tmp") {
            try? files.remove(directory + "/" + name)
        }
        let snapshotLSNs = names.compactMap { JournalFormat.lsn(in: $0, prefix: "snapshot-", suffix: ".snap") }.sorted()
        var snapshot: (lsn: LSN, bytes: [UInt8])?
        if let newest = snapshotLSNs.last {
            let path = directory + "/" + JournalFormat.snapshotName(lsn: newest)
            switch JournalFormat.parseSnapshot(try files.read(path)) {
            case .success(let parsed):
                guard parsed.lsn == newest else {
                    throw .storageCorruptSnapshot(path, reason: "its header names LSN \(parsed.lsn), its file name \(newest)")
                }
                snapshot = (parsed.lsn, parsed.payload)
            case .failure(.short):
                throw .storageCorruptSnapshot(path, reason: "shorter than its header")
            case .failure(.damaged(let reason)):
                throw .storageCorruptSnapshot(path, reason: reason)
            }
            // Older snapshots are left by a crash between writing a newer one and deleting them.
            for older in snapshotLSNs.dropLast() { try? files.remove(directory + "/" + JournalFormat.snapshotName(lsn: older)) }
        }
        let snapshotLSN = snapshot?.lsn ?? 0

        var segmentLSNs = names.compactMap { JournalFormat.lsn(in: $0, prefix: "journal-", suffix: ".log") }.sorted()
        // Segments wholly covered by the snapshot are left by a crash between writing it and deleting them.
        let covered = JournalCore.coveredSegments(segmentLSNs, upTo: snapshotLSN)
        for first in covered {
            try? files.remove(directory + "/" + JournalFormat.segmentName(firstLSN: first))
        }
        segmentLSNs.removeAll { covered.contains($0) }

        var scanned: [ScannedSegment] = []
        var damage: [JournalDamage] = []
        var stopped = false
        for (index, first) in segmentLSNs.enumerated() {
            let name = JournalFormat.segmentName(firstLSN: first)
            let path = directory + "/" + name
            let bytes = try files.read(path)
            if stopped {
                damage.append(JournalDamage(segment: name, offset: 0, droppedBytes: bytes.count, reason: "follows the damaged record"))
                try files.remove(path)
                continue
            }
            switch JournalFormat.parseSegmentHeader(bytes[...]) {
            case .failure(.short):
                // Created but its header never completed: it holds no record, so it is dropped without ending the log.
                if !bytes.isEmpty { damage.append(JournalDamage(segment: name, offset: 0, droppedBytes: bytes.count, reason: "torn segment header")) }
                try files.remove(path)
                continue
            case .failure(.damaged(let reason)):
                damage.append(JournalDamage(segment: name, offset: 0, droppedBytes: bytes.count, reason: reason))
                try files.remove(path)
                stopped = true
                continue
            case .success(let headerLSN) where headerLSN != first:
                damage.append(JournalDamage(segment: name, offset: 0, droppedBytes: bytes.count,
                                            reason: "header names LSN \(headerLSN), the file name \(first)"))
                try files.remove(path)
                stopped = true
                continue
            case .success:
                break
            }
            // A segment may run into the next one's LSNs only when a failed write could not be cut back; the next
            // segment holds the records that count from there.
            let limit = index + 1 < segmentLSNs.count ? segmentLSNs[index + 1] : LSN.max
            var segment = ScannedSegment(firstLSN: first, name: name, bytes: bytes, end: JournalFormat.segmentHeaderSize, records: 0)
            let scan = scanRecords(bytes, firstLSN: first, limit: limit)
            segment.end = scan.end
            segment.records = scan.records
            if let reason = scan.reason {
                damage.append(JournalDamage(segment: name, offset: scan.end, droppedBytes: bytes.count - scan.end, reason: reason))
                if !scan.superseded { stopped = true }
            }
            scanned.append(segment)
        }

        // Cut the files back to the readable end so appends follow the last good record.
        for segment in scanned where segment.end < segment.bytes.count {
            let path = directory + "/" + segment.name
            let descriptor = try files.open(path, flags: O_RDWR)
            defer { closeDescriptor(descriptor) }
            try files.truncate(descriptor, to: segment.end, path: path)
            try files.syncData(descriptor, path: path)
        }
        if !damage.isEmpty { try files.syncDirectory(directory) }

        let lastRecord = scanned.last.map { $0.firstLSN + LSN($0.records) - 1 } ?? 0
        let lastLSN = max(lastRecord, snapshotLSN)
        let nextLSN = lastLSN + 1

        var active = ActiveSegment()
        var activeFirst: LSN = 0
        if let last = scanned.last {
            let path = directory + "/" + last.name
            active.descriptor = try files.open(path, flags: O_RDWR)
            active.path = path
            active.size = last.end
            active.allocated = last.end
            active.nextLSN = last.firstLSN + LSN(last.records)
            activeFirst = last.firstLSN
        }
        let core = JournalCore(directory: directory, durability: durability, options: options, lockDescriptor: lockDescriptor,
                               active: active, nextLSN: nextLSN, segments: scanned.map(\.firstLSN))
        core.adopt(active, firstLSN: activeFirst)
        let records = RecoveredRecords(
            segments: scanned.map { RecoveredRecords.Segment(firstLSN: $0.firstLSN, bytes: $0.bytes, end: $0.end) },
            after: snapshotLSN)
        return (core, Recovery(snapshot: snapshot, records: records, damage: damage, lastLSN: lastLSN))
    }

    /// Walks a segment's frames: how far they are whole and valid, and why they stop if before the end.
    static func scanRecords(_ bytes: [UInt8], firstLSN: LSN, limit: LSN)
        -> (end: Int, records: Int, reason: String?, superseded: Bool) {
        var offset = JournalFormat.segmentHeaderSize
        var records = 0
        return bytes.withUnsafeBytes { raw in
            while offset < raw.count {
                if firstLSN + LSN(records) >= limit {
                    return (offset, records, "records from LSN \(limit) on are superseded by the next segment", true)
                }
                guard raw.count - offset >= JournalFormat.frameHeaderSize else {
                    return (offset, records, "torn record header", false)
                }
                let length = Int(raw.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian)
                let stored = raw.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self).littleEndian
                // No record has a zero header (its checksum covers the length bytes); zeros to the end of the file
                // are the ones written ahead of the records, and end them cleanly.
                if length == 0, stored == 0, UnsafeRawBufferPointer(rebasing: raw[offset...]).allSatisfy({ $0 == 0 }) {
                    return (offset, records, nil, false)
                }
                guard length <= JournalFormat.maximumRecordSize else {
                    return (offset, records, "record length \(length) is over the limit", false)
                }
                let start = offset + JournalFormat.frameHeaderSize
                guard raw.count - start >= length else {
                    return (offset, records, "torn record: its length runs past the end of the file", false)
                }
                let payload = UnsafeRawBufferPointer(rebasing: raw[start..<start + length])
                guard JournalFormat.frameChecksum(length: UInt32(length), payload: payload) == stored else {
                    return (offset, records, "record checksum mismatch", false)
                }
                offset = start + length
                records += 1
            }
            return (offset, records, nil, false)
        }
    }
}

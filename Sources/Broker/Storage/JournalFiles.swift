import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Failures a test makes the journal's file operations report, to prove what a full disk or a failing sync does
/// without filling a disk. Production journals have none.
package final class JournalFaults: Sendable {
    /// A file operation that can be made to fail.
    package enum Operation: Hashable, Sendable {
        /// Writing records or a snapshot.
        case write
        /// `fdatasync`/`fsync` of a segment or snapshot.
        case sync
        /// Creating a segment or snapshot file.
        case create
        /// Cutting a segment back after a failed write.
        case truncate
        /// A direct (`O_DIRECT`) write of records: with `EINVAL` the file system refuses it, as one that takes no
        /// direct writes of that alignment would; with any other code the device takes its first block only, a short
        /// write. Neither is an error: the journal goes on through the page cache.
        case directWrite
    }

    private let pending = LockedState<[Operation: [Int32]]>([:])

    /// No failures planned.
    package init() {}

    /// The next `times` calls of `operation` fail with `code` (an errno such as `ENOSPC`).
    package func fail(_ operation: Operation, with code: Int32, times: Int = 1) {
        pending.withLock { $0[operation, default: []] += Array(repeating: code, count: times) }
    }

    /// Forgets every planned failure.
    package func clear() {
        pending.withLock { $0.removeAll() }
    }

    /// The errno the next call of `operation` must fail with, if one is planned.
    func take(_ operation: Operation) -> Int32? {
        pending.withLock { plans in
            guard var codes = plans[operation], !codes.isEmpty else { return nil }
            let code = codes.removeFirst()
            plans[operation] = codes
            return code
        }
    }
}

/// The handful of POSIX calls the journal makes, each turning `errno` into a ``BrokerError`` that names the file.
struct JournalFiles: Sendable {
    let faults: JournalFaults?

    func open(_ path: String, flags: Int32, mode: mode_t = 0o644) throws(BrokerError) -> Int32 {
        if flags & O_CREAT != 0, let code = faults?.take(.create) { throw .storageIO("create", path, errno: code) }
        switch openReportingErrno(path, flags: flags, mode: mode) {
        case .success(let descriptor): return descriptor
        case .failure(let code): throw .storageIO(flags & O_CREAT != 0 ? "create" : "open", path, errno: code.rawValue)
        }
    }

    /// `open(2)`, retried on `EINTR`; the errno on failure, for callers that tell causes apart.
    func openReportingErrno(_ path: String, flags: Int32, mode: mode_t = 0o644) -> Result<Int32, Errno> {
        while true {
            let descriptor = systemOpen(path, flags | O_CLOEXEC, mode)
            if descriptor >= 0 { return .success(descriptor) }
            if errno == EINTR { continue }
            return .failure(Errno(rawValue: errno))
        }
    }

    /// An errno value as an error.
    struct Errno: Error {
        let rawValue: Int32
    }

    /// Writes all of `bytes` at `offset`; a short write continues where it stopped.
    func write(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int, path: String) throws(BrokerError) {
        if let code = faults?.take(.write) { throw .storageIO("write", path, errno: code) }
        guard let base = bytes.baseAddress else { return }
        var done = 0
        while done < bytes.count {
            let result = pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                throw .storageIO("write", path, errno: errno)
            }
            // A zero-byte write of a non-empty buffer does not happen for regular files; guard against a loop anyway.
            if result == 0 { throw .storageIO("write", path, errno: EIO) }
            done += result
        }
    }

    /// How a direct write ended.
    enum DirectWrite {
        case written
        /// `EINVAL` before any byte: the file system or device does not take direct writes of this alignment.
        case refused
        /// Only this many bytes went through, and not a whole number of blocks.
        case short(Int)
    }

    /// Writes `bytes` (block-aligned in memory, offset and length) at `offset` through an `O_DIRECT` descriptor.
    func writeDirect(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer, at offset: Int,
                     path: String) throws(BrokerError) -> DirectWrite {
        if let code = faults?.take(.write) { throw .storageIO("write", path, errno: code) }
        guard let base = bytes.baseAddress else { return .written }
        if let code = faults?.take(.directWrite) {
            if code == EINVAL { return .refused }
            let block = SegmentDirectWriter.block
            guard bytes.count > block, pwrite(descriptor, base, block, off_t(offset)) == block else { return .refused }
            return .short(block)
        }
        var done = 0
        while done < bytes.count {
            let result = pwrite(descriptor, base + done, bytes.count - done, off_t(offset + done))
            if result < 0 {
                if errno == EINTR { continue }
                if errno == EINVAL, done == 0 { return .refused }
                throw .storageIO("write", path, errno: errno)
            }
            if result == 0 { throw .storageIO("write", path, errno: EIO) }
            done += result
            if done < bytes.count, result % SegmentDirectWriter.block != 0 { return .short(done) }
        }
        return .written
    }

    /// Writes all of `bytes` at `offset`.
    func write(_ descriptor: Int32, _ bytes: [UInt8], at offset: Int, path: String) throws(BrokerError) {
        let failure: BrokerError? = bytes.withUnsafeBytes { raw in
            do throws(BrokerError) {
                try write(descriptor, raw, at: offset, path: path)
                return nil
            } catch {
                return error
            }
        }
        if let failure { throw failure }
    }

    /// Makes the file's data durable (and its size, which `fdatasync` includes when it changed).
    func syncData(_ descriptor: Int32, path: String) throws(BrokerError) {
        if let code = faults?.take(.sync) { throw .storageIO("sync", path, errno: code) }
        #if canImport(Darwin)
        let result = fsync(descriptor)
        #else
        let result = fdatasync(descriptor)
        #endif
        if result != 0 { throw .storageIO("sync", path, errno: errno) }
    }

    /// Makes the file's data and every attribute durable.
    func syncAll(_ descriptor: Int32, path: String) throws(BrokerError) {
        if let code = faults?.take(.sync) { throw .storageIO("sync", path, errno: code) }
        if fsync(descriptor) != 0 { throw .storageIO("sync", path, errno: errno) }
    }

    /// Makes the directory's entries durable: a created, renamed or deleted file survives a machine crash only then.
    func syncDirectory(_ path: String) throws(BrokerError) {
        let descriptor = try open(path, flags: O_RDONLY | O_DIRECTORY)
        defer { closeDescriptor(descriptor) }
        if fsync(descriptor) != 0 { throw .storageIO("sync", path, errno: errno) }
    }

    func truncate(_ descriptor: Int32, to size: Int, path: String) throws(BrokerError) {
        if let code = faults?.take(.truncate) { throw .storageIO("truncate", path, errno: code) }
        if ftruncate(descriptor, off_t(size)) != 0 { throw .storageIO("truncate", path, errno: errno) }
    }

    /// The whole file.
    func read(_ path: String) throws(BrokerError) -> [UInt8] {
        let descriptor = try open(path, flags: O_RDONLY)
        defer { closeDescriptor(descriptor) }
        var status = stat()
        guard fstat(descriptor, &status) == 0 else { throw .storageIO("read", path, errno: errno) }
        let size = Int(status.st_size)
        var bytes = [UInt8](repeating: 0, count: size)
        var done = 0
        while done < size {
            let result = bytes.withUnsafeMutableBytes { raw -> Int in
                guard let base = raw.baseAddress else { return 0 }
                return pread(descriptor, base + done, size - done, off_t(done))
            }
            if result < 0 {
                if errno == EINTR { continue }
                throw .storageIO("read", path, errno: errno)
            }
            if result == 0 { break }
            done += result
        }
        if done < size { bytes.removeSubrange(done...) }
        return bytes
    }

    func remove(_ path: String) throws(BrokerError) {
        if unlink(path) != 0, errno != ENOENT { throw .storageIO("delete", path, errno: errno) }
    }

    func rename(_ from: String, to: String) throws(BrokerError) {
        if systemRename(from, to) != 0 { throw .storageIO("rename", from, errno: errno) }
    }

    /// The names in `directory`.
    func list(_ directory: String) throws(BrokerError) -> [String] {
        guard let stream = opendir(directory) else { throw .storageIO("list", directory, errno: errno) }
        defer { closedir(stream) }
        var names: [String] = []
        while let entry = readdir(stream) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != ".", name != ".." { names.append(name) }
        }
        return names
    }
}

// File-scope names for the C functions the methods above shadow.
private func systemOpen(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 { open(path, flags, mode) }
private func systemRename(_ from: String, _ to: String) -> Int32 { rename(from, to) }

/// `close(2)`, under a name no method shadows.
func closeDescriptor(_ descriptor: Int32) { _ = close(descriptor) }

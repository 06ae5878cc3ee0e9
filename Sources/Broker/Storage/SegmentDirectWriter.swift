#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes the active segment's records with `O_DIRECT`, from a block-aligned buffer of its own, where the platform
/// and the file system allow it.
///
/// A buffered `write` copies every byte into the page cache, and the kernel writes it back later: on this project's
/// Linux machines that copy alone was 11.6% of all CPU time of the `interval` benchmark (journal writes of 180 MB/s),
/// half of what durability cost it beyond memory. A direct write hands the buffer to the device instead.
///
/// Direct writes must start and end on block boundaries, so each one begins at the block that holds the end of the
/// records written so far: the bytes of that block before the end (the tail) are kept from the last write, and the
/// last block is padded with zeros, which recovery reads as the end of the records (as it does the zeros written
/// ahead by preallocation). Rewriting the tail block rewrites records already acknowledged with their own bytes, as
/// the page cache's writeback of that page does. Where `O_DIRECT` is missing (not Linux), refused by the file system
/// at open, or refused at the first write (`EINVAL`: an alignment the device wants larger), the journal writes
/// through the page cache as before.
///
/// Owned by the journal's writer role (one thread at a time), like the active segment.
final class SegmentDirectWriter {
    /// The alignment of offsets, lengths and the buffer: a page, which covers 512- and 4,096-byte logical blocks.
    static let block = 4096

    #if os(Linux) && arch(x86_64)
    static let openFlag: Int32 = 0o40000
    #elseif os(Linux) && arch(arm64)
    static let openFlag: Int32 = 0o200000
    #else
    static let openFlag: Int32 = 0
    #endif

    /// False once direct writes were found unsupported here; also when the platform has none or a test turns them off.
    private(set) var enabled: Bool
    /// The active segment opened with `O_DIRECT`, or -1.
    private(set) var descriptor: Int32 = -1
    private var buffer: UnsafeMutableRawPointer
    private var capacity: Int
    /// Whether the buffer starts with the segment's tail: the bytes from the block boundary at or before `tailEnd`
    /// up to `tailEnd`, the end of the records. Forgotten whenever the segment changes other than by this writer.
    private var tailEnd: Int?

    init(enabled: Bool) {
        self.enabled = enabled && Self.openFlag != 0
        capacity = 1 << 16
        buffer = UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: Self.block)
    }

    deinit {
        buffer.deallocate()
        if descriptor >= 0 { closeDescriptor(descriptor) }
    }

    /// Opens `path`, the new active segment, for direct writes; a file system that refuses turns them off.
    func attach(_ path: String, files: JournalFiles) {
        detach()
        guard enabled else { return }
        switch files.openReportingErrno(path, flags: O_WRONLY | Self.openFlag) {
        case .success(let opened): descriptor = opened
        case .failure(let code): if code.rawValue == EINVAL { enabled = false }
        }
    }

    /// Closes the direct descriptor of the segment that stops being active.
    func detach() {
        if descriptor >= 0 { closeDescriptor(descriptor) }
        descriptor = -1
        tailEnd = nil
    }

    /// The segment was cut back or written by other means: the tail is read from the file again.
    func forgetTail() {
        tailEnd = nil
    }

    /// ``write(_:at:segment:path:files:)`` of an array's bytes.
    func write(_ bytes: [UInt8], at offset: Int, segment: Int32, path: String, files: JournalFiles) throws(BrokerError) -> Int? {
        let result = bytes.withUnsafeBytes { raw -> Result<Int?, BrokerError> in
            do throws(BrokerError) {
                return .success(try write(raw, at: offset, segment: segment, path: path, files: files))
            } catch {
                return .failure(error)
            }
        }
        return try result.get()
    }

    /// Writes `bytes` at `offset`, the end of the segment's records, and returns the file's length after the write
    /// (the padded end of the last block). Nil when it did not write: no direct descriptor, or direct writes
    /// refused; the caller then writes through `segment`, the buffered descriptor, as before. Throws what a write
    /// throws (a full disk), having written any part that went through.
    func write(_ bytes: UnsafeRawBufferPointer, at offset: Int, segment: Int32, path: String,
               files: JournalFiles) throws(BrokerError) -> Int? {
        guard descriptor >= 0 else { return nil }
        let start = offset / Self.block * Self.block
        let lead = offset - start
        if tailEnd != offset {
            tailEnd = nil
            guard readTail(from: segment, start: start, count: lead) else {
                detach()
                return nil
            }
        }
        // The tail stays valid only if this write completes; a failure leaves the file as the caller cuts it back.
        tailEnd = nil
        let end = lead + bytes.count
        let padded = (end + Self.block - 1) / Self.block * Self.block
        reserve(padded, keeping: lead)
        if let source = bytes.baseAddress { (buffer + lead).copyMemory(from: source, byteCount: bytes.count) }
        (buffer + end).initializeMemory(as: UInt8.self, repeating: 0, count: padded - end)
        switch try files.writeDirect(descriptor, UnsafeRawBufferPointer(start: buffer, count: padded), at: start, path: path) {
        case .written:
            break
        case .refused:
            enabled = false
            detach()
            return nil
        case .short(let written):
            // Part went through; the rest goes through the page cache, and so do later writes to this segment (a
            // device that shortens direct writes is not worth a second attempt).
            detach()
            let from = min(bytes.count, max(0, start + written - offset))
            if from < bytes.count {
                try files.write(segment, UnsafeRawBufferPointer(rebasing: bytes[from...]), at: offset + from, path: path)
            }
            return max(start + written, offset + bytes.count)
        }
        // The next write starts at the last block the records reach into: keep its part at the front.
        let nextStart = (offset + bytes.count) / Self.block * Self.block
        let kept = offset + bytes.count - nextStart
        if kept > 0 { buffer.copyMemory(from: buffer + (nextStart - start), byteCount: kept) }
        tailEnd = offset + bytes.count
        return start + padded
    }

    /// Writes zeros from `offset` (a block boundary) to `end` (one too), directly: preallocation, which must not
    /// leave dirty pages for the next direct write to flush first. False if any part failed.
    func writeZeros(from offset: Int, to end: Int, files: JournalFiles, path: String) -> Bool {
        guard descriptor >= 0, offset % Self.block == 0, end % Self.block == 0, end > offset else { return false }
        let tail = tailEnd.map { $0 % Self.block } ?? 0
        let chunk = 1 << 16
        reserve(tail + chunk, keeping: tail)
        // Past the kept tail: the buffer's front must survive.
        let zeros = buffer + (tail + Self.block - 1) / Self.block * Self.block
        zeros.initializeMemory(as: UInt8.self, repeating: 0, count: chunk)
        var at = offset
        while at < end {
            let count = min(chunk, end - at)
            guard case .written? = try? files.writeDirect(descriptor, UnsafeRawBufferPointer(start: zeros, count: count),
                                                           at: at, path: path) else { return false }
            at += count
        }
        return true
    }

    /// Grows the buffer to hold `bytes` and a block more, keeping its first `kept` bytes.
    private func reserve(_ bytes: Int, keeping kept: Int) {
        let needed = bytes + Self.block
        guard needed > capacity else { return }
        var grown = capacity
        while grown < needed { grown *= 2 }
        let larger = UnsafeMutableRawPointer.allocate(byteCount: grown, alignment: Self.block)
        larger.copyMemory(from: buffer, byteCount: kept)
        buffer.deallocate()
        buffer = larger
        capacity = grown
    }

    /// Reads the segment's bytes from `start` for `count` (less than a block) into the buffer's front.
    private func readTail(from segment: Int32, start: Int, count: Int) -> Bool {
        var done = 0
        while done < count {
            let result = pread(segment, buffer + done, count - done, off_t(start + done))
            if result < 0, errno == EINTR { continue }
            if result <= 0 { return false }
            done += result
        }
        return true
    }
}

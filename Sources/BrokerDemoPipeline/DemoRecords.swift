import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A file of lines, each on disk (`fsync`) before ``append(_:)`` returns: what the demo must remember across a
/// kill, written before the effect it records is acknowledged to anyone.
///
/// A kill can tear the last line; ``lines`` drops a line without its newline, so a torn record counts as never
/// written, which is the safe reading for both files that use it (an order placed again is a duplicate the
/// payment worker absorbs; a charge not recorded was never acknowledged, so its message is still in the queue).
final class AppendLog: @unchecked Sendable {
    // One descriptor per log, written by one actor (the ledger) or one task (the placing loop) at a time.
    private let descriptor: Int32
    /// The complete lines the file held when it was opened.
    let lines: [String]

    init(path: String) throws {
        let existing = (try? Data(contentsOf: URL(fileURLWithPath: path))) ?? Data()
        var complete = existing
        if let last = complete.lastIndex(of: UInt8(ascii: "\n")) {
            complete = complete.prefix(through: last)
        } else {
            complete = Data()
        }
        lines = String(decoding: complete, as: UTF8.self).split(separator: "\n").map(String.init)
        descriptor = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0o644)
        guard descriptor >= 0 else { throw DemoStorageError(path: path, reason: String(cString: strerror(errno))) }
        // Cut a torn tail, so the next line starts on a line of its own.
        if complete.count != existing.count, ftruncate(descriptor, off_t(complete.count)) != 0 {
            throw DemoStorageError(path: path, reason: String(cString: strerror(errno)))
        }
    }

    deinit { close(descriptor) }

    /// Appends `line` and waits for the disk.
    func append(_ line: String) throws {
        let bytes = Array((line + "\n").utf8)
        var written = 0
        while written < bytes.count {
            let result = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
            if result < 0 {
                if errno == EINTR { continue }
                throw DemoStorageError(path: "append", reason: String(cString: strerror(errno)))
            }
            written += result
        }
        guard fsync(descriptor) == 0 else { throw DemoStorageError(path: "fsync", reason: String(cString: strerror(errno))) }
    }
}

/// A demo data file that could not be opened or written.
struct DemoStorageError: Error, CustomStringConvertible {
    let path: String
    let reason: String
    var description: String { "\(path): \(reason)" }
}

/// The shop's books, shared by the handlers: the charges made, and whether the payment fix has shipped.
///
/// In memory every call to ``charge(_:)`` counts, so a double delivery that slipped past the idempotency store
/// would show as a double charge. With a data directory each charge is first looked up in `charges.log` (every
/// charge ever made, one order id a line) and appended there, on disk, before the handler returns and its message
/// is deleted: a kill between the two leaves a message whose redelivery finds its charge already made.
actor Ledger {
    private(set) var charges: [String: Int] = [:]
    private(set) var fixed = false
    private let log: AppendLog?
    private let fixedMarker: String?

    init(directory: String?) throws {
        if let directory {
            let log = try AppendLog(path: directory + "/charges.log")
            for orderId in log.lines { charges[orderId, default: 0] += 1 }
            self.log = log
            fixedMarker = directory + "/payment-fixed"
            fixed = FileManager.default.fileExists(atPath: directory + "/payment-fixed")
        } else {
            log = nil
            fixedMarker = nil
        }
    }

    func charge(_ orderId: String) throws {
        if let log {
            guard charges[orderId] == nil else { return }
            try log.append(orderId)
        }
        charges[orderId, default: 0] += 1
    }

    func fix() throws {
        if let fixedMarker, !fixed {
            let marker = try AppendLog(path: fixedMarker)
            try marker.append("fixed")
        }
        fixed = true
    }

    var doubleCharges: Int { charges.values.filter { $0 > 1 }.count }
    var chargedOrders: Int { charges.count }
}

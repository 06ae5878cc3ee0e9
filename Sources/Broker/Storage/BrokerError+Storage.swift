#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

extension BrokerError.Code {
    /// Storage could not take the change right now (the disk is full); a retry may succeed. SDKs retry this code.
    public static let storageUnavailable = BrokerError.Code(name: "ServiceUnavailable")
    /// Storage cannot be used: its directory is locked, missing, not writable, or holds damaged files.
    public static let storageFailure = BrokerError.Code(name: "InternalFailure")
}

extension BrokerError {
    static func storageDirectoryLocked(_ directory: String, holder: String?) -> BrokerError {
        let by = holder.map { " by process \($0)" } ?? ""
        return BrokerError(.storageFailure, "The storage directory \(directory) is locked\(by): another broker (in this or another process) has it open. Close that broker or choose another directory.")
    }

    static func storageDirectoryMissing(_ directory: String) -> BrokerError {
        BrokerError(.storageFailure, "The storage directory \(directory) does not exist or is not a directory.")
    }

    static func storageDirectoryNotWritable(_ directory: String, errno code: Int32) -> BrokerError {
        BrokerError(.storageFailure, "The storage directory \(directory) is not writable (\(describe(code))).")
    }

    static func storageDiskFull(_ path: String, errno code: Int32) -> BrokerError {
        BrokerError(.storageUnavailable, "The disk holding \(path) is full (\(describe(code))): the change was not stored. Nothing stored before it is lost; retry once space is freed.")
    }

    static func storageCorruptSnapshot(_ path: String, reason: String) -> BrokerError {
        BrokerError(.storageFailure, "The snapshot \(path) is corrupt (\(reason)): the state it holds cannot be recovered. Restore the directory from a backup.")
    }

    static func storageCorruptFile(_ path: String, reason: String) -> BrokerError {
        BrokerError(.storageFailure, "The storage file \(path) is damaged (\(reason)).")
    }

    static func storageClosed() -> BrokerError {
        BrokerError(.storageFailure, "The journal is closed.")
    }

    static func storageRecordTooLarge(_ size: Int, limit: Int) -> BrokerError {
        BrokerError(.storageFailure, "A journal record of \(size) bytes is over the limit of \(limit) bytes.")
    }

    static func storageInvalidSnapshot(_ reason: String) -> BrokerError {
        BrokerError(.storageFailure, "The snapshot was not written: \(reason).")
    }

    /// An I/O error: disk-full codes become ``storageDiskFull(_:errno:)``, so a caller can tell a retryable failure.
    static func storageIO(_ operation: String, _ path: String, errno code: Int32) -> BrokerError {
        if code == ENOSPC || code == EDQUOT { return storageDiskFull(path, errno: code) }
        return BrokerError(.storageFailure, "Could not \(operation) \(path) (\(describe(code))).")
    }

    private static func describe(_ code: Int32) -> String {
        guard let text = strerror(code) else { return "errno \(code)" }
        return "\(String(cString: text)), errno \(code)"
    }
}

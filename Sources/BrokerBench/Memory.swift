import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Memory in use, two ways: bytes the allocator has handed out (glibc's `mallinfo2()`: `uordblks + hblkhd`, every
/// arena, chunk headers included) and the resident set size (`/proc/self/statm`). Bytes per resident message are
/// heap deltas; RSS deltas are reported beside them (they also count pages the allocator keeps but does not use).
enum Memory {
    #if canImport(Glibc)
    /// `struct mallinfo2 mallinfo2(void)`, found at run time (glibc 2.33+; Swift's Glibc module does not import
    /// malloc.h). The function returns a struct of ten `size_t`; it is called through a C function type whose result
    /// is another C struct returned in memory on every 64-bit ABI (`struct stat`, larger), so the call passes a
    /// buffer the same way; only its first ten words are read.
    private typealias MallInfo2 = @convention(c) () -> stat
    private static let mallinfo2: MallInfo2? = {
        guard MemoryLayout<stat>.size >= 10 * MemoryLayout<Int>.size, MemoryLayout<Int>.size == 8,
              let symbol = dlsym(nil, "mallinfo2") else { return nil }
        return unsafeBitCast(symbol, to: MallInfo2.self)
    }()
    /// `int malloc_trim(size_t pad)`: hands freed memory back to the system, so an RSS delta taken after it counts
    /// only new pages (without it, memory a previous run freed is reused and the delta reads as zero).
    private typealias MallocTrim = @convention(c) (Int) -> Int32
    private static let mallocTrim: MallocTrim? = {
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }
        return unsafeBitCast(symbol, to: MallocTrim.self)
    }()
    #endif

    /// Returns freed heap memory to the system (glibc), before a baseline is taken.
    static func trim() {
        #if canImport(Glibc)
        _ = mallocTrim?(0)
        #endif
    }

    /// Bytes allocated and not freed, or nil where glibc's `mallinfo2` is missing.
    static func heapBytesInUse() -> Int? {
        #if canImport(Glibc)
        guard let mallinfo2 else { return nil }
        let info = mallinfo2()
        return withUnsafeBytes(of: info) { raw -> Int in
            let words = raw.bindMemory(to: Int.self)
            return words[7] + words[4]          // uordblks (arena chunks in use) + hblkhd (mmapped chunks)
        }
        #else
        return nil
        #endif
    }

    /// Resident set size in bytes, or nil without /proc.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count > 1, let pages = Int(fields[1]) else { return nil }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    /// Which measure `heapBytesInUse` is, for reports.
    static var method: String {
        heapBytesInUse() != nil ? "glibc mallinfo2() uordblks+hblkhd delta (heap bytes in use, chunk headers included)"
                                : "RSS delta from /proc/self/statm (mallinfo2 unavailable)"
    }
}

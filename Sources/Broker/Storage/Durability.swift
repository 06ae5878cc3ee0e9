/// How much a durable broker waits for the disk before it answers a call that changed state.
///
/// The levels differ in what a crash may take — of the process (`kill -9`, a fault) or of the machine (power loss,
/// a kernel panic) — and in what each call costs. Whatever the level, a crash never leaves a record half-applied:
/// recovery stops at the last whole record.
public enum Durability: Sendable, Hashable {
    /// A call returns only after its record is on disk (`fdatasync` returned). A crash of the process or of the
    /// machine loses nothing that was acknowledged. Group commit: while one sync runs, the records of every caller
    /// that arrives queue up and are made durable together by the next one, so many concurrent callers share one
    /// sync and throughput grows with concurrency.
    case acknowledged
    /// A call returns at once; a background thread writes and syncs what accumulated every `interval`. A crash (of
    /// the process or the machine) may lose the changes of the last `interval`, nothing before it.
    case interval(Duration)
    /// A call returns once its record is handed to the operating system (`write` returned), with no sync: a crash
    /// of the process loses nothing, a crash of the machine may lose what the kernel had not written yet.
    case none
}

/// How much a durable broker waits for the disk before it answers a call that changed state.
///
/// Every level survives a crash of the process that used it in a clean way: what was answered is in the journal
/// when the directory is opened again. They differ in what a crash of the machine (power loss, kernel panic) may
/// take, and in what that costs per call.
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

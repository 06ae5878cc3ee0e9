import NIOConcurrencyHelpers
import NIOCore

/// What one server lets its clients hold: bodies, buffered bytes, connections and time. Every limit bounds what a
/// hostile client can take; none is reached by an SDK.
public struct ServerLimits: Sendable {
    /// Request bodies above this many bytes are refused with HTTP 413 (417 to `Expect: 100-continue`) as soon as
    /// the head declares them, or as soon as a chunked body passes it. Default 3 MiB: a 1 MiB message, encoded.
    public var maximumRequestBodySize: Int
    /// Request bodies held at once across every connection; a request that would pass it gets HTTP 503 and its
    /// connection closes. Default 256 MiB.
    public var maximumBufferedBytes: Int
    /// Open connections; one more is closed as soon as it is accepted. Default 1,024.
    public var maximumConnections: Int
    /// Requests a client may pipeline behind the one running; the requests already queued are answered, then the
    /// connection closes. Default 4 (SDKs send one at a time).
    public var maximumQueuedRequests: Int
    /// A connection waiting for a request (idle between keep-alive requests, or sending its head) is closed after
    /// this long. Default 60 s.
    public var idleTimeout: Duration
    /// A request whose body has not fully arrived this long after its head is refused and its connection closed.
    /// Default 60 s.
    public var requestTimeout: Duration

    /// Limits; every default is described on its property.
    public init(maximumRequestBodySize: Int = 3 * 1024 * 1024, maximumBufferedBytes: Int = 256 * 1024 * 1024,
                maximumConnections: Int = 1_024, maximumQueuedRequests: Int = 4, idleTimeout: Duration = .seconds(60),
                requestTimeout: Duration = .seconds(60)) {
        self.maximumRequestBodySize = maximumRequestBodySize
        self.maximumBufferedBytes = maximumBufferedBytes
        self.maximumConnections = maximumConnections
        self.maximumQueuedRequests = maximumQueuedRequests
        self.idleTimeout = idleTimeout
        self.requestTimeout = requestTimeout
    }
}

/// The connections of one server, the requests running on them and the body bytes they hold: what `stop()` closes
/// and waits for, and what the connection and memory limits count.
final class ConnectionRegistry: Sendable {
    private struct State {
        var channels: [ObjectIdentifier: any Channel] = [:]
        var tasks: [Int: Task<Void, Never>] = [:]
        var nextTask = 0
        var bufferedBytes = 0
        var stopping = false
    }

    private let state = NIOLockedValueBox(State())
    let limits: ServerLimits

    init(limits: ServerLimits) { self.limits = limits }

    /// Admits a connection, or says it must be closed (too many, or the server is stopping).
    func admit(_ channel: any Channel) -> Bool {
        state.withLockedValue { state in
            guard !state.stopping, state.channels.count < limits.maximumConnections else { return false }
            state.channels[ObjectIdentifier(channel)] = channel
            return true
        }
    }

    func remove(_ channel: any Channel) {
        _ = state.withLockedValue { $0.channels.removeValue(forKey: ObjectIdentifier(channel)) }
    }

    /// Reserves `count` body bytes; false past ``ServerLimits/maximumBufferedBytes``.
    func reserve(_ count: Int) -> Bool {
        state.withLockedValue { state in
            guard state.bufferedBytes + count <= limits.maximumBufferedBytes else { return false }
            state.bufferedBytes += count
            return true
        }
    }

    func release(_ count: Int) {
        state.withLockedValue { $0.bufferedBytes -= count }
    }

    var bufferedBytes: Int { state.withLockedValue { $0.bufferedBytes } }
    var connectionCount: Int { state.withLockedValue { $0.channels.count } }

    /// Runs `body` as a tracked task, so `stop()` can wait for it before the event loops go.
    func run(_ body: @escaping @Sendable () async -> Void) -> Task<Void, Never> {
        state.withLockedValue { state in
            let id = state.nextTask
            state.nextTask += 1
            let task = Task {
                await body()
                self.state.withLockedValue { _ = $0.tasks.removeValue(forKey: id) }
            }
            state.tasks[id] = task
            return task
        }
    }

    /// Refuses new connections, closes every open one (their running requests are cancelled) and waits until every
    /// request task has finished: after this, nothing schedules work on the event loops.
    func closeAll() async {
        let channels = state.withLockedValue { state -> [any Channel] in
            state.stopping = true
            return Array(state.channels.values)
        }
        for channel in channels { try? await channel.close() }
        while let task = state.withLockedValue({ state in state.tasks.keys.first.flatMap { state.tasks.removeValue(forKey: $0) } }) {
            task.cancel()
            await task.value
        }
    }
}

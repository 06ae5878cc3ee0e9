import Broker
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// The console's live feed, `GET /_broker/events`: server-sent events, one `counts` event a second of the broker's
/// clock holding every queue's depths.
///
/// One snapshot is computed per tick and shared by every stream, so watchers add writes, not reads of the broker.
/// The number of streams is capped (a further one is answered 503). A stream is written only while its socket
/// takes data: a client that stops reading misses frames instead of making the server buffer them (frames replace
/// each other, so nothing but the chart's resolution is lost), and is closed after ``maximumStalledTicks`` ticks
/// without room. The ticker runs only while a stream is open, and ``close()`` (at the server's stop) ends them all.
final class ConsoleEvents: Sendable {
    /// A stream's place, taken when its request is answered and handed to the connection once the answer's head is
    /// written. A reservation dropped before that (its connection went away first) frees its place.
    final class Reservation: Sendable {
        private let events: ConsoleEvents
        private let attached = NIOLockedValueBox(false)

        fileprivate init(events: ConsoleEvents) { self.events = events }

        /// Makes `channel`, whose answer's head was just written, a stream of these events.
        func attach(_ channel: any Channel) {
            // One place, one stream: a second attach would give back a place it never took.
            let first = attached.withLockedValue { attached in
                defer { attached = true }
                return !attached
            }
            guard first else { return }
            events.attach(channel)
        }

        deinit {
            if !attached.withLockedValue({ $0 }) { events.release() }
        }
    }

    private struct Stream {
        let channel: any Channel
        var stalledTicks = 0
    }

    private struct State {
        var streams: [ObjectIdentifier: Stream] = [:]
        /// Places taken by reservations not yet attached.
        var reserved = 0
        var tickerRunning = false
        /// The next tick, on the broker's clock.
        var nextTick: ScheduledWakeUp?
        var closed = false
        /// Views of accounts and regions that started move tasks, one per account and region.
        var views: [String: Broker] = [:]
    }

    /// Streams open at once; one more is refused.
    let maximumStreams: Int
    /// Ticks a stream may go without room in its socket before it is closed.
    let maximumStalledTicks = 30
    /// The time between two snapshots, on the broker's clock.
    let interval: Duration
    private let clock: any BrokerClock
    /// The `data` of one `counts` event: a JSON document on one line.
    private let snapshot: @Sendable () -> [UInt8]
    private let state = NIOLockedValueBox(State())

    init(clock: any BrokerClock, maximumStreams: Int = 16, interval: Duration = .seconds(1),
         snapshot: @escaping @Sendable () -> [UInt8]) {
        self.clock = clock
        self.maximumStreams = maximumStreams
        self.interval = interval
        self.snapshot = snapshot
    }

    /// Open streams, for tests and the health of the server.
    var streamCount: Int { state.withLockedValue { $0.streams.count } }

    /// A place for one more stream; nil when every place is taken or the server is stopping.
    func reserve() -> Reservation? {
        let granted = state.withLockedValue { state -> Bool in
            guard !state.closed, state.streams.count + state.reserved < maximumStreams else { return false }
            state.reserved += 1
            return true
        }
        return granted ? Reservation(events: self) : nil
    }

    fileprivate func release() {
        state.withLockedValue { $0.reserved -= 1 }
    }

    fileprivate func attach(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        let (accepted, startTicker) = state.withLockedValue { state -> (Bool, Bool) in
            state.reserved -= 1
            guard !state.closed else { return (false, false) }
            state.streams[id] = Stream(channel: channel)
            let start = !state.tickerRunning
            state.tickerRunning = true
            return (true, start)
        }
        guard accepted else {
            channel.close(promise: nil)
            return
        }
        channel.closeFuture.whenComplete { [self] _ in
            state.withLockedValue { _ = $0.streams.removeValue(forKey: id) }
        }
        // The next tick is on the clock before the first frame leaves, so whoever has read that frame can move
        // the clock and get the next.
        if startTicker { scheduleTick() }
        // The first frame at once, so a page shows counts without waiting for the next tick.
        write(Self.frame(snapshot(), retry: true), to: channel)
    }

    /// The view of `view`'s account and region kept as long as the server (`view` itself the first time), so the
    /// message move tasks started on it keep running.
    func keep(_ view: Broker) -> Broker {
        let key = view.configuration.accountId + "/" + view.configuration.region
        return state.withLockedValue { state in
            if let kept = state.views[key] { return kept }
            state.views[key] = view
            return view
        }
    }

    /// Ends every stream and refuses new ones.
    func close() {
        let (channels, tick) = state.withLockedValue { state -> ([any Channel], ScheduledWakeUp?) in
            state.closed = true
            defer { state.nextTick = nil }
            return (state.streams.values.map(\.channel), state.nextTick)
        }
        tick?.cancel()
        for channel in channels { channel.close(promise: nil) }
    }

    private func scheduleTick() {
        let deadline = clock.now.addingTimeInterval(Double(interval.components.seconds)
            + Double(interval.components.attoseconds) / 1e18)
        let wakeUp = clock.schedule(at: deadline) { [weak self] in
            guard let self, self.tickOnce() else { return }
            self.scheduleTick()
        }
        let stale = state.withLockedValue { state -> Bool in
            guard !state.closed else { return true }
            state.nextTick = wakeUp
            return false
        }
        if stale { wakeUp.cancel() }
    }

    /// One tick: a snapshot to every stream with room for it, and the streams stalled too long closed. False when
    /// no stream is left (the ticker stops; the next stream starts another).
    func tickOnce() -> Bool {
        let targets = state.withLockedValue { state -> [any Channel]? in
            guard !state.streams.isEmpty, !state.closed else {
                state.tickerRunning = false
                state.nextTick = nil
                return nil
            }
            return state.streams.values.map(\.channel)
        }
        guard let targets else { return false }
        let frame = Self.frame(snapshot(), retry: false)
        var stalled = Set<ObjectIdentifier>()
        for channel in targets {
            if channel.isWritable {
                write(frame, to: channel)
            } else {
                stalled.insert(ObjectIdentifier(channel))
            }
        }
        let overdue = state.withLockedValue { state -> [any Channel] in
            var overdue: [any Channel] = []
            for key in Array(state.streams.keys) {
                guard var stream = state.streams[key] else { continue }
                stream.stalledTicks = stalled.contains(key) ? stream.stalledTicks + 1 : 0
                if stream.stalledTicks >= maximumStalledTicks { overdue.append(stream.channel) }
                state.streams[key] = stream
            }
            return overdue
        }
        for channel in overdue { channel.close(promise: nil) }
        return true
    }

    private func write(_ frame: ByteBuffer, to channel: any Channel) {
        channel.writeAndFlush(HTTPServerResponsePart.body(.byteBuffer(frame)), promise: nil)
    }

    /// One `counts` event; the first also tells the browser to reconnect after 2 s if the stream breaks.
    static func frame(_ data: [UInt8], retry: Bool) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + 40)
        if retry { buffer.writeString("retry: 2000\n") }
        buffer.writeString("event: counts\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}

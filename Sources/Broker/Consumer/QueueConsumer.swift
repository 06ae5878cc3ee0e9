/// What both consumers (``QueueWorker`` and ``EventSourceMapping``) offer: a lifecycle, an event stream and counters.
///
/// Shaped like a service of swift-service-lifecycle: ``run()`` is the whole life of the consumer, so an empty
/// conformance (`extension QueueWorker: @retroactive Service {}`) lets a service group run it. ``start()`` and
/// ``stop(drainTimeout:)`` are for code that manages the consumer by hand.
///
/// A consumer runs once: after it stopped, ``run()`` throws.
public protocol QueueConsumer: AnyObject, Sendable {
    /// Events in order: started, received, processed, failed, timed out, filtered out, batch completed, empty poll,
    /// delete failed, released, stopped. One reader.
    ///
    /// Reading this property turns event delivery on (a consumer nobody watches builds no events): read it before
    /// ``start()`` or ``run()`` to see every event. `started` and `stopped` are always delivered.
    var events: AsyncStream<ConsumerEvent> { get }

    /// Counters so far.
    var statistics: ConsumerStatistics { get }

    /// Polls until the calling task is cancelled or ``stop(drainTimeout:)`` is called, then drains: it returns only
    /// once no handler runs any more.
    ///
    /// - Cancellation of the calling task stops polling and cancels running handlers at once: their messages stay
    ///   on the queue, unacknowledged, and nothing unacknowledged is deleted.
    /// - ``stop(drainTimeout:)`` stops polling and lets running handlers finish for up to its timeout first.
    ///
    /// Throws when the consumer already runs or has stopped.
    func run() async throws

    /// Starts ``run()`` on a task of its own.
    func start()

    /// Stops polling, lets running handlers finish for up to `drainTimeout` of the broker's clock, then cancels
    /// them; returns when the consumer has stopped. Records fetched but never handed to a handler are released
    /// (visibility 0).
    func stop(drainTimeout: Duration) async

    /// Stops receiving until ``resume()`` (Lambda's `Enabled: false`); running handlers go on.
    func pause()

    /// Receives again after ``pause()``.
    func resume()
}

extension QueueConsumer {
    /// Stops with a drain timeout of 30 seconds of the broker's clock (see ``stop(drainTimeout:)``).
    public func stop() async {
        await stop(drainTimeout: .seconds(30))
    }
}

import Foundation

extension TopicCore {
    /// Posts an `http`/`https` delivery off the publisher's task: AWS's headers, the effective delivery policy's
    /// retries and throttle on the broker's clock. A notification that fails every retry is handed to `failed`
    /// (the subscription's dead-letter queue); a confirmation that fails is dropped, as AWS sends it once more only
    /// when the topic owner subscribes again.
    func post(_ delivery: SNSOutboxMessage, subscription: SubscriptionRecord?, transport: any SNSHTTPTransport,
              failed: (@Sendable (BrokerError) -> Void)?) {
        let policy = DeliveryPolicy.effectiveHTTP(topic: state.withLock { $0.settings.deliveryPolicy },
                                                  subscription: subscription?.settings.deliveryPolicy)
        let type: HTTPDelivery.MessageType = delivery.kind == .subscriptionConfirmation ? .subscriptionConfirmation : .notification
        let request = SNSHTTPRequest(
            url: delivery.endpoint,
            headers: HTTPDelivery.headers(type: type, messageId: delivery.messageId, topicArn: arn,
                                          subscriptionArn: delivery.subscriptionArn,
                                          raw: type == .notification && subscription?.settings.rawMessageDelivery == true,
                                          contentType: policy.headerContentType),
            body: delivery.body)
        let clock = broker.clock
        let tracker = broker.deliveries
        tracker.begin()
        Task {
            defer { tracker.end() }
            let result = await HTTPDelivery.post(request, policy: policy, throttle: subscription?.throttle, clock: clock,
                                                 transport: transport)
            guard result.finished else { return }
            if result.outcome.isSuccess {
                subscription?.count { $0.delivered += 1 }
                if let subscription { note(subscription, messageId: delivery.messageId, .delivered) }
                return
            }
            if result.attempts > 1 { subscription?.count { $0.retried += result.attempts - 1 } }
            let reason: String = switch result.outcome {
            case .status(let code): "The endpoint answered HTTP \(code)."
            case .failed(let why): "The endpoint could not be reached: \(why)"
            }
            if let subscription, delivery.kind == .notification {
                for _ in 1..<max(result.attempts, 1) {
                    note(subscription, messageId: delivery.messageId, .retried, reason: reason)
                }
            }
            failed?(BrokerError(BrokerError.Code(name: "HTTPDeliveryFailed"), reason))
        }
    }
}

import Foundation

extension TopicCore {
    /// Posts an `http`/`https` delivery off the publisher's task: AWS's headers, the effective delivery policy's
    /// retries and throttle on the broker's clock. A notification that fails every retry is handed to `failed`
    /// (the subscription's dead-letter queue); a confirmation that fails is dropped, as AWS sends it once more only
    /// when the topic owner subscribes again. With `realism`, attempts fail and a delivered notification comes
    /// twice as it draws, here on the publisher's call.
    func post(_ delivery: SNSOutboxMessage, subscription: SubscriptionRecord?, transport: any SNSHTTPTransport,
              realism: TopicRealism? = nil, failed: (@Sendable (BrokerError) -> Void)?) {
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
        let fate = delivery.kind == .notification ? realism?.fate(attempts: policy.attempts) ?? .clean : .clean
        let clock = broker.clock
        let tracker = broker.deliveries
        tracker.begin()
        Task {
            defer { tracker.end() }
            let result = await HTTPDelivery.post(request, policy: policy, throttle: subscription?.throttle, clock: clock,
                                                 transport: transport, simulatedFailures: fate.failures)
            guard result.finished else { return }
            // The attempts before the last failed, whatever the last did: each was a retry.
            if result.attempts > 1 { subscription?.count { $0.retried += result.attempts - 1 } }
            if let subscription, delivery.kind == .notification, result.attempts > 1 {
                for failure in result.failures {
                    note(subscription, messageId: delivery.messageId, .retried, reason: Self.reason(failure))
                }
            }
            if result.outcome.isSuccess {
                subscription?.count { $0.delivered += 1 }
                if let subscription { note(subscription, messageId: delivery.messageId, .delivered) }
                guard fate.duplicate, let subscription else { return }
                let again = await HTTPDelivery.post(request, policy: policy, throttle: subscription.throttle,
                                                    clock: clock, transport: transport)
                if again.finished, again.outcome.isSuccess {
                    subscription.count { $0.delivered += 1 }
                    note(subscription, messageId: delivery.messageId, .delivered, reason: DeliveryFate.duplicateReason)
                }
                return
            }
            failed?(BrokerError(BrokerError.Code(name: "HTTPDeliveryFailed"), Self.reason(result.outcome)))
        }
    }

    /// Why an attempt failed, in the history and the subscription's last failure.
    static func reason(_ outcome: SNSHTTPOutcome) -> String {
        switch outcome {
        case .status(let code): "The endpoint answered HTTP \(code)."
        case .failed(let why): "The endpoint could not be reached: \(why)"
        }
    }
}

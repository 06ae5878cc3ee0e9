import Foundation

/// The endpoints SNS reaches outside AWS, checked as AWS checks them at Subscribe.
enum OutboundEndpoint {
    static func validate(_ endpoint: String, protocol kind: SubscriptionProtocol, broker: BrokerContext) throws(BrokerError) -> String {
        switch kind {
        case .http, .https:
            guard endpoint.lowercased().hasPrefix(kind.rawValue + "://") else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Endpoint must match the specified protocol")
            }
            guard let url = URL(string: endpoint), let host = url.host, !host.isEmpty else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Endpoint")
            }
        case .email, .emailJSON:
            guard isEmailAddress(endpoint) else { throw BrokerError(.invalidParameter, "Invalid parameter: Email address") }
        case .sms:
            guard PhoneNumber.isSubscribable(endpoint) else {
                throw BrokerError(.invalidParameter, "Invalid SMS endpoint: \(endpoint)")
            }
        case .application:
            guard broker.sns.platforms.withLock({ $0.endpoint(arn: endpoint) }) != nil else {
                // AWS writes no space between "arn" and the ARN.
                throw BrokerError(.invalidParameter, "Invalid parameter: Endpoint Reason: Endpoint does not exist for endpoint arn\(endpoint)")
            }
        case .firehose:
            guard isArn(endpoint, service: "firehose", resourcePrefix: "deliverystream/") else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Firehose endpoint ARN")
            }
        case .lambda:
            guard isArn(endpoint, service: "lambda", resourcePrefix: "function:") else {
                throw BrokerError(.invalidParameter, "Invalid parameter: Lambda endpoint ARN")
            }
        case .sqs:
            break
        }
        return endpoint
    }

    /// `local@domain.tld`: one `@`, no spaces, a dot in the domain.
    static func isEmailAddress(_ text: String) -> Bool {
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, text.utf8.count <= 254,
              !text.contains(where: { $0.isWhitespace || $0.isNewline }) else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    /// `arn:<partition>:<service>:<region>:<account>:<resource>` with the resource starting as the service's do.
    static func isArn(_ text: String, service: String, resourcePrefix: String) -> Bool {
        let parts = text.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        return parts.count == 6 && parts[0] == "arn" && !parts[1].isEmpty && parts[2] == service && !parts[3].isEmpty
            && parts[4].utf8.count == 12 && parts[5].hasPrefix(resourcePrefix) && parts[5].count > resourcePrefix.count
    }
}

extension TopicCore {
    /// A copy for a subscription whose endpoint is outside the broker: built as AWS would send it, then handed to
    /// ``send(_:)``. Pending subscriptions get nothing, as on AWS.
    /// With `realism`, HTTP/S posts fail and come twice as it draws; other protocols ignore it.
    func deliverOutbound(_ message: PublishedMessage, parts: inout CopyParts, subscription: SubscriptionRecord,
                         realism: TopicRealism? = nil) {
        guard subscription.pending == nil else { return }
        let kind = subscription.protocol
        var subject: String?
        var attributes: [String: String] = [:]
        let body: String
        switch kind {
        case .email:
            subject = message.request.subject ?? "AWS Notification Message"
            body = message.body(for: .email) + Self.emailFooter(region: broker.region, subscriptionArn: subscription.arn,
                                                                 endpoint: subscription.endpoint)
        case .sms:
            // A number that opted out gets nothing from any topic, as on AWS.
            guard !broker.sns.sms.withLock({ $0.optedOut.contains(PhoneNumber.normalized(subscription.endpoint)) }) else {
                subscription.count { $0.dropped += 1; $0.lastFailure = BrokerError(.invalidParameter, "Phone number is opted out") }
                note(subscription, messageId: message.messageId, .failed, reason: "Phone number is opted out")
                return
            }
            body = message.body(for: .sms)
            attributes = SMSAttributes.messageAttributes(message.request.messageAttributes)
        case .application:
            let target = broker.sns.platforms.withLock { $0.deliveryTarget(arn: subscription.endpoint) }
            guard let target, target.enabled else {
                // AWS drops a copy for a disabled or deleted endpoint; the subscription stays.
                let reason = target == nil ? BrokerError.endpointNotFound() : BrokerError(.endpointDisabled, "Endpoint is disabled")
                subscription.count { $0.dropped += 1; $0.lastFailure = reason }
                note(subscription, messageId: message.messageId, .failed, reason: reason.message)
                return
            }
            body = message.body(forKey: target.platform)
        default:
            body = subscription.settings.rawMessageDelivery
                ? message.body(for: kind) : envelope(message, parts: &parts, for: kind, subscriptionArn: subscription.arn)
        }
        let delivery = SNSOutboxMessage(kind: .notification, protocol: kind.rawValue, endpoint: subscription.endpoint,
                                        subscriptionArn: subscription.arn, topicArn: arn, messageId: message.messageId,
                                        timestamp: message.timestamp, subject: subject, body: body, attributes: attributes)
        if kind == .http || kind == .https, let transport = broker.httpTransport {
            // Counted when the endpoint answers 2xx; a copy that fails every retry goes to the dead-letter queue.
            return post(delivery, subscription: subscription, transport: transport, realism: realism) { [self] error in
                var parts = copyParts(for: message)
                fail(message, parts: &parts, subscription: subscription, error: error)
            }
        }
        send(delivery)
        subscription.count { $0.delivered += 1 }
        note(subscription, messageId: message.messageId, .delivered)
    }

    /// Where a delivery leaves Broker: `http` and `https` ones are posted when the broker has an HTTP transport;
    /// everything else, and HTTP without a transport, is captured in the space's outbox.
    func send(_ delivery: SNSOutboxMessage) {
        if delivery.protocol == "http" || delivery.protocol == "https", let transport = broker.httpTransport {
            return post(delivery, subscription: nil, transport: transport, failed: nil)
        }
        broker.sns.outbox.record(delivery)
    }

    /// The JSON notification envelope, with the protocol's own body under `MessageStructure=json`.
    private func envelope(_ message: PublishedMessage, parts: inout CopyParts, for kind: SubscriptionProtocol,
                          subscriptionArn: String) -> String {
        guard message.structuredBodies != nil, message.body(for: kind) != message.body(for: .sqs) else {
            return parts.envelope.body(subscriptionArn: subscriptionArn)
        }
        var request = message.request
        request.message = message.body(for: kind)
        request.structure = nil
        let own = PublishedMessage(messageId: message.messageId, timestamp: message.timestamp,
                                   formattedTimestamp: message.formattedTimestamp, request: request, structuredBodies: nil,
                                   sequenceNumber: message.sequenceNumber, deduplicationId: message.deduplicationId)
        return Envelope(message: own, fragments: envelopeFragments, fifo: isFifo, signing: envelopeSigning())
            .body(subscriptionArn: subscriptionArn)
    }

    static func emailFooter(region: String, subscriptionArn: String, endpoint: String) -> String {
        """


        --
        If you wish to stop receiving notifications from this topic, please click or visit the link below to unsubscribe:
        https://sns.\(region).amazonaws.com/unsubscribe.html?SubscriptionArn=\(subscriptionArn)&Endpoint=\(endpoint)

        Please do not reply directly to this email. If you have any questions or comments regarding this email, please contact us at https://aws.amazon.com/support
        """
    }

    /// The `SubscriptionConfirmation` AWS sends a new `http`, `https`, `email` or `email-json` subscription; signed
    /// when the broker has a signer. Reads the topic's state: never call it holding the topic's lock.
    func confirmationMessage(protocol kind: SubscriptionProtocol, endpoint: String, subscriptionArn: String, token: String,
                             messageId: String, now: Date, timestamp: String) -> SNSOutboxMessage {
        let url = subscribeURL(token: token)
        var subject: String?
        let body: String
        if kind == .email {
            subject = "AWS Notification - Subscription Confirmation"
            body = """
            You have chosen to subscribe to the topic:
            \(arn)

            To confirm this subscription, click or visit the link below (If this was in error no action is necessary):
            \(url)

            Please do not reply directly to this email. If you wish to remove yourself from receiving all future SNS subscription confirmation requests please send an email to sns-opt-out
            """
        } else {
            var bytes: [UInt8] = []
            let message = "You have chosen to subscribe to the topic \(arn).\nTo confirm the subscription, visit the SubscribeURL included in this message."
            Envelope.append("{\n  \"Type\" : \"SubscriptionConfirmation\"", to: &bytes)
            Envelope.appendField(",\n  \"MessageId\" : ", messageId, to: &bytes)
            Envelope.appendField(",\n  \"Token\" : ", token, to: &bytes)
            bytes.append(contentsOf: envelopeFragments.topicArnField)
            Envelope.appendField(",\n  \"Message\" : ", message, to: &bytes)
            Envelope.appendField(",\n  \"SubscribeURL\" : ", url, to: &bytes)
            Envelope.appendField(",\n  \"Timestamp\" : ", timestamp, to: &bytes)
            if let signing = envelopeSigning(), let signature = try? signing.signer.signature(
                of: SNSStringToSign.confirmation(.subscriptionConfirmation, message: message, messageId: messageId,
                                                 subscribeURL: url, timestamp: timestamp, token: token, topicArn: arn),
                version: signing.version) {
                Envelope.append(",\n  \"SignatureVersion\" : \"", to: &bytes)
                bytes.append(contentsOf: signing.version.rawValue.utf8)
                Envelope.append("\",\n  \"Signature\" : \"", to: &bytes)
                signature.withUnsafeBufferPointer { Base64.append($0, to: &bytes) }
                Envelope.append("\"", to: &bytes)
                Envelope.appendField(",\n  \"SigningCertURL\" : ", signing.signer.signingCertURL, to: &bytes)
            } else {
                Envelope.append(",\n  \"SignatureVersion\" : \"1\",\n  \"Signature\" : \"", to: &bytes)
                PlaceholderSignature.append(messageId: messageId, to: &bytes)
                Envelope.append("\"", to: &bytes)
                bytes.append(contentsOf: envelopeFragments.signingCertURLField)
            }
            Envelope.append("\n}", to: &bytes)
            body = String(decoding: bytes, as: UTF8.self)
        }
        return SNSOutboxMessage(kind: .subscriptionConfirmation, protocol: kind.rawValue, endpoint: endpoint,
                                subscriptionArn: subscriptionArn, topicArn: arn, messageId: messageId, timestamp: now,
                                subject: subject, body: body, attributes: [:])
    }
}

extension PublishedMessage {
    /// The body `MessageStructure=json` gives one key (a protocol or a push platform), else `default`.
    func body(forKey key: String) -> String {
        guard let bodies = structuredBodies else { return request.message }
        return bodies[key] ?? bodies["default"] ?? request.message
    }
}

extension BrokerError.Code {
    /// `EndpointDisabled`: a publish to a platform endpoint whose `Enabled` is false.
    public static let endpointDisabled = BrokerError.Code(name: "EndpointDisabledException", queryCode: "EndpointDisabled")
    /// `PlatformApplicationDisabled`: a publish through a disabled platform application.
    public static let platformApplicationDisabled = BrokerError.Code(name: "PlatformApplicationDisabledException",
                                                                     queryCode: "PlatformApplicationDisabled")
}

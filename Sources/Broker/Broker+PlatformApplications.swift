import Foundation

extension Broker {
    // MARK: Platform applications

    /// CreatePlatformApplication: `platform` is one of `APNS`, `APNS_SANDBOX`, `GCM` (Firebase), `ADM`, `BAIDU`,
    /// `MPNS`, `WNS`, `MACOS`, `MACOS_SANDBOX`, with the credential attributes that platform needs
    /// (`PlatformCredential`; `PlatformPrincipal` too for Apple, Amazon, Baidu and Windows). Credentials are kept,
    /// never checked with the platform and never returned. Creating the same name again replaces its attributes, as
    /// on AWS. Returns the application's ARN.
    @discardableResult
    public func createPlatformApplication(name: String, platform: String, attributes: [String: String]) throws(BrokerError) -> String {
        guard (1...256).contains(name.utf8.count),
              name.utf8.allSatisfy({ MessageValidation.isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") })
        else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Name Reason: must be 1 to 256 letters, digits, periods, underscores and hyphens")
        }
        guard let required = PlatformRegistry.requiredAttributes[platform] else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Platform Reason: \(platform) is not supported")
        }
        try PlatformRegistry.validateApplicationAttributes(attributes)
        for attribute in required where (attributes[attribute] ?? "").isEmpty {
            throw BrokerError(.invalidParameter, "Invalid parameter: Attributes Reason: \(attribute) attribute is required for the \(platform) platform")
        }
        let arn = "arn:aws:sns:\(configuration.region):\(configuration.accountId):app/\(platform)/\(name)"
        snsSpace.platforms.withLock { registry in
            registry.applications[arn] = PlatformApplicationRecord(arn: arn, name: name, platform: platform, attributes: attributes)
        }
        return arn
    }

    /// GetPlatformApplicationAttributes: what was set, without `PlatformCredential`, and `Enabled`.
    public func platformApplicationAttributes(arn: String) throws(BrokerError) -> [String: String] {
        try Self.validateArn(arn, parameter: "PlatformApplicationArn")
        return try snsSpace.platforms.withLock { (registry) throws(BrokerError) in
            guard let application = registry.applications[arn] else { throw BrokerError.applicationNotFound() }
            return application.visibleAttributes
        }
    }

    /// SetPlatformApplicationAttributes: the names given replace their values.
    public func setPlatformApplicationAttributes(arn: String, _ attributes: [String: String]) throws(BrokerError) {
        try Self.validateArn(arn, parameter: "PlatformApplicationArn")
        try PlatformRegistry.validateApplicationAttributes(attributes)
        try snsSpace.platforms.withLock { (registry) throws(BrokerError) in
            guard registry.applications[arn] != nil else { throw BrokerError.applicationNotFound() }
            registry.applications[arn]?.attributes.merge(attributes) { $1 }
        }
    }

    /// ListPlatformApplications: in ARN order, 15 a page as on AWS.
    public func listPlatformApplications(nextToken: String? = nil) throws(BrokerError)
        -> (applications: [PlatformApplicationInfo], nextToken: String?) {
        let all = snsSpace.platforms.withLock { registry in
            registry.applications.values.sorted { $0.arn < $1.arn }
                .map { PlatformApplicationInfo(arn: $0.arn, attributes: $0.visibleAttributes) }
        }
        let page = try Paging.page(all, size: 15, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// DeletePlatformApplication: its endpoints go with it. An application that does not exist is no error.
    public func deletePlatformApplication(arn: String) throws(BrokerError) {
        try Self.validateArn(arn, parameter: "PlatformApplicationArn")
        snsSpace.platforms.withLock { registry in
            registry.applications[arn] = nil
            registry.endpoints = registry.endpoints.filter { $0.value.applicationArn != arn }
        }
    }

    // MARK: Endpoints

    /// CreatePlatformEndpoint: a device `token` of the application. Idempotent: the same token with the same
    /// `CustomUserData` and attributes returns the same endpoint; different ones are `InvalidParameter`.
    @discardableResult
    public func createPlatformEndpoint(applicationArn: String, token: String, customUserData: String? = nil,
                                       attributes: [String: String] = [:]) throws(BrokerError) -> String {
        try Self.validateArn(applicationArn, parameter: "PlatformApplicationArn")
        guard !token.isEmpty else { throw BrokerError(.invalidParameter, "Invalid parameter: Token Reason: cannot be empty") }
        try PlatformRegistry.validateEndpointAttributes(attributes)
        var requested = attributes
        requested["Token"] = token
        if let customUserData { requested["CustomUserData"] = customUserData }
        try PlatformRegistry.validateEndpointAttributes(requested)
        let space = snsSpace
        let id = space.withIDs(seed: seedValue) { $0.uuidString() }
        return try space.platforms.withLock { (registry) throws(BrokerError) -> String in
            guard let application = registry.applications[applicationArn] else { throw BrokerError.applicationNotFound() }
            func effective(_ attributes: [String: String]) -> [String: String] {
                var result = attributes
                if result["Enabled"] == nil { result["Enabled"] = "true" }
                return result
            }
            if let existing = registry.endpoints.values.first(where: { $0.applicationArn == applicationArn && $0.attributes["Token"] == token }) {
                guard effective(existing.attributes) == effective(requested) else {
                    throw BrokerError(.invalidParameter,
                        "Invalid parameter: Token Reason: Endpoint \(existing.arn) already exists with the same Token, but different attributes.")
                }
                return existing.arn
            }
            let arn = "arn:aws:sns:\(configuration.region):\(configuration.accountId):endpoint/\(application.platform)/\(application.name)/\(id)"
            registry.endpoints[arn] = PlatformEndpointRecord(arn: arn, applicationArn: applicationArn, platform: application.platform,
                                                             attributes: effective(requested))
            return arn
        }
    }

    /// GetEndpointAttributes: `Token`, `Enabled`, and `CustomUserData` when set.
    public func endpointAttributes(arn: String) throws(BrokerError) -> [String: String] {
        try Self.validateArn(arn, parameter: "EndpointArn")
        return try snsSpace.platforms.withLock { (registry) throws(BrokerError) in
            guard let endpoint = registry.endpoints[arn] else { throw BrokerError.endpointNotFound() }
            return endpoint.attributes
        }
    }

    /// SetEndpointAttributes: `Token`, `Enabled`, `CustomUserData`.
    public func setEndpointAttributes(arn: String, _ attributes: [String: String]) throws(BrokerError) {
        try Self.validateArn(arn, parameter: "EndpointArn")
        try PlatformRegistry.validateEndpointAttributes(attributes)
        try snsSpace.platforms.withLock { (registry) throws(BrokerError) in
            guard registry.endpoints[arn] != nil else { throw BrokerError.endpointNotFound() }
            registry.endpoints[arn]?.attributes.merge(attributes) { $1 }
        }
    }

    /// ListEndpointsByPlatformApplication: 100 a page; `NotFound` for an application that does not exist.
    public func listEndpoints(applicationArn: String, nextToken: String? = nil) throws(BrokerError)
        -> (endpoints: [PlatformEndpointInfo], nextToken: String?) {
        try Self.validateArn(applicationArn, parameter: "PlatformApplicationArn")
        let all = try snsSpace.platforms.withLock { (registry) throws(BrokerError) -> [PlatformEndpointInfo] in
            guard registry.applications[applicationArn] != nil else { throw BrokerError.applicationNotFound() }
            return registry.endpoints.values.filter { $0.applicationArn == applicationArn }.sorted { $0.arn < $1.arn }
                .map { PlatformEndpointInfo(arn: $0.arn, attributes: $0.attributes) }
        }
        let page = try Paging.page(all, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// DeleteEndpoint: an endpoint that does not exist is no error. Topic subscriptions of it stay, and get nothing.
    public func deleteEndpoint(arn: String) throws(BrokerError) {
        try Self.validateArn(arn, parameter: "EndpointArn")
        snsSpace.platforms.withLock { registry in registry.endpoints[arn] = nil }
    }

    /// Publish with `TargetArn` naming a platform endpoint: the platform's entry of a `MessageStructure=json` message
    /// (else `default`), or the message itself, captured in the outbox. `EndpointDisabled` when the endpoint's
    /// `Enabled` is false, `PlatformApplicationDisabled` when its application's is. Returns the message id.
    @discardableResult
    public func publish(targetArn: String, message: String, subject: String? = nil, messageStructure: String? = nil,
                        messageAttributes: [String: MessageAttributeValue] = [:]) throws(BrokerError) -> String {
        try Self.validateArn(targetArn, parameter: "TargetArn")
        let space = snsSpace
        let platform = try space.platforms.withLock { (registry) throws(BrokerError) -> String in
            guard let endpoint = registry.endpoints[targetArn] else {
                throw BrokerError(.invalidParameter, "Invalid parameter: TargetArn Reason: No endpoint found for the target arn specified")
            }
            guard endpoint.enabled else { throw BrokerError(.endpointDisabled, "Endpoint is disabled") }
            guard registry.applications[endpoint.applicationArn]?.enabled != false else {
                throw BrokerError(.platformApplicationDisabled, "Platform application is disabled")
            }
            return endpoint.platform
        }
        let request = PublishRequest(message: message, subject: subject, messageAttributes: messageAttributes,
                                     messageStructure: messageStructure)
        let bodies = try PublishValidation.validate(request)
        let payload = bodies.map { $0[platform] ?? $0["default"] ?? message } ?? message
        let id = snsMessageID()
        space.outbox.record(SNSOutboxMessage(kind: .notification, protocol: "application", endpoint: targetArn,
                                             subscriptionArn: nil, topicArn: nil, messageId: id, timestamp: clock.now,
                                             subject: nil, body: payload, attributes: [:]))
        return id
    }
}

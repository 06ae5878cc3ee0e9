import Foundation

extension Broker {
    /// The longest text message SNS takes in one publish, in characters.
    public static let maximumSMSLength = 1_600

    /// Publish with `PhoneNumber`: one text message straight to an E.164 number, no topic. With
    /// `messageStructure: "json"` the text is the message's `sms` entry, else its `default`. Captured in the outbox;
    /// a number that opted out gets nothing (the publish still succeeds, as on AWS). Returns the message id.
    @discardableResult
    public func publish(phoneNumber: String, message: String, messageStructure: String? = nil,
                        messageAttributes: [String: MessageAttributeValue] = [:]) throws(BrokerError) -> String {
        guard PhoneNumber.isE164(phoneNumber) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: PhoneNumber Reason: \(phoneNumber) does not meet the E164 format")
        }
        let bodies = try PublishValidation.validate(PublishRequest(message: message, messageAttributes: messageAttributes,
                                                                   messageStructure: messageStructure))
        let text = bodies.map { $0["sms"] ?? $0["default"] ?? message } ?? message
        if text.count > Self.maximumSMSLength {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message Reason: SMS message must be less than \(Self.maximumSMSLength) characters long")
        }
        try SMSAttributes.validateMessageAttributes(messageAttributes)
        let space = snsSpace
        let id = snsMessageID()
        if !space.sms.withLock({ $0.optedOut.contains(phoneNumber) }) {
            space.outbox.record(SNSOutboxMessage(kind: .notification, protocol: "sms", endpoint: phoneNumber,
                                                 subscriptionArn: nil, topicArn: nil, messageId: id, timestamp: clock.now,
                                                 subject: nil, body: text,
                                                 attributes: SMSAttributes.messageAttributes(messageAttributes)))
        }
        return id
    }

    /// SetSMSAttributes: the account's SMS defaults, by AWS's names (`DefaultSMSType`, `DefaultSenderID`,
    /// `MonthlySpendLimit`, `DeliveryStatusIAMRole`, `DeliveryStatusSuccessSamplingRate`, `UsageReportS3Bucket`).
    /// Stored and returned; Broker sends nothing by them.
    public func setSMSAttributes(_ attributes: [String: String]) throws(BrokerError) {
        for (name, value) in attributes { try SMSAttributes.validate(name, value) }
        snsSpace.sms.withLock { $0.attributes.merge(attributes) { $1 } }
    }

    /// GetSMSAttributes: the attributes set, or only the names given.
    public func smsAttributes(names: [String] = []) -> [String: String] {
        let all = snsSpace.sms.withLock { $0.attributes }
        return names.isEmpty ? all : all.filter { names.contains($0.key) }
    }

    /// CheckIfPhoneNumberIsOptedOut.
    public func isPhoneNumberOptedOut(_ phoneNumber: String) throws(BrokerError) -> Bool {
        guard Self.isOptOutNumber(phoneNumber) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
        }
        return snsSpace.sms.withLock { $0.optedOut.contains(phoneNumber) }
    }

    /// What AWS does when a recipient replies STOP: the number opts out of this account's texts. For tests; AWS has
    /// no API for it.
    public func optOut(phoneNumber: String) throws(BrokerError) {
        guard PhoneNumber.isE164(phoneNumber) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
        }
        snsSpace.sms.withLock { state in if !state.optedOut.contains(phoneNumber) { state.optedOut.append(phoneNumber) } }
    }

    /// ListPhoneNumbersOptedOut: 100 a page.
    public func listPhoneNumbersOptedOut(nextToken: String? = nil) throws(BrokerError) -> (phoneNumbers: [String], nextToken: String?) {
        let numbers = snsSpace.sms.withLock { $0.optedOut }
        let page = try Paging.page(numbers, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// OptInPhoneNumber: the number may be texted again. A number that had not opted out is no error.
    public func optInPhoneNumber(_ phoneNumber: String) throws(BrokerError) {
        guard Self.isOptOutNumber(phoneNumber) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: PhoneNumber Reason: input incorrectly formatted")
        }
        snsSpace.sms.withLock { $0.optedOut.removeAll { $0 == phoneNumber } }
    }

    private static func isOptOutNumber(_ text: String) -> Bool {
        let digits = text.hasPrefix("+") ? text.dropFirst() : Substring(text)
        return !digits.isEmpty && digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    // MARK: SMS sandbox

    /// The languages CreateSMSSandboxPhoneNumber sends its one-time password in.
    static let sandboxLanguages: Set<String> = ["en-US", "en-GB", "es-419", "es-ES", "de-DE", "fr-CA", "fr-FR", "it-IT",
                                                "ja-JP", "pt-BR", "kr-KR", "zh-CN", "zh-TW"]

    /// CreateSMSSandboxPhoneNumber: adds a destination number, `Pending`, and texts it a six-digit one-time password
    /// (in the outbox).
    public func createSMSSandboxPhoneNumber(_ phoneNumber: String, languageCode: String = "en-US") throws(BrokerError) {
        guard PhoneNumber.isE164(phoneNumber), phoneNumber.hasPrefix("+") else {
            throw BrokerError(.invalidParameter, "Invalid parameter: PhoneNumber Reason: \(phoneNumber) does not meet the E164 format")
        }
        guard Self.sandboxLanguages.contains(languageCode) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: LanguageCode")
        }
        let space = snsSpace
        let (password, id) = space.withIDs(seed: seedValue) { ids in
            (String(format: "%06d", Int(ids.next() % 1_000_000)), ids.messageID().string)
        }
        space.sms.withLock { state in
            state.sandbox.removeAll { $0.number == phoneNumber }
            state.sandbox.append((phoneNumber, .pending, password))
        }
        space.outbox.record(SNSOutboxMessage(kind: .notification, protocol: "sms", endpoint: phoneNumber, subscriptionArn: nil,
                                             topicArn: nil, messageId: id, timestamp: clock.now, subject: nil,
                                             body: "Your Amazon SNS verification code is: \(password)", attributes: [:]))
    }

    /// VerifySMSSandboxPhoneNumber: the one-time password texted to the number; `VerificationException` if it is
    /// not the one sent, `ResourceNotFound` for a number never added.
    public func verifySMSSandboxPhoneNumber(_ phoneNumber: String, oneTimePassword: String) throws(BrokerError) {
        try snsSpace.sms.withLock { (state) throws(BrokerError) in
            guard let index = state.sandbox.firstIndex(where: { $0.number == phoneNumber }) else {
                throw BrokerError(.snsResourceNotFound, "Phone number does not exist in the sandbox")
            }
            guard state.sandbox[index].password == oneTimePassword else {
                throw BrokerError(.verification, "Invalid one-time password")
            }
            state.sandbox[index].status = .verified
        }
    }

    /// ListSMSSandboxPhoneNumbers: the destination numbers added, with their status, 100 a page.
    public func listSMSSandboxPhoneNumbers(nextToken: String? = nil) throws(BrokerError)
        -> (phoneNumbers: [(phoneNumber: String, status: SMSSandboxPhoneNumberStatus)], nextToken: String?) {
        let numbers = snsSpace.sms.withLock { $0.sandbox.map { (phoneNumber: $0.number, status: $0.status) } }
        let page = try Paging.page(numbers, size: 100, nextToken: nextToken)
        return (page.items, page.nextToken)
    }

    /// DeleteSMSSandboxPhoneNumber: `ResourceNotFound` for a number that is not there.
    public func deleteSMSSandboxPhoneNumber(_ phoneNumber: String) throws(BrokerError) {
        try snsSpace.sms.withLock { (state) throws(BrokerError) in
            guard state.sandbox.contains(where: { $0.number == phoneNumber }) else {
                throw BrokerError(.snsResourceNotFound, "Phone number does not exist in the sandbox")
            }
            state.sandbox.removeAll { $0.number == phoneNumber }
        }
    }

    /// GetSMSSandboxAccountStatus: false. Broker's accounts are out of the sandbox, so a test can text any number;
    /// the sandbox calls still keep their numbers.
    public var isInSMSSandbox: Bool { false }

    /// ListOriginationNumbers: Broker's accounts own no origination numbers.
    public func listOriginationNumbers(nextToken: String? = nil) throws(BrokerError) -> (phoneNumbers: [String], nextToken: String?) {
        let page = try Paging.page([String](), size: 30, nextToken: nextToken)
        return (page.items, page.nextToken)
    }
}

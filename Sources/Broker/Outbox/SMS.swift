import Foundation

/// E.164 phone numbers as SNS checks them.
enum PhoneNumber {
    /// `+` (optional, as SNS accepts it), a non-zero digit, then up to 14 more digits.
    static func isE164(_ text: String) -> Bool {
        var digits = Substring(text)
        if digits.first == "+" { digits = digits.dropFirst() }
        guard (2...15).contains(digits.count), let first = digits.first, first != "0" else { return false }
        return digits.allSatisfy { $0.isASCII && $0.isNumber }
    }

    /// The number without the separators a subscription's endpoint may have.
    static func normalized(_ text: String) -> String {
        text.contains(where: { $0 == "." || $0 == "/" || $0 == "-" }) ? text.filter { $0 != "." && $0 != "/" && $0 != "-" } : text
    }

    /// A subscription's endpoint may group its digits with `.`, `/` or `-`, one at a time and never at either end.
    static func isSubscribable(_ text: String) -> Bool {
        let separators: Set<Character> = [".", "/", "-"]
        guard let first = text.first, let last = text.last, !separators.contains(first), !separators.contains(last) else {
            return false
        }
        var previousWasSeparator = false
        for character in text {
            let isSeparator = separators.contains(character)
            if isSeparator, previousWasSeparator { return false }
            previousWasSeparator = isSeparator
        }
        return isE164(String(text.filter { !separators.contains($0) }))
    }
}

/// An SMS sandbox destination's verification state.
public enum SMSSandboxPhoneNumberStatus: String, Sendable, Hashable {
    /// Added; its one-time password not yet given.
    case pending = "Pending"
    /// Verified: the account may text it while in the sandbox.
    case verified = "Verified"
}

/// The SMS settings and numbers of one account and region.
struct SMSState {
    var attributes: [String: String] = [:]
    /// Numbers that replied STOP, in the order they did.
    var optedOut: [String] = []
    var sandbox: [(number: String, status: SMSSandboxPhoneNumberStatus, password: String)] = []
}

/// SMS message attributes and account attributes: AWS's names and rules.
enum SMSAttributes {
    static let names: Set<String> = ["MonthlySpendLimit", "DeliveryStatusIAMRole", "DeliveryStatusSuccessSamplingRate",
                                     "DefaultSenderID", "DefaultSMSType", "UsageReportS3Bucket"]

    /// The publish's `AWS.SNS.SMS.*` (and `AWS.MM.SMS.*`) attributes, as the text message carries them.
    static func messageAttributes(_ attributes: [String: MessageAttributeValue]) -> [String: String] {
        var result: [String: String] = [:]
        for (name, value) in attributes where name.hasPrefix("AWS.SNS.SMS.") || name.hasPrefix("AWS.MM.SMS.") {
            result[name] = value.stringValue ?? ""
        }
        return result
    }

    static func validate(_ name: String, _ value: String) throws(BrokerError) {
        func invalid(_ reason: String) -> BrokerError {
            BrokerError(.invalidParameter, "Invalid parameter: \(name) Reason: \(reason)")
        }
        switch name {
        case "MonthlySpendLimit":
            guard let amount = Int(value), amount >= 0 else { throw invalid("must be a whole number of US dollars") }
        case "DeliveryStatusIAMRole":
            guard value.isEmpty || (value.hasPrefix("arn:") && value.split(separator: ":", omittingEmptySubsequences: false).count >= 6) else {
                throw invalid("must be the ARN of an IAM role")
            }
        case "DeliveryStatusSuccessSamplingRate":
            guard let rate = Int(value), (0...100).contains(rate) else { throw invalid("must be an integer from 0 to 100") }
        case "DefaultSenderID":
            guard (1...11).contains(value.count), value.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber) }),
                  value.contains(where: \.isLetter) else {
                throw invalid("must be 1 to 11 letters and digits, with at least one letter")
            }
        case "DefaultSMSType":
            guard value == "Promotional" || value == "Transactional" else { throw invalid("must be Promotional or Transactional") }
        case "UsageReportS3Bucket":
            guard (3...63).contains(value.count),
                  value.allSatisfy({ $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".") }) else {
                throw invalid("must be an S3 bucket name")
            }
        default:
            throw BrokerError(.invalidParameter, "Invalid parameter: \(name) Reason: not an SMS attribute; the attributes are \(names.sorted().joined(separator: ", "))")
        }
    }

    /// `AWS.SNS.SMS.SMSType` and `AWS.SNS.SMS.SenderID` are checked as their account-wide defaults are.
    static func validateMessageAttributes(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) {
        if let type = attributes["AWS.SNS.SMS.SMSType"]?.stringValue, type != "Promotional", type != "Transactional" {
            throw BrokerError(.invalidParameter, "Invalid parameter: MessageAttributes Reason: AWS.SNS.SMS.SMSType must be Promotional or Transactional")
        }
        if let sender = attributes["AWS.SNS.SMS.SenderID"]?.stringValue {
            do throws(BrokerError) { try validate("DefaultSenderID", sender) } catch {
                throw BrokerError(.invalidParameter, "Invalid parameter: MessageAttributes Reason: AWS.SNS.SMS.SenderID must be 1 to 11 letters and digits, with at least one letter")
            }
        }
    }
}

extension BrokerError.Code {
    /// `VerificationException`: a wrong one-time password for an SMS sandbox number.
    public static let verification = BrokerError.Code(name: "VerificationException")
}

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

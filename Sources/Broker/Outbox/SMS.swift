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

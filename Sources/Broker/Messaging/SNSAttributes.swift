import Foundation

/// SNS's message-attribute rules (String, String.Array, Number, Binary), with its error code and wording.
enum SNSAttributes {
    static func validate(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) -> Int {
        var size = 0
        for (name, value) in attributes {
            do throws(BrokerError) {
                try MessageValidation.validateAttributeName(name)
            } catch {
                // SNS's own per-message settings (`AWS.SNS.SMS.SMSType`, `AWS.SNS.MOBILE.APNS.TTL`, …) use the prefix
                // SQS reserves; checked only once the name has failed, so other names pay nothing for it.
                guard name.hasPrefix("AWS.SNS.") || name.hasPrefix("AWS.MM.") else {
                    throw BrokerError(.parameterValueInvalid, "The message attribute name '\(name)' is invalid.")
                }
            }
            let base = Self.baseType(value.dataType)
            // A custom type is the base type, a `.` and a label: `String.` has an empty label and no type at all.
            guard base == "String" || base == "Number" || base == "Binary",
                  value.dataType == base
                    || (value.dataType.hasPrefix(base + ".") && value.dataType.utf8.count > base.utf8.count + 1)
            else {
                throw BrokerError(.parameterValueInvalid,
                    "The message attribute '\(name)' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.")
            }
            if base == "Binary" {
                guard let data = value.binaryValue, !data.isEmpty else {
                    throw BrokerError(.parameterValueInvalid,
                        "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type 'Binary'.")
                }
                size += name.utf8.count + value.dataType.utf8.count + data.count
                continue
            }
            guard let text = value.stringValue, !text.isEmpty else {
                throw BrokerError(.parameterValueInvalid,
                    "The message attribute '\(name)' must contain non-empty message attribute value for message attribute type '\(base)'.")
            }
            if base == "Number", !MessageValidation.isValidNumber(text) {
                throw BrokerError(.parameterValueInvalid, "Could not cast message attribute '\(name)' value to number.")
            }
            // A `String.Array` value is not checked for being a JSON array: SNS takes any string, and a filter
            // policy reads one that is not an array as a single value, one that is not JSON as no value at all.
            size += name.utf8.count + value.dataType.utf8.count + text.utf8.count
        }
        return size
    }

    /// The type before its first `.` (the first non-empty part, as `split` finds it). The plain types, nearly every
    /// attribute, are their own base, without splitting.
    static func baseType(_ dataType: String) -> String {
        switch dataType {
        case "String", "Number", "Binary": dataType
        default: dataType.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
        }
    }
}

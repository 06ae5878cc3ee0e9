import Foundation

/// SQS's input rules for message bodies, attributes and ids, with AWS's error codes.
enum MessageValidation {
    static let maximumAttributes = 10

    /// XML 1.0's character set, which SQS accepts: #x9 | #xA | #xD | #x20–#xD7FF | #xE000–#xFFFD | #x10000–#x10FFFF.
    static func isAllowed(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
        default: false
        }
    }

    static func hasOnlyAllowedCharacters(_ text: String) -> Bool {
        // A Swift string is valid UTF-8 (no surrogates), so the only scalars to refuse are C0 controls other than
        // tab, LF and CR, and U+FFFE / U+FFFF (EF BF BE, EF BF BF). Eight bytes at a time: a word of printable
        // ASCII (no byte ≥ 0x80, none < 0x20) needs no closer look, and that is nearly every word of most bodies.
        var text = text
        return text.withUTF8 { bytes in
            let count = bytes.count
            var index = 0
            if let base = bytes.baseAddress {
                while index + 8 <= count {
                    let word = UnsafeRawPointer(base + index).loadUnaligned(as: UInt64.self)
                    let high: UInt64 = 0x8080_8080_8080_8080
                    // A byte below 0x20 sets its high bit in `word - 0x20…` only if its own high bit was clear.
                    let control = (word &- 0x2020_2020_2020_2020) & ~word & high
                    if (word & high) | control != 0 { break }
                    index += 8
                }
            }
            while index < count {
                let byte = bytes[index]
                if byte < 0x20 {
                    if byte != 0x09 && byte != 0x0A && byte != 0x0D { return false }
                } else if byte == 0xEF, index + 2 < count, bytes[index + 1] == 0xBF, bytes[index + 2] >= 0xBE {
                    return false
                }
                index += 1
            }
            return true
        }
    }

    static let invalidCharacters = BrokerError(.invalidMessageContents,
        "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF")

    /// Validates user message attributes; returns the bytes they add to the message size.
    ///
    /// `passedSNS`: every attribute either passed `SNSAttributes.validate` (a topic's copy) or is one Broker wrote
    /// (a string, such as a dead-letter copy's `ErrorCode`). SNS checks names exactly as SQS does, and numbers with
    /// the same rule, so those checks are skipped; what SQS alone refuses (more than 10 attributes, characters
    /// outside XML's set, type labels such as `String.` or `String.Array`'s) is still checked, so such a copy fails
    /// delivery as it would on AWS. An attribute that fails is checked again in full, for SQS's own error.
    static func validateAttributes(_ attributes: [String: MessageAttributeValue], passedSNS: Bool = false) throws(BrokerError) -> Int {
        if attributes.count > maximumAttributes {
            throw BrokerError(.invalidParameterValue,
                "Number of message attributes [\(attributes.count)] exceeds the allowed maximum [\(maximumAttributes)].")
        }
        guard !attributes.isEmpty else { return 0 }
        var size = 0
        for (name, value) in attributes {
            if !passedSNS || !passesWhatSNSDoesNotCheck(value) {
                try validateAttributeName(name)
                try validateAttributeValue(name: name, value)
            }
            size += name.utf8.count + value.dataType.utf8.count
            size += value.isBinary ? (value.binaryValue?.count ?? 0) : (value.stringValue?.utf8.count ?? 0)
        }
        return size
    }

    static func validateAttributeName(_ name: String) throws(BrokerError) {
        func invalid() -> BrokerError {
            BrokerError(.invalidParameterValue, "Message (user) attribute name '\(name)' is invalid. "
                + "Names can contain alphanumeric characters, hyphens, underscores and periods, must not start or end with a period, "
                + "must not contain consecutive periods, must not start with AWS. or Amazon., and can be up to 256 characters long.")
        }
        guard hasWellFormedNameBytes(name), !hasReservedPrefix(name) else { throw invalid() }
    }

    /// 1–256 bytes of letters, digits, `_`, `-` and `.`, with no period first, last or next to another: one pass
    /// over the bytes (SNS checks every attribute name of a publish this way, and SQS every name of a send). Letters
    /// and digits of any script count (AWS accepts `attr.1øßä`); a name with a non-ASCII byte is checked again by
    /// scalar, so ASCII names, nearly all of them, never decode one.
    private static func hasWellFormedNameBytes(_ name: String) -> Bool {
        let count = name.utf8.count
        guard count > 0, count <= 256 else { return false }
        let period = UInt8(ascii: ".")
        // Starting as if after a period makes a leading period a doubled one.
        var previous = period
        for byte in name.utf8 {
            if byte == period {
                if previous == period { return false }
            } else if byte >= 0x80 {
                return hasWellFormedNameScalars(name)
            } else if !(isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")) {
                return false
            }
            previous = byte
        }
        return previous != period
    }

    /// ``hasWellFormedNameBytes(_:)`` for a name with non-ASCII characters: those must be letters or digits.
    private static func hasWellFormedNameScalars(_ name: String) -> Bool {
        var previous: Unicode.Scalar = "."
        for scalar in name.unicodeScalars {
            if scalar == "." {
                if previous == "." { return false }
            } else if scalar.isASCII {
                let byte = UInt8(scalar.value)
                guard isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") else { return false }
            } else {
                guard scalar.properties.isAlphabetic || scalar.properties.numericType == .decimal else { return false }
            }
            previous = scalar
        }
        return previous != "."
    }

    /// `AWS.` or `Amazon.` in any case, compared byte by byte: the names are ASCII by now, and this runs for every
    /// attribute of every send and every fan-out copy.
    private static func hasReservedPrefix(_ name: String) -> Bool {
        func starts(with prefix: StaticString) -> Bool {
            let count = prefix.utf8CodeUnitCount
            guard name.utf8.count >= count else { return false }
            var index = 0
            for byte in name.utf8.prefix(count) {
                let expected = prefix.utf8Start[index]
                // ASCII letters differ from their other case only in bit 0x20; '.' is compared exactly.
                guard byte == expected || (expected != UInt8(ascii: ".") && byte | 0x20 == expected) else { return false }
                index += 1
            }
            return true
        }
        return starts(with: "aws.") || starts(with: "amazon.")
    }

    /// For an attribute SNS accepted: whether SQS's checks that SNS lacks pass too. Only the plain types qualify;
    /// anything else gets SQS's full check.
    private static func passesWhatSNSDoesNotCheck(_ value: MessageAttributeValue) -> Bool {
        switch value.dataType {
        case "String", "Number":
            guard let string = value.stringValue, !string.isEmpty else { return false }
            return hasOnlyAllowedCharacters(string)
        case "Binary":
            return value.binaryValue.map { !$0.isEmpty } ?? false
        default:
            return false
        }
    }

    static func validateAttributeValue(name: String, _ value: MessageAttributeValue) throws(BrokerError) {
        let type = value.dataType
        // The plain types pass the type checks below by construction; they are nearly every attribute sent.
        switch type {
        case "String", "Number": return try validateTextAttribute(name: name, value, base: type)
        case "Binary": return try validateBinaryAttribute(name: name, value)
        default: break
        }
        let base = type.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
        guard ["String", "Number", "Binary"].contains(base), type.utf8.count <= 256,
              type == base || type.dropFirst(base.count + 1).isEmpty == false,
              hasOnlyAllowedCharacters(type)
        else {
            throw BrokerError(.invalidParameterValue, "The type of message (user) attribute '\(name)' is invalid. "
                + "You must use only the following supported type prefixes: Binary, Number, String.")
        }
        if base == "Binary" { return try validateBinaryAttribute(name: name, value) }
        try validateTextAttribute(name: name, value, base: base)
    }

    private static func validateBinaryAttribute(name: String, _ value: MessageAttributeValue) throws(BrokerError) {
        guard let data = value.binaryValue, !data.isEmpty else {
            throw BrokerError(.invalidParameterValue,
                "Message (user) attribute '\(name)' must contain a non-empty value of type 'Binary'.")
        }
    }

    private static func validateTextAttribute(name: String, _ value: MessageAttributeValue, base: String) throws(BrokerError) {
        guard let string = value.stringValue, !string.isEmpty else {
            throw BrokerError(.invalidParameterValue,
                "Message (user) attribute '\(name)' must contain a non-empty value of type '\(base)'.")
        }
        // A value's characters are a parameter's value: InvalidParameterValue, where a body's are InvalidMessageContents.
        guard hasOnlyAllowedCharacters(string) else { throw BrokerError(.invalidParameterValue, invalidCharacters.message) }
        if base == "Number", !isValidNumber(string) {
            throw BrokerError(.invalidParameterValue,
                "Can't cast the value of message (user) attribute '\(name)' to a number.")
        }
    }

    static func validateSystemAttributes(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) {
        // Most sends have none; starting an iteration of an empty dictionary still costs a retain and an iterator.
        guard !attributes.isEmpty else { return }
        for (name, value) in attributes {
            guard name == MessageSystemAttributeName.awsTraceHeader.rawValue else {
                throw BrokerError(.invalidParameterValue, "Message system attribute name '\(name)' is invalid.")
            }
            guard value.dataType == "String", let string = value.stringValue, !string.isEmpty else {
                throw BrokerError(.invalidParameterValue,
                    "Message system attribute '\(name)' must contain a non-empty value of type 'String'.")
            }
            guard hasOnlyAllowedCharacters(string) else { throw invalidCharacters }
        }
    }

    /// SQS numbers: up to 38 significant digits, between -10^128 and 10^126.
    static func isValidNumber(_ text: String) -> Bool {
        var scalars = Substring(text.trimmingCharacters(in: .whitespaces))
        if scalars.first == "-" || scalars.first == "+" { scalars = scalars.dropFirst() }
        var mantissa = scalars
        var exponent = 0
        if let e = scalars.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = scalars[..<e]
            guard let value = Int(scalars[scalars.index(after: e)...]) else { return false }
            exponent = value
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        guard (1...2).contains(parts.count), parts.allSatisfy({ $0.allSatisfy(\.isASCII) && $0.allSatisfy(\.isNumber) }),
              parts.contains(where: { !$0.isEmpty })
        else { return false }
        let integerPart = parts[0]
        let fractionPart = parts.count == 2 ? parts[1] : ""
        let digits = (integerPart + fractionPart).drop { $0 == "0" }
        let significant = digits.reversed().drop { $0 == "0" }.count
        if significant == 0 { return true }
        guard significant <= 38 else { return false }
        // Decimal exponent of the leading significant digit.
        let leadingZerosInFraction = integerPart.allSatisfy { $0 == "0" } ? fractionPart.prefix { $0 == "0" }.count : 0
        let magnitude = integerPart.drop { $0 == "0" }.isEmpty
            ? exponent - leadingZerosInFraction - 1
            : exponent + integerPart.drop { $0 == "0" }.count - 1
        return magnitude < 126 || (magnitude == 126 && significant == 1 && digits.first == "1")
    }

    /// Batch entry ids: 1–80 characters of `[A-Za-z0-9_-]`, distinct; 1–10 entries. `id(i)` is the i-th entry's
    /// id: read in place rather than mapped into an array first (an allocation per batch call). `entryType` is the
    /// entry shape's name, which AWS's error for an empty batch names.
    static func validateBatch(count: Int, entryType: StaticString = "SendMessageBatchRequestEntry",
                              id entryId: (Int) -> String) throws(BrokerError) {
        if count == 0 {
            throw BrokerError(.emptyBatchRequest, "There should be at least one \(entryType) in the request.")
        }
        if count > 10 {
            throw BrokerError(.tooManyEntriesInBatchRequest,
                "Maximum number of entries per request are 10. You have sent \(count).")
        }
        // At most 10 ids: pairwise comparison beats hashing them into a set. Each id's bytes are folded into a
        // fingerprint while they are checked, and two ids are compared as strings only when their fingerprints
        // match (string comparison of distinct ids was most of a batch's validation).
        var fingerprints: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)
            = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
        try withUnsafeMutableBytes(of: &fingerprints) { raw throws(BrokerError) in
            let seen = raw.bindMemory(to: UInt64.self)
            for index in 0..<count {
                var id = entryId(index)
                var fingerprint: UInt64 = 0xcbf2_9ce4_8422_2325
                let valid = id.withUTF8 { bytes in
                    guard !bytes.isEmpty, bytes.count <= 80 else { return false }
                    for byte in bytes {
                        guard isAlphanumeric(byte) || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-")
                        else { return false }
                        fingerprint = (fingerprint ^ UInt64(byte)) &* 0x100_0000_01b3
                    }
                    return true
                }
                guard valid else {
                    throw BrokerError(.invalidBatchEntryId,
                        "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
                }
                for earlier in 0..<index where seen[earlier] == fingerprint && entryId(earlier) == id {
                    throw BrokerError(.batchEntryIdsNotDistinct, "Id \(id) repeated.")
                }
                seen[index] = fingerprint
            }
        }
    }

    /// A whole number of seconds in `range`, or AWS's InvalidParameterValue naming `parameter`.
    static func wholeSeconds(_ duration: Duration, parameter: String, range: ClosedRange<Int>, reason: String) throws(BrokerError) -> Int {
        let (seconds, attoseconds) = duration.components
        guard attoseconds == 0, let value = Int(exactly: seconds), range.contains(value) else {
            throw BrokerError.invalidParameter(parameter, value: formatted(duration), reason: reason)
        }
        return value
    }

    static func formatted(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        return attoseconds == 0 ? String(seconds) : String(duration.timeInterval)
    }

    @inline(__always)
    static func isAlphanumeric(_ byte: UInt8) -> Bool {
        (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
    }
}

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

    /// Checks the body, attributes and size of one message; returns its size in bytes as SQS counts it.
    static func validate(_ request: SendMessageRequest, maximumMessageSize: Int, checkBody: Bool = true) throws(BrokerError) -> Int {
        if request.body.isEmpty {
            throw BrokerError(.missingParameter, "The request must contain the parameter MessageBody.")
        }
        guard !checkBody || hasOnlyAllowedCharacters(request.body) else { throw invalidCharacters }
        var size = request.body.utf8.count
        size += try validateAttributes(request.messageAttributes)
        try validateSystemAttributes(request.messageSystemAttributes)
        if size > maximumMessageSize {
            throw BrokerError(.invalidParameterValue,
                "One or more parameters are invalid. Reason: Message must be shorter than \(maximumMessageSize) bytes.")
        }
        if let delay = request.delaySeconds {
            _ = try wholeSeconds(delay, parameter: "DelaySeconds", range: 0...900,
                                 reason: "DelaySeconds must be >= 0 and <= 900.")
        }
        return size
    }

    /// Validates user message attributes; returns the bytes they add to the message size.
    static func validateAttributes(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) -> Int {
        if attributes.count > maximumAttributes {
            throw BrokerError(.invalidParameterValue,
                "Number of message attributes [\(attributes.count)] exceeds the allowed maximum [\(maximumAttributes)].")
        }
        var size = 0
        for (name, value) in attributes {
            try validateAttributeName(name)
            try validateAttributeValue(name: name, value)
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
        guard !name.isEmpty, name.utf8.count <= 256,
              name.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: ".") }),
              !name.hasPrefix("."), !name.hasSuffix("."), !hasDoublePeriod(name)
        else { throw invalid() }
        if hasReservedPrefix(name) { throw invalid() }
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

    private static func hasDoublePeriod(_ name: String) -> Bool {
        var previous: UInt8 = 0
        for byte in name.utf8 {
            if byte == UInt8(ascii: "."), previous == byte { return true }
            previous = byte
        }
        return false
    }

    static func validateAttributeValue(name: String, _ value: MessageAttributeValue) throws(BrokerError) {
        let type = value.dataType
        let base = type.split(separator: ".", maxSplits: 1).first.map(String.init) ?? ""
        guard ["String", "Number", "Binary"].contains(base), type.utf8.count <= 256,
              type == base || type.dropFirst(base.count + 1).isEmpty == false,
              hasOnlyAllowedCharacters(type)
        else {
            throw BrokerError(.invalidParameterValue, "The type of message (user) attribute '\(name)' is invalid. "
                + "You must use only the following supported type prefixes: Binary, Number, String.")
        }
        if base == "Binary" {
            guard let data = value.binaryValue, !data.isEmpty else {
                throw BrokerError(.invalidParameterValue,
                    "Message (user) attribute '\(name)' must contain a non-empty value of type 'Binary'.")
            }
            return
        }
        guard let string = value.stringValue, !string.isEmpty else {
            throw BrokerError(.invalidParameterValue,
                "Message (user) attribute '\(name)' must contain a non-empty value of type '\(base)'.")
        }
        guard hasOnlyAllowedCharacters(string) else { throw invalidCharacters }
        if base == "Number", !isValidNumber(string) {
            throw BrokerError(.invalidParameterValue,
                "Can't cast the value of message (user) attribute '\(name)' to a number.")
        }
    }

    static func validateSystemAttributes(_ attributes: [String: MessageAttributeValue]) throws(BrokerError) {
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

    /// Batch entry ids: 1–80 characters of `[A-Za-z0-9_-]`, distinct; 1–10 entries.
    static func validateBatch(ids: some Collection<String>) throws(BrokerError) {
        if ids.isEmpty {
            throw BrokerError(.emptyBatchRequest, "There should be at least one SendMessageBatchRequestEntry in the request.")
        }
        if ids.count > 10 {
            throw BrokerError(.tooManyEntriesInBatchRequest,
                "Maximum number of entries per request are 10. You have sent \(ids.count).")
        }
        // At most 10 ids: pairwise comparison beats hashing them into a set.
        for (index, id) in zip(ids.indices, ids) {
            guard !id.isEmpty, id.utf8.count <= 80,
                  id.utf8.allSatisfy({ isAlphanumeric($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") })
            else {
                throw BrokerError(.invalidBatchEntryId,
                    "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
            }
            if ids[..<index].contains(id) {
                throw BrokerError(.batchEntryIdsNotDistinct, "Id \(id) repeated.")
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

/// AWS's checksums of a message: MD5 of the body, and of the attributes in AWS's binary encoding.
enum MessageDigest {
    static func md5Hex(of text: String) -> String {
        MD5.hash(text).hexString
    }

    /// `MD5OfMessageAttributes` (or of system attributes): per attribute sorted by name, length-prefixed name,
    /// length-prefixed type, a transport byte (1 string/number, 2 binary), length-prefixed value. Nil for none.
    static func md5OfAttributes(_ attributes: [String: MessageAttributeValue]) -> String? {
        guard !attributes.isEmpty else { return nil }
        var md5 = MD5()
        for name in attributes.keys.sorted(by: { $0.utf8.lexicographicallyPrecedes($1.utf8) }) {
            guard let value = attributes[name] else { continue }
            appendLengthPrefixed(Array(name.utf8), to: &md5)
            appendLengthPrefixed(Array(value.dataType.utf8), to: &md5)
            if value.isBinary {
                md5.update([2])
                appendLengthPrefixed(Array(value.binaryValue ?? Data()), to: &md5)
            } else {
                md5.update([1])
                appendLengthPrefixed(Array((value.stringValue ?? "").utf8), to: &md5)
            }
        }
        return md5.finalize().hexString
    }

    private static func appendLengthPrefixed(_ bytes: [UInt8], to md5: inout MD5) {
        let length = UInt32(truncatingIfNeeded: bytes.count)
        md5.update([UInt8(length >> 24), UInt8((length >> 16) & 0xFF), UInt8((length >> 8) & 0xFF), UInt8(length & 0xFF)])
        md5.update(bytes)
    }
}

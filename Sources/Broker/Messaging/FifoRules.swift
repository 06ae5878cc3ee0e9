/// Input rules specific to FIFO queues (and the FIFO parameters standard queues refuse).
enum FifoRules {
    /// Group, deduplication and receive-attempt ids: 1–128 characters, alphanumerics and ASCII punctuation.
    static func validateIdentifier(_ value: String, parameter: String) throws(BrokerError) {
        guard isValidIdentifier(value) else {
            throw BrokerError.invalidParameter(parameter, value: value,
                reason: "\(parameter) can only include alphanumeric and punctuation characters. 1 to 128 in length.")
        }
    }

    /// Checked on the string's contiguous bytes when it has them (every native string): two of these per FIFO
    /// send, and the byte-view iterator cost more than the check.
    private static func isValidIdentifier(_ value: String) -> Bool {
        func valid(_ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
            guard !bytes.isEmpty, bytes.count <= 128 else { return false }
            for byte in bytes where byte < 0x21 || byte > 0x7E { return false }
            return true
        }
        if let result = value.utf8.withContiguousStorageIfAvailable(valid) { return result }
        return Array(value.utf8).withUnsafeBufferPointer(valid)
    }

    static let missingGroupId = BrokerError(.missingParameter, "The request must contain the parameter MessageGroupId.")

    static let missingDeduplicationId = BrokerError(.invalidParameterValue,
        "The queue should either have ContentBasedDeduplication enabled or MessageDeduplicationId provided explicitly")
}

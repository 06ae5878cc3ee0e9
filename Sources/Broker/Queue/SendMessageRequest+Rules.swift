/// The rules a `SendMessageRequest` is checked against: the shared message rules (`MessageValidation`) and FIFO
/// identifiers (`FifoRules`) applied to SQS's request, kept with the queue so the shared vocabulary knows nothing of it.
extension MessageValidation {
    /// Checks the body, attributes and size of one message; returns its size in bytes as SQS counts it.
    /// `attributesPassedSNS`: see `validateAttributes`.
    static func validate(_ request: SendMessageRequest, maximumMessageSize: Int, checkBody: Bool = true,
                         attributesPassedSNS: Bool = false) throws(BrokerError) -> Int {
        if request.body.isEmpty {
            throw BrokerError(.missingParameter, "The request must contain the parameter MessageBody.")
        }
        guard !checkBody || hasOnlyAllowedCharacters(request.body) else { throw invalidCharacters }
        var size = request.body.utf8.count
        size += try validateAttributes(request.messageAttributes, passedSNS: attributesPassedSNS)
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
}

extension FifoRules {
    static func validateSend(_ request: SendMessageRequest, delaySeconds: Int?) throws(BrokerError) {
        guard let group = request.messageGroupId else { throw missingGroupId }
        try validateIdentifier(group, parameter: "MessageGroupId")
        if let id = request.messageDeduplicationId {
            try validateIdentifier(id, parameter: "MessageDeduplicationId")
        }
        if let delaySeconds, delaySeconds != 0 {
            throw BrokerError.invalidParameter("DelaySeconds", value: String(delaySeconds),
                reason: "The request include parameter that is not valid for this queue type.")
        }
    }

    static func rejectOnStandardQueue(_ request: SendMessageRequest) throws(BrokerError) {
        if let id = request.messageDeduplicationId {
            throw BrokerError.invalidParameter("MessageDeduplicationId", value: id,
                reason: "The request include parameter that is not valid for this queue type.")
        }
    }
}

import Foundation

/// Publish's input rules that hold with or without a topic (a publish to a topic, to a phone number, to a platform
/// endpoint), with SNS's error codes and wording. A topic adds its FIFO rules between the two halves.
enum PublishValidation {
    /// Message, size and subject. `attributeSize`: the attributes' size when the caller validated them already
    /// (PublishBatch does, for the whole request, before it publishes any entry).
    static func validateMessage(_ request: PublishRequest, attributeSize: Int? = nil) throws(BrokerError) {
        if request.message.isEmpty { throw BrokerError(.invalidParameter, "Invalid parameter: Empty message") }
        guard MessageValidation.hasOnlyAllowedCharacters(request.message) else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message contains invalid characters")
        }
        var size = request.message.utf8.count
        if let attributeSize { size += attributeSize } else { size += try SNSAttributes.validate(request.messageAttributes) }
        if size > TopicCore.maximumMessageSize { throw BrokerError(.invalidParameter, "Invalid parameter: Message too long") }
        if let subject = request.subject {
            guard !subject.isEmpty, subject.count <= 100,
                  subject.unicodeScalars.allSatisfy({ $0.value >= 0x20 && $0.value < 0x7F }),
                  let first = subject.unicodeScalars.first, first != " "
            else { throw BrokerError(.invalidParameter, "Invalid parameter: Subject") }
        }
    }

    /// The per-protocol bodies of `MessageStructure=json`, nil without a structure. A protocol's entry that is not a
    /// string (an object, say) is not that protocol's body: AWS ignores it, and that protocol gets `default`.
    static func structuredBodies(_ request: PublishRequest) throws(BrokerError) -> [String: String]? {
        guard let structure = request.messageStructure else { return nil }
        guard structure == "json" else { throw BrokerError(.invalidParameter, "Invalid parameter: MessageStructure") }
        guard let members = JSONValue.policyObject(request.message)?.members else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message Structure - JSON message body failed to parse")
        }
        // A repeated key counts once, with its last value, even when that one is not a string.
        var bodies: [String: String] = [:]
        for (key, value) in members { bodies[key] = value.stringValue }
        guard bodies["default"] != nil else {
            throw BrokerError(.invalidParameter, "Invalid parameter: Message Structure - No default entry in JSON message body")
        }
        return bodies
    }

    /// Both halves, for a publish with no topic.
    static func validate(_ request: PublishRequest) throws(BrokerError) -> [String: String]? {
        try validateMessage(request)
        return try structuredBodies(request)
    }
}

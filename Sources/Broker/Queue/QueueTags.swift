/// Tag rules of SQS queues.
enum QueueTags {
    static func validate(_ tags: [String: String]) throws(BrokerError) {
        for (key, value) in tags {
            guard !key.isEmpty, key.count <= 128 else {
                throw BrokerError(.invalidParameterValue, "Tag key must be between 1 and 128 characters: \(key)")
            }
            guard value.count <= 256 else {
                throw BrokerError(.invalidParameterValue, "Tag value must be at most 256 characters (key \(key)).")
            }
            guard TagRules.hasTagCharacters(key) else {
                throw BrokerError(.invalidParameterValue,
                    "Tag keys may contain letters, numbers, spaces and _ . : / = + - @ only: \(key)")
            }
            guard TagRules.hasTagCharacters(value) else {
                throw BrokerError(.invalidParameterValue,
                    "Tag values may contain letters, numbers, spaces and _ . : / = + - @ only (key \(key)).")
            }
        }
    }

    static func validateCount(_ count: Int, queue: String) throws(BrokerError) {
        if count > 50 { throw BrokerError(.invalidParameterValue, "Too many tags added for queue \(queue).") }
    }
}

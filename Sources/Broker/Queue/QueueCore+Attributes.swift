import Foundation

extension QueueCore {
    /// One attribute as GetQueueAttributes reports it.
    func awsValue(of name: QueueAttributeName, in state: QueueStateMachine) -> String? {
        switch name {
        case .approximateNumberOfMessages: String(state.visibleCount)
        case .approximateNumberOfMessagesNotVisible: String(state.inFlightCount)
        case .approximateNumberOfMessagesDelayed: String(state.delayedCount)
        case .createdTimestamp: String(Int64(createdAt.timeIntervalSince1970))
        case .lastModifiedTimestamp: String(Int64(state.lastModified.timeIntervalSince1970))
        case .queueArn: arn
        default: state.settings.awsValue(of: name)
        }
    }

    /// GetQueueAttributes for names already checked.
    func attributes(_ wanted: [QueueAttributeName]) throws(BrokerError) -> [String: String] {
        try read { state, _ in
            var result: [String: String] = [:]
            for name in wanted {
                if let value = awsValue(of: name, in: state) { result[name.rawValue] = value }
            }
            return result
        }
    }
}

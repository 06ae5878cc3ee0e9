import Foundation

/// `RedrivePolicy`: after `maxReceiveCount` receives, the next receive moves a message to the dead-letter queue.
public struct RedrivePolicy: Sendable, Hashable {
    /// The ARN of the dead-letter queue, in the same broker and of the same type (FIFO with FIFO).
    public var deadLetterTargetArn: String
    /// How many receives a message gets before the next one moves it to the DLQ: 1 – 1 000.
    public var maxReceiveCount: Int

    /// Creates a redrive policy.
    public init(deadLetterTargetArn: String, maxReceiveCount: Int) {
        self.deadLetterTargetArn = deadLetterTargetArn
        self.maxReceiveCount = maxReceiveCount
    }

    /// Parses AWS's JSON form, `{"deadLetterTargetArn":"arn:…","maxReceiveCount":"5"}` (count as number or string).
    /// An empty string means "remove the policy", as in SetQueueAttributes.
    public init(json: String) throws(BrokerError) {
        if json.trimmingCharacters(in: .whitespaces).isEmpty {
            self.init(deadLetterTargetArn: "", maxReceiveCount: 0)
            return
        }
        let invalid = BrokerError.invalidParameter("RedrivePolicy", value: json, reason: "Redrive policy is not a valid JSON map.")
        guard let object = JSONValue.policyObject(json) else { throw invalid }
        guard let arn = object["deadLetterTargetArn"]?.stringValue else {
            throw BrokerError.invalidParameter("RedrivePolicy", value: json, reason: "Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
        }
        let count: Int?
        switch object["maxReceiveCount"] {
        case .string(let text)?: count = Int(text)
        case let value?: count = value.wholeNumber
        case nil: count = nil
        }
        guard let count else {
            throw BrokerError.invalidParameter("RedrivePolicy", value: json, reason: "Redrive policy does not contain mandatory attribute: maxReceiveCount.")
        }
        for member in object.members ?? [] where member.key != "deadLetterTargetArn" && member.key != "maxReceiveCount" {
            throw BrokerError.invalidParameter("RedrivePolicy", value: json, reason: "Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
        }
        self.init(deadLetterTargetArn: arn, maxReceiveCount: count)
    }

    /// The JSON form AWS returns from GetQueueAttributes.
    public var json: String {
        JSONValue.object([
            ("deadLetterTargetArn", .string(deadLetterTargetArn)), ("maxReceiveCount", .number(JSONNumber(maxReceiveCount))),
        ]).jsonText
    }

    var isRemoval: Bool { deadLetterTargetArn.isEmpty }
}

/// `RedriveAllowPolicy`: which source queues may name this queue as their dead-letter queue.
public enum RedriveAllowPolicy: Sendable, Hashable {
    /// Any queue in the same account and region (the default).
    case allowAll
    /// No queue may use this one as a dead-letter queue.
    case denyAll
    /// Only the listed source queues (1 – 10 ARNs).
    case byQueue([String])

    /// Parses AWS's JSON form, `{"redrivePermission":"byQueue","sourceQueueArns":["arn:…"]}`.
    public init(json: String) throws(BrokerError) {
        func invalid(_ reason: String) -> BrokerError {
            BrokerError(.invalidAttributeValue, "Invalid value for the parameter RedriveAllowPolicy. Reason: \(reason)")
        }
        guard let object = JSONValue.policyObject(json) else { throw invalid("Redrive allow policy is not a valid JSON map.") }
        guard let permission = object["redrivePermission"]?.stringValue else {
            throw invalid("Redrive allow policy does not contain mandatory attribute: redrivePermission.")
        }
        let arns = object["sourceQueueArns"]
        switch permission {
        case "allowAll", "denyAll":
            guard arns == nil else { throw invalid("Only byQueue redrivePermission accepts sourceQueueArns.") }
            self = permission == "allowAll" ? .allowAll : .denyAll
        case "byQueue":
            let strings = arns?.elements?.compactMap(\.stringValue)
            guard let strings, strings.count == arns?.elements?.count, (1...10).contains(strings.count) else {
                throw invalid("sourceQueueArns must list between 1 and 10 queue ARNs when redrivePermission is byQueue.")
            }
            self = .byQueue(strings)
        default:
            throw invalid("redrivePermission must be one of allowAll, denyAll, byQueue.")
        }
    }

    /// The JSON form AWS returns from GetQueueAttributes.
    public var json: String {
        switch self {
        case .allowAll: return #"{"redrivePermission":"allowAll"}"#
        case .denyAll: return #"{"redrivePermission":"denyAll"}"#
        case .byQueue(let arns):
            return JSONValue.object([
                ("redrivePermission", .string("byQueue")), ("sourceQueueArns", .array(arns.map(JSONValue.string))),
            ]).jsonText
        }
    }

    /// Whether a queue with `sourceArn` may send its dead letters here.
    func allows(sourceArn: String) -> Bool {
        switch self {
        case .allowAll: true
        case .denyAll: false
        case .byQueue(let arns): arns.contains(sourceArn)
        }
    }
}

/// Checks a redrive policy against the broker's queues: the target exists, has the same type, and allows the source.
enum RedriveValidation {
    static func validate(_ attributes: QueueAttributes, sourceArn: String, sourceIsFifo: Bool,
                         resolve: (String) -> QueueCore?) throws(BrokerError) {
        guard let policy = attributes.redrivePolicy, !policy.isRemoval else { return }
        func invalid(_ reason: String) -> BrokerError {
            BrokerError.invalidParameter("RedrivePolicy", value: policy.json, reason: reason)
        }
        guard (1...1_000).contains(policy.maxReceiveCount) else {
            throw invalid("Invalid value for maxReceiveCount: \(policy.maxReceiveCount), valid values are from 1 to 1000 both inclusive.")
        }
        // A dead-letter queue lives in its source's account and region, though cores resolve ARNs in any.
        let home = sourceArn.prefix(through: sourceArn.lastIndex(of: ":") ?? sourceArn.startIndex)
        guard policy.deadLetterTargetArn.hasPrefix(home), let target = resolve(policy.deadLetterTargetArn) else {
            throw invalid("Dead letter target does not exist.")
        }
        guard target.isFifo == sourceIsFifo else {
            throw invalid("Dead-letter target must be of the same type as the source queue (FIFO or standard).")
        }
        let allowPolicy = try target.read { state, _ in state.settings.redriveAllowPolicy }
        if let allowPolicy, !allowPolicy.allows(sourceArn: sourceArn) {
            throw invalid("Queue \(target.arn) does not allow this queue to use it as a dead-letter queue (RedriveAllowPolicy).")
        }
    }
}

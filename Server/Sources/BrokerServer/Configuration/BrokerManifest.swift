@_spi(BrokerServer) import Broker
import Foundation

/// A manifest of the queues, topics and subscriptions to create in a broker, read from a JSON file: `broker-server`
/// applies one (`--config FILE`) before it serves, and an in-process test may apply the same file to its own broker.
/// The server's own settings are ``BrokerServer/Configuration``.
///
/// ```json
/// {
///   "region": "us-east-1",
///   "accountId": "000000000000",
///   "queues": [
///     { "name": "orders-dlq" },
///     { "name": "orders",
///       "attributes": { "VisibilityTimeout": 30,
///                       "RedrivePolicy": { "deadLetterTargetArn": "orders-dlq", "maxReceiveCount": 3 } },
///       "tags": { "team": "shop" } }
///   ],
///   "topics": [
///     { "name": "order-events",
///       "subscriptions": [
///         { "queue": "orders",
///           "attributes": { "RawMessageDelivery": true, "FilterPolicy": { "eventType": ["order.created"] } } }
///       ] }
///   ]
/// }
/// ```
///
/// Every key but the names is optional. Attribute names and values are AWS's; a value may be a string, a number, a
/// boolean, or a JSON object for the attributes that hold JSON (`RedrivePolicy`, `FilterPolicy`, `Policy`, …).
/// A `deadLetterTargetArn` or a subscription's `queue` may be a queue name instead of an ARN. Queues may be listed in
/// any order: redrive policies are set once every queue exists.
public struct BrokerManifest: Sendable {
    /// `region`: the region of ARNs; nil leaves the choice to the command line or Broker's default.
    public var region: String?
    /// `accountId`: the 12-digit account of URLs and ARNs.
    public var accountId: String?

    private let queues: [QueueEntry]
    private let topics: [TopicEntry]

    private struct QueueEntry: Sendable {
        let path: String
        let name: String
        var attributes: [String: String]
        let redrivePolicy: String?
        let tags: [String: String]
    }

    private struct TopicEntry: Sendable {
        let path: String
        let name: String
        let attributes: [String: String]
        let tags: [String: String]
        let subscriptions: [(path: String, queue: String, attributes: [String: String])]
    }

    /// An empty manifest: nothing is created.
    public init() {
        queues = []
        topics = []
    }

    /// Reads a manifest file.
    public init(contentsOf path: String) throws(BrokerManifestError) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw BrokerManifestError("cannot read \(path)")
        }
        try self.init(json: Array(data))
    }

    /// Parses a manifest document.
    public init(json bytes: [UInt8]) throws(BrokerManifestError) {
        let document: JSONValue
        do {
            document = try JSONParser.parse(bytes, options: .wire)
        } catch {
            throw BrokerManifestError("not valid JSON: \(error.reason) at byte \(error.offset)")
        }
        let root = try Self.object(document, "the document")
        try Self.allowOnly(["region", "accountId", "queues", "topics"], in: root, "the document")
        region = try root["region"].map { value throws(BrokerManifestError) in try Self.string(value, "region") }
        accountId = try root["accountId"].map { value throws(BrokerManifestError) in try Self.string(value, "accountId") }
        var queues: [QueueEntry] = []
        for (index, item) in try Self.array(root["queues"], "queues").enumerated() {
            let path = "queues[\(index)]"
            let entry = try Self.object(item, path)
            try Self.allowOnly(["name", "attributes", "tags"], in: entry, path)
            var attributes = try Self.stringMap(entry["attributes"], "\(path).attributes")
            let redrive = attributes.removeValue(forKey: "RedrivePolicy")
            queues.append(QueueEntry(path: path, name: try Self.string(entry["name"], "\(path).name"), attributes: attributes,
                                     redrivePolicy: redrive, tags: try Self.stringMap(entry["tags"], "\(path).tags")))
        }
        var topics: [TopicEntry] = []
        for (index, item) in try Self.array(root["topics"], "topics").enumerated() {
            let path = "topics[\(index)]"
            let entry = try Self.object(item, path)
            try Self.allowOnly(["name", "attributes", "tags", "subscriptions"], in: entry, path)
            var subscriptions: [(path: String, queue: String, attributes: [String: String])] = []
            for (offset, subscription) in try Self.array(entry["subscriptions"], "\(path).subscriptions").enumerated() {
                let subPath = "\(path).subscriptions[\(offset)]"
                let object = try Self.object(subscription, subPath)
                try Self.allowOnly(["queue", "attributes"], in: object, subPath)
                subscriptions.append((subPath, try Self.string(object["queue"], "\(subPath).queue"),
                                      try Self.stringMap(object["attributes"], "\(subPath).attributes")))
            }
            topics.append(TopicEntry(path: path, name: try Self.string(entry["name"], "\(path).name"),
                                     attributes: try Self.stringMap(entry["attributes"], "\(path).attributes"),
                                     tags: try Self.stringMap(entry["tags"], "\(path).tags"), subscriptions: subscriptions))
        }
        self.queues = queues
        self.topics = topics
    }

    /// Creates the queues, redrive policies, topics and subscriptions in `broker`. Broker's validation applies: an
    /// error names the entry and AWS's reason.
    public func apply(to broker: Broker) throws(BrokerManifestError) {
        func arn(_ reference: String) -> String {
            reference.hasPrefix("arn:") ? reference
                : "arn:aws:sqs:\(broker.configuration.region):\(broker.configuration.accountId):\(reference)"
        }
        func attempt(_ path: String, _ body: () throws(BrokerError) -> Void) throws(BrokerManifestError) {
            do throws(BrokerError) { try body() } catch { throw BrokerManifestError("\(path): \(error)") }
        }
        for queue in queues {
            try attempt(queue.path) { () throws(BrokerError) in
                try broker.createQueue(named: queue.name, awsAttributes: queue.attributes, tags: queue.tags)
            }
        }
        for queue in queues {
            guard let redrive = queue.redrivePolicy else { continue }
            try attempt("\(queue.path).attributes.RedrivePolicy") { () throws(BrokerError) in
                let policy = try RedrivePolicy(json: Self.resolvingTarget(redrive, arn))
                try broker.queue(named: queue.name).setAttributes(QueueAttributes(redrivePolicy: policy))
            }
        }
        for topic in topics {
            var created: Topic?
            try attempt(topic.path) { () throws(BrokerError) in
                created = try broker.createTopic(named: topic.name, awsAttributes: topic.attributes, tags: topic.tags)
            }
            guard let created else { continue }
            for subscription in topic.subscriptions {
                try attempt(subscription.path) { () throws(BrokerError) in
                    // SNS subscribes a queue that does not exist yet; a manifest naming one is a mistake.
                    let queue = try broker.queue(arn: arn(subscription.queue))
                    try created.subscribe(protocol: "sqs", endpoint: queue.arn, attributes: subscription.attributes)
                }
            }
        }
    }

    /// A redrive policy whose target is a queue name, rewritten with the ARN Broker's parser requires.
    private static func resolvingTarget(_ json: String, _ arn: (String) -> String) -> String {
        guard case .object(var members)? = try? JSONParser.parse(Array(json.utf8), options: .wire),
              let index = members.firstIndex(where: { $0.key == "deadLetterTargetArn" }),
              case .string(let target) = members[index].value
        else { return json }
        members[index].value = .string(arn(target))
        return JSONValue.object(members).jsonText
    }

    // MARK: Reading the document

    private static func object(_ value: JSONValue?, _ path: String) throws(BrokerManifestError) -> JSONValue {
        guard case .object? = value else { throw BrokerManifestError("\(path) must be an object") }
        return value ?? .null
    }

    private static func array(_ value: JSONValue?, _ path: String) throws(BrokerManifestError) -> [JSONValue] {
        switch value {
        case nil, .null?: return []
        case .array(let items)?: return items
        default: throw BrokerManifestError("\(path) must be a list")
        }
    }

    private static func string(_ value: JSONValue?, _ path: String) throws(BrokerManifestError) -> String {
        guard case .string(let text)? = value, !text.isEmpty else { throw BrokerManifestError("\(path) must be a non-empty string") }
        return text
    }

    private static func allowOnly(_ keys: Set<String>, in value: JSONValue, _ path: String) throws(BrokerManifestError) {
        guard case .object(let members) = value else { return }
        if let unknown = members.first(where: { !keys.contains($0.key) }) {
            throw BrokerManifestError("\(path) has an unknown key \"\(unknown.key)\" (allowed: \(keys.sorted().joined(separator: ", ")))")
        }
    }

    /// AWS's string map; numbers and booleans are written as AWS spells them, objects and lists as JSON text.
    private static func stringMap(_ value: JSONValue?, _ path: String) throws(BrokerManifestError) -> [String: String] {
        guard let value, value != .null else { return [:] }
        guard case .object(let members) = value else { throw BrokerManifestError("\(path) must be an object") }
        var map: [String: String] = [:]
        for (key, member) in members {
            switch member {
            case .string(let text): map[key] = text
            case .number(let number): map[key] = number.text
            case .bool(let flag): map[key] = flag ? "true" : "false"
            case .object, .array: map[key] = member.jsonText
            case .null: throw BrokerManifestError("\(path).\(key) must not be null")
            }
        }
        return map
    }
}

/// A manifest file that cannot be used, with where and why.
public struct BrokerManifestError: Error, Sendable, CustomStringConvertible {
    /// Where in the file, and what is wrong.
    public let description: String

    init(_ description: String) { self.description = description }
}

import Foundation

/// The queues of one account in one region, by name.
struct QueueRegistry {
    var queues: [String: QueueCore] = [:]
    /// When each name was last deleted: CreateQueue refuses it for 60 seconds.
    var deletedAt: [String: Date] = [:]
    var created: UInt64 = 0
}

/// One account in one region: its queues, topics, move tasks and handler deliveries. A space holds no reference to
/// a broker or to its directory, so views and directories never form a cycle.
final class BrokerSpace: Sendable {
    let registry = LockedState(QueueRegistry())
    let moveTasks = LockedState(MoveTaskRegistry())
    let topicRegistry = LockedState(TopicRegistry())
    let deliveries = DeliveryTracker()
    /// Seed of this space's identifiers: the broker's own for its first space, so a seeded single-account broker
    /// gives the same ids as it always has.
    let seed: UInt64

    init(seed: UInt64) { self.seed = seed }
}

/// Every account and region of one broker and its scoped views. Spaces are made on first use and live as long as
/// the directory, as an AWS account's region does.
final class BrokerDirectory: Sendable {
    struct Key: Hashable, Comparable {
        let accountId: String
        let region: String

        static func < (lhs: Key, rhs: Key) -> Bool { (lhs.accountId, lhs.region) < (rhs.accountId, rhs.region) }
    }

    private let spaces: LockedState<[Key: BrokerSpace]>
    private let seed: UInt64
    /// Where clients reach this broker's SNS (`http://127.0.0.1:4566` behind broker-server); nil: AWS's own
    /// `https://sns.<region>.amazonaws.com`. SubscribeURL and UnsubscribeURL links are made from it.
    let snsEndpoint = LockedState<String?>(nil)
    /// The journal of a durable broker; nil in memory.
    let store: BrokerStore?
    /// What a durable broker recovered at start.
    let recoveryReport: RecoveryReport?

    init(root: Key, seed: UInt64, store: BrokerStore? = nil, recoveryReport: RecoveryReport? = nil) {
        self.seed = seed
        self.store = store
        self.recoveryReport = recoveryReport
        spaces = LockedState([root: BrokerSpace(seed: seed)])
    }

    /// The space of an account and region, made if it is new.
    func space(for key: Key) -> BrokerSpace {
        spaces.withLock { spaces in
            if let space = spaces[key] { return space }
            let space = BrokerSpace(seed: seed ^ Self.hash(key))
            spaces[key] = space
            return space
        }
    }

    /// The space of an account and region if anything was ever made there.
    func existingSpace(for key: Key) -> BrokerSpace? { spaces.withLock { $0[key] } }

    var allSpaces: [BrokerSpace] { spaces.withLock { Array($0.values) } }
    var keys: [Key] { spaces.withLock { $0.keys.sorted() } }

    /// FNV-1a over the key, so each space's ids differ and stay the same from run to run for a seeded broker.
    private static func hash(_ key: Key) -> UInt64 {
        var hash: UInt64 = 0xCBF2_9CE4_8422_2325
        for byte in key.accountId.utf8 + [0] + key.region.utf8 {
            hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
        return hash
    }

    /// The account and region of `arn:<partition>:<service>:<region>:<account>:<name>`, and its name.
    static func parse(arn: String, service: String) -> (key: Key, name: String)? {
        let parts = arn.split(separator: ":", maxSplits: 5, omittingEmptySubsequences: false)
        guard parts.count == 6, parts[0] == "arn", parts[2] == service, isRegion(parts[3]), parts[4].utf8.count == 12,
              !parts[5].isEmpty else { return nil }
        return (Key(accountId: String(parts[4]), region: String(parts[3])), String(parts[5]))
    }

    /// Lowercase letters, digits and hyphens, starting with a letter: `us-east-1`, `eu-central-2`, `us-gov-west-1`.
    static func isRegion(_ text: some StringProtocol) -> Bool {
        guard let first = text.utf8.first, first >= UInt8(ascii: "a"), first <= UInt8(ascii: "z"), text.utf8.count <= 32 else {
            return false
        }
        return text.utf8.allSatisfy { ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9")) || $0 == UInt8(ascii: "-") }
    }
}

import Foundation

/// Which attributes a receive returns: AWS's `MessageAttributeNames` and `MessageSystemAttributeNames` rules.
struct AttributeSelection: Sendable {
    private let allUser: Bool
    private let userNames: Set<String>
    private let userPrefixes: [String]
    /// One bit per system attribute (a `Set` hashed each name's string on every check of every message).
    private let system: UInt32

    init(messageAttributeNames: [String], systemAttributeNames: [MessageSystemAttributeName]) {
        var allUser = false
        var names = Set<String>()
        var prefixes: [String] = []
        for name in messageAttributeNames {
            if name == "All" || name == ".*" || name == "*" {
                allUser = true
            } else if name.hasSuffix(".*") {
                // AWS matches the text before `.*` as a plain prefix, so `Hel.*` selects `Hello` and `Help.Me`.
                prefixes.append(String(name.dropLast(2)))
            } else {
                names.insert(name)
            }
        }
        self.allUser = allUser
        self.userNames = names
        self.userPrefixes = prefixes
        self.system = systemAttributeNames.contains(.all)
            ? ~0 : systemAttributeNames.reduce(0) { $0 | $1.bit }
    }

    var returnsAllUserAttributes: Bool { allUser }

    /// The common receive that names no message attributes at all.
    var returnsNoUserAttributes: Bool { !allUser && userNames.isEmpty && userPrefixes.isEmpty }

    func includesUser(_ name: String) -> Bool {
        allUser || userNames.contains(name) || userPrefixes.contains { name.hasPrefix($0) }
    }

    /// The selected system attributes, one bit per name.
    var systemBits: UInt32 { system }
}

/// A validated ReceiveMessage call.
struct ReceiveRequest: Sendable {
    let maxNumberOfMessages: Int
    /// Nil: the queue's visibility timeout.
    let visibilityTimeout: Int?
    /// Nil: the queue's `ReceiveMessageWaitTimeSeconds`.
    let waitTimeSeconds: Int?
    let selection: AttributeSelection
    let receiveRequestAttemptId: String?
}

/// A message picked by a receive, with the per-receive values captured under the queue's lock.
struct Delivery: Sendable {
    let message: StoredMessage
    let receiptNonce: UInt64
    let receiveCount: Int
    let firstReceivedAt: Date?
}

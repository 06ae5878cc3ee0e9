import Foundation
import Testing

@_spi(BrokerServer) @testable import Broker

struct QueueManagementTests {
    static let start = ManualClock.defaultStart
    static let startEpoch = String(Int64(ManualClock.defaultStart.timeIntervalSince1970))
    static let urlBase = "https://sqs.us-east-1.amazonaws.com/000000000000/"
    static let arnBase = "arn:aws:sqs:us-east-1:000000000000:"

    /// Yields (never sleeps) until `condition` holds or the bound is reached; returns whether it held.
    private static func yieldUntil(maxYields: Int = 100_000, _ condition: () -> Bool) async -> Bool {
        for _ in 0..<maxYields {
            if condition() { return true }
            await Task.yield()
        }
        return condition()
    }

    // MARK: - CreateQueue: defaults

    @Test func freshStandardQueueReportsExactlyAWSDefaultAttributes() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let attributes = try queue.attributes(["All"])
        #expect(attributes == [
            "VisibilityTimeout": "30",
            "DelaySeconds": "0",
            "MaximumMessageSize": "1048576",
            "MessageRetentionPeriod": "345600",
            "ReceiveMessageWaitTimeSeconds": "0",
            "SqsManagedSseEnabled": "true",
            "ApproximateNumberOfMessages": "0",
            "ApproximateNumberOfMessagesNotVisible": "0",
            "ApproximateNumberOfMessagesDelayed": "0",
            "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders",
            "CreatedTimestamp": Self.startEpoch,
            "LastModifiedTimestamp": Self.startEpoch,
        ])
        #expect(try queue.attributes() == attributes)  // All is the default
    }

    @Test func createdAndLastModifiedTimestampsAreEpochSecondsOfTheBrokersClock() throws {
        let (broker, clock) = makeBroker()
        clock.advance(by: .milliseconds(12_750))
        let queue = try broker.createQueue(named: "orders")
        let expected = String(Int64(ManualClock.defaultStart.timeIntervalSince1970) + 12)
        #expect(try queue.attributes(["CreatedTimestamp", "LastModifiedTimestamp"])
                == ["CreatedTimestamp": expected, "LastModifiedTimestamp": expected])
    }

    @Test func freshFifoQueueReportsFifoDefaults() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders.fifo", attributes: QueueAttributes(fifoQueue: true))
        #expect(queue.isFifo)
        let attributes = try queue.attributes()
        #expect(attributes["FifoQueue"] == "true")
        #expect(attributes["ContentBasedDeduplication"] == "false")
        #expect(attributes["DeduplicationScope"] == "queue")
        #expect(attributes["FifoThroughputLimit"] == "perQueue")
        #expect(attributes["VisibilityTimeout"] == "30")
        #expect(attributes["QueueArn"] == "arn:aws:sqs:us-east-1:000000000000:orders.fifo")
    }

    @Test func queueUrlAndArnHaveAWSForms() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "payment-queue")
        #expect(queue.name == "payment-queue")
        #expect(queue.url == "https://sqs.us-east-1.amazonaws.com/000000000000/payment-queue")
        #expect(queue.arn == "arn:aws:sqs:us-east-1:000000000000:payment-queue")
        #expect(!queue.isFifo)
    }

    @Test func queueUrlAndArnUseTheConfiguredRegionAccountAndHost() throws {
        let broker = Broker(
            configuration: BrokerConfiguration(region: "eu-west-1", accountId: "123456789012",
                                               queueURLHost: "http://localhost:4566", seed: 1),
            clock: ManualClock())
        let queue = try broker.createQueue(named: "orders")
        #expect(queue.url == "http://localhost:4566/123456789012/orders")
        #expect(queue.arn == "arn:aws:sqs:eu-west-1:123456789012:orders")
        #expect(try broker.queue(arn: "arn:aws:sqs:eu-west-1:123456789012:orders") == queue)
        #expect(try broker.queue(url: "https://sqs.eu-west-1.amazonaws.com/123456789012/orders") == queue)
        expectBrokerError(.queueDoesNotExist) { _ = try broker.queue(arn: "arn:aws:sqs:us-east-1:123456789012:orders") }
    }

    @Test func getQueueAttributesReturnsOnlyTheNamedAttributes() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        #expect(try queue.attributes(["VisibilityTimeout", "QueueArn"])
                == ["VisibilityTimeout": "30", "QueueArn": "arn:aws:sqs:us-east-1:000000000000:orders"])
        // Attributes that are not set are left out rather than reported empty.
        #expect(try queue.attributes(["Policy", "RedrivePolicy", "FifoQueue"]) == [:])
    }

    @Test func getQueueAttributesWithAnUnknownNameThrowsInvalidAttributeName() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let error = expectBrokerError(.invalidAttributeName) { _ = try queue.attributes(["VisibilityTimeout", "Colour"]) }
        #expect(error?.message.contains("Colour") == true)
    }

    // MARK: - CreateQueue: idempotence

    @Test func createQueueWithTheSameAttributesReturnsTheSameQueue() throws {
        let (broker, clock) = makeBroker()
        let first = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "60", "DelaySeconds": "5"])
        clock.advance(by: .seconds(10))
        let second = try broker.createQueue(named: "orders", awsAttributes: ["DelaySeconds": "5", "VisibilityTimeout": "60"])
        let typed = try broker.createQueue(named: "orders",
                                           attributes: QueueAttributes(visibilityTimeout: .seconds(60), delaySeconds: .seconds(5)))
        #expect(first == second)
        #expect(first == typed)
        #expect(broker.queues == [first])
        // The existing queue is returned unchanged.
        #expect(try second.attributes(["CreatedTimestamp"]) == ["CreatedTimestamp": Self.startEpoch])
    }

    @Test func createQueueNamingAnAttributeAtItsCurrentDefaultReturnsTheSameQueue() throws {
        let (broker, _) = makeBroker()
        let first = try broker.createQueue(named: "orders")
        let second = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "30", "DelaySeconds": "0"])
        #expect(first == second)
    }

    @Test func createQueueWithDifferentSecondsAttributeThrowsQueueNameExists() throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "60"])
        let error = expectBrokerError(.queueNameExists) {
            try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "61"])
        }
        #expect(error?.message == "A queue already exists with the same name and a different value for attribute VisibilityTimeout")
        #expect(error?.code.queryCode == "QueueAlreadyExists")
    }

    @Test(arguments: [
        ("VisibilityTimeout", "60", "61"),
        ("DelaySeconds", "5", "0"),
        ("MaximumMessageSize", "2048", "1048576"),
        ("MessageRetentionPeriod", "120", "345600"),
        ("ReceiveMessageWaitTimeSeconds", "20", "10"),
        ("Policy", #"{"Version":"2012-10-17"}"#, #"{"Version":"2008-10-17"}"#),
        ("KmsMasterKeyId", "alias/one", "alias/two"),
    ])
    func createQueueWithADifferentAttributeValueThrowsQueueNameExistsNamingIt(
        attribute: String, existing: String, requested: String
    ) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders", awsAttributes: [attribute: existing])
        let error = expectBrokerError(.queueNameExists) {
            try broker.createQueue(named: "orders", awsAttributes: [attribute: requested])
        }
        #expect(error?.message.hasSuffix("attribute \(attribute)") == true)
        // The existing queue is untouched.
        #expect(try broker.queue(named: "orders") == queue)
        #expect(try queue.attributes([attribute]) == [attribute: existing])
    }

    @Test func createQueueWithDifferentFifoAttributeOnAFifoQueueThrowsQueueNameExists() throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true"])
        let error = expectBrokerError(.queueNameExists) {
            try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true", "ContentBasedDeduplication": "true"])
        }
        #expect(error?.message.hasSuffix("attribute ContentBasedDeduplication") == true)
    }

    // MARK: - CreateQueue: names

    @Test(arguments: ["a", String(repeating: "a", count: 80), "a-b_C9", "ORDERS", "0", "-", "_"])
    func createQueueAcceptsValidStandardName(_ name: String) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: name)
        #expect(queue.name == name)
        #expect(queue.url == Self.urlBase + name)
        #expect(try broker.getQueueUrl(queueName: name) == queue.url)
    }

    @Test(arguments: ["", String(repeating: "a", count: 81), "a.b", "a b", "ä", "x.fifo", "a/b", "a:b", "orders!"])
    func createQueueWithInvalidStandardNameThrowsInvalidParameterValue(_ name: String) {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) { try broker.createQueue(named: name) }
        #expect(broker.queues.isEmpty)
    }

    @Test func fifoQueueNameSuffixCountsTowardTheEightyCharacters() throws {
        let (broker, _) = makeBroker()
        let longest = String(repeating: "a", count: 75) + ".fifo"
        let queue = try broker.createQueue(named: longest, attributes: QueueAttributes(fifoQueue: true))
        #expect(queue.name.count == 80)
        #expect(queue.isFifo)
        let tooLong = String(repeating: "a", count: 76) + ".fifo"
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: tooLong, attributes: QueueAttributes(fifoQueue: true))
        }
    }

    @Test func createQueueWithFifoQueueTrueWithoutFifoSuffixThrowsInvalidParameterValue() {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(fifoQueue: true))
        }
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: "orders", awsAttributes: ["FifoQueue": "true"])
        }
        #expect(broker.queues.isEmpty)
    }

    @Test(arguments: [".fifo", "a.b.fifo", "a b.fifo", "ä.fifo", "orders.FIFO", "ordersfifo"])
    func createFifoQueueWithInvalidNameThrowsInvalidParameterValue(_ name: String) {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) {
            try broker.createQueue(named: name, attributes: QueueAttributes(fifoQueue: true))
        }
    }

    @Test(arguments: ["a.fifo", "a-b_C9.fifo"])
    func createFifoQueueAcceptsValidName(_ name: String) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: name, awsAttributes: ["FifoQueue": "true"])
        #expect(queue.isFifo)
        #expect(queue.arn == Self.arnBase + name)
    }

    // MARK: - Lookups

    @Test func getQueueUrlReturnsTheUrlOfTheNamedQueue() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        #expect(try broker.getQueueUrl(queueName: "orders") == queue.url)
    }

    @Test func queueLookupsByNameUrlArnAndReferenceFindTheSameQueue() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        try broker.createQueue(named: "payments")
        #expect(try broker.queue(named: "orders") == queue)
        #expect(try broker.queue(url: queue.url) == queue)
        #expect(try broker.queue(arn: queue.arn) == queue)
        #expect(try broker.queue("orders") == queue)
        #expect(try broker.queue(queue.url) == queue)
        #expect(try broker.queue(queue.arn) == queue)
    }

    @Test func queueLookupByUrlIgnoresTheHostAsSDKsRewriteIt() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        #expect(try broker.queue(url: "http://localhost:4566/000000000000/orders") == queue)
        #expect(try broker.queue("http://sqs.us-east-1.localhost.localstack.cloud:4566/000000000000/orders") == queue)
    }

    enum UnknownLookup: String, CaseIterable, Sendable {
        case getQueueUrl, byName, byUrl, byUrlOfAnotherAccount, byArn, byArnOfAnotherRegion, byArnOfAnotherAccount
        case byReferenceName, byReferenceUrl, byReferenceArn, byMalformedUrl, byMalformedArn

        func run(_ broker: Broker) throws {
            switch self {
            case .getQueueUrl: _ = try broker.getQueueUrl(queueName: "missing")
            case .byName: _ = try broker.queue(named: "missing")
            case .byUrl: _ = try broker.queue(url: QueueManagementTests.urlBase + "missing")
            case .byUrlOfAnotherAccount: _ = try broker.queue(url: "https://sqs.us-east-1.amazonaws.com/111111111111/orders")
            case .byArn: _ = try broker.queue(arn: QueueManagementTests.arnBase + "missing")
            case .byArnOfAnotherRegion: _ = try broker.queue(arn: "arn:aws:sqs:eu-west-1:000000000000:orders")
            case .byArnOfAnotherAccount: _ = try broker.queue(arn: "arn:aws:sqs:us-east-1:111111111111:orders")
            case .byReferenceName: _ = try broker.queue("missing")
            case .byReferenceUrl: _ = try broker.queue(QueueManagementTests.urlBase + "missing")
            case .byReferenceArn: _ = try broker.queue(QueueManagementTests.arnBase + "missing")
            case .byMalformedUrl: _ = try broker.queue(url: "orders")
            case .byMalformedArn: _ = try broker.queue(arn: "arn:aws:sns:us-east-1:000000000000:orders")
            }
        }
    }

    @Test(arguments: UnknownLookup.allCases)
    func lookupOfAnUnknownQueueThrowsQueueDoesNotExist(_ lookup: UnknownLookup) throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders")
        let error = expectBrokerError(.queueDoesNotExist) { try lookup.run(broker) }
        #expect(error?.message == "The specified queue does not exist.")
    }

    @Test func queueNamesAreCaseSensitive() throws {
        let (broker, _) = makeBroker()
        let upper = try broker.createQueue(named: "Orders")
        expectBrokerError(.queueDoesNotExist) { _ = try broker.queue(named: "orders") }
        expectBrokerError(.queueDoesNotExist) { _ = try broker.getQueueUrl(queueName: "ORDERS") }
        let lower = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "99"])
        #expect(upper != lower)
        #expect(try broker.queue(named: "Orders") == upper)
        #expect(try broker.queue(named: "orders") == lower)
        #expect(try upper.attributes(["VisibilityTimeout"]) == ["VisibilityTimeout": "30"])
        #expect(try broker.listQueues().queueUrls == [Self.urlBase + "Orders", Self.urlBase + "orders"])
    }

    // MARK: - ListQueues

    @Test func listQueuesReturnsTheUrlsOfQueuesWhoseNameStartsWithThePrefix() throws {
        let (broker, _) = makeBroker()
        for name in ["payments", "orders-dlq", "Orders-upper", "orders"] { try broker.createQueue(named: name) }
        #expect(try broker.listQueues(prefix: "orders").queueUrls == [Self.urlBase + "orders", Self.urlBase + "orders-dlq"])
        #expect(try broker.listQueues(prefix: "Orders").queueUrls == [Self.urlBase + "Orders-upper"])
        #expect(try broker.listQueues(prefix: "orders-").queueUrls == [Self.urlBase + "orders-dlq"])
        #expect(try broker.listQueues(prefix: "x").queueUrls == [])
        #expect(try broker.listQueues().queueUrls.count == 4)
        #expect(try broker.listQueues(prefix: "orders").nextToken == nil)
    }

    @Test(arguments: [0, 1_001, -1])
    func listQueuesWithMaxResultsOutsideOneToThousandThrowsInvalidParameterValue(_ maxResults: Int) throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders")
        expectBrokerError(.invalidParameterValue) { _ = try broker.listQueues(maxResults: maxResults) }
    }

    @Test(arguments: [1, 1_000])
    func listQueuesAcceptsMaxResultsAtBothEdges(_ maxResults: Int) throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders")
        #expect(try broker.listQueues(maxResults: maxResults).queueUrls == [Self.urlBase + "orders"])
    }

    @Test(arguments: [1, 3, 7, 25, 100])
    func listQueuesPaginationWithNextTokenVisitsEveryQueueExactlyOnce(pageSize: Int) throws {
        let (broker, _) = makeBroker()
        let names = (0..<25).map { "queue-\($0)" }
        for name in names.shuffled() { try broker.createQueue(named: name) }
        var seen: [String] = []
        var token: String?
        var pages = 0
        repeat {
            let page = try broker.listQueues(maxResults: pageSize, nextToken: token)
            #expect(page.queueUrls.count <= pageSize)
            seen += page.queueUrls
            token = page.nextToken
            pages += 1
        } while token != nil && pages <= 100
        #expect(seen.count == names.count)
        #expect(Set(seen) == Set(names.map { Self.urlBase + $0 }))
        #expect(pages == (names.count + pageSize - 1) / pageSize)
    }

    @Test func listQueuesPaginationHonoursThePrefix() throws {
        let (broker, _) = makeBroker()
        for index in 0..<5 {
            try broker.createQueue(named: "a-\(index)")
            try broker.createQueue(named: "b-\(index)")
        }
        var seen: [String] = []
        var token: String?
        repeat {
            let page = try broker.listQueues(prefix: "b-", maxResults: 2, nextToken: token)
            seen += page.queueUrls
            token = page.nextToken
        } while token != nil && seen.count <= 10
        #expect(seen == (0..<5).map { Self.urlBase + "b-\($0)" })
    }

    @Test func listQueuesWithoutMaxResultsReturnsNoNextTokenAndAtMostAThousandUrls() throws {
        let (broker, _) = makeBroker()
        for index in 0..<1_001 { try broker.createQueue(named: "queue-\(index)") }
        let page = try broker.listQueues()
        #expect(page.queueUrls.count == 1_000)
        #expect(page.nextToken == nil)
        #expect(try broker.listQueues(prefix: "queue-1").nextToken == nil)
    }

    @Test func listQueuesOmitsDeletedQueues() throws {
        let (broker, _) = makeBroker()
        try broker.createQueue(named: "orders")
        let doomed = try broker.createQueue(named: "orders-old")
        try broker.deleteQueue(doomed)
        #expect(try broker.listQueues().queueUrls == [Self.urlBase + "orders"])
        #expect(broker.queues.map(\.name) == ["orders"])
    }

    // MARK: - DeleteQueue

    @Test func callsOnTheHandleOfADeletedQueueThrowQueueDoesNotExist() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        try queue.sendMessage("hello")
        try broker.deleteQueue(queue)

        expectBrokerError(.queueDoesNotExist) { try queue.sendMessage("again") }
        expectBrokerError(.queueDoesNotExist) {
            _ = try queue.sendMessageBatch([.init(id: "a", body: "again"), .init(id: "b", body: "and again")])
        }
        await expectBrokerErrorAsync(.queueDoesNotExist) { _ = try await queue.receiveMessages() }
        await expectBrokerErrorAsync(.queueDoesNotExist) { _ = try await queue.receiveMessages(waitTimeSeconds: .seconds(20)) }
        expectBrokerError(.queueDoesNotExist) { _ = try queue.attributes() }
        expectBrokerError(.queueDoesNotExist) { _ = try queue.configuration() }
        expectBrokerError(.queueDoesNotExist) { _ = try queue.statistics() }
        expectBrokerError(.queueDoesNotExist) { try queue.setAttributes(awsAttributes: ["VisibilityTimeout": "10"]) }
        expectBrokerError(.queueDoesNotExist) { try queue.purge() }
        expectBrokerError(.queueDoesNotExist) { try queue.tag(["team": "a"]) }
        expectBrokerError(.queueDoesNotExist) { try queue.untag(["team"]) }
        expectBrokerError(.queueDoesNotExist) { _ = try queue.tags() }
        expectBrokerError(.queueDoesNotExist) { try broker.deleteQueue(queue) }
        expectBrokerError(.queueDoesNotExist) { try broker.deleteQueue("orders") }
        expectBrokerError(.queueDoesNotExist) { _ = try broker.queue(named: "orders") }
        expectBrokerError(.queueDoesNotExist) { _ = try broker.getQueueUrl(queueName: "orders") }
    }

    enum DeleteReference: String, CaseIterable, Sendable {
        case name, url, arn

        func reference(for queue: Queue) -> String {
            switch self {
            case .name: queue.name
            case .url: queue.url
            case .arn: queue.arn
            }
        }
    }

    @Test(arguments: DeleteReference.allCases)
    func deleteQueueByReferenceDeletesTheQueue(_ kind: DeleteReference) throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        try broker.deleteQueue(kind.reference(for: queue))
        expectBrokerError(.queueDoesNotExist) { _ = try queue.attributes() }
        expectBrokerError(.queueDoesNotExist) { try broker.deleteQueue(kind.reference(for: queue)) }
        #expect(broker.queues.isEmpty)
    }

    @Test func recreatingADeletedQueueWithinSixtySecondsThrowsQueueDeletedRecently() throws {
        let (broker, clock) = makeBroker()
        try broker.deleteQueue(try broker.createQueue(named: "orders"))
        expectBrokerError(.queueDeletedRecently) { try broker.createQueue(named: "orders") }
        clock.advance(by: .seconds(59))
        let error = expectBrokerError(.queueDeletedRecently) { try broker.createQueue(named: "orders") }
        #expect(error?.code.queryCode == "AWS.SimpleQueueService.QueueDeletedRecently")
        // The name is still free for lookups: the queue does not exist.
        expectBrokerError(.queueDoesNotExist) { _ = try broker.queue(named: "orders") }
        // Other names are not affected.
        try broker.createQueue(named: "orders-2")
    }

    @Test func recreatingADeletedQueueAfterSixtySecondsCreatesANewQueue() throws {
        let (broker, clock) = makeBroker()
        let old = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "90"])
        try broker.deleteQueue(old)
        clock.advance(by: .seconds(60))
        let new = try broker.createQueue(named: "orders")
        #expect(new != old)
        #expect(new.url == old.url)
        #expect(try broker.queue(named: "orders") == new)
        #expect(try new.attributes(["VisibilityTimeout"]) == ["VisibilityTimeout": "30"])
        let createdAt = String(Int64(Self.start.timeIntervalSince1970) + 60)
        #expect(try new.attributes(["CreatedTimestamp"]) == ["CreatedTimestamp": createdAt])
        // The old handle names the old incarnation, which stays gone.
        expectBrokerError(.queueDoesNotExist) { _ = try old.attributes() }
        expectBrokerError(.queueDoesNotExist) { try broker.deleteQueue(old) }
        #expect(try broker.queue(named: "orders") == new)
    }

    @Test func longPollWaitingOnADeletedQueueReturnsEmpty() async throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let poll = Task { try await queue.receiveMessages(waitTimeSeconds: .seconds(20)) }
        #expect(await Self.yieldUntil { clock.pendingWakeUps > 0 })
        try broker.deleteQueue(queue)
        let messages = try await poll.value
        #expect(messages.isEmpty)
        #expect(clock.now == Self.start)  // returned at once, not at the wait's deadline
        #expect(clock.pendingWakeUps == 0)
    }

    // MARK: - Attribute ranges

    enum RangedAttribute: String, CaseIterable, Sendable {
        case visibilityTimeout = "VisibilityTimeout"
        case delaySeconds = "DelaySeconds"
        case maximumMessageSize = "MaximumMessageSize"
        case messageRetentionPeriod = "MessageRetentionPeriod"
        case receiveMessageWaitTimeSeconds = "ReceiveMessageWaitTimeSeconds"

        var range: ClosedRange<Int> {
            switch self {
            case .visibilityTimeout: 0...43_200
            case .delaySeconds: 0...900
            case .maximumMessageSize: 1_024...1_048_576
            case .messageRetentionPeriod: 60...1_209_600
            case .receiveMessageWaitTimeSeconds: 0...20
            }
        }

        func typed(_ value: Int) -> QueueAttributes {
            switch self {
            case .visibilityTimeout: QueueAttributes(visibilityTimeout: .seconds(value))
            case .delaySeconds: QueueAttributes(delaySeconds: .seconds(value))
            case .maximumMessageSize: QueueAttributes(maximumMessageSize: value)
            case .messageRetentionPeriod: QueueAttributes(messageRetentionPeriod: .seconds(value))
            case .receiveMessageWaitTimeSeconds: QueueAttributes(receiveMessageWaitTimeSeconds: .seconds(value))
            }
        }

        func typedValue(in attributes: QueueAttributes) -> Int? {
            switch self {
            case .visibilityTimeout: attributes.visibilityTimeout.map { Int($0.components.seconds) }
            case .delaySeconds: attributes.delaySeconds.map { Int($0.components.seconds) }
            case .maximumMessageSize: attributes.maximumMessageSize
            case .messageRetentionPeriod: attributes.messageRetentionPeriod.map { Int($0.components.seconds) }
            case .receiveMessageWaitTimeSeconds: attributes.receiveMessageWaitTimeSeconds.map { Int($0.components.seconds) }
            }
        }

        var inside: [Int] { [range.lowerBound, range.upperBound] }
        var outside: [Int] { [range.lowerBound - 1, range.upperBound + 1] }
    }

    @Test(arguments: RangedAttribute.allCases)
    func attributeAtBothEdgesOfItsRangeIsAcceptedAsAnAWSStringMap(_ attribute: RangedAttribute) throws {
        let (broker, _) = makeBroker()
        for (index, value) in attribute.inside.enumerated() {
            let queue = try broker.createQueue(named: "created-\(index)", awsAttributes: [attribute.rawValue: String(value)])
            #expect(try queue.attributes([attribute.rawValue]) == [attribute.rawValue: String(value)])
            let set = try broker.createQueue(named: "set-\(index)")
            try set.setAttributes(awsAttributes: [attribute.rawValue: String(value)])
            #expect(try set.attributes([attribute.rawValue]) == [attribute.rawValue: String(value)])
        }
    }

    @Test(arguments: RangedAttribute.allCases)
    func attributeAtBothEdgesOfItsRangeIsAcceptedTyped(_ attribute: RangedAttribute) throws {
        let (broker, _) = makeBroker()
        for (index, value) in attribute.inside.enumerated() {
            let queue = try broker.createQueue(named: "created-\(index)", attributes: attribute.typed(value))
            #expect(attribute.typedValue(in: try queue.configuration()) == value)
            let set = try broker.createQueue(named: "set-\(index)")
            try set.setAttributes(attribute.typed(value))
            #expect(attribute.typedValue(in: try set.configuration()) == value)
            #expect(try set.attributes([attribute.rawValue]) == [attribute.rawValue: String(value)])
        }
    }

    @Test(arguments: RangedAttribute.allCases)
    func attributeOutsideItsRangeThrowsInvalidAttributeValueAsAnAWSStringMap(_ attribute: RangedAttribute) throws {
        let (broker, _) = makeBroker()
        let existing = try broker.createQueue(named: "existing")
        let before = try existing.attributes()
        for value in attribute.outside {
            let error = expectBrokerError(.invalidAttributeValue) {
                try broker.createQueue(named: "orders", awsAttributes: [attribute.rawValue: String(value)])
            }
            #expect(error?.message.contains(attribute.rawValue) == true)
            expectBrokerError(.invalidAttributeValue) {
                try existing.setAttributes(awsAttributes: [attribute.rawValue: String(value)])
            }
        }
        #expect(try broker.listQueues().queueUrls == [existing.url])
        #expect(try existing.attributes() == before)
    }

    @Test(arguments: RangedAttribute.allCases)
    func attributeOutsideItsRangeThrowsInvalidAttributeValueTyped(_ attribute: RangedAttribute) throws {
        let (broker, _) = makeBroker()
        let existing = try broker.createQueue(named: "existing")
        let before = try existing.attributes()
        for value in attribute.outside {
            expectBrokerError(.invalidAttributeValue) {
                try broker.createQueue(named: "orders", attributes: attribute.typed(value))
            }
            expectBrokerError(.invalidAttributeValue) { try existing.setAttributes(attribute.typed(value)) }
        }
        #expect(broker.queues == [existing])
        #expect(try existing.attributes() == before)
    }

    @Test(arguments: RangedAttribute.allCases, ["abc", "1.5", "", "99999999999999999999999"])
    func attributeThatIsNotAnIntegerThrowsInvalidAttributeValue(_ attribute: RangedAttribute, _ value: String) throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeValue) {
            try broker.createQueue(named: "orders", awsAttributes: [attribute.rawValue: value])
        }
        let existing = try broker.createQueue(named: "existing")
        expectBrokerError(.invalidAttributeValue) { try existing.setAttributes(awsAttributes: [attribute.rawValue: value]) }
    }

    @Test func typedTimeAttributeWithAFractionOfASecondThrowsInvalidAttributeValue() throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeValue) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(visibilityTimeout: .milliseconds(1_500)))
        }
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeValue) { try queue.setAttributes(QueueAttributes(delaySeconds: .milliseconds(10))) }
    }

    @Test func setQueueAttributesWithOneInvalidValueChangesNothing() throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        clock.advance(by: .seconds(5))
        expectBrokerError(.invalidAttributeValue) {
            try queue.setAttributes(awsAttributes: ["VisibilityTimeout": "60", "DelaySeconds": "901"])
        }
        #expect(try queue.attributes(["VisibilityTimeout", "DelaySeconds", "LastModifiedTimestamp"])
                == ["VisibilityTimeout": "30", "DelaySeconds": "0", "LastModifiedTimestamp": Self.startEpoch])
    }

    // MARK: - Attribute names

    @Test func unknownAttributeNameThrowsInvalidAttributeName() throws {
        let (broker, _) = makeBroker()
        let error = expectBrokerError(.invalidAttributeName) {
            try broker.createQueue(named: "orders", awsAttributes: ["Colour": "red"])
        }
        #expect(error?.message == "Unknown Attribute Colour.")
        expectBrokerError(.invalidAttributeName) {
            try broker.createQueue(named: "orders", awsAttributes: ["visibilityTimeout": "30"])  // names are case-sensitive
        }
        #expect(broker.queues.isEmpty)
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(awsAttributes: ["Colour": "red"]) }
        expectBrokerError(.invalidAttributeName) { _ = try queue.attributes(["Colour"]) }
    }

    @Test(arguments: QueueAttributeName.allCases.filter(\.isReadOnly))
    func readOnlyAttributeInCreateOrSetThrowsInvalidAttributeName(_ name: QueueAttributeName) throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeName) {
            try broker.createQueue(named: "orders", awsAttributes: [name.rawValue: "0"])
        }
        #expect(broker.queues.isEmpty)
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(awsAttributes: [name.rawValue: "0"]) }
    }

    @Test(arguments: [
        ["ContentBasedDeduplication": "true"],
        ["ContentBasedDeduplication": "false"],
        ["DeduplicationScope": "messageGroup"],
        ["FifoThroughputLimit": "perMessageGroupId"],
        ["FifoThroughputLimit": "perQueue"],
    ])
    func fifoOnlyAttributeOnAStandardQueueThrowsInvalidAttributeName(_ attributes: [String: String]) throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeName) { try broker.createQueue(named: "orders", awsAttributes: attributes) }
        #expect(broker.queues.isEmpty)
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(awsAttributes: attributes) }
    }

    @Test func fifoOnlyTypedAttributeOnAStandardQueueThrowsInvalidAttributeName() throws {
        let (broker, _) = makeBroker()
        let error = expectBrokerError(.invalidAttributeName) {
            try broker.createQueue(named: "orders", attributes: QueueAttributes(deduplicationScope: .messageGroup))
        }
        #expect(error?.message == "You can specify the DeduplicationScope only when FifoQueue is set to true.")
        let queue = try broker.createQueue(named: "orders")
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(QueueAttributes(contentBasedDeduplication: true)) }
        expectBrokerError(.invalidAttributeName) { try queue.setAttributes(QueueAttributes(fifoThroughputLimit: .perQueue)) }
    }

    @Test func fifoOnlyAttributesAreAcceptedAndReturnedOnAFifoQueue() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders.fifo", awsAttributes: [
            "FifoQueue": "true", "ContentBasedDeduplication": "true",
            "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
        ])
        #expect(try queue.attributes(["ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"]) == [
            "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId",
        ])
        try queue.setAttributes(awsAttributes: ["ContentBasedDeduplication": "false"])
        #expect(try queue.attributes(["ContentBasedDeduplication"]) == ["ContentBasedDeduplication": "false"])
    }

    @Test(arguments: [["DeduplicationScope": "group"], ["FifoThroughputLimit": "perGroup"], ["ContentBasedDeduplication": "yes"]])
    func fifoAttributeWithAnUnknownValueThrowsInvalidAttributeValue(_ attributes: [String: String]) {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidAttributeValue) {
            try broker.createQueue(named: "orders.fifo", awsAttributes: attributes.merging(["FifoQueue": "true"]) { a, _ in a })
        }
    }

    @Test func setQueueAttributesCannotMakeAStandardQueueFifo() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let error = expectBrokerError(.invalidAttributeName) { try queue.setAttributes(awsAttributes: ["FifoQueue": "true"]) }
        #expect(error?.message == "Unknown Attribute FifoQueue.")
    }

    @Test func setQueueAttributesCannotMakeAFifoQueueStandard() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders.fifo", awsAttributes: ["FifoQueue": "true"])
        let error = expectBrokerError(.invalidAttributeValue) { try queue.setAttributes(awsAttributes: ["FifoQueue": "false"]) }
        #expect(error?.message == "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not supported.")
        #expect(try queue.attributes(["FifoQueue"]) == ["FifoQueue": "true"])
    }

    @Test(arguments: [
        ["FifoQueue": "false"], ["FifoQueue": "true"], ["ContentBasedDeduplication": "false"],
        ["DeduplicationScope": "queue"], ["FifoThroughputLimit": "perQueue"],
    ])
    func createQueueForAStandardQueueRefusesEveryFifoAttribute(_ attributes: [String: String]) {
        let (broker, _) = makeBroker()
        let error = expectBrokerError(attributes["FifoQueue"] == "true" ? .invalidParameterValue : .invalidAttributeName) {
            try broker.createQueue(named: "orders", awsAttributes: attributes)
        }
        if attributes["FifoQueue"] == "false" { #expect(error?.message == "Unknown Attribute FifoQueue.") }
        #expect(broker.queues.isEmpty)
    }

    @Test func sqsManagedSseEnabledIsReportedFalseOnceAKmsKeyIsSet() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        #expect(try queue.attributes(["SqsManagedSseEnabled"]) == ["SqsManagedSseEnabled": "true"])
        try queue.setAttributes(awsAttributes: ["KmsMasterKeyId": "alias/aws/sqs"])
        #expect(try queue.attributes(["SqsManagedSseEnabled"]) == ["SqsManagedSseEnabled": "false"])
        #expect(try queue.configuration().sqsManagedSseEnabled == false)
        let created = try broker.createQueue(named: "keyed", awsAttributes: ["KmsMasterKeyId": "alias/aws/sqs"])
        #expect(try created.attributes()["SqsManagedSseEnabled"] == "false")
    }

    // MARK: - SetQueueAttributes

    @Test func setQueueAttributesChangesValuesAndLastModifiedTimestamp() throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        clock.advance(by: .seconds(100))
        try queue.setAttributes(awsAttributes: [
            "VisibilityTimeout": "60", "DelaySeconds": "5", "MaximumMessageSize": "2048",
            "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "20",
        ])
        let modified = String(Int64(Self.start.timeIntervalSince1970) + 100)
        #expect(try queue.attributes([
            "VisibilityTimeout", "DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
            "ReceiveMessageWaitTimeSeconds", "CreatedTimestamp", "LastModifiedTimestamp",
        ]) == [
            "VisibilityTimeout": "60", "DelaySeconds": "5", "MaximumMessageSize": "2048",
            "MessageRetentionPeriod": "120", "ReceiveMessageWaitTimeSeconds": "20",
            "CreatedTimestamp": Self.startEpoch, "LastModifiedTimestamp": modified,
        ])
        let configuration = try queue.configuration()
        #expect(configuration.visibilityTimeout == .seconds(60))
        #expect(configuration.delaySeconds == .seconds(5))
        #expect(configuration.maximumMessageSize == 2_048)
        #expect(configuration.messageRetentionPeriod == .seconds(120))
        #expect(configuration.receiveMessageWaitTimeSeconds == .seconds(20))
        #expect(configuration.fifoQueue == false)
    }

    @Test func setQueueAttributesLeavesUnnamedAttributesAsTheyAre() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders", awsAttributes: ["VisibilityTimeout": "60", "DelaySeconds": "5"])
        try queue.setAttributes(QueueAttributes(delaySeconds: .seconds(7)))
        #expect(try queue.attributes(["VisibilityTimeout", "DelaySeconds"]) == ["VisibilityTimeout": "60", "DelaySeconds": "7"])
    }

    @Test func policyAndKmsMasterKeyIdAreStoredAndReturned() throws {
        let (broker, _) = makeBroker()
        let policy = #"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":"*","Action":"sqs:SendMessage"}]}"#
        let queue = try broker.createQueue(named: "orders", awsAttributes: ["Policy": policy])
        #expect(try queue.attributes(["Policy"]) == ["Policy": policy])
        try queue.setAttributes(awsAttributes: ["KmsMasterKeyId": "alias/aws/sqs"])
        let attributes = try queue.attributes()
        #expect(attributes["Policy"] == policy)
        #expect(attributes["KmsMasterKeyId"] == "alias/aws/sqs")
        #expect(attributes["KmsDataKeyReusePeriodSeconds"] == "300")
        #expect(try queue.configuration().policy == policy)
        #expect(try queue.configuration().kmsMasterKeyId == "alias/aws/sqs")
    }

    @Test func settingPolicyToAnEmptyStringRemovesIt() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders", awsAttributes: ["Policy": #"{"Version":"2012-10-17"}"#])
        try queue.setAttributes(awsAttributes: ["Policy": ""])
        #expect(try queue.attributes()["Policy"] == nil)
    }

    // MARK: - Tags

    @Test func tagUntagAndListQueueTags() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders", tags: ["team": "payments"])
        #expect(try queue.tags() == ["team": "payments"])
        try queue.tag(["env": "prod", "team": "orders"])
        #expect(try queue.tags() == ["env": "prod", "team": "orders"])
        try queue.untag(["team", "not-there"])
        #expect(try queue.tags() == ["env": "prod"])
        try queue.untag(["env"])
        #expect(try queue.tags() == [:])
    }

    @Test func untagWithNoKeysThrowsInvalidParameterValue() throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders", tags: ["team": "payments"])
        let error = expectBrokerError(.invalidParameterValue) { try queue.untag([]) }
        #expect(error?.message == "Tag keys must be between 1 and 128 characters in length.")
        #expect(try queue.tags() == ["team": "payments"])
    }

    @Test func tagKeyOfAtMost128AndValueOfAtMost256CharactersAreAccepted() throws {
        let (broker, _) = makeBroker()
        let key = String(repeating: "k", count: 128)
        let value = String(repeating: "v", count: 256)
        let queue = try broker.createQueue(named: "orders", tags: [key: value])
        try queue.tag(["other": value])
        #expect(try queue.tags() == [key: value, "other": value])
    }

    @Test(arguments: [
        [String(repeating: "k", count: 129): "v"],
        ["key": String(repeating: "v", count: 257)],
    ])
    func tagKeyLongerThan128OrValueLongerThan256CharactersThrowsInvalidParameterValue(_ tags: [String: String]) throws {
        let (broker, _) = makeBroker()
        expectBrokerError(.invalidParameterValue) { try broker.createQueue(named: "orders", tags: tags) }
        #expect(broker.queues.isEmpty)
        let queue = try broker.createQueue(named: "orders", tags: ["team": "a"])
        expectBrokerError(.invalidParameterValue) { try queue.tag(tags) }
        #expect(try queue.tags() == ["team": "a"])
    }

    // MARK: - PurgeQueue

    @Test func purgeQueueDeletesEveryMessage() async throws {
        let (broker, _) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        for index in 0..<3 { try queue.sendMessage("message \(index)") }
        try queue.sendMessage("delayed", delaySeconds: .seconds(30))
        _ = try await queue.receiveMessages()
        #expect(try queue.attributes(["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])
                == ["ApproximateNumberOfMessages": "2", "ApproximateNumberOfMessagesNotVisible": "1",
                    "ApproximateNumberOfMessagesDelayed": "1"])
        try queue.purge()
        #expect(try queue.attributes(["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                                      "ApproximateNumberOfMessagesDelayed"])
                == ["ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0",
                    "ApproximateNumberOfMessagesDelayed": "0"])
        #expect(try await queue.receiveMessages(maxNumberOfMessages: 10).isEmpty)
    }

    @Test func secondPurgeWithinSixtySecondsThrowsPurgeQueueInProgress() throws {
        let (broker, clock) = makeBroker()
        let queue = try broker.createQueue(named: "orders")
        let other = try broker.createQueue(named: "payments")
        try queue.purge()
        let error = expectBrokerError(.purgeQueueInProgress) { try queue.purge() }
        #expect(error?.code.queryCode == "AWS.SimpleQueueService.PurgeQueueInProgress")
        #expect(error?.message == "Only one PurgeQueue operation on orders is allowed every 60 seconds.")
        try other.purge()  // the limit is per queue
        clock.advance(by: .seconds(59))
        expectBrokerError(.purgeQueueInProgress) { try queue.purge() }
        clock.advance(by: .seconds(1))
        try queue.purge()
        expectBrokerError(.purgeQueueInProgress) { try queue.purge() }
    }

    // MARK: - Error codes

    @Test(arguments: [
        (BrokerError.Code.queueDoesNotExist, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"),
        (.queueNameExists, "QueueNameExists", "QueueAlreadyExists"),
        (.queueDeletedRecently, "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently"),
        (.invalidParameterValue, "InvalidParameterValueException", "InvalidParameterValue"),
        (.missingParameter, "MissingRequiredParameterException", "MissingParameter"),
        (.invalidAttributeName, "InvalidAttributeName", "InvalidAttributeName"),
        (.invalidAttributeValue, "InvalidAttributeValue", "InvalidAttributeValue"),
        (.purgeQueueInProgress, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress"),
        (.overLimit, "OverLimit", "OverLimit"),
        (.resourceNotFound, "ResourceNotFoundException", "ResourceNotFoundException"),
    ])
    func errorCodeCarriesAWSShapeNameAndQueryCode(code: BrokerError.Code, name: String, queryCode: String) {
        #expect(code.name == name)
        #expect(code.queryCode == queryCode)
        #expect(code.description == name)
    }

    @Test func errorDescriptionIsCodeNameAndMessage() {
        let error = BrokerError(.queueDoesNotExist, "The specified queue does not exist.")
        #expect(error.description == "QueueDoesNotExist: The specified queue does not exist.")
    }

    @Test("A handle is current until its queue is deleted or the broker reset; the queue made again is another")
    func handleIsCurrentUntilItsQueueGoes() throws {
        let clock = ManualClock()
        let broker = Broker(clock: clock)
        let first = try broker.createQueue(named: "q")
        #expect(first.isCurrent)
        try broker.deleteQueue(first)
        #expect(!first.isCurrent)
        clock.advance(by: .seconds(61))
        let second = try broker.createQueue(named: "q")
        #expect(second.isCurrent && !first.isCurrent)
        #expect(try broker.queue(named: "q").isCurrent)
        broker.reset()
        #expect(!second.isCurrent)
    }
}

import Broker
import BrokerServer
import Foundation
import Testing

@Suite("Server lifecycle and configuration")
struct ServerTests {
    @Test("A default configuration is a loopback server on a port the system picks, signatures required, 3 MiB bodies")
    func defaultConfiguration() {
        let server = BrokerServer(broker: Broker())
        #expect(server.host == "127.0.0.1")
        #expect(server.requestedPort == 0)
        #expect(server.maximumRequestBodySize == 3 * 1024 * 1024)
        #expect(server.access.loopbackOnly)
        #expect(server.access.requireSignature)
        #expect(server.access.allowedHosts.isEmpty)
    }

    @Test("A configuration's settings reach the server: address, port, body limit, allowed hosts and signatures")
    func configurationReachesTheServer() {
        var configuration = BrokerServer.Configuration(host: "0.0.0.0", port: 4566, allowedHosts: ["Broker.Local"],
                                                       requireSignature: false)
        configuration.maximumRequestBodySize = 1_024
        let server = BrokerServer(broker: Broker(), configuration: configuration)
        #expect(server.host == "0.0.0.0")
        #expect(server.requestedPort == 4566)
        #expect(server.limits.maximumRequestBodySize == 1_024)
        #expect(server.maximumRequestBodySize == 1_024)
        #expect(!server.access.loopbackOnly)
        #expect(!server.access.requireSignature)
        #expect(server.access.allowedHosts == ["broker.local"])
    }

    @Test("A server started on port 0 reports its port and URL, serves, and stops")
    func startOnPortZeroThenStop() async throws {
        let server = BrokerServer(broker: Broker())
        #expect(server.port == nil)
        let port = try await server.start()
        #expect(port > 0)
        #expect(server.port == port)
        #expect(server.baseURL == "http://127.0.0.1:\(port)")
        await #expect(throws: BrokerServerError.self) { try await server.start() }
        let client = try await TestClient.connect(port: port)
        #expect(try await client.sqs("ListQueues", "{}").status == 200)
        await client.close()
        try await server.stop()
        #expect(server.port == nil)
        try await server.stop()
    }

    @Test("run() serves until its task is cancelled")
    func runUntilCancelled() async throws {
        let server = BrokerServer(broker: Broker())
        try await server.start()
        let running = Task { try await server.run() }
        let client = try await TestClient.connect(port: server.port ?? 0)
        #expect(try await client.sqs("ListQueues", "{}").status == 200)
        running.cancel()
        try await running.value
        #expect(server.port == nil)
        await client.close()
    }

    @Test("The example manifest builds the order pipeline")
    func exampleManifestBuildsThePipeline() throws {
        let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Examples/order-pipeline.json")
        let manifest = try BrokerManifest(contentsOf: examples.path)
        let broker = Broker()
        try manifest.apply(to: broker)
        #expect(broker.queues.map(\.name).count == 8)
        let payment = try broker.queue(named: "payment-queue")
        #expect(try payment.configuration().redrivePolicy
                == RedrivePolicy(deadLetterTargetArn: try broker.queue(named: "payment-queue-dlq").arn, maxReceiveCount: 3))
        let topic = try broker.topic(arn: "arn:aws:sns:us-east-1:000000000000:order-events")
        #expect(try topic.listSubscriptions().subscriptions.count == 4)

        try topic.publish("refund", messageAttributes: ["eventType": .string("order.refunded")])
        #expect(try payment.statistics().approximateNumberOfMessages == 1)
        #expect(try broker.queue(named: "inventory-queue").statistics().approximateNumberOfMessages == 0)
    }

    @Test("A bad manifest is refused with where and why", arguments: [
        ("{", "not valid JSON"),
        (#"{"queues": [{"attributes": {}}]}"#, "queues[0].name"),
        (#"{"queues": [{"name": "q", "colour": "red"}]}"#, "unknown key \"colour\""),
        (#"{"queues": [{"name": "q", "attributes": {"VisibilityTimeout": 99999}}]}"#, "queues[0]: "),
        (#"{"queues": [{"name": "q", "attributes": {"RedrivePolicy": {"deadLetterTargetArn": "missing", "maxReceiveCount": 3}}}]}"#,
         "queues[0].attributes.RedrivePolicy"),
        (#"{"topics": [{"name": "t", "subscriptions": [{"queue": "missing"}]}]}"#, "topics[0].subscriptions[0]"),
        (#"{"topics": "t"}"#, "topics must be a list"),
    ])
    func badManifestIsRefused(_ json: String, _ expected: String) {
        do {
            let manifest = try BrokerManifest(json: Array(json.utf8))
            try manifest.apply(to: Broker())
            Issue.record("accepted \(json)")
        } catch {
            #expect(error.description.contains(expected), "\(error.description)")
        }
    }
}

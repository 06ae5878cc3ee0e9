@_spi(BrokerServer) import Broker
@testable import BrokerServer
import Foundation
import NIOHTTP1
import Testing

/// Captured requests (wire.md §1.2: boto3, Soto and Query-era SDK shapes) replayed byte for byte over a loopback
/// socket; the answers are compared with the golden files status, header and field by field. In the golden files
/// `*` stands for a value that differs per run (ids, receipt handles, request ids): it must be present and non-empty.
@Suite("Golden wire captures")
struct GoldenWireTests {
    static let cases = [
        "sqs-json-send-message", "sqs-json-soto-send-message", "sqs-json-receive-empty", "sqs-json-error-queue-does-not-exist",
        "sqs-json-unknown-operation", "sqs-query-send-message", "sqs-query-receive-empty", "sqs-query-receive-message",
        "sqs-query-error-queue-does-not-exist", "sns-publish", "sns-error-not-found",
    ]

    @Test("A captured request gets the captured answer", arguments: cases)
    func capturedRequestGetsCapturedAnswer(_ name: String) async throws {
        let request = try GoldenFile(named: name, extension: "http")
        let expected = try GoldenFile(named: name, extension: "expected")
        let response = try await withServer(accountId: "123456789012") { server, client in
            try Self.prepare(server.broker)
            let parts = request.firstLine.split(separator: " ")
            let method = HTTPMethod(rawValue: String(parts[0]))
            return try await client.send(method: method, uri: String(parts[1]), headers: request.headers, body: request.body)
        }

        #expect(response.status == Int(expected.firstLine.split(separator: " ")[1]))
        for (name, value) in expected.headers {
            let actual = response.header(name)
            if value == "*" {
                #expect(actual?.isEmpty == false, "header \(name) is missing")
            } else {
                #expect(actual == value, "header \(name)")
            }
        }
        if expected.headers.contains(where: { $0.0 == "Content-Type" && $0.1.contains("json") }) {
            try Self.compareJSON(response.body, expected.body)
        } else {
            try Self.compareXML(response.text, String(decoding: expected.body, as: UTF8.self))
        }
    }

    /// The state the captures were taken against: moto's account, the queues and topic they name.
    static func prepare(_ broker: Broker) throws {
        try broker.createQueue(named: "wire-json")
        try broker.createQueue(named: "wire-query")
        let full = try broker.createQueue(named: "wire-query-full")
        try full.sendMessage("a\r\"b\"<&>", messageAttributes: ["color": .string("red")])
        try broker.createTopic(named: "wire-topic")
    }

    /// Same keys, same values; `*` matches any non-empty string.
    static func compareJSON(_ actual: [UInt8], _ expected: [UInt8]) throws {
        let actualObject = try JSONParser.parse(actual)
        let expectedObject = try JSONParser.parse(expected)
        guard case .object(let want) = expectedObject, case .object(let got) = actualObject else {
            Issue.record("not JSON objects: \(String(decoding: actual, as: UTF8.self))")
            return
        }
        #expect(Set(got.map(\.key)) == Set(want.map(\.key)), "body keys")
        for (key, value) in want {
            let actualValue = actualObject[key]
            if value == .string("*") {
                if case .string(let text)? = actualValue { #expect(!text.isEmpty, "\(key) is empty") } else { Issue.record("\(key) is not a string") }
            } else {
                #expect(actualValue == value, "body field \(key)")
            }
        }
    }

    /// The document with `*` elements filled from the actual answer must equal it exactly; the golden file's line
    /// breaks and indentation are layout only.
    static func compareXML(_ actual: String, _ expected: String) throws {
        var template = expected.replacing(#/\n\s*/#, with: "")
        for element in ["MessageId", "ReceiptHandle", "RequestId"] {
            let pattern = try Regex("<\(element)>[^<]+</\(element)>")
            let values = actual.matches(of: pattern).map { String(actual[$0.range]) }
            for value in values where template.contains("<\(element)>*</\(element)>") {
                if let range = template.range(of: "<\(element)>*</\(element)>") { template.replaceSubrange(range, with: value) }
            }
        }
        #expect(actual == template)
    }
}

/// A golden file: a first line, headers, a blank line and a body (its one trailing newline is not part of it).
struct GoldenFile {
    let firstLine: String
    let headers: [(String, String)]
    let body: [UInt8]

    init(named name: String, extension fileExtension: String) throws {
        let url = try #require(Bundle.module.resourceURL).appendingPathComponent("Golden/\(name).\(fileExtension)")
        let text = try String(contentsOf: url, encoding: .utf8)
        let sections = text.split(separator: "\n\n", maxSplits: 1, omittingEmptySubsequences: false)
        let lines = sections[0].split(separator: "\n")
        firstLine = String(lines[0])
        headers = lines.dropFirst().map { line in
            let colon = line.firstIndex(of: ":") ?? line.endIndex
            return (String(line[..<colon]), line[colon...].dropFirst().trimmingCharacters(in: .whitespaces))
        }
        var body = sections.count > 1 ? String(sections[1]) : ""
        if body.hasSuffix("\n") { body.removeLast() }
        self.body = Array(body.utf8)
    }
}

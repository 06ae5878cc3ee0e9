import Broker
import BrokerSigning
@testable import BrokerServer
import Foundation
import Testing

/// The server serves its broker's signing certificate where the envelopes' `SigningCertURL` says, and names its own
/// address there once it listens.
@Suite("Signing certificate")
struct SigningCertificateTests {
    static let signer: RSAMessageSigner = {
        do {
            return try RSAMessageSigner(validFrom: Date(timeIntervalSince1970: 1_767_225_600))
        } catch {
            fatalError("cannot make the test signer: \(error)")
        }
    }()

    @Test func theCertificateIsServedAsPEM() async {
        let broker = Broker(configuration: BrokerConfiguration(messageSigner: Self.signer))
        let service = WireService(broker: broker, access: AccessPolicy())
        let response = await service.respond(to: WireRequest(method: "GET", uri: BrokerServer.signingCertificatePath,
                                                             headers: [("Host", "127.0.0.1:4566")]))
        #expect(response.status == 200)
        #expect(response.header("Content-Type") == "application/x-pem-file")
        #expect(response.text == Self.signer.certificatePEM)
    }

    @Test func aBrokerWithoutASignerAnswers404() async {
        let service = WireService(broker: Broker(), access: AccessPolicy())
        let response = await service.respond(to: WireRequest(method: "GET", uri: BrokerServer.signingCertificatePath))
        #expect(response.status == 404)
    }

    @Test func startingNamesTheServersOwnURLAndKeepsAGivenOne() async throws {
        let signer = try RSAMessageSigner(privateKeyPEM: Self.signer.privateKeyPEM, certificatePEM: Self.signer.certificatePEM)
        let server = BrokerServer(broker: Broker(configuration: BrokerConfiguration(messageSigner: signer)))
        let port = try await server.start()
        #expect(signer.signingCertURL == "http://127.0.0.1:\(port)/_broker/sns/SimpleNotificationService.pem")
        try await server.stop()

        let given = try RSAMessageSigner(privateKeyPEM: Self.signer.privateKeyPEM, certificatePEM: Self.signer.certificatePEM,
                                         signingCertURL: "https://certs.example/sns.pem")
        let other = BrokerServer(broker: Broker(configuration: BrokerConfiguration(messageSigner: given)))
        try await other.start()
        #expect(given.signingCertURL == "https://certs.example/sns.pem")
        try await other.stop()
    }

    @Test func aServerOnEveryAddressNamesItselfByLoopback() async throws {
        let server = BrokerServer(broker: Broker(), configuration: BrokerServer.Configuration(host: "0.0.0.0"))
        let port = try await server.start()
        #expect(server.signingCertificateURL == "http://127.0.0.1:\(port)/_broker/sns/SimpleNotificationService.pem")
        try await server.stop()
    }
}

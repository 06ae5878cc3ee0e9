import Broker
import BrokerSigning

extension BrokerServer {
    /// Where a server serves its broker's signing certificate: the path of the envelopes' `SigningCertURL`.
    public static let signingCertificatePath = "/_broker/sns/SimpleNotificationService.pem"

    /// The URL of the signing certificate on this server once it listens, reachable by a client on this machine:
    /// a server listening on every address (`0.0.0.0`, `::`) is named by loopback.
    public var signingCertificateURL: String? {
        guard let port else { return nil }
        let reachable = switch host {
        case "0.0.0.0", "": "127.0.0.1"
        case "::", "[::]": "::1"
        default: host
        }
        let authority = reachable.contains(":") ? "[\(reachable)]:\(port)" : "\(reachable):\(port)"
        return "http://\(authority)\(Self.signingCertificatePath)"
    }

    /// Names this server's certificate URL in the broker's envelopes: when the broker signs with an
    /// ``RSAMessageSigner`` that was given no URL of its own. A server learns its port only once it listens, so
    /// ``start()`` calls this after binding.
    func assignSigningCertificateURL() {
        guard let signer = broker.configuration.messageSigner as? RSAMessageSigner, !signer.hasSigningCertURL,
              let url = signingCertificateURL else { return }
        signer.assignSigningCertURL(url)
    }
}

extension WireService {
    /// A GET of ``BrokerServer/signingCertificatePath``: the broker's certificate as PEM, or 404 when the broker
    /// signs with no certificate this server holds. Nil for every other request.
    func signingCertificate(for request: WireRequest) -> WireResponse? {
        guard request.path == BrokerServer.signingCertificatePath, request.method == "GET" || request.method == "HEAD" else {
            return nil
        }
        guard let signer = broker.configuration.messageSigner as? RSAMessageSigner else {
            return WireResponse(status: 404, headers: [("Content-Type", "text/plain; charset=utf-8")],
                                body: Array("This broker does not sign its messages.\n".utf8))
        }
        return WireResponse(status: 200, headers: [("Content-Type", "application/x-pem-file")],
                            body: request.method == "HEAD" ? [] : signer.certificatePEMBytes)
    }
}

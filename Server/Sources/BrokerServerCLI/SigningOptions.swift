import Broker
import BrokerSigning
import Foundation

extension BrokerServerCommand {
    /// The signer of the server's SNS envelopes: the key and certificate of `--signing-key` and `--signing-cert`, or
    /// a new RSA-2048 key and self-signed certificate. Its URL is assigned once the server listens. A key or
    /// certificate that cannot be used stops the server with the reason.
    static func makeSigner(keyFile: String?, certificateFile: String?, now: Date) -> RSAMessageSigner {
        do {
            if let keyFile, let certificateFile {
                return try RSAMessageSigner(privateKeyFile: keyFile, certificateFile: certificateFile)
            }
            return try RSAMessageSigner(validFrom: now)
        } catch {
            fail("broker-server: cannot sign SNS messages: \(error)")
        }
    }
}

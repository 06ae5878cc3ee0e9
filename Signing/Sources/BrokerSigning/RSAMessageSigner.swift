import Broker
import Crypto
import Foundation
import Synchronization
import SwiftASN1
import X509
import _CryptoExtras

/// Signs SNS messages with an RSA-2048 key, as AWS does: SignatureVersion 1 is SHA1withRSA, 2 is SHA256withRSA
/// (PKCS #1 v1.5). The certificate holding the public key is self-signed, made when the signer is (or loaded from
/// PEM), and served by whoever owns ``signingCertURL``: `broker-server` serves it itself.
///
/// ```swift
/// let signer = try RSAMessageSigner(validFrom: clock.now, signingCertURL: "http://127.0.0.1:4566/cert.pem")
/// let broker = Broker(configuration: BrokerConfiguration(messageSigner: signer), clock: clock)
/// ```
public final class RSAMessageSigner: SNSMessageSigner {
    /// The certificate, PEM-encoded (`-----BEGIN CERTIFICATE-----`): the bytes to serve at ``signingCertURL``.
    public let certificatePEM: String
    /// The private key, PEM-encoded (PKCS #8), to keep the same identity across restarts.
    public let privateKeyPEM: String

    private let privateKey: _RSA.Signing.PrivateKey
    private let publicKey: _RSA.Signing.PublicKey
    /// Nil until a URL is given or assigned; a server learns its port only once it listens.
    private let url: Mutex<String?>

    /// Makes a new RSA-2048 key and a self-signed certificate for it, valid for ten years from a day before
    /// `validFrom` (a day's slack for clocks that disagree). Pass the broker clock's `now`. `signingCertURL` nil: the
    /// URL is assigned later (``assignSigningCertURL(_:)``), as `broker-server` does once it has a port.
    public init(validFrom: Date, signingCertURL: String? = nil, commonName: String = "sns.amazonaws.com") throws {
        let key: _RSA.Signing.PrivateKey
        let certificate: Certificate
        do {
            key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
            let name = try DistinguishedName {
                CommonName(commonName)
                OrganizationName("Broker")
            }
            certificate = try Certificate(
                version: .v3, serialNumber: Certificate.SerialNumber(),
                publicKey: Certificate.PublicKey(key.publicKey),
                notValidBefore: validFrom.addingTimeInterval(-86_400),
                notValidAfter: validFrom.addingTimeInterval(10 * 365 * 86_400),
                issuer: name, subject: name, signatureAlgorithm: .sha256WithRSAEncryption,
                extensions: try Certificate.Extensions {
                    Critical(BasicConstraints.notCertificateAuthority)
                    Critical(KeyUsage(digitalSignature: true))
                },
                issuerPrivateKey: Certificate.PrivateKey(key))
            certificatePEM = try certificate.serializeAsPEM().pemString
        } catch {
            throw BrokerError(BrokerError.Code(name: "InternalFailure", queryCode: "InternalError"), "Could not make the signing key and certificate: \(error)")
        }
        privateKey = key
        publicKey = key.publicKey
        privateKeyPEM = key.pkcs8PEMRepresentation
        url = Mutex(signingCertURL)
    }

    /// Loads a key and its certificate from PEM text: the key as PKCS #1 (`RSA PRIVATE KEY`) or PKCS #8
    /// (`PRIVATE KEY`), at least 2048 bits; the certificate's public key must be the key's. Otherwise
    /// `InvalidParameter` saying which part is wrong.
    public init(privateKeyPEM: String, certificatePEM: String, signingCertURL: String? = nil) throws(BrokerError) {
        let key: _RSA.Signing.PrivateKey
        do {
            key = try _RSA.Signing.PrivateKey(pemRepresentation: privateKeyPEM)
        } catch {
            throw BrokerError(.invalidParameter, "The signing key is not a PEM RSA private key of at least 2048 bits: \(error)")
        }
        let certificate: Certificate
        do {
            certificate = try Certificate(pemEncoded: certificatePEM)
        } catch {
            throw BrokerError(.invalidParameter, "The signing certificate is not a PEM X.509 certificate: \(error)")
        }
        guard let certified = _RSA.Signing.PublicKey(certificate.publicKey),
              certified.derRepresentation == key.publicKey.derRepresentation else {
            throw BrokerError(.invalidParameter, "The signing certificate's public key is not the signing key's.")
        }
        privateKey = key
        publicKey = key.publicKey
        self.privateKeyPEM = privateKeyPEM
        // Served as loaded, but normalised: one certificate, whatever else the file held around it.
        self.certificatePEM = (try? certificate.serializeAsPEM().pemString) ?? certificatePEM
        url = Mutex(signingCertURL)
    }

    /// Loads ``init(privateKeyPEM:certificatePEM:signingCertURL:)``'s PEM text from two files.
    public convenience init(privateKeyFile: String, certificateFile: String, signingCertURL: String? = nil) throws(BrokerError) {
        func read(_ path: String, _ what: String) throws(BrokerError) -> String {
            guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
                throw BrokerError(.invalidParameter, "Cannot read the signing \(what) file \(path).")
            }
            return text
        }
        try self.init(privateKeyPEM: read(privateKeyFile, "key"), certificatePEM: read(certificateFile, "certificate"),
                      signingCertURL: signingCertURL)
    }

    /// The certificate's PEM text as bytes, ready to serve.
    public var certificatePEMBytes: [UInt8] { Array(certificatePEM.utf8) }

    // MARK: SNSMessageSigner

    /// The envelope's `SigningCertURL`; until one is given or assigned, a loopback placeholder that serves nothing.
    public var signingCertURL: String { url.withLock { $0 } ?? Self.unassignedURL }

    /// The URL a signer names before it is given one.
    public static let unassignedURL = "http://127.0.0.1/_broker/sns/SimpleNotificationService.pem"

    /// Whether a URL was given at creation or assigned since.
    public var hasSigningCertURL: Bool { url.withLock { $0 != nil } }

    /// Sets ``signingCertURL``; messages signed from now on name it.
    public func assignSigningCertURL(_ newURL: String) {
        url.withLock { $0 = newURL }
    }

    /// The PKCS #1 v1.5 signature of the UTF-8 bytes of `stringToSign`, over SHA-1 (version 1) or SHA-256 (version 2).
    public func signature(of stringToSign: String, version: SNSSignatureVersion) throws -> [UInt8] {
        let bytes = Array(stringToSign.utf8)
        let signature = switch version {
        case .v1: try privateKey.signature(for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .v2: try privateKey.signature(for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        }
        return Array(signature.rawRepresentation)
    }

    // MARK: Verifying

    /// Whether `signature` is this signer's signature of `stringToSign` under `version`.
    public func isValidSignature(_ signature: [UInt8], of stringToSign: String, version: SNSSignatureVersion) -> Bool {
        Self.isValid(signature, of: stringToSign, version: version, key: publicKey)
    }

    /// Whether a received SNS message (its decoded JSON fields) carries a valid signature by the key of the
    /// certificate `certificatePEM`, as a subscriber checks one: the string-to-sign is rebuilt from the fields its
    /// `Type` names, `SignatureVersion` picks the digest, `Signature` is base64. False for anything malformed.
    public static func isValidMessage(_ fields: [String: String], certificatePEM: String) -> Bool {
        guard let certificate = try? Certificate(pemEncoded: certificatePEM),
              let key = _RSA.Signing.PublicKey(certificate.publicKey),
              let version = fields["SignatureVersion"].flatMap(SNSSignatureVersion.init(rawValue:)),
              let encoded = fields["Signature"], let signature = Data(base64Encoded: encoded),
              let stringToSign = SNSStringToSign.fields(fields) else { return false }
        return isValid(Array(signature), of: stringToSign, version: version, key: key)
    }

    private static func isValid(_ signature: [UInt8], of stringToSign: String, version: SNSSignatureVersion,
                                key: _RSA.Signing.PublicKey) -> Bool {
        let bytes = Array(stringToSign.utf8)
        let rsa = _RSA.Signing.RSASignature(rawRepresentation: signature)
        return switch version {
        case .v1: key.isValidSignature(rsa, for: Insecure.SHA1.hash(data: bytes), padding: .insecurePKCS1v1_5)
        case .v2: key.isValidSignature(rsa, for: SHA256.hash(data: bytes), padding: .insecurePKCS1v1_5)
        }
    }
}

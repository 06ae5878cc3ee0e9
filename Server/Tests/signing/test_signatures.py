"""A subscriber's own check of broker-server's SNS signatures, written from AWS's documented procedure: rebuild the
string-to-sign from the decoded envelope, download the certificate at SigningCertURL, verify the base64 signature
with its public key (SHA1withRSA for SignatureVersion 1, SHA256withRSA for 2)."""
from __future__ import annotations

import base64
import datetime
import json
import os
import subprocess
import urllib.request

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from conftest import SERVER_PACKAGE, Server

NOTIFICATION_FIELDS = ["Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type"]
CONFIRMATION_FIELDS = ["Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type"]


def string_to_sign(message: dict) -> bytes:
    names = NOTIFICATION_FIELDS if message["Type"] == "Notification" else CONFIRMATION_FIELDS
    text = "".join(f"{name}\n{message[name]}\n" for name in names if name in message)
    return text.encode()


def certificate(url: str) -> x509.Certificate:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return x509.load_pem_x509_certificate(response.read())


def verify(message: dict, cert: x509.Certificate) -> None:
    """Raises InvalidSignature unless the message is signed by the certificate's key."""
    digest = {"1": hashes.SHA1(), "2": hashes.SHA256()}[message["SignatureVersion"]]
    cert.public_key().verify(base64.b64decode(message["Signature"]), string_to_sign(message), padding.PKCS1v15(), digest)


def publish_and_receive(server: Server, version: str | None, subject: str | None = "Greeting",
                        body: str = 'héllo "world"\n') -> dict:
    sns, sqs = server.client("sns"), server.client("sqs")
    attributes = {"SignatureVersion": version} if version else {}
    topic = sns.create_topic(Name="signed", Attributes=attributes)["TopicArn"]
    queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "false"})
    sns.publish(TopicArn=topic, Message=body, **({"Subject": subject} if subject else {}))
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5).get("Messages", [])
    assert len(messages) == 1
    return json.loads(messages[0]["Body"])


@pytest.mark.parametrize("version", [None, "1", "2"])
@pytest.mark.parametrize("subject", ["Greeting", None])
def test_envelope_verifies_with_the_served_certificate(server, version, subject):
    envelope = publish_and_receive(server, version, subject)
    assert envelope["SignatureVersion"] == (version or "1")
    assert envelope["SigningCertURL"] == f"{server.url}/_broker/sns/SimpleNotificationService.pem"
    assert ("Subject" in envelope) == (subject is not None)
    verify(envelope, certificate(envelope["SigningCertURL"]))


@pytest.mark.parametrize("version", ["1", "2"])
@pytest.mark.parametrize("field, value", [("Message", "forged"), ("Subject", "Other"), ("TopicArn", "arn:aws:sns:us-east-1:000000000000:other"),
                                          ("Timestamp", "2020-01-01T00:00:00.000Z"), ("MessageId", "00000000-0000-0000-0000-000000000000")])
def test_a_tampered_envelope_is_rejected(server, version, field, value):
    envelope = publish_and_receive(server, version)
    cert = certificate(envelope["SigningCertURL"])
    envelope[field] = value
    with pytest.raises(InvalidSignature):
        verify(envelope, cert)


def test_a_signature_checked_under_the_other_version_is_rejected(server):
    envelope = publish_and_receive(server, "2")
    envelope["SignatureVersion"] = "1"
    with pytest.raises(InvalidSignature):
        verify(envelope, certificate(envelope["SigningCertURL"]))


def test_fifo_topic_envelopes_carry_no_signature(server):
    sns, sqs = server.client("sns"), server.client("sqs")
    topic = sns.create_topic(Name="orders.fifo", Attributes={"FifoTopic": "true"})["TopicArn"]
    queue = sqs.create_queue(QueueName="orders.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    sns.publish(TopicArn=topic, Message="m", MessageGroupId="g", MessageDeduplicationId="d")
    envelope = json.loads(sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=5)["Messages"][0]["Body"])
    for absent in ("SignatureVersion", "Signature", "SigningCertURL"):
        assert absent not in envelope


def write_key_and_certificate(folder, bits: int = 2048):
    key = rsa.generate_private_key(public_exponent=65537, key_size=bits)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "sns.test")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=30)).sign(key, hashes.SHA256()))
    key_path, cert_path = folder / "key.pem", folder / "cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key, cert, key_path, cert_path


def test_a_loaded_key_signs_and_its_certificate_is_served(make_server, tmp_path):
    _, cert, key_path, cert_path = write_key_and_certificate(tmp_path)
    server = make_server("--signing-key", str(key_path), "--signing-cert", str(cert_path))
    envelope = publish_and_receive(server, "2")
    served = certificate(envelope["SigningCertURL"])
    assert served.fingerprint(hashes.SHA256()) == cert.fingerprint(hashes.SHA256())
    verify(envelope, cert)


def run_server(*flags: str) -> subprocess.CompletedProcess:
    binary = os.environ.get("BROKER_SERVER_BIN", str(SERVER_PACKAGE / ".build" / "debug" / "broker-server"))
    return subprocess.run([binary, "--port", "0", *flags], capture_output=True, timeout=30)


def test_a_certificate_of_another_key_stops_the_server(tmp_path):
    _, _, key_path, _ = write_key_and_certificate(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    _, _, _, other_cert = write_key_and_certificate(other)
    result = run_server("--signing-key", str(key_path), "--signing-cert", str(other_cert))
    assert result.returncode != 0
    assert b"public key is not the signing key" in result.stderr


def test_a_key_without_its_certificate_is_a_usage_error(tmp_path):
    _, _, key_path, _ = write_key_and_certificate(tmp_path)
    result = run_server("--signing-key", str(key_path))
    assert result.returncode == 2
    assert b"usage" in result.stderr

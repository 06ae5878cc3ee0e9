"""Helpers shared by the wire tests: the reference MD5 functions, error assertions and small utilities.

Nothing here talks to a particular server; the fixtures in conftest.py decide where requests go.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import struct
import time
import uuid

import pytest
from botocore.exceptions import ClientError

# --------------------------------------------------------------------------------------------------------------------
# Reference digests (Docs: /work/shared/reference/wire.md §2.2; AWS-checked vectors in §2.3)
# --------------------------------------------------------------------------------------------------------------------


def md5_hex(data: bytes | str) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.md5(data).hexdigest()


def _len_prefixed(b: bytes) -> bytes:
    return struct.pack(">I", len(b)) + b


def encode_message_attributes(attrs: dict) -> bytes:
    """The byte string AWS hashes for MD5OfMessageAttributes.

    Names sorted ascending; per attribute: len32(name) name len32(DataType) DataType, then a transport byte chosen by
    the value field that is set (1 String/Number, 2 Binary, 3 StringList, 4 BinaryList) and the length-prefixed value(s).
    """
    out = b""
    for name in sorted(attrs):
        a = attrs[name]
        out += _len_prefixed(name.encode("utf-8"))
        out += _len_prefixed(a["DataType"].encode("utf-8"))
        if a.get("StringValue") is not None:
            out += b"\x01" + _len_prefixed(a["StringValue"].encode("utf-8"))
        elif a.get("BinaryValue") is not None:
            v = a["BinaryValue"]
            out += b"\x02" + _len_prefixed(v if isinstance(v, bytes) else v.encode("utf-8"))
        elif a.get("StringListValues"):
            out += b"\x03" + b"".join(_len_prefixed(s.encode("utf-8")) for s in a["StringListValues"])
        elif a.get("BinaryListValues"):
            out += b"\x04" + b"".join(_len_prefixed(x) for x in a["BinaryListValues"])
        else:
            raise ValueError(f"attribute {name!r} has no value")
    return out


def md5_of_message_attributes(attrs: dict) -> str:
    return hashlib.md5(encode_message_attributes(attrs)).hexdigest()


# --------------------------------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------------------------------


class _Caught:
    """What `aws_error` caught, for further assertions in the test."""

    exception: ClientError
    error: dict
    status: int


@contextlib.contextmanager
def aws_error(client, shape: str | None, code: str, status: int | None = None, fault: str | None = "Sender"):
    """Assert that the block raises the AWS error `code` (``e.response["Error"]["Code"]``).

    `shape` is the modeled exception (``client.exceptions.<shape>``). When the client's service model has that shape
    (JSON SQS, SNS; the 1.34.89 Query model lacks a few), the exception must be an instance of it, i.e. boto3 users can
    write ``except sqs.exceptions.QueueDoesNotExist``. `shape=None` means the error is not modeled and only the
    code is checked. `status` is the HTTP status when given; `fault` is Error.Type (Sender/Receiver) when given.
    """
    caught = _Caught()
    try:
        yield caught
    except ClientError as e:
        caught.exception = e
        caught.error = e.response.get("Error", {})
        caught.status = e.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        assert caught.error.get("Code") == code, f"expected Error.Code {code!r}, got {caught.error!r}"
        if shape is not None and shape in {s.name for s in client.meta.service_model.error_shapes}:
            exc_cls = getattr(client.exceptions, shape)
            assert isinstance(e, exc_cls), f"expected {client.meta.service_model.service_name}.exceptions.{shape}, got {type(e).__name__}"
        if status is not None:
            assert caught.status == status, f"expected HTTP {status}, got {caught.status}"
        if fault is not None:
            assert caught.error.get("Type") == fault, f"expected Error.Type {fault!r}, got {caught.error!r}"
    else:
        pytest.fail(f"expected AWS error {code!r}, but the call succeeded")


# --------------------------------------------------------------------------------------------------------------------
# Small utilities
# --------------------------------------------------------------------------------------------------------------------


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def queue_arn(sqs, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def account_of(arn: str) -> str:
    return arn.split(":")[4]


def receive_all(sqs, url: str, expected: int, *, wait: float = 5.0, **kw) -> list[dict]:
    """Receive until `expected` messages arrived or `wait` seconds passed (long polls, no sleeps)."""
    got: list[dict] = []
    deadline = time.monotonic() + wait
    while len(got) < expected and time.monotonic() < deadline:
        remaining = max(0, min(2, int(deadline - time.monotonic() + 0.999)))
        r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, max(1, expected - len(got))),
                                WaitTimeSeconds=remaining, **kw)
        got.extend(r.get("Messages", []))
    return got


def receive_one(sqs, url: str, *, wait: float = 5.0, **kw) -> dict:
    msgs = receive_all(sqs, url, 1, wait=wait, **kw)
    assert msgs, f"no message arrived in {url} within {wait} s"
    return msgs[0]


def assert_empty(sqs, url: str, wait_seconds: int = 1, **kw) -> None:
    r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait_seconds, **kw)
    assert "Messages" not in r or r["Messages"] == [], f"expected no message, got {[m['Body'] for m in r['Messages']]}"


def approx_counts(sqs, url: str) -> tuple[int, int, int]:
    a = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"])["Attributes"]
    return (int(a["ApproximateNumberOfMessages"]), int(a["ApproximateNumberOfMessagesNotVisible"]),
            int(a["ApproximateNumberOfMessagesDelayed"]))


def envelope(msg: dict) -> dict:
    """The SNS notification envelope carried in an SQS message body."""
    return json.loads(msg["Body"])

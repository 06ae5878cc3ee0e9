"""Raw HTTP for the reliability suite: bytes exactly as written, answers read and checked for shape."""
from __future__ import annotations

import json
import socket
import xml.dom.minidom

from conftest import SIGNED

JSON = "application/x-amz-json-1.0"


def request(port: int, method: str, path: str, headers: dict[str, str], body: bytes, timeout: float = 30):
    """One request on a fresh connection; returns (status, headers, body), or None if the server closed first."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {len(body)}\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(head.encode() + b"\r\n" + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    if not data:
        return None
    head, _, payload = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    fields = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return status, fields, payload


def sqs_json(port: int, operation: str, body, raw: bytes | None = None, timeout: float = 30):
    return request(port, "POST", "/", {"X-Amz-Target": f"AmazonSQS.{operation}", "Content-Type": JSON,
                                       "Authorization": SIGNED.format(service="sqs")},
                   raw if raw is not None else json.dumps(body).encode(), timeout)


def query(port: int, form: bytes, service: str = "sqs", timeout: float = 30):
    return request(port, "POST", "/", {"Content-Type": "application/x-www-form-urlencoded",
                                       "Authorization": SIGNED.format(service=service)}, form, timeout)


def assert_well_formed(answer):
    """An AWS answer in its protocol: a JSON object or an XML document, never a 5xx."""
    assert answer is not None, "the server closed the connection without an answer"
    status, headers, payload = answer
    assert status < 500, (status, payload[:300])
    kind = headers.get("content-type", "")
    if "json" in kind:
        assert isinstance(json.loads(payload), dict)
    else:
        xml.dom.minidom.parseString(payload)
    return status

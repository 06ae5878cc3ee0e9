"""A soak over the wire: messages sent, received and deleted in batches on keep-alive connections; none is lost,
and the server's memory returns to near where it started once the queue is empty."""
from __future__ import annotations

import http.client
import json

from conftest import SCALE, SIGNED


def call(connection, operation: str, body: dict) -> dict:
    connection.request("POST", "/", json.dumps(body), {"X-Amz-Target": f"AmazonSQS.{operation}",
                                                        "Content-Type": "application/x-amz-json-1.0",
                                                        "Authorization": SIGNED.format(service="sqs")})
    response = connection.getresponse()
    payload = response.read()
    assert response.status == 200, payload[:300]
    return json.loads(payload)


def test_soak_loses_nothing_and_gives_memory_back(server):
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    url = call(connection, "CreateQueue", {"QueueName": "soak"})["QueueUrl"]
    total = 20_000 * SCALE
    body = "m" * 200
    baseline = None
    peak = 0
    sent = received = 0
    seen: set[str] = set()
    while received < total:
        if sent < total:
            entries = [{"Id": str(i), "MessageBody": f"{sent + i}:{body}"} for i in range(10)]
            assert not call(connection, "SendMessageBatch", {"QueueUrl": url, "Entries": entries}).get("Failed")
            sent += 10
        messages = call(connection, "ReceiveMessage", {"QueueUrl": url, "MaxNumberOfMessages": 10}).get("Messages", [])
        for message in messages:
            seen.add(message["Body"].split(":")[0])
        if messages:
            entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)]
            assert not call(connection, "DeleteMessageBatch", {"QueueUrl": url, "Entries": entries}).get("Failed")
        received += len(messages)
        if baseline is None and sent >= 2_000:
            baseline = server.rss_kib()
        peak = max(peak, server.rss_kib())
    assert len(seen) == total
    attributes = call(connection, "GetQueueAttributes", {"QueueUrl": url, "AttributeNames": ["All"]})["Attributes"]
    assert attributes["ApproximateNumberOfMessages"] == "0" and attributes["ApproximateNumberOfMessagesNotVisible"] == "0"
    final = server.rss_kib()
    print(f"\nsoak: {total} messages, rss baseline {baseline} KiB, peak {peak} KiB, final {final} KiB")
    assert final - baseline < 32 * 1024, (baseline, peak, final)

"""Generated hostile requests over AWS JSON 1.0 and AWS Query (SQS and SNS): every answer is a well-formed AWS
answer, none is a 5xx, no request is slow, and the message stored before the storm is still there after it.

The generator is seeded, so a failure names the example that reproduces it. RELIABILITY_SCALE multiplies the
examples (CI: 400 per protocol; the long version: RELIABILITY_SCALE=20)."""
from __future__ import annotations

import json
import random
import time
import urllib.parse

import pytest

from conftest import SCALE
from wire import assert_well_formed, query, request, sqs_json

SQS_OPERATIONS = ["CreateQueue", "GetQueueUrl", "ListQueues", "DeleteQueue", "GetQueueAttributes", "SetQueueAttributes",
                  "PurgeQueue", "SendMessage", "SendMessageBatch", "ReceiveMessage", "DeleteMessage", "DeleteMessageBatch",
                  "ChangeMessageVisibility", "ChangeMessageVisibilityBatch", "TagQueue", "UntagQueue", "ListQueueTags",
                  "ListDeadLetterSourceQueues", "StartMessageMoveTask", "ListMessageMoveTasks", "CancelMessageMoveTask",
                  "AddPermission", "RemovePermission", "Frobnicate"]
SNS_OPERATIONS = ["CreateTopic", "DeleteTopic", "ListTopics", "GetTopicAttributes", "SetTopicAttributes", "Subscribe",
                  "Unsubscribe", "ConfirmSubscription", "ListSubscriptions", "ListSubscriptionsByTopic",
                  "GetSubscriptionAttributes", "SetSubscriptionAttributes", "Publish", "PublishBatch", "TagResource",
                  "UntagResource", "ListTagsForResource"]
NAMES = ["QueueUrl", "QueueName", "MessageBody", "DelaySeconds", "MaxNumberOfMessages", "WaitTimeSeconds",
         "VisibilityTimeout", "ReceiptHandle", "Attributes", "AttributeNames", "MessageAttributes", "Entries", "Tags",
         "TagKeys", "Label", "SourceArn", "TopicArn", "Message", "Subject", "Protocol", "Endpoint", "Name", "Id",
         "MessageGroupId", "MessageDeduplicationId", "FilterPolicy", "RedrivePolicy", "Policy", "DataType",
         "StringValue", "BinaryValue", "NextToken", "MaxResults"]
WAIT_FREE = {"WaitTimeSeconds": 0}


def scalar(rng: random.Random):
    return rng.choice([
        "", "q", "\x00\x01\x1f", "\ufffe\uffff", "x" * rng.randint(0, 5000), str(rng.randint(-2**70, 2**70)), -1, 0,
        1.5, 10**30, True, None, "http://127.0.0.1/000000000000/q", "arn:aws:sns:us-east-1:000000000000:t",
        '{"a": [' * 50, "[]", "{}", "é\u202e😀", "%00%zz", "All", ".*", "Binary", "String.", "Number", "\r\n",
    ])


def value(rng: random.Random, depth: int = 0):
    roll = rng.random()
    if depth > 3 or roll < 0.5:
        return scalar(rng)
    if roll < 0.75:
        return [value(rng, depth + 1) for _ in range(rng.randint(0, 12))]
    return {rng.choice(NAMES + ["x" * 300, "\x01"]): value(rng, depth + 1) for _ in range(rng.randint(0, 12))}


def json_document(rng: random.Random) -> bytes:
    document = {rng.choice(NAMES): value(rng) for _ in range(rng.randint(0, 8))}
    document.setdefault("QueueUrl", "http://127.0.0.1/000000000000/q")
    document.update(WAIT_FREE)
    raw = json.dumps(document).encode()
    mutation = rng.random()
    if mutation < 0.1:
        raw = raw[: rng.randint(0, len(raw))]
    elif mutation < 0.2:
        position = rng.randint(0, len(raw))
        raw = raw[:position] + bytes([rng.randint(0, 255)]) + raw[position:]
    elif mutation < 0.25:
        raw = b"[" * rng.randint(100, 100_000)
    return raw


def form_pairs(rng: random.Random, operation: str) -> list[tuple[str, str]]:
    pairs = [("Action", operation)]
    for _ in range(rng.randint(0, 10)):
        name = rng.choice(NAMES)
        if rng.random() < 0.5:
            name += "." + ".".join(rng.choice(["1", "2", "10", "0", "-1", "999999999999", "member", "entry", "Name", "Value",
                                               "Key", "DataType", "StringValue"]) for _ in range(rng.randint(1, 4)))
        pairs.append((name, str(scalar(rng))))
    if rng.random() < 0.1:
        pairs += [(f"Entry.{index}.Id", "x") for index in range(rng.randint(1, 3000))]
    pairs.append(("WaitTimeSeconds", "0"))
    return pairs


def form(rng: random.Random, operation: str, version: str) -> bytes:
    pairs = form_pairs(rng, operation) + [("Version", version)]
    raw = urllib.parse.urlencode(pairs).encode()
    if rng.random() < 0.1:
        raw += rng.choice([b"&%zz=1", b"&a=%C3%28", b"&&&==", b"&" + bytes(range(1, 32))])
    return raw


@pytest.mark.parametrize("protocol", ["sqs-json", "sqs-query", "sns-query"])
def test_generated_requests_get_well_formed_answers(server, protocol):
    port = server.port
    assert sqs_json(port, "CreateQueue", {"QueueName": "q"})[0] == 200
    assert query(port, b"Action=CreateTopic&Version=2010-03-31&Name=t", "sns")[0] == 200
    # A queue no generated request names: its message must outlive the storm.
    vault = "http://127.0.0.1/000000000000/vault"
    assert sqs_json(port, "CreateQueue", {"QueueName": "vault"})[0] == 200
    assert sqs_json(port, "SendMessage", {"QueueUrl": vault, "MessageBody": "kept"})[0] == 200
    rng = random.Random(f"{protocol}-{SCALE}")
    worst = 0.0
    for example in range(400 * SCALE):
        started = time.monotonic()
        if protocol == "sqs-json":
            answer = sqs_json(port, rng.choice(SQS_OPERATIONS), None, raw=json_document(rng))
        elif protocol == "sqs-query":
            answer = query(port, form(rng, rng.choice(SQS_OPERATIONS), "2012-11-05"))
        else:
            answer = query(port, form(rng, rng.choice(SNS_OPERATIONS), "2010-03-31"), "sns")
        worst = max(worst, time.monotonic() - started)
        try:
            assert_well_formed(answer)
        except AssertionError as error:
            raise AssertionError(f"example {example} of {protocol}: {error}") from None
        if example % 50 == 49:
            assert server.alive()
    assert worst < 2.0, f"the slowest request took {worst:.2f} s"
    _, _, payload = sqs_json(port, "GetQueueAttributes", {"QueueUrl": vault, "AttributeNames": ["ApproximateNumberOfMessages"]})
    assert json.loads(payload)["Attributes"]["ApproximateNumberOfMessages"] == "1"
    print(f"\n{protocol}: {400 * SCALE} requests, worst {worst * 1000:.0f} ms")

"""The online shop's order pipeline, end to end, through boto3 and through the aws CLI.

    order-events (SNS) ──► payment-queue       filter eventType ∈ {order.created, order.refunded}
                       ├─► inventory-queue     filter eventType ∈ {order.created, order.cancelled}
                       ├─► notification-queue  everything
                       └─► analytics-queue     everything
    every queue has a dead-letter queue (maxReceiveCount 3)
"""
import json
import subprocess
import time
from dataclasses import dataclass, field

import pytest

from wirehelpers import approx_counts, assert_empty, envelope, queue_arn, receive_all, unique

FILTERS = {
    "payment": ["order.created", "order.refunded"],
    "inventory": ["order.created", "order.cancelled"],
    "notification": None,
    "analytics": None,
}
MAX_RECEIVE_COUNT = 3


@dataclass
class Pipeline:
    topic: str
    queues: dict = field(default_factory=dict)   # role -> queue URL
    dlqs: dict = field(default_factory=dict)     # role -> DLQ URL


@pytest.fixture
def pipeline(sqs, sns, make_queue, make_topic) -> Pipeline:
    p = Pipeline(topic=make_topic("order-events"))
    for role, events in FILTERS.items():
        dlq = make_queue(f"{role}-dlq")
        redrive = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": MAX_RECEIVE_COUNT})
        # 1 s visibility: a failed payment comes back quickly; the others are deleted on success
        url = make_queue(f"{role}-queue", VisibilityTimeout=1, RedrivePolicy=redrive)
        attrs = {"FilterPolicy": json.dumps({"eventType": events})} if events else {}
        sns.subscribe(TopicArn=p.topic, Protocol="sqs", Endpoint=queue_arn(sqs, url), Attributes=attrs)
        p.queues[role], p.dlqs[role] = url, dlq
    return p


def publish_order(sns, topic, order_id, event, total=10):
    body = json.dumps({"orderId": order_id, "total": total})
    return sns.publish(TopicArn=topic, Message=body, Subject=event,
                       MessageAttributes={"eventType": {"DataType": "String", "StringValue": event}})


def consume(sqs, url, expected, handler=lambda order, event: True):
    """Receive `expected` messages; delete those the handler accepts. Returns [(orderId, eventType)]."""
    seen = []
    for m in receive_all(sqs, url, expected, wait=6):
        env = envelope(m)
        order, event = json.loads(env["Message"]), env["MessageAttributes"]["eventType"]["Value"]
        seen.append((order["orderId"], event))
        if handler(order, event):
            sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return seen


def test_orders_reach_the_subscribed_queues_and_are_consumed(sqs, sns, pipeline):
    events = [("o-1", "order.created"), ("o-2", "order.refunded"), ("o-3", "order.cancelled"), ("o-4", "order.shipped")]
    for order_id, event in events:
        publish_order(sns, pipeline.topic, order_id, event)
    expect = {
        "payment": [e for e in events if e[1] in FILTERS["payment"]],
        "inventory": [e for e in events if e[1] in FILTERS["inventory"]],
        "notification": events,
        "analytics": events,
    }
    for role, wanted in expect.items():
        got = consume(sqs, pipeline.queues[role], len(wanted))
        assert sorted(got) == sorted(wanted), role
    for role, url in pipeline.queues.items():
        assert_empty(sqs, url, wait_seconds=1 if role == "payment" else 0)
        assert approx_counts(sqs, url) == (0, 0, 0), role
        assert approx_counts(sqs, pipeline.dlqs[role]) == (0, 0, 0), role


def _fail_bad_order_three_times(sqs, sns, pipeline):
    publish_order(sns, pipeline.topic, "bad-1", "order.created", total=-1)
    payment = pipeline.queues["payment"]
    attempts = 0
    for _ in range(MAX_RECEIVE_COUNT):  # the payment service throws: no delete, the message comes back after 1 s
        got = consume(sqs, payment, 1, handler=lambda order, event: order["total"] >= 0)
        assert got == [("bad-1", "order.created")]
        attempts += 1
    assert attempts == MAX_RECEIVE_COUNT
    # the next receive would exceed maxReceiveCount: the message moves to the DLQ instead of being delivered
    r = sqs.receive_message(QueueUrl=payment, MaxNumberOfMessages=10, WaitTimeSeconds=2)
    assert "Messages" not in r
    dead = receive_all(sqs, pipeline.dlqs["payment"], 1, VisibilityTimeout=0, AttributeNames=["ApproximateReceiveCount"])
    assert [json.loads(envelope(m)["Message"])["orderId"] for m in dead] == ["bad-1"]
    # the other subscribers processed the same order normally
    for role in ("inventory", "notification", "analytics"):
        assert consume(sqs, pipeline.queues[role], 1) == [("bad-1", "order.created")]


def test_a_bad_order_fails_three_times_and_lands_in_the_payment_dlq(sqs, sns, pipeline):
    _fail_bad_order_three_times(sqs, sns, pipeline)
    assert approx_counts(sqs, pipeline.dlqs["payment"])[0] == 1
    assert approx_counts(sqs, pipeline.queues["payment"]) == (0, 0, 0)


@pytest.mark.deviation("moto", aws="StartMessageMoveTask redrives a DLQ back to its source queue",
                       actual="does not implement message move tasks (NotImplementedError)")
def test_redriven_bad_order_is_processed_exactly_once(sqs, sns, pipeline):
    _fail_bad_order_three_times(sqs, sns, pipeline)
    processed = []

    def fixed_payment_service(order, event):  # the bug is fixed: every order is accepted now
        processed.append(order["orderId"])
        return True

    dlq_arn = queue_arn(sqs, pipeline.dlqs["payment"])
    sqs.start_message_move_task(SourceArn=dlq_arn)
    consume(sqs, pipeline.queues["payment"], 1, handler=fixed_payment_service)
    assert processed == ["bad-1"]
    assert_empty(sqs, pipeline.queues["payment"], wait_seconds=2)  # longer than the 1 s visibility timeout
    assert processed == ["bad-1"]
    deadline = time.monotonic() + 5
    while sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] != "COMPLETED":
        assert time.monotonic() < deadline, "move task did not complete"
        time.sleep(0.1)
    assert approx_counts(sqs, pipeline.dlqs["payment"]) == (0, 0, 0)


# ------------------------------------------------------------------------------------------------------------ aws CLI

@pytest.fixture
def aws(cli_env, endpoint):
    def run(*args, check=True):
        p = subprocess.run(["aws", "--endpoint-url", endpoint, "--output", "json", *args],
                           env=cli_env, capture_output=True, text=True, timeout=60)
        if check:
            assert p.returncode == 0, f"aws {' '.join(args)} failed ({p.returncode}): {p.stderr}"
            return json.loads(p.stdout) if p.stdout.strip() else {}
        return p
    return run


@pytest.mark.cli
def test_order_pipeline_through_the_aws_cli(aws):
    suffix = unique("cli")
    topic = aws("sns", "create-topic", "--name", f"order-events-{suffix}")["TopicArn"]
    queues = {}
    for role, events in (("payment", FILTERS["payment"]), ("analytics", None)):
        url = aws("sqs", "create-queue", "--queue-name", f"{role}-{suffix}")["QueueUrl"]
        arn = aws("sqs", "get-queue-attributes", "--queue-url", url, "--attribute-names", "QueueArn")["Attributes"]["QueueArn"]
        sub_args = ["sns", "subscribe", "--topic-arn", topic, "--protocol", "sqs", "--notification-endpoint", arn,
                    "--return-subscription-arn"]
        if events:
            sub_args += ["--attributes", json.dumps({"FilterPolicy": json.dumps({"eventType": events})})]
        assert aws(*sub_args)["SubscriptionArn"].startswith(topic + ":")
        queues[role] = url
    subs = aws("sns", "list-subscriptions-by-topic", "--topic-arn", topic)["Subscriptions"]
    assert len(subs) == 2

    for order_id, event in (("c-1", "order.created"), ("c-2", "order.shipped")):
        r = aws("sns", "publish", "--topic-arn", topic, "--message", json.dumps({"orderId": order_id}),
                "--message-attributes", json.dumps({"eventType": {"DataType": "String", "StringValue": event}}))
        assert r["MessageId"]

    def drain(url, expected):
        got = []
        deadline = time.monotonic() + 10
        while len(got) < expected and time.monotonic() < deadline:
            r = aws("sqs", "receive-message", "--queue-url", url, "--max-number-of-messages", "10",
                    "--wait-time-seconds", "2")
            for m in r.get("Messages", []):
                got.append(json.loads(json.loads(m["Body"])["Message"])["orderId"])
                aws("sqs", "delete-message", "--queue-url", url, "--receipt-handle", m["ReceiptHandle"])
        return sorted(got)

    assert drain(queues["payment"], 1) == ["c-1"]
    assert drain(queues["analytics"], 2) == ["c-1", "c-2"]
    attrs = aws("sqs", "get-queue-attributes", "--queue-url", queues["payment"], "--attribute-names",
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")["Attributes"]
    assert attrs == {"ApproximateNumberOfMessages": "0", "ApproximateNumberOfMessagesNotVisible": "0"}

    for url in queues.values():
        aws("sqs", "delete-queue", "--queue-url", url)
    aws("sns", "delete-topic", "--topic-arn", topic)


@pytest.mark.cli
def test_aws_cli_send_message_reports_digests(aws, make_queue):
    from wirehelpers import md5_hex, md5_of_message_attributes
    url = make_queue()
    attrs = {"eventType": {"DataType": "String", "StringValue": "order.created"}}
    r = aws("sqs", "send-message", "--queue-url", url, "--message-body", "hello from the cli",
            "--message-attributes", json.dumps(attrs))
    assert r["MD5OfMessageBody"] == md5_hex("hello from the cli")
    assert r["MD5OfMessageAttributes"] == md5_of_message_attributes(attrs)


@pytest.mark.cli
def test_aws_cli_exits_non_zero_with_the_aws_error_code(aws, make_topic):
    p = aws("sqs", "get-queue-url", "--queue-name", unique("missing"), check=False)
    assert p.returncode in (254, 255)
    assert "AWS.SimpleQueueService.NonExistentQueue" in p.stderr
    p = aws("sns", "get-topic-attributes", "--topic-arn", make_topic().rsplit(":", 1)[0] + ":" + unique("missing"),
            check=False)
    assert p.returncode in (254, 255)
    assert "NotFound" in p.stderr

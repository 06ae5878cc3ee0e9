"""Broker's own endpoints over HTTP beside boto3: /_broker/health, /_broker/queues, /_broker/topics and the Prometheus
metrics at /_broker/metrics, read after known sequences of SDK calls; a request a page of another site could send
is refused."""
import json
import re
import urllib.error
import urllib.request

import pytest

from wirehelpers import queue_arn

pytestmark = pytest.mark.skipif("config.getoption('--target') != 'broker'", reason="Broker's own endpoints")

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{[^}]*\})?) (\S+)$')


def get(endpoint, path, headers=None):
    request = urllib.request.Request(endpoint + path, headers=headers or {})
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status, response.headers, response.read()


def get_json(endpoint, path):
    status, headers, body = get(endpoint, path)
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    return json.loads(body)


def metrics(endpoint) -> dict[str, float]:
    status, headers, body = get(endpoint, "/_broker/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples = {}
    for line in body.decode().splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        assert match, f"not a Prometheus sample: {line!r}"
        samples[match.group(1)] = float(match.group(2))
    return samples


def queue_labels(name):
    return f'account="000000000000",region="us-east-1",queue="{name}"'


def test_health_reports_ok_with_counts(endpoint, make_queue):
    make_queue("health")
    health = get_json(endpoint, "/_broker/health")
    assert health["status"] == "ok"
    assert health["version"]
    assert health["uptimeSeconds"] >= 0
    assert health["counts"]["queues"] >= 1


def test_queues_show_depths_fifo_and_dead_letter_queue(endpoint, sqs, make_queue):
    dlq = make_queue("ep-dlq")
    source = make_queue("ep-src", RedrivePolicy=json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq),
                                                              "maxReceiveCount": 4}))
    fifo = make_queue("ep-fifo", fifo=True)
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=source, MessageBody=body)
    sqs.send_message(QueueUrl=source, MessageBody="later", DelaySeconds=120)
    got = sqs.receive_message(QueueUrl=source, MaxNumberOfMessages=2, VisibilityTimeout=300)["Messages"]
    assert len(got) == 2

    queues = {q["name"]: q for q in get_json(endpoint, "/_broker/queues")["queues"]}
    name = source.rsplit("/", 1)[1]
    entry = queues[name]
    assert (entry["visible"], entry["inFlight"], entry["delayed"]) == (1, 2, 1)
    assert entry["fifo"] is False
    assert entry["url"] == source
    assert entry["account"] == "000000000000" and entry["region"] == "us-east-1"
    assert entry["deadLetterQueue"] == {"arn": queue_arn(sqs, dlq), "name": dlq.rsplit("/", 1)[1], "maxReceiveCount": 4}
    assert queues[fifo.rsplit("/", 1)[1]]["fifo"] is True
    assert queues[dlq.rsplit("/", 1)[1]]["deadLetterQueue"] is None


def test_topics_show_subscriptions_and_filter_policies(endpoint, sns, sqs, make_topic, make_queue):
    topic = make_topic("ep-topic")
    queue = make_queue("ep-sub")
    arn = queue_arn(sqs, queue)
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, ReturnSubscriptionArn=True,
                  Attributes={"FilterPolicy": json.dumps({"kind": ["refund"]}), "FilterPolicyScope": "MessageBody"})
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "refund"}))
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "sale"}))

    topics = {t["arn"]: t for t in get_json(endpoint, "/_broker/topics")["topics"]}
    [subscription] = topics[topic]["subscriptions"]
    assert subscription["protocol"] == "sqs"
    assert subscription["endpoint"] == arn
    assert subscription["filterPolicy"] == {"kind": ["refund"]}
    assert subscription["filterPolicyScope"] == "MessageBody"
    assert subscription["statistics"]["delivered"] == 1
    assert subscription["statistics"]["filteredOut"] == 1


def test_metrics_count_a_known_sequence(endpoint, sqs, sns, make_queue, make_topic):
    url = make_queue("ep-metrics")
    name = url.rsplit("/", 1)[1]
    before = metrics(endpoint)
    sqs.send_message(QueueUrl=url, MessageBody="one")
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "a", "MessageBody": "two"}, {"Id": "b", "MessageBody": "three"}])
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=300)["Messages"]
    assert len(received) == 3
    sqs.delete_message(QueueUrl=url, ReceiptHandle=received[0]["ReceiptHandle"])
    assert "Messages" not in sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    topic = make_topic("ep-metrics")
    sns.publish(TopicArn=topic, Message="hello")

    after = metrics(endpoint)
    labels = queue_labels(name)
    assert after[f"NumberOfMessagesSent{{{labels}}}"] == 3
    assert after[f"NumberOfMessagesReceived{{{labels}}}"] == 3
    assert after[f"NumberOfMessagesDeleted{{{labels}}}"] == 1
    assert after[f"NumberOfEmptyReceives{{{labels}}}"] == 1
    assert after[f"ApproximateNumberOfMessagesVisible{{{labels}}}"] == 0
    assert after[f"ApproximateNumberOfMessagesNotVisible{{{labels}}}"] == 2
    assert after[f"ApproximateNumberOfMessagesDelayed{{{labels}}}"] == 0
    topic_labels = f'account="000000000000",region="us-east-1",topic="{topic.rsplit(":", 1)[1]}"'
    assert after[f"NumberOfMessagesPublished{{{topic_labels}}}"] == 1
    series = 'broker_requests_total{operation="SendMessage"}'
    assert after[series] - before.get(series, 0) == 1
    histogram = 'broker_request_duration_seconds_count{operation="SendMessageBatch"}'
    assert after[histogram] - before.get(histogram, 0) == 1


@pytest.mark.parametrize("path", ["/_broker/health", "/_broker/queues", "/_broker/topics", "/_broker/metrics"])
@pytest.mark.parametrize("header", [{"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}])
def test_a_page_of_another_site_reads_nothing(endpoint, path, header):
    with pytest.raises(urllib.error.HTTPError) as refused:
        get(endpoint, path, header)
    assert refused.value.code == 403
    assert b"AccessDenied" in refused.value.read()


def test_queue_messages_are_peeked_without_receiving(endpoint, sqs, make_queue):
    url = make_queue("peek")
    name = url.rsplit("/", 1)[1]
    sqs.send_message(QueueUrl=url, MessageBody="first", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "order"}})
    sqs.send_message(QueueUrl=url, MessageBody="second")
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"]
    peeked = get_json(endpoint, f"/_broker/queues/000000000000/{name}/messages")["messages"]
    assert [(m["body"], m["state"], m["receiveCount"]) for m in peeked] == [("first", "inFlight", 1), ("second", "visible", 0)]
    assert peeked[0]["messageId"] == received[0]["MessageId"]
    assert peeked[0]["messageAttributes"]["kind"] == {"DataType": "String", "StringValue": "order"}
    # The peek changed nothing: the next receive gets the visible message for the first time.
    again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert [(m["Body"], m["Attributes"]["ApproximateReceiveCount"]) for m in again] == [("second", "1")]
    with pytest.raises(urllib.error.HTTPError) as missing:
        get(endpoint, "/_broker/queues/000000000000/no-such-queue/messages")
    assert missing.value.code == 404


def test_topic_deliveries_name_each_outcome(endpoint, sns, sqs, make_queue, make_topic):
    arn = make_topic("deliveries")
    url = make_queue("deliveries-target")
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn(sqs, url))
    sns.subscribe(TopicArn=arn, Protocol="sqs", Endpoint=queue_arn(sqs, make_queue("deliveries-filtered")),
                  Attributes={"FilterPolicy": json.dumps({"kind": ["refund"]})})
    sns.publish(TopicArn=arn, Message="placed", MessageAttributes={"kind": {"DataType": "String", "StringValue": "order"}})
    name = arn.rsplit(":", 1)[1]
    deliveries = get_json(endpoint, f"/_broker/topics/000000000000/{name}/deliveries")["deliveries"]
    assert sorted(d["outcome"] for d in deliveries) == ["delivered", "filteredOut"]

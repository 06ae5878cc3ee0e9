"""SNS HTTP/HTTPS subscriptions over the wire: broker-server posts the SubscriptionConfirmation to a local endpoint,
the endpoint checks its signature and confirms by opening SubscribeURL, notifications arrive with AWS's headers and
signatures that verify with the served certificate (SignatureVersion 1 and 2), and a failing endpoint is retried on
the delivery policy's schedule and then dead-lettered."""
from __future__ import annotations

import json
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography.exceptions import InvalidSignature

from test_signatures import certificate, verify


class Endpoint:
    """A local HTTP endpoint that records every post and answers with `status`."""

    def __init__(self, status: int = 200):
        self.status = status
        self.posts: list[tuple[float, dict[str, str], bytes]] = []
        self.arrived = threading.Condition()
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with endpoint.arrived:
                    endpoint.posts.append((time.monotonic(), {k.lower(): v for k, v in self.headers.items()}, body))
                    endpoint.arrived.notify_all()
                self.send_response(endpoint.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, count: int, timeout: float = 30):
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.posts) >= count, timeout), f"{len(self.posts)} posts of {count}"
        return self.posts[:count]

    def close(self):
        self.server.shutdown()


@pytest.fixture
def clients(server):
    return server.client("sns"), server.client("sqs")


@pytest.mark.parametrize("version", ["1", "2"])
def test_confirmation_by_subscribe_url_then_signed_notifications(clients, version):
    sns, _ = clients
    endpoint = Endpoint()
    try:
        topic = sns.create_topic(Name="hooks", Attributes={"SignatureVersion": version})["TopicArn"]
        arn = sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url)["SubscriptionArn"]
        assert arn == "pending confirmation"
        (_, headers, body), = endpoint.wait_for(1)
        assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
        assert headers["x-amz-sns-topic-arn"] == topic
        confirmation = json.loads(body)
        assert confirmation["Type"] == "SubscriptionConfirmation" and confirmation["TopicArn"] == topic
        cert = certificate(confirmation["SigningCertURL"])
        verify(confirmation, cert)
        with pytest.raises(InvalidSignature):
            verify({**confirmation, "SubscribeURL": "http://evil.example/"}, cert)
        # The endpoint's owner opens SubscribeURL, unsigned, as AWS intends.
        with urllib.request.urlopen(confirmation["SubscribeURL"]) as answer:
            assert answer.status == 200
        subscriptions = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
        assert subscriptions[0]["SubscriptionArn"].startswith(topic + ":")
        sns.publish(TopicArn=topic, Message="hello", Subject="greeting")
        (_, headers, body) = endpoint.wait_for(2)[1]
        assert headers["x-amz-sns-message-type"] == "Notification"
        assert headers["x-amz-sns-subscription-arn"] == subscriptions[0]["SubscriptionArn"]
        assert headers["content-type"] == "text/plain; charset=UTF-8"
        notification = json.loads(body)
        assert (notification["Message"], notification["Subject"]) == ("hello", "greeting")
        assert notification["SignatureVersion"] == version
        verify(notification, cert)
        with pytest.raises(InvalidSignature):
            verify({**notification, "Message": "forged"}, cert)
        # UnsubscribeURL works unsigned too.
        with urllib.request.urlopen(notification["UnsubscribeURL"]) as answer:
            assert answer.status == 200
        assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    finally:
        endpoint.close()


def test_failing_endpoint_is_retried_on_schedule_then_dead_lettered(clients):
    sns, sqs = clients
    endpoint = Endpoint()
    try:
        topic = sns.create_topic(Name="flaky")["TopicArn"]
        dlq = sqs.create_queue(QueueName="flaky-dlq")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint=endpoint.url, Attributes={
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn}),
            "DeliveryPolicy": json.dumps({"healthyRetryPolicy": {"numRetries": 2, "minDelayTarget": 1, "maxDelayTarget": 1}}),
        })
        (_, _, body), = endpoint.wait_for(1)
        sns.confirm_subscription(TopicArn=topic, Token=json.loads(body)["Token"])
        endpoint.status = 503
        sns.publish(TopicArn=topic, Message="to a broken endpoint")
        attempts = [at for at, _, _ in endpoint.wait_for(4)[1:]]
        gaps = [round(b - a, 1) for a, b in zip(attempts, attempts[1:])]
        assert all(0.8 <= gap <= 2.5 for gap in gaps), gaps
        deadline = time.monotonic() + 10
        messages = []
        while not messages and time.monotonic() < deadline:
            messages = sqs.receive_message(QueueUrl=dlq, WaitTimeSeconds=1).get("Messages", [])
        assert messages and "to a broken endpoint" in messages[0]["Body"]
    finally:
        endpoint.close()

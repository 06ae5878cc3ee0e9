"""Visibility timeouts, ChangeMessageVisibility and long polling (real time: timeouts of 1-2 s)."""
import threading
import time

import pytest

from wirehelpers import approx_counts, assert_empty, aws_error, receive_one


def test_received_message_is_hidden_then_reappears_after_the_visibility_timeout(sqs, make_queue):
    url = make_queue(VisibilityTimeout=1)
    sqs.send_message(QueueUrl=url, MessageBody="again")
    first = receive_one(sqs, url, AttributeNames=["ApproximateReceiveCount"])
    t0 = time.monotonic()
    assert approx_counts(sqs, url)[:2] == (0, 1)
    assert_empty(sqs, url, wait_seconds=0)
    second = receive_one(sqs, url, wait=4, AttributeNames=["ApproximateReceiveCount"])
    assert time.monotonic() - t0 >= 0.8
    assert second["MessageId"] == first["MessageId"]
    assert second["ReceiptHandle"] != first["ReceiptHandle"]
    assert (first["Attributes"]["ApproximateReceiveCount"], second["Attributes"]["ApproximateReceiveCount"]) == ("1", "2")


def test_per_receive_visibility_timeout_overrides_the_queue_default(sqs, make_queue):
    url = make_queue()  # 30 s default
    sqs.send_message(QueueUrl=url, MessageBody="short")
    receive_one(sqs, url, VisibilityTimeout=1)
    assert receive_one(sqs, url, wait=4)["Body"] == "short"


def test_receive_with_visibility_timeout_zero_leaves_the_message_visible(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="peek")
    receive_one(sqs, url, VisibilityTimeout=0)
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=0)
    assert [m["Body"] for m in r["Messages"]] == ["peek"]


def test_change_message_visibility_to_zero_releases_the_message(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="release")
    msg = receive_one(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=0)
    t0 = time.monotonic()
    again = receive_one(sqs, url, wait=2)
    assert again["MessageId"] == msg["MessageId"]
    assert time.monotonic() - t0 < 1.0


def test_change_message_visibility_extends_the_timeout_from_the_call(sqs, make_queue):
    url = make_queue(VisibilityTimeout=1)
    sqs.send_message(QueueUrl=url, MessageBody="extend")
    msg = receive_one(sqs, url)
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=4)
    assert_empty(sqs, url, wait_seconds=2)  # the original 1 s would have lapsed
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert approx_counts(sqs, url) == (0, 0, 0)


def test_change_message_visibility_with_a_malformed_handle_is_receipt_handle_is_invalid(sqs, make_queue):
    with aws_error(sqs, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"):
        sqs.change_message_visibility(QueueUrl=make_queue(), ReceiptHandle="garbage", VisibilityTimeout=5)


def test_change_message_visibility_above_twelve_hours_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="long")
    msg = receive_one(sqs, url)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=43201)


@pytest.mark.deviation("moto", aws="ChangeMessageVisibility on a message no longer in flight is a silent success "
                       "that changes nothing", actual="hides the visible message again")
def test_change_message_visibility_of_a_message_no_longer_in_flight_changes_nothing(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="stale")
    msg = receive_one(sqs, url, VisibilityTimeout=1)
    again = receive_one(sqs, url, wait=4, VisibilityTimeout=0)  # visible again; the first handle is stale
    assert again["MessageId"] == msg["MessageId"]
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"], VisibilityTimeout=30)
    assert receive_one(sqs, url, wait=1)["MessageId"] == msg["MessageId"]


def test_in_flight_messages_are_counted_as_not_visible(sqs, make_queue):
    url = make_queue()
    for body in ("a", "b", "c"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    assert approx_counts(sqs, url) == (3, 0, 0)
    receive_one(sqs, url)
    assert approx_counts(sqs, url) == (2, 1, 0)


# ------------------------------------------------------------------------------------------------------- long polling

def test_long_poll_returns_as_soon_as_another_thread_sends(sqs, make_queue):
    url = make_queue()

    def send_later():
        time.sleep(0.3)
        sqs.send_message(QueueUrl=url, MessageBody="wake up")

    t = threading.Thread(target=send_later)
    t0 = time.monotonic()
    t.start()
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2)
    elapsed = time.monotonic() - t0
    t.join()
    assert [m["Body"] for m in r["Messages"]] == ["wake up"]
    assert elapsed < 1.7, f"long poll returned after {elapsed:.2f} s"


def test_empty_long_poll_waits_and_returns_no_messages_key(sqs, make_queue):
    url = make_queue()
    t0 = time.monotonic()
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    elapsed = time.monotonic() - t0
    assert "Messages" not in r
    assert elapsed >= 0.9


def test_empty_short_poll_returns_no_messages_key_at_once(sqs, make_queue):
    t0 = time.monotonic()
    r = sqs.receive_message(QueueUrl=make_queue(), WaitTimeSeconds=0)
    assert "Messages" not in r
    assert time.monotonic() - t0 < 0.9


def test_long_poll_wakes_when_a_visibility_timeout_lapses(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="comes back")
    receive_one(sqs, url, VisibilityTimeout=1)
    t0 = time.monotonic()
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)
    elapsed = time.monotonic() - t0
    assert [m["Body"] for m in r["Messages"]] == ["comes back"]
    assert elapsed < 2.5, f"long poll returned after {elapsed:.2f} s"


def test_queue_receive_wait_time_makes_receives_long_polls(sqs, make_queue):
    url = make_queue(ReceiveMessageWaitTimeSeconds=1)
    t0 = time.monotonic()
    r = sqs.receive_message(QueueUrl=url)
    assert "Messages" not in r
    assert time.monotonic() - t0 >= 0.9


def test_long_poll_wakes_when_a_delay_ends(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    t0 = time.monotonic()
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3)
    elapsed = time.monotonic() - t0
    assert [m["Body"] for m in r["Messages"]] == ["delayed"]
    assert 0.7 <= elapsed < 2.5, f"long poll returned after {elapsed:.2f} s"

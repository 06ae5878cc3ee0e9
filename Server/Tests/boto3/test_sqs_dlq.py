"""Dead-letter queues, redrive (message move tasks) and PurgeQueue."""
import json
import time

import pytest

from wirehelpers import approx_counts, assert_empty, aws_error, queue_arn, receive_one

NOT_IMPLEMENTED_IN_MOTO = dict(aws="StartMessageMoveTask / ListMessageMoveTasks / CancelMessageMoveTask redrive a DLQ",
                               actual="does not implement message move tasks (NotImplementedError)")


@pytest.fixture
def with_dlq(sqs, make_queue):
    def make(max_receive_count: int, **source_attrs):
        dlq = make_queue("dlq")
        dlq_arn = queue_arn(sqs, dlq)
        policy = json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": max_receive_count})
        source = make_queue("src", RedrivePolicy=policy, **source_attrs)
        return source, dlq
    return make


def _receive_and_fail(sqs, url):
    """Receive one message and 'fail' it: make it visible again at once (no sleeping)."""
    return receive_one(sqs, url, wait=2, VisibilityTimeout=0, AttributeNames=["All"])


@pytest.mark.parametrize("max_receive_count", [1, 2])
def test_message_moves_to_dlq_on_the_receive_that_exceeds_max_receive_count(sqs, with_dlq, max_receive_count):
    source, dlq = with_dlq(max_receive_count)
    sent = sqs.send_message(QueueUrl=source, MessageBody="poison",
                            MessageAttributes={"k": {"DataType": "String", "StringValue": "v"}})
    for n in range(1, max_receive_count + 1):
        msg = _receive_and_fail(sqs, source)
        assert msg["Attributes"]["ApproximateReceiveCount"] == str(n)
    assert_empty(sqs, source, wait_seconds=0)
    dead = receive_one(sqs, dlq, MessageAttributeNames=["All"], AttributeNames=["All"])
    assert dead["MessageId"] == sent["MessageId"]
    assert dead["Body"] == "poison"
    assert dead["MessageAttributes"]["k"]["StringValue"] == "v"
    assert approx_counts(sqs, source) == (0, 0, 0)


@pytest.mark.deviation("moto", aws="a message moved to a DLQ carries the DeadLetterQueueSourceArn system attribute",
                       actual="does not set it")
def test_dead_lettered_message_names_its_source_queue(sqs, with_dlq):
    source, dlq = with_dlq(1)
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    _receive_and_fail(sqs, source)
    assert_empty(sqs, source, wait_seconds=0)
    dead = receive_one(sqs, dlq, AttributeNames=["All"])
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == queue_arn(sqs, source)


def test_redrive_policy_is_returned_as_json(sqs, with_dlq):
    source, dlq = with_dlq(3)
    policy = json.loads(sqs.get_queue_attributes(QueueUrl=source, AttributeNames=["RedrivePolicy"])["Attributes"]["RedrivePolicy"])
    assert policy["deadLetterTargetArn"] == queue_arn(sqs, dlq)
    assert int(policy["maxReceiveCount"]) == 3


def test_list_dead_letter_source_queues_names_the_sources(sqs, with_dlq, make_queue, sqs_protocol):
    source, dlq = with_dlq(2)
    other_policy = json.dumps({"deadLetterTargetArn": queue_arn(sqs, dlq), "maxReceiveCount": 5})
    second = make_queue("src2", RedrivePolicy=other_policy)
    urls = sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"]
    assert sorted(urls) == sorted([source, second])
    none = sqs.list_dead_letter_source_queues(QueueUrl=source)
    # queueUrls is a required member: JSON answers [], Query XML has no element to parse
    assert (none["queueUrls"] if sqs_protocol == "json" else none.get("queueUrls", [])) == []


@pytest.mark.deviation("moto", **NOT_IMPLEMENTED_IN_MOTO)
def test_message_move_task_redrives_dlq_messages_to_their_source(sqs, with_dlq):
    source, dlq = with_dlq(1)
    sqs.send_message(QueueUrl=source, MessageBody="redrive me")
    _receive_and_fail(sqs, source)
    assert_empty(sqs, source, wait_seconds=0)
    dlq_arn = queue_arn(sqs, dlq)
    assert approx_counts(sqs, dlq)[0] == 1
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    assert handle
    back = receive_one(sqs, source, wait=6, AttributeNames=["All"])
    assert back["Body"] == "redrive me"
    assert back["Attributes"]["ApproximateReceiveCount"] == "1"  # receive history starts over
    sqs.delete_message(QueueUrl=source, ReceiptHandle=back["ReceiptHandle"])
    deadline = time.monotonic() + 5
    while True:
        tasks = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if tasks and tasks[0]["Status"] == "COMPLETED" or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert tasks[0]["Status"] == "COMPLETED"
    assert tasks[0]["SourceArn"] == dlq_arn
    assert tasks[0]["ApproximateNumberOfMessagesMoved"] == 1
    assert approx_counts(sqs, dlq) == (0, 0, 0)
    assert approx_counts(sqs, source) == (0, 0, 0)


@pytest.mark.deviation("moto", **NOT_IMPLEMENTED_IN_MOTO)
def test_message_move_task_to_an_explicit_destination(sqs, with_dlq, make_queue):
    source, dlq = with_dlq(1)
    target = make_queue("dest")
    sqs.send_message(QueueUrl=source, MessageBody="elsewhere")
    _receive_and_fail(sqs, source)
    assert_empty(sqs, source, wait_seconds=0)
    sqs.start_message_move_task(SourceArn=queue_arn(sqs, dlq), DestinationArn=queue_arn(sqs, target),
                                MaxNumberOfMessagesPerSecond=50)
    assert receive_one(sqs, target, wait=6)["Body"] == "elsewhere"


@pytest.mark.deviation("moto", **NOT_IMPLEMENTED_IN_MOTO)
def test_cancel_of_an_unknown_move_task_is_resource_not_found(sqs):
    with aws_error(sqs, "ResourceNotFoundException", "ResourceNotFoundException", status=404):
        sqs.cancel_message_move_task(TaskHandle="eyJ0YXNrSWQiOiJub3BlIn0=")


# -------------------------------------------------------------------------------------------------------------- purge

def test_purge_queue_removes_visible_in_flight_and_delayed_messages(sqs, make_queue):
    url = make_queue()
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    sqs.send_message(QueueUrl=url, MessageBody="delayed", DelaySeconds=1)
    receive_one(sqs, url, VisibilityTimeout=1)
    sqs.purge_queue(QueueUrl=url)
    assert approx_counts(sqs, url) == (0, 0, 0)
    assert_empty(sqs, url, wait_seconds=2)


@pytest.mark.deviation("moto", aws="only one PurgeQueue per queue every 60 s (PurgeQueueInProgress, HTTP 403)",
                       actual="allows repeated purges")
def test_second_purge_within_sixty_seconds_is_purge_queue_in_progress(sqs, make_queue):
    url = make_queue()
    sqs.purge_queue(QueueUrl=url)
    with aws_error(sqs, "PurgeQueueInProgress", "AWS.SimpleQueueService.PurgeQueueInProgress", status=403):
        sqs.purge_queue(QueueUrl=url)


def test_purge_of_a_missing_queue_is_queue_does_not_exist(sqs, make_queue):
    url = make_queue()
    sqs.delete_queue(QueueUrl=url)
    with aws_error(sqs, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue"):
        sqs.purge_queue(QueueUrl=url)


@pytest.mark.deviation("moto", **NOT_IMPLEMENTED_IN_MOTO)
def test_second_active_move_task_is_unsupported_and_cancel_stops_the_first(sqs, with_dlq):
    source, dlq = with_dlq(1)
    for i in range(3):
        sqs.send_message(QueueUrl=source, MessageBody=f"slow-{i}")
    for _ in range(3):
        _receive_and_fail(sqs, source)
    assert_empty(sqs, source, wait_seconds=0)
    assert approx_counts(sqs, dlq)[0] == 3
    dlq_arn = queue_arn(sqs, dlq)
    handle = sqs.start_message_move_task(SourceArn=dlq_arn, MaxNumberOfMessagesPerSecond=1)["TaskHandle"]
    with aws_error(sqs, "UnsupportedOperation", "AWS.SimpleQueueService.UnsupportedOperation"):
        sqs.start_message_move_task(SourceArn=dlq_arn)
    assert sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"] == "RUNNING"
    sqs.cancel_message_move_task(TaskHandle=handle)
    deadline = time.monotonic() + 5
    while (status := sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"][0]["Status"]) != "CANCELLED":
        assert status in ("RUNNING", "CANCELLING") and time.monotonic() < deadline, status
        time.sleep(0.1)
    moved = sum(approx_counts(sqs, source))
    assert moved < 3 and moved + sum(approx_counts(sqs, dlq)) == 3

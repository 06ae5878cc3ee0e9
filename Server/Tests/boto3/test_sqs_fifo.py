"""FIFO queues: naming, group ordering and blocking, deduplication, sequence numbers."""
import pytest

from wirehelpers import assert_empty, aws_error, md5_hex, receive_all, receive_one, unique


def test_fifo_queue_reports_its_type_and_defaults(sqs, make_queue):
    url = make_queue(fifo=True)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attrs["FifoQueue"] == "true"
    assert attrs["ContentBasedDeduplication"] == "false"
    assert url.endswith(".fifo")


def test_fifo_queue_name_must_end_with_fifo(sqs):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.create_queue(QueueName=unique("nosuffix"), Attributes={"FifoQueue": "true"})


@pytest.mark.deviation("moto", aws="a standard queue name allows only [A-Za-z0-9_-], so '.fifo' without "
                       "FifoQueue=true is InvalidParameterValue", actual="creates a standard queue named *.fifo")
def test_fifo_suffix_without_fifo_attribute_is_invalid_parameter_value(sqs):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.create_queue(QueueName=unique("suffix") + ".fifo")


def test_fifo_queue_name_counts_the_suffix_in_its_80_characters(sqs, make_queue):
    base = unique("n")
    ok = base + "x" * (75 - len(base)) + ".fifo"
    assert make_queue(name=ok, FifoQueue="true").endswith(ok)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.create_queue(QueueName=base + "x" * (76 - len(base)) + ".fifo", Attributes={"FifoQueue": "true"})


def test_send_to_fifo_queue_without_message_group_id_is_missing_parameter(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    with aws_error(sqs, None, "MissingParameter"):
        sqs.send_message(QueueUrl=url, MessageBody="no group")


def test_send_to_fifo_queue_without_deduplication_id_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue(fifo=True)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="no dedup", MessageGroupId="g")


def test_per_message_delay_on_fifo_queue_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="delayed", MessageGroupId="g", DelaySeconds=2)


def test_messages_of_a_group_are_received_in_send_order(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for i in range(6):
        group = "a" if i % 2 == 0 else "b"
        sqs.send_message(QueueUrl=url, MessageBody=f"{group}{i}", MessageGroupId=group)
    got = receive_all(sqs, url, 6, AttributeNames=["MessageGroupId"])
    sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(got)])
    by_group = {}
    for m in got:
        by_group.setdefault(m["Attributes"]["MessageGroupId"], []).append(m["Body"])
    assert by_group == {"a": ["a0", "a2", "a4"], "b": ["b1", "b3", "b5"]}


def test_group_is_blocked_while_one_of_its_messages_is_in_flight(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for body, group in [("a1", "a"), ("a2", "a"), ("b1", "b")]:
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId=group)
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1)["Messages"][0]
    assert first["Body"] == "a1"
    rest = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)["Messages"]
    assert [m["Body"] for m in rest] == ["b1"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert receive_one(sqs, url)["Body"] == "a2"


def test_group_message_returns_to_the_head_of_its_group_after_visibility_lapses(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for body in ("first", "second"):
        sqs.send_message(QueueUrl=url, MessageBody=body, MessageGroupId="g")
    msg = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, VisibilityTimeout=1)["Messages"][0]
    assert msg["Body"] == "first"
    again = receive_one(sqs, url, wait=4)
    assert again["Body"] == "first"


def test_explicit_deduplication_id_drops_the_duplicate(sqs, make_queue):
    url = make_queue(fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="one", MessageGroupId="g", MessageDeduplicationId="d-1")
    sqs.send_message(QueueUrl=url, MessageBody="one again", MessageGroupId="g", MessageDeduplicationId="d-1")
    sqs.send_message(QueueUrl=url, MessageBody="two", MessageGroupId="g", MessageDeduplicationId="d-2")
    got = receive_all(sqs, url, 3, wait=2)
    assert [m["Body"] for m in got] == ["one", "two"]


@pytest.mark.deviation("moto", aws="a deduplicated send answers the original MessageId", actual="answers a new MessageId")
def test_duplicate_send_answers_the_original_message_id(sqs, make_queue):
    url = make_queue(fifo=True)
    a = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="same")
    b = sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId="g", MessageDeduplicationId="same")
    assert b["MessageId"] == a["MessageId"]


def test_content_based_deduplication_drops_an_identical_body(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="same body", MessageGroupId="g")
    sqs.send_message(QueueUrl=url, MessageBody="other body", MessageGroupId="g")
    got = receive_all(sqs, url, 3, wait=2)
    assert [m["Body"] for m in got] == ["same body", "other body"]


@pytest.mark.deviation("moto", aws="the deduplication window (5 min) outlives the message's deletion",
                       actual="only compares against stored messages, so the duplicate is delivered after a delete")
def test_deduplication_outlives_delete(sqs, make_queue):
    url = make_queue(fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="once")
    msg = receive_one(sqs, url)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    sqs.send_message(QueueUrl=url, MessageBody="once", MessageGroupId="g", MessageDeduplicationId="once")
    assert_empty(sqs, url, wait_seconds=1)


def test_sequence_numbers_are_returned_on_send_and_receive(sqs, make_queue):
    url = make_queue(fifo=True)
    seqs = [sqs.send_message(QueueUrl=url, MessageBody=str(i), MessageGroupId="g",
                             MessageDeduplicationId=f"d{i}")["SequenceNumber"] for i in range(3)]
    assert all(s.isdigit() for s in seqs) and len(set(seqs)) == 3
    got = receive_all(sqs, url, 3, AttributeNames=["All"])
    assert [m["Attributes"]["SequenceNumber"] for m in got] == seqs


@pytest.mark.deviation("moto", aws="SequenceNumber increases with every send to a queue", actual="uses random numbers")
def test_sequence_numbers_increase(sqs, make_queue):
    url = make_queue(fifo=True)
    seqs = [int(sqs.send_message(QueueUrl=url, MessageBody=str(i), MessageGroupId="g",
                                 MessageDeduplicationId=f"d{i}")["SequenceNumber"]) for i in range(8)]
    assert seqs == sorted(seqs) and len(set(seqs)) == 8  # random numbers would pass with p = 1/40320


@pytest.mark.deviation("moto", aws="SequenceNumber is returned for every FIFO send, with or without an explicit "
                       "deduplication id", actual="returns it only when MessageDeduplicationId is given")
def test_sequence_number_is_returned_with_content_based_deduplication(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    r = sqs.send_message(QueueUrl=url, MessageBody="content", MessageGroupId="g")
    assert r["SequenceNumber"].isdigit()


def test_received_fifo_message_carries_group_and_deduplication_ids(sqs, make_queue):
    url = make_queue(fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="ids", MessageGroupId="grp-1", MessageDeduplicationId="dd-1")
    msg = receive_one(sqs, url, AttributeNames=["All"])
    assert msg["Attributes"]["MessageGroupId"] == "grp-1"
    assert msg["Attributes"]["MessageDeduplicationId"] == "dd-1"
    assert msg["MD5OfBody"] == md5_hex("ids")


def test_send_message_batch_to_fifo_queue_keeps_entry_order(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "MessageBody": f"m{i}", "MessageGroupId": "g"} for i in range(5)])
    assert len(r["Successful"]) == 5
    assert [m["Body"] for m in receive_all(sqs, url, 5)] == [f"m{i}" for i in range(5)]


@pytest.mark.parametrize("group", ["", "a" * 129, "group 123"], ids=["empty", "129-chars", "space"])
@pytest.mark.deviation("moto", aws="MessageGroupId must be 1-128 alphanumeric or punctuation characters "
                       "(InvalidParameterValue)", actual="accepts it")
def test_invalid_message_group_id_is_invalid_parameter_value(sqs, make_queue, group):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="x", MessageGroupId=group)


@pytest.mark.deviation("moto", aws="on FIFO queues an expired receipt handle cannot delete: InvalidParameterValue "
                       "'The receipt handle has expired.'", actual="deletes the message")
def test_fifo_delete_with_an_expired_handle_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    sqs.send_message(QueueUrl=url, MessageBody="expires", MessageGroupId="g")
    old = receive_one(sqs, url, VisibilityTimeout=1)["ReceiptHandle"]
    new = receive_one(sqs, url, wait=4)  # visible again after 1 s: the first handle has expired
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=old)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=new["ReceiptHandle"])


def test_purge_clears_the_deduplication_history(sqs, make_queue):
    url = make_queue(fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="before purge", MessageGroupId="g", MessageDeduplicationId="p")
    sqs.purge_queue(QueueUrl=url)
    sqs.send_message(QueueUrl=url, MessageBody="after purge", MessageGroupId="g", MessageDeduplicationId="p")
    assert receive_one(sqs, url)["Body"] == "after purge"


def test_deduplication_is_queue_wide_across_groups_by_default(sqs, make_queue):
    url = make_queue(fifo=True)
    sqs.send_message(QueueUrl=url, MessageBody="group a", MessageGroupId="a", MessageDeduplicationId="shared")
    sqs.send_message(QueueUrl=url, MessageBody="group b", MessageGroupId="b", MessageDeduplicationId="shared")
    assert [m["Body"] for m in receive_all(sqs, url, 2, wait=2)] == ["group a"]


@pytest.mark.deviation("moto", aws="DeduplicationScope=messageGroup deduplicates within each group",
                       actual="keeps deduplication queue-wide")
def test_message_group_deduplication_scope_deduplicates_per_group(sqs, make_queue):
    url = make_queue(fifo=True, DeduplicationScope="messageGroup", FifoThroughputLimit="perMessageGroupId")
    sqs.send_message(QueueUrl=url, MessageBody="group a", MessageGroupId="a", MessageDeduplicationId="shared")
    sqs.send_message(QueueUrl=url, MessageBody="group b", MessageGroupId="b", MessageDeduplicationId="shared")
    assert sorted(m["Body"] for m in receive_all(sqs, url, 2)) == ["group a", "group b"]


@pytest.mark.deviation("moto", aws="a FIFO receive retried with the same ReceiveRequestAttemptId returns the same "
                       "messages and receipt handles", actual="ignores the attempt id")
def test_receive_request_attempt_id_repeats_the_same_batch(sqs, make_queue):
    url = make_queue(fifo=True, ContentBasedDeduplication="true")
    for i in range(3):
        sqs.send_message(QueueUrl=url, MessageBody=f"m{i}", MessageGroupId="g")
    first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    retry = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, ReceiveRequestAttemptId="attempt-1")["Messages"]
    assert [m["Body"] for m in retry] == [m["Body"] for m in first] == ["m0", "m1"]
    assert [m["ReceiptHandle"] for m in retry] == [m["ReceiptHandle"] for m in first]

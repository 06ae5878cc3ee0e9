"""SQS batch actions: per-entry results and whole-request errors."""
import pytest

from wirehelpers import approx_counts, assert_empty, aws_error, md5_hex, md5_of_message_attributes, receive_all, receive_one

ATTR = {"k": {"DataType": "String", "StringValue": "v"}}


def test_send_message_batch_reports_each_entry_with_digests(sqs, make_queue):
    url = make_queue()
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "a", "MessageBody": "one"},
        {"Id": "b-2_x", "MessageBody": "two", "MessageAttributes": ATTR},
    ])
    assert r.get("Failed", []) == []
    by_id = {e["Id"]: e for e in r["Successful"]}
    assert set(by_id) == {"a", "b-2_x"}
    assert by_id["a"]["MD5OfMessageBody"] == md5_hex("one")
    assert "MD5OfMessageAttributes" not in by_id["a"]
    assert by_id["b-2_x"]["MD5OfMessageBody"] == md5_hex("two")
    assert by_id["b-2_x"]["MD5OfMessageAttributes"] == md5_of_message_attributes(ATTR) == "0a77b0642718c3d9dd47090567d11e0d"
    got = receive_all(sqs, url, 2)
    assert sorted(m["Body"] for m in got) == ["one", "two"]
    assert {m["MessageId"] for m in got} == {e["MessageId"] for e in r["Successful"]}


@pytest.mark.deviation("moto", aws="an entry with characters outside the allowed set fails on its own "
                       "(InvalidMessageContents) while the others are sent", actual="sends every entry")
def test_send_message_batch_with_one_bad_entry_sends_the_rest(sqs, make_queue):
    url = make_queue()
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "good1", "MessageBody": "fine"},
        {"Id": "bad", "MessageBody": "nul\x00byte"},
        {"Id": "good2", "MessageBody": "also fine"},
    ])
    assert sorted(e["Id"] for e in r["Successful"]) == ["good1", "good2"]
    assert len(r["Failed"]) == 1
    failed = r["Failed"][0]
    assert failed["Id"] == "bad" and failed["SenderFault"] is True
    assert failed["Code"] == "InvalidMessageContents"
    assert sorted(m["Body"] for m in receive_all(sqs, url, 2)) == ["also fine", "fine"]


@pytest.mark.deviation("moto", aws="an oversized entry fails on its own (Failed, InvalidParameterValue) while the "
                       "others are sent", actual="fails the whole request with InvalidParameterValue")
def test_send_message_batch_with_one_oversized_entry_sends_the_rest(sqs, make_queue):
    url = make_queue(MaximumMessageSize=1024)
    r = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "ok", "MessageBody": "small"},
        {"Id": "big", "MessageBody": "x" * 1025},
    ])
    assert [e["Id"] for e in r["Successful"]] == ["ok"]
    assert [(e["Id"], e["SenderFault"]) for e in r["Failed"]] == [("big", True)]
    assert r["Failed"][0]["Code"] == "InvalidParameterValue"


def test_send_message_batch_over_one_mebibyte_is_batch_request_too_long(sqs, make_queue):
    url = make_queue()
    with aws_error(sqs, "BatchRequestTooLong", "AWS.SimpleQueueService.BatchRequestTooLong"):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x" * 600_000} for i in range(2)])
    assert approx_counts(sqs, url) == (0, 0, 0)


def test_delete_message_batch_with_a_bad_handle_deletes_the_rest(sqs, make_queue):
    url = make_queue()
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "a"}, {"Id": "2", "MessageBody": "b"}])
    msgs = receive_all(sqs, url, 2)
    r = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "m1", "ReceiptHandle": msgs[0]["ReceiptHandle"]},
        {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle"},
        {"Id": "m2", "ReceiptHandle": msgs[1]["ReceiptHandle"]},
    ])
    assert sorted(e["Id"] for e in r["Successful"]) == ["m1", "m2"]
    assert [(e["Id"], e["SenderFault"], e["Code"]) for e in r["Failed"]] == [("bogus", True, "ReceiptHandleIsInvalid")]
    assert approx_counts(sqs, url) == (0, 0, 0)


def test_change_message_visibility_batch_applies_per_entry(sqs, make_queue):
    url = make_queue()
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": "1", "MessageBody": "released"}, {"Id": "2", "MessageBody": "kept"}])
    msgs = {m["Body"]: m for m in receive_all(sqs, url, 2)}
    r = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "rel", "ReceiptHandle": msgs["released"]["ReceiptHandle"], "VisibilityTimeout": 0},
        {"Id": "keep", "ReceiptHandle": msgs["kept"]["ReceiptHandle"], "VisibilityTimeout": 60},
        {"Id": "bogus", "ReceiptHandle": "not-a-receipt-handle", "VisibilityTimeout": 0},
    ])
    assert sorted(e["Id"] for e in r["Successful"]) == ["keep", "rel"]
    assert [(e["Id"], e["SenderFault"], e["Code"]) for e in r["Failed"]] == [("bogus", True, "ReceiptHandleIsInvalid")]
    again = receive_one(sqs, url, wait=2)
    assert again["Body"] == "released"
    assert_empty(sqs, url, wait_seconds=0)


# ------------------------------------------------------------------------------------------ whole-request batch errors

def _entries(op, ids):
    if op == "send":
        return [{"Id": i, "MessageBody": "x"} for i in ids]
    if op == "delete":
        return [{"Id": i, "ReceiptHandle": f"handle-{n}"} for n, i in enumerate(ids)]
    return [{"Id": i, "ReceiptHandle": f"handle-{n}", "VisibilityTimeout": 0} for n, i in enumerate(ids)]


def _call(sqs, op, url, entries):
    fn = {"send": sqs.send_message_batch, "delete": sqs.delete_message_batch,
          "visibility": sqs.change_message_visibility_batch}[op]
    return fn(QueueUrl=url, Entries=entries)


def _moto(aws, actual):
    return pytest.mark.deviation("moto", aws=aws, actual=actual)


BATCH_ERRORS = [
    pytest.param("send", [], "EmptyBatchRequest", id="send-empty"),
    pytest.param("delete", [], "EmptyBatchRequest", id="delete-empty"),
    pytest.param("visibility", [], "EmptyBatchRequest", id="visibility-empty", marks=_moto(
        "ChangeMessageVisibilityBatch without entries is EmptyBatchRequest", "answers success")),
    pytest.param("send", [str(i) for i in range(11)], "TooManyEntriesInBatchRequest", id="send-11"),
    pytest.param("delete", [str(i) for i in range(11)], "TooManyEntriesInBatchRequest", id="delete-11", marks=_moto(
        "DeleteMessageBatch with 11 entries is TooManyEntriesInBatchRequest", "processes every entry")),
    pytest.param("visibility", [str(i) for i in range(11)], "TooManyEntriesInBatchRequest", id="visibility-11",
                 marks=_moto("ChangeMessageVisibilityBatch with 11 entries is TooManyEntriesInBatchRequest",
                             "processes every entry")),
    pytest.param("send", ["same", "same"], "BatchEntryIdsNotDistinct", id="send-repeated-id"),
    pytest.param("delete", ["same", "same"], "BatchEntryIdsNotDistinct", id="delete-repeated-id", marks=_moto(
        "repeated entry Ids are BatchEntryIdsNotDistinct", "checks repeated receipt handles, not Ids")),
    pytest.param("visibility", ["same", "same"], "BatchEntryIdsNotDistinct", id="visibility-repeated-id", marks=_moto(
        "repeated entry Ids are BatchEntryIdsNotDistinct", "checks repeated receipt handles, not Ids")),
    pytest.param("send", ["has space"], "InvalidBatchEntryId", id="send-id-space"),
    pytest.param("send", ["dot.ted"], "InvalidBatchEntryId", id="send-id-dot"),
    pytest.param("send", ["x" * 81], "InvalidBatchEntryId", id="send-id-81-chars"),
    pytest.param("delete", ["no way!"], "InvalidBatchEntryId", id="delete-id-punctuation", marks=_moto(
        "entry Ids outside [A-Za-z0-9_-]{1,80} are InvalidBatchEntryId", "validates Ids only in SendMessageBatch")),
    pytest.param("visibility", ["no way!"], "InvalidBatchEntryId", id="visibility-id-punctuation", marks=_moto(
        "entry Ids outside [A-Za-z0-9_-]{1,80} are InvalidBatchEntryId", "validates Ids only in SendMessageBatch")),
]


@pytest.mark.parametrize("op, ids, shape", BATCH_ERRORS)
def test_batch_request_errors_reject_the_whole_request(sqs, make_queue, op, ids, shape):
    url = make_queue()
    with aws_error(sqs, shape, f"AWS.SimpleQueueService.{shape}", status=400):
        _call(sqs, op, url, _entries(op, ids))
    assert approx_counts(sqs, url) == (0, 0, 0)

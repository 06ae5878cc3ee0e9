"""SQS messages: send / receive / delete, digests, attributes, bodies and their validation."""
import time

import pytest

from wirehelpers import approx_counts, assert_empty, aws_error, md5_hex, md5_of_message_attributes, receive_one

NONEXISTENT = ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")

ATTRS = {
    "color": {"DataType": "String", "StringValue": "red"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xfe\xff"},
    "price": {"DataType": "Number.float", "StringValue": "9.99"},
    "label": {"DataType": "String.custom", "StringValue": "héllo ✓"},
}


def test_send_receive_delete_round_trip(sqs, make_queue):
    url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody="hello")
    assert sent["MD5OfMessageBody"] == md5_hex("hello") == "5d41402abc4b2a76b9719d911017c592"
    assert sent["MessageId"]
    msg = receive_one(sqs, url)
    assert msg["Body"] == "hello"
    assert msg["MessageId"] == sent["MessageId"]
    assert msg["MD5OfBody"] == md5_hex("hello")
    assert msg["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=msg["ReceiptHandle"])
    assert approx_counts(sqs, url) == (0, 0, 0)
    assert_empty(sqs, url, wait_seconds=0, VisibilityTimeout=0)


def test_send_without_attributes_has_no_attribute_digest(sqs, make_queue):
    url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody="plain")
    assert "MD5OfMessageAttributes" not in sent
    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    assert "MessageAttributes" not in msg
    assert "MD5OfMessageAttributes" not in msg


def test_send_digest_of_message_attributes_matches_reference(sqs, make_queue):
    url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody="with attributes", MessageAttributes=ATTRS)
    assert sent["MD5OfMessageAttributes"] == md5_of_message_attributes(ATTRS)


def test_send_digest_matches_the_value_real_aws_returned(sqs, make_queue):
    sent = sqs.send_message(QueueUrl=make_queue(), MessageBody='{"foo":20}',
                            MessageAttributes={"baz": {"DataType": "String", "StringValue": "qux"}})
    assert sent["MD5OfMessageBody"] == "d6cf0f93237ada70daf9b6e75cfff2e6"
    assert sent["MD5OfMessageAttributes"] == "16bd0283a5b4962721ccd3efe4bc6257"


def test_received_message_attributes_round_trip_string_number_binary(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="attrs", MessageAttributes=ATTRS)
    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    got = msg["MessageAttributes"]
    assert set(got) == set(ATTRS)
    for name, value in ATTRS.items():
        assert got[name]["DataType"] == value["DataType"]
        key = "BinaryValue" if "BinaryValue" in value else "StringValue"
        assert got[name][key] == value[key], name
    assert msg["MD5OfMessageAttributes"] == md5_of_message_attributes(ATTRS)


def test_receive_returns_only_the_selected_attributes_and_their_digest(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="subset", MessageAttributes=ATTRS)
    msg = receive_one(sqs, url, MessageAttributeNames=["color", "count"])
    assert set(msg["MessageAttributes"]) == {"color", "count"}
    subset = {k: ATTRS[k] for k in ("color", "count")}
    assert msg["MD5OfMessageAttributes"] == md5_of_message_attributes(subset)


def test_receive_without_attribute_names_returns_no_message_attributes(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="hidden attrs", MessageAttributes=ATTRS)
    msg = receive_one(sqs, url)
    assert "MessageAttributes" not in msg


def test_receive_selects_attributes_by_prefix_wildcard(sqs, make_queue):
    url = make_queue()
    attrs = {"order.id": {"DataType": "String", "StringValue": "1"},
             "order.total": {"DataType": "Number", "StringValue": "10"},
             "other": {"DataType": "String", "StringValue": "x"}}
    sqs.send_message(QueueUrl=url, MessageBody="prefix", MessageAttributes=attrs)
    msg = receive_one(sqs, url, MessageAttributeNames=["order.*"])
    assert set(msg["MessageAttributes"]) == {"order.id", "order.total"}


@pytest.mark.parametrize("body", [
    "line1\r\nline2\r\n",
    "\r",
    "tab\tand\nnewline",
    "naïve café – 日本語 – 🚀",
    "<xml attr=\"1\">&amp; ' </xml>",
    " leading and trailing spaces ",
    "\ue000\ufffd\U0010ffff",
], ids=["crlf", "lone-cr", "tab-lf", "non-ascii", "xml-specials", "spaces", "edge-of-allowed-ranges"])
def test_body_is_preserved_byte_for_byte(sqs, make_queue, body):
    url = make_queue()
    sent = sqs.send_message(QueueUrl=url, MessageBody=body)
    assert sent["MD5OfMessageBody"] == md5_hex(body)
    msg = receive_one(sqs, url)
    assert msg["Body"].encode("utf-8") == body.encode("utf-8")
    assert msg["MD5OfBody"] == md5_hex(body)


@pytest.mark.parametrize("body", ["nul\x00", "bell\x07", "esc\x1b", "\ufffe", "\uffff"],
                         ids=["nul", "bell", "escape", "U+FFFE", "U+FFFF"])
@pytest.mark.deviation("moto", aws="bodies with characters outside #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD "
                       "#x10000-#x10FFFF fail with InvalidMessageContents", actual="accepts them")
def test_body_with_characters_outside_the_allowed_set_is_invalid_message_contents(sqs, make_queue, body):
    with aws_error(sqs, "InvalidMessageContents", "InvalidMessageContents"):
        sqs.send_message(QueueUrl=make_queue(), MessageBody=body)


@pytest.mark.deviation("moto", aws="an empty MessageBody fails with MissingParameter", actual="accepts an empty body")
def test_empty_body_is_missing_parameter(sqs, make_queue):
    with aws_error(sqs, None, "MissingParameter"):
        sqs.send_message(QueueUrl=make_queue(), MessageBody="")


def test_body_larger_than_maximum_message_size_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue(MaximumMessageSize=1024)
    sqs.send_message(QueueUrl=url, MessageBody="x" * 1024)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1025)


def test_body_larger_than_the_default_one_mebibyte_is_invalid_parameter_value(sqs, make_queue):
    url = make_queue()
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="x" * (1048576 + 1))


@pytest.mark.deviation("moto", aws="message size counts UTF-8 bytes", actual="counts characters")
def test_message_size_counts_utf8_bytes(sqs, make_queue):
    url = make_queue(MaximumMessageSize=1024)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="é" * 600)  # 600 characters, 1200 bytes


@pytest.mark.deviation("moto", aws="message size includes attribute names, types and values",
                       actual="counts the body only")
def test_message_size_includes_attributes(sqs, make_queue):
    url = make_queue(MaximumMessageSize=1024)
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=url, MessageBody="x" * 1000,
                         MessageAttributes={"pad": {"DataType": "String", "StringValue": "y" * 100}})


def test_system_attributes_count_receives_and_record_send_time(sqs, make_queue):
    url = make_queue()
    before_ms = int(time.time() * 1000)
    sqs.send_message(QueueUrl=url, MessageBody="counted")
    first = receive_one(sqs, url, AttributeNames=["All"], VisibilityTimeout=0)
    second = receive_one(sqs, url, AttributeNames=["All"], VisibilityTimeout=0)
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    sent_ts = int(first["Attributes"]["SentTimestamp"])
    assert before_ms - 5000 <= sent_ts <= int(time.time() * 1000) + 5000
    assert second["Attributes"]["SentTimestamp"] == first["Attributes"]["SentTimestamp"]
    assert second["Attributes"]["ApproximateFirstReceiveTimestamp"] == first["Attributes"]["ApproximateFirstReceiveTimestamp"]
    assert int(first["Attributes"]["ApproximateFirstReceiveTimestamp"]) >= sent_ts
    assert first["Attributes"]["SenderId"]


def test_receive_returns_only_the_named_system_attributes(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="some")
    msg = receive_one(sqs, url, AttributeNames=["SentTimestamp"])
    assert set(msg["Attributes"]) == {"SentTimestamp"}


def test_message_system_attribute_names_selects_system_attributes(sqs, make_queue, sqs_protocol):
    if sqs_protocol == "query":
        pytest.skip("MessageSystemAttributeNames is not in the 1.34.89 Query model")
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="x")
    msg = receive_one(sqs, url, MessageSystemAttributeNames=["ApproximateReceiveCount"])
    assert msg["Attributes"] == {"ApproximateReceiveCount": "1"}


@pytest.mark.deviation("moto", aws="SendMessage answers MD5OfMessageSystemAttributes for AWSTraceHeader",
                       actual="leaves the digest out")
def test_aws_trace_header_is_returned_with_its_digest(sqs, make_queue):
    url = make_queue()
    trace = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="traced", MessageSystemAttributes=trace)
    assert sent["MD5OfMessageSystemAttributes"] == md5_of_message_attributes(trace)
    msg = receive_one(sqs, url, AttributeNames=["AWSTraceHeader"])
    assert msg["Attributes"]["AWSTraceHeader"] == trace["AWSTraceHeader"]["StringValue"]


def test_delayed_message_becomes_visible_after_its_delay(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=1)
    assert approx_counts(sqs, url) == (0, 0, 1)
    assert_empty(sqs, url, wait_seconds=0)
    assert receive_one(sqs, url, wait=4)["Body"] == "later"


def test_queue_delay_applies_to_every_message(sqs, make_queue):
    url = make_queue(DelaySeconds=1)
    sqs.send_message(QueueUrl=url, MessageBody="queue-delayed")
    assert_empty(sqs, url, wait_seconds=0)
    assert receive_one(sqs, url, wait=4)["Body"] == "queue-delayed"


def test_per_message_delay_over_900_is_invalid_parameter_value(sqs, make_queue):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=make_queue(), MessageBody="x", DelaySeconds=901)


def test_receive_at_most_max_number_of_messages(sqs, make_queue):
    url = make_queue()
    for i in range(5):
        sqs.send_message(QueueUrl=url, MessageBody=str(i))
    r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, WaitTimeSeconds=1)
    assert 1 <= len(r["Messages"]) <= 3


@pytest.mark.parametrize("n", [0, 11])
def test_max_number_of_messages_outside_1_to_10_is_invalid_parameter_value(sqs, make_queue, n):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.receive_message(QueueUrl=make_queue(), MaxNumberOfMessages=n)


def test_wait_time_seconds_over_20_is_invalid_parameter_value(sqs, make_queue):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.receive_message(QueueUrl=make_queue(), WaitTimeSeconds=21)


def test_delete_with_a_malformed_receipt_handle_is_receipt_handle_is_invalid(sqs, make_queue):
    with aws_error(sqs, "ReceiptHandleIsInvalid", "ReceiptHandleIsInvalid"):
        sqs.delete_message(QueueUrl=make_queue(), ReceiptHandle="not-a-receipt-handle")


def test_deleting_a_message_twice_succeeds(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="twice")
    handle = receive_one(sqs, url)["ReceiptHandle"]
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert approx_counts(sqs, url) == (0, 0, 0)


def test_message_operations_on_missing_queue_are_queue_does_not_exist(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="x")
    handle = receive_one(sqs, url)["ReceiptHandle"]
    sqs.delete_queue(QueueUrl=url)
    with aws_error(sqs, *NONEXISTENT):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    with aws_error(sqs, *NONEXISTENT):
        sqs.receive_message(QueueUrl=url)
    with aws_error(sqs, *NONEXISTENT):
        sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    with aws_error(sqs, *NONEXISTENT):
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)


@pytest.mark.deviation("moto", aws="a message attribute with an empty value is InvalidParameterValue",
                       actual="accepts it")
def test_attribute_with_an_empty_string_value_is_invalid_parameter_value(sqs, make_queue):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=make_queue(), MessageBody="x",
                         MessageAttributes={"ErrorDetails": {"DataType": "String", "StringValue": ""}})


@pytest.mark.deviation("moto", aws="at most 10 message attributes (InvalidParameterValue)", actual="accepts 11")
def test_more_than_ten_message_attributes_is_invalid_parameter_value(sqs, make_queue):
    attrs = {f"a{i}": {"DataType": "String", "StringValue": "v"} for i in range(11)}
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.send_message(QueueUrl=make_queue(), MessageBody="x", MessageAttributes=attrs)


def test_last_receipt_handle_deletes_even_after_its_visibility_lapsed(sqs, make_queue):
    url = make_queue()
    sqs.send_message(QueueUrl=url, MessageBody="late delete")
    handle = receive_one(sqs, url, VisibilityTimeout=1)["ReceiptHandle"]
    time.sleep(1.3)  # real time is the point: the handle's visibility lapses, nobody receives again
    sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
    assert approx_counts(sqs, url) == (0, 0, 0)
    assert_empty(sqs, url, wait_seconds=0)

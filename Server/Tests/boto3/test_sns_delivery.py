"""SNS → SQS delivery: envelopes, raw delivery, PublishBatch, filter policies, FIFO topics."""
import base64
import json
import re

import pytest

from wirehelpers import (assert_empty, aws_error, envelope, md5_hex, md5_of_message_attributes, queue_arn,
                         receive_all, receive_one)

TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture
def subscribed(sqs, sns, make_topic, make_queue):
    """make(topic=None, raw=False, fifo=False, **attributes) -> (topic_arn, queue_url, subscription_arn)"""
    def make(topic=None, *, raw=False, fifo=False, queue_attrs=None, **sub_attrs):
        topic = topic or make_topic(fifo=fifo)
        url = make_queue(fifo=fifo, **(queue_attrs or {}))
        attrs = {k: (json.dumps(v) if isinstance(v, (dict, list)) else str(v)) for k, v in sub_attrs.items()}
        if raw:
            attrs["RawMessageDelivery"] = "true"
        sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn(sqs, url), Attributes=attrs,
                            ReturnSubscriptionArn=True)["SubscriptionArn"]
        return topic, url, sub
    return make


SNS_ATTRS = {
    "color": {"DataType": "String", "StringValue": "red"},
    "count": {"DataType": "Number", "StringValue": "42"},
    "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"},
}


# ---------------------------------------------------------------------------------------------------------- envelopes

def test_envelope_carries_the_notification_fields(sqs, sns, subscribed):
    topic, url, sub = subscribed()
    published = sns.publish(TopicArn=topic, Message="hello subscribers", Subject="greeting", MessageAttributes=SNS_ATTRS)
    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    env = envelope(msg)
    assert env["Type"] == "Notification"
    assert env["MessageId"] == published["MessageId"]
    assert env["TopicArn"] == topic
    assert env["Subject"] == "greeting"
    assert env["Message"] == "hello subscribers"
    assert TIMESTAMP.match(env["Timestamp"]), env["Timestamp"]
    assert env["SignatureVersion"] in ("1", "2")
    assert env["Signature"] and env["SigningCertURL"]
    assert "Action=Unsubscribe" in env["UnsubscribeURL"]
    assert env["MessageAttributes"] == {
        "color": {"Type": "String", "Value": "red"},
        "count": {"Type": "Number", "Value": "42"},
        "blob": {"Type": "Binary", "Value": base64.b64encode(b"\x00\x01\xff").decode()},
    }
    assert "MessageAttributes" not in msg  # in envelope mode they live in the body only
    assert msg["MD5OfBody"] == md5_hex(msg["Body"])


@pytest.mark.deviation("moto", aws="the envelope's SignatureVersion defaults to \"1\"", actual="always writes \"2\"")
def test_envelope_signature_version_defaults_to_1(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    sns.publish(TopicArn=topic, Message="sig")
    assert envelope(receive_one(sqs, url))["SignatureVersion"] == "1"


def test_envelope_without_attributes_has_no_message_attributes_key(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    sns.publish(TopicArn=topic, Message="bare")
    env = envelope(receive_one(sqs, url))
    assert "MessageAttributes" not in env and "Subject" not in env


@pytest.mark.deviation("moto", aws="the envelope's UnsubscribeURL names the subscription",
                       actual="puts a made-up subscription id in it")
def test_envelope_unsubscribe_url_names_the_subscription(sqs, sns, subscribed):
    topic, url, sub = subscribed()
    sns.publish(TopicArn=topic, Message="unsubscribe me")
    assert envelope(receive_one(sqs, url))["UnsubscribeURL"].endswith("SubscriptionArn=" + sub)


@pytest.mark.deviation("moto", aws="AWS's documented envelope lists Type, MessageId, TopicArn, Subject, Message, "
                       "Timestamp, SignatureVersion, Signature, SigningCertURL, UnsubscribeURL, MessageAttributes in "
                       "this order", actual="sorts the keys alphabetically")
def test_envelope_fields_are_in_aws_order(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    sns.publish(TopicArn=topic, Message="ordered", Subject="s", MessageAttributes={"a": {"DataType": "String", "StringValue": "b"}})
    keys = list(json.loads(receive_one(sqs, url)["Body"], object_pairs_hook=lambda kv: dict(kv)).keys())
    expected = ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion", "Signature",
                "SigningCertURL", "UnsubscribeURL", "MessageAttributes"]
    assert keys == expected


def test_every_subscription_gets_the_same_message_id(sqs, sns, subscribed):
    topic, first, _ = subscribed()
    _, second, _ = subscribed(topic)
    published = sns.publish(TopicArn=topic, Message="fan-out")
    ids = {envelope(receive_one(sqs, url))["MessageId"] for url in (first, second)}
    assert ids == {published["MessageId"]}


def test_message_body_survives_unicode_and_crlf(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    text = "öäü – 日本 – 🚀\r\nline two \"quoted\" <tag> & amp"
    sns.publish(TopicArn=topic, Message=text)
    assert envelope(receive_one(sqs, url))["Message"] == text


def test_message_structure_json_delivers_the_sqs_entry(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    sns.publish(TopicArn=topic, MessageStructure="json",
                Message=json.dumps({"default": "for everyone", "sqs": "for queues", "email": "for mail"}))
    assert envelope(receive_one(sqs, url))["Message"] == "for queues"


@pytest.mark.deviation("moto", aws="MessageStructure=json without a 'default' entry is InvalidParameter",
                       actual="accepts it")
def test_message_structure_json_without_default_is_invalid_parameter(sns, subscribed):
    topic, _, _ = subscribed()
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.publish(TopicArn=topic, MessageStructure="json", Message=json.dumps({"sqs": "no default"}))


# ------------------------------------------------------------------------------------------------------- raw delivery

def test_raw_delivery_body_is_the_message_and_attributes_become_sqs_attributes(sqs, sns, subscribed):
    topic, url, _ = subscribed(raw=True)
    attrs = {k: v for k, v in SNS_ATTRS.items() if k != "blob"}
    sns.publish(TopicArn=topic, Message='{"raw":true}', MessageAttributes=attrs)
    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    assert msg["Body"] == '{"raw":true}'
    assert msg["MD5OfBody"] == md5_hex('{"raw":true}')
    assert msg["MessageAttributes"] == {"color": {"DataType": "String", "StringValue": "red"},
                                        "count": {"DataType": "Number", "StringValue": "42"}}
    assert msg["MD5OfMessageAttributes"] == md5_of_message_attributes(attrs)


@pytest.mark.deviation("moto", aws="raw delivery carries Binary SNS attributes as Binary SQS attributes",
                       actual="fails the delivery (TypeError hashing the binary value) and the message is lost")
def test_raw_delivery_carries_binary_attributes(sqs, sns, subscribed):
    topic, url, _ = subscribed(raw=True)
    sns.publish(TopicArn=topic, Message="binary", MessageAttributes=SNS_ATTRS)
    msg = receive_one(sqs, url, MessageAttributeNames=["All"])
    assert msg["MessageAttributes"]["blob"] == {"DataType": "Binary", "BinaryValue": b"\x00\x01\xff"}
    assert msg["MD5OfMessageAttributes"] == md5_of_message_attributes(SNS_ATTRS)


def test_raw_and_envelope_subscriptions_of_one_topic_each_get_their_form(sqs, sns, subscribed):
    topic, raw_url, _ = subscribed(raw=True)
    _, env_url, _ = subscribed(topic)
    sns.publish(TopicArn=topic, Message="both")
    assert receive_one(sqs, raw_url)["Body"] == "both"
    assert envelope(receive_one(sqs, env_url))["Message"] == "both"


# ------------------------------------------------------------------------------------------------------- PublishBatch

def test_publish_batch_delivers_each_entry(sqs, sns, subscribed):
    topic, url, _ = subscribed()
    r = sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=[
        {"Id": "one", "Message": "first"},
        {"Id": "two", "Message": "second", "MessageAttributes": {"k": {"DataType": "String", "StringValue": "v"}}},
    ])
    assert r.get("Failed", []) == []
    ids = {e["Id"]: e["MessageId"] for e in r["Successful"]}
    assert set(ids) == {"one", "two"}
    got = {envelope(m)["Message"]: envelope(m) for m in receive_all(sqs, url, 2)}
    assert got["first"]["MessageId"] == ids["one"]
    assert got["second"]["MessageId"] == ids["two"]
    assert got["second"]["MessageAttributes"] == {"k": {"Type": "String", "Value": "v"}}


@pytest.mark.parametrize("entries, shape, code", [
    pytest.param([], "EmptyBatchRequestException", "EmptyBatchRequest", id="empty", marks=pytest.mark.deviation(
        "moto", aws="PublishBatch without entries is EmptyBatchRequest", actual="answers success")),
    pytest.param([{"Id": str(i), "Message": "m"} for i in range(11)], "TooManyEntriesInBatchRequestException",
                 "TooManyEntriesInBatchRequest", id="11-entries"),
    pytest.param([{"Id": "x", "Message": "a"}, {"Id": "x", "Message": "b"}], "BatchEntryIdsNotDistinctException",
                 "BatchEntryIdsNotDistinct", id="repeated-id"),
    pytest.param([{"Id": "bad id!", "Message": "a"}], "InvalidBatchEntryIdException", "InvalidBatchEntryId",
                 id="invalid-id", marks=pytest.mark.deviation(
                     "moto", aws="PublishBatch entry Ids outside [A-Za-z0-9_-]{1,80} are InvalidBatchEntryId",
                     actual="accepts them")),
])
def test_publish_batch_request_errors(sns, subscribed, entries, shape, code):
    topic, _, _ = subscribed()
    with aws_error(sns, shape, code, status=400):
        sns.publish_batch(TopicArn=topic, PublishBatchRequestEntries=entries)


def test_publish_batch_to_a_missing_topic_is_not_found(sns, make_topic):
    missing = make_topic().rsplit(":", 1)[0] + ":no-such-topic-here"
    with aws_error(sns, "NotFoundException", "NotFound", status=404):
        sns.publish_batch(TopicArn=missing, PublishBatchRequestEntries=[{"Id": "1", "Message": "m"}])


# ----------------------------------------------------------------------------------------------------- publish errors

@pytest.mark.deviation("moto", aws="Publish with an empty message is InvalidParameter (\"Empty message\")",
                       actual="accepts it")
def test_publish_empty_message_is_invalid_parameter(sns, subscribed):
    topic, _, _ = subscribed()
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.publish(TopicArn=topic, Message="")


def test_publish_message_over_256_kib_is_invalid_parameter(sns, subscribed):
    topic, _, _ = subscribed()
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.publish(TopicArn=topic, Message="x" * (262144 + 1))


@pytest.mark.deviation("moto", aws="Publish succeeds when a subscribed queue no longer exists; the delivery fails "
                       "later (subscription DLQ or dropped)", actual="Publish itself raises NonExistentQueue")
def test_publish_succeeds_when_a_subscribed_queue_was_deleted(sqs, sns, subscribed):
    topic, gone, _ = subscribed()
    _, alive, _ = subscribed(topic)
    sqs.delete_queue(QueueUrl=gone)
    published = sns.publish(TopicArn=topic, Message="still delivered")
    assert published["MessageId"]
    assert envelope(receive_one(sqs, alive))["Message"] == "still delivered"


def test_unsubscribed_queue_receives_nothing(sqs, sns, subscribed):
    topic, url, sub = subscribed()
    sns.unsubscribe(SubscriptionArn=sub)
    sns.publish(TopicArn=topic, Message="nobody")
    assert_empty(sqs, url, wait_seconds=1)


# ---------------------------------------------------------------------------------------------------- filter policies

def _attrs(**kw):
    out = {}
    for k, v in kw.items():
        out[k] = {"DataType": "Number", "StringValue": str(v)} if isinstance(v, (int, float)) else \
            {"DataType": "String", "StringValue": v}
    return out


def test_attribute_filter_policy_delivers_only_matching_messages(sqs, sns, subscribed):
    topic, url, _ = subscribed(FilterPolicy={"eventType": ["order.created", "order.refunded"]})
    for event in ("order.created", "order.shipped", "order.refunded"):
        sns.publish(TopicArn=topic, Message=event, MessageAttributes=_attrs(eventType=event))
    sns.publish(TopicArn=topic, Message="no attributes")
    got = sorted(envelope(m)["Message"] for m in receive_all(sqs, url, 2))
    assert got == ["order.created", "order.refunded"]
    assert_empty(sqs, url, wait_seconds=1)


def test_attribute_filter_policy_operators(sqs, sns, subscribed):
    topic, url, _ = subscribed(FilterPolicy={
        "total": [{"numeric": [">=", 100, "<", 1000]}],
        "region": [{"prefix": "eu-"}],
        "tier": [{"anything-but": ["free"]}],
    })
    cases = {
        "match": _attrs(total=250, region="eu-west-1", tier="gold"),
        "too-small": _attrs(total=99, region="eu-west-1", tier="gold"),
        "wrong-region": _attrs(total=250, region="us-east-1", tier="gold"),
        "free-tier": _attrs(total=250, region="eu-west-1", tier="free"),
        "missing-tier": _attrs(total=250, region="eu-west-1"),
    }
    for body, attrs in cases.items():
        sns.publish(TopicArn=topic, Message=body, MessageAttributes=attrs)
    assert [envelope(m)["Message"] for m in receive_all(sqs, url, 1)] == ["match"]
    assert_empty(sqs, url, wait_seconds=1)


def test_body_filter_policy_matches_nested_keys(sqs, sns, subscribed):
    topic, url, _ = subscribed(FilterPolicyScope="MessageBody",
                               FilterPolicy={"order": {"status": ["paid"], "total": [{"numeric": [">", 10]}]}})
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "paid", "total": 20}, "id": "match"}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "open", "total": 20}, "id": "open"}))
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"status": "paid", "total": 5}, "id": "cheap"}))
    sns.publish(TopicArn=topic, Message="not json at all")
    got = [json.loads(envelope(m)["Message"])["id"] for m in receive_all(sqs, url, 1)]
    assert got == ["match"]
    assert_empty(sqs, url, wait_seconds=1)


def test_body_filter_policy_ignores_message_attributes(sqs, sns, subscribed):
    topic, url, _ = subscribed(raw=True, FilterPolicyScope="MessageBody", FilterPolicy={"kind": ["wanted"]})
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "other"}), MessageAttributes=_attrs(kind="wanted"))
    sns.publish(TopicArn=topic, Message=json.dumps({"kind": "wanted"}))
    assert [m["Body"] for m in receive_all(sqs, url, 1)] == [json.dumps({"kind": "wanted"})]
    assert_empty(sqs, url, wait_seconds=1)


def test_changing_the_filter_policy_applies_to_later_publishes(sqs, sns, subscribed):
    topic, url, sub = subscribed(raw=True, FilterPolicy={"eventType": ["a"]})
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps({"eventType": ["b"]}))
    sns.publish(TopicArn=topic, Message="a", MessageAttributes=_attrs(eventType="a"))
    sns.publish(TopicArn=topic, Message="b", MessageAttributes=_attrs(eventType="b"))
    assert [m["Body"] for m in receive_all(sqs, url, 1)] == ["b"]
    assert_empty(sqs, url, wait_seconds=1)


# -------------------------------------------------------------------------------------------------------- FIFO topics

def test_fifo_topic_to_fifo_queue_keeps_group_order_and_deduplicates(sqs, sns, subscribed):
    topic, url, _ = subscribed(fifo=True, raw=True)
    for i, dedup in enumerate(["d1", "d2", "d2", "d3"]):
        sns.publish(TopicArn=topic, Message=f"m{i}", MessageGroupId="g", MessageDeduplicationId=dedup)
    got = receive_all(sqs, url, 3, AttributeNames=["All"])
    assert [m["Body"] for m in got] == ["m0", "m1", "m3"]
    assert all(m["Attributes"]["MessageGroupId"] == "g" for m in got)
    assert_empty(sqs, url, wait_seconds=1)


@pytest.mark.deviation("moto", aws="Publish to a FIFO topic answers a SequenceNumber, also written into the envelope",
                       actual="answers none")


def test_fifo_topic_envelope_carries_a_sequence_number(sqs, sns, subscribed):
    topic, url, _ = subscribed(fifo=True)
    r = sns.publish(TopicArn=topic, Message="fifo envelope", MessageGroupId="g", MessageDeduplicationId="e1")
    env = envelope(receive_one(sqs, url))
    assert env["Type"] == "Notification" and env["Message"] == "fifo envelope"
    assert env["MessageId"] == r["MessageId"]
    assert env["SequenceNumber"] == r["SequenceNumber"]


@pytest.mark.deviation("moto", aws="SNS computes the content-based deduplication id of a FIFO topic itself, so a FIFO "
                       "queue without ContentBasedDeduplication receives", actual="Publish fails because the queue "
                       "has no ContentBasedDeduplication")
def test_fifo_topic_content_based_deduplication(sqs, sns, make_topic, subscribed):
    topic = make_topic(fifo=True, ContentBasedDeduplication="true")
    _, url, _ = subscribed(topic, raw=True, fifo=True)
    for body in ("same", "same", "different"):
        sns.publish(TopicArn=topic, Message=body, MessageGroupId="g")
    assert [m["Body"] for m in receive_all(sqs, url, 2)] == ["same", "different"]
    assert_empty(sqs, url, wait_seconds=1)


@pytest.mark.deviation("moto", aws="Publish to a FIFO topic without MessageGroupId is InvalidParameter",
                       actual="raises MissingParameter")
def test_publish_to_fifo_topic_without_group_id_is_invalid_parameter(sns, make_topic):
    topic = make_topic(fifo=True, ContentBasedDeduplication="true")
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.publish(TopicArn=topic, Message="no group")


@pytest.mark.deviation("moto", aws="an SNS message attribute without a value is ParameterValueInvalid",
                       actual="raises InvalidParameter")
def test_publish_attribute_without_a_value_is_parameter_value_invalid(sns, subscribed):
    topic, _, _ = subscribed()
    with aws_error(sns, "InvalidParameterValueException", "ParameterValueInvalid"):
        sns.publish(TopicArn=topic, Message="x", MessageAttributes={"attr1": {"DataType": "String", "StringValue": ""}})


@pytest.mark.deviation("moto", aws="a delivery to a deleted queue goes to the subscription's dead-letter queue and "
                       "Publish succeeds", actual="Publish raises NonExistentQueue")
def test_failed_delivery_goes_to_the_subscription_dead_letter_queue(sqs, sns, make_queue, subscribed):
    sub_dlq = make_queue("sub-dlq")
    topic, gone, _ = subscribed(RedrivePolicy={"deadLetterTargetArn": queue_arn(sqs, sub_dlq)})
    sqs.delete_queue(QueueUrl=gone)
    sns.publish(TopicArn=topic, Message="undeliverable")
    dead = receive_one(sqs, sub_dlq, MessageAttributeNames=["All"])
    assert "undeliverable" in dead["Body"]

"""Wire-level details SDKs depend on: protocol headers, the JSON error shape and x-amzn-query-error."""
import json
import urllib.error
import urllib.request

import pytest

from wirehelpers import aws_error, unique

FAKE_AUTH = ("AWS4-HMAC-SHA256 Credential=test/20260101/us-east-1/{svc}/aws4_request, "
             "SignedHeaders=content-type;host;x-amz-date, Signature=0000")


def _raw(endpoint, body: bytes, headers: dict):
    req = urllib.request.Request(endpoint + "/", data=body, method="POST", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, {k.lower(): v for k, v in r.headers.items()}, r.read()
    except urllib.error.HTTPError as e:
        return e.code, {k.lower(): v for k, v in e.headers.items()}, e.read()


def test_sqs_uses_the_protocol_under_test(sqs, sqs_protocol):
    assert sqs.meta.service_model.protocol == sqs_protocol


def test_sqs_success_carries_a_request_id(sqs, make_queue):
    r = sqs.get_queue_attributes(QueueUrl=make_queue(), AttributeNames=["QueueArn"])
    assert r["ResponseMetadata"]["RequestId"]
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_sqs_error_names_the_legacy_code_the_shape_and_the_fault(sqs, sqs_protocol):
    with aws_error(sqs, "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", status=400, fault="Sender") as caught:
        sqs.get_queue_url(QueueName=unique("missing"))
    assert caught.error["Message"]
    if sqs_protocol == "json":
        headers = caught.exception.response["ResponseMetadata"]["HTTPHeaders"]
        assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
        assert headers["content-type"].startswith("application/x-amz-json-1.0")
        assert caught.error["QueryErrorCode"] == "QueueDoesNotExist"
    else:
        assert caught.exception.response["ResponseMetadata"]["RequestId"]


@pytest.mark.parametrize("call, code, query_error_code", [
    pytest.param(lambda sqs, url: sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=11),
                 "InvalidParameterValue", "InvalidParameterValueException", marks=pytest.mark.deviation(
                     "moto", aws="InvalidParameterValue travels as __type …#InvalidParameterValueException "
                     "(QueryErrorCode InvalidParameterValueException)", actual="sends __type InvalidParameterValue")),
    (lambda sqs, url: sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(11)]),
     "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "TooManyEntriesInBatchRequest"),
    (lambda sqs, url: sqs.create_queue(QueueName=url.rsplit("/", 1)[1], Attributes={"DelaySeconds": "7"}),
     "QueueAlreadyExists", "QueueNameExists"),
], ids=["invalid-parameter-value", "too-many-entries", "queue-already-exists"])
def test_sqs_json_error_maps_legacy_code_to_shape(sqs, sqs_protocol, make_queue, call, code, query_error_code):
    if sqs_protocol != "json":
        pytest.skip("QueryErrorCode comes from the JSON protocol's __type")
    url = make_queue()
    with aws_error(sqs, None, code) as caught:
        call(sqs, url)
    assert caught.error["QueryErrorCode"] == query_error_code


def test_sqs_json_request_without_query_mode_header_gets_the_aws_error_shape(endpoint):
    """A Soto 7 style request: JSON 1.0 without x-amzn-query-mode. The server must answer AWS's JSON error."""
    status, headers, body = _raw(endpoint, json.dumps({"QueueName": unique("soto-missing")}).encode(), {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.GetQueueUrl",
        "Authorization": FAKE_AUTH.format(svc="sqs"), "X-Amz-Date": "20260101T000000Z"})
    assert status == 400
    doc = json.loads(body)
    assert doc["__type"].endswith("#QueueDoesNotExist")
    assert doc.get("message") or doc.get("Message")
    assert headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert headers.get("x-amzn-requestid")


def test_sqs_json_empty_receive_is_an_empty_object(endpoint, sqs, make_queue):
    url = make_queue()
    status, headers, body = _raw(endpoint, json.dumps({"QueueUrl": url, "WaitTimeSeconds": 0}).encode(), {
        "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "AmazonSQS.ReceiveMessage",
        "Authorization": FAKE_AUTH.format(svc="sqs"), "X-Amz-Date": "20260101T000000Z"})
    assert status == 200
    assert json.loads(body) == {}


def test_sns_error_is_query_xml_with_code_and_status(sns, make_topic):
    with aws_error(sns, "NotFoundException", "NotFound", status=404) as caught:
        sns.get_topic_attributes(TopicArn=make_topic().rsplit(":", 1)[0] + ":" + unique("missing"))
    assert caught.error["Message"]
    assert caught.exception.response["ResponseMetadata"]["RequestId"]


def test_sns_raw_query_request_answers_namespaced_xml(endpoint):
    body = f"Action=CreateTopic&Version=2010-03-31&Name={unique('raw')}".encode()
    status, headers, xml = _raw(endpoint, body, {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8",
                                                 "Authorization": FAKE_AUTH.format(svc="sns"),
                                                 "X-Amz-Date": "20260101T000000Z"})
    assert status == 200
    assert headers["content-type"].startswith(("text/xml", "application/xml"))
    assert b'<CreateTopicResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/">' in xml
    assert b"<TopicArn>arn:aws:sns:" in xml and b"<RequestId>" in xml

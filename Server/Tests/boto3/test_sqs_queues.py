"""SQS queue lifecycle, attributes and tags through boto3."""
import time
from urllib.parse import urlparse

import pytest

from wirehelpers import account_of, aws_error, queue_arn, unique

NONEXISTENT = ("QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue")


# ---------------------------------------------------------------------------------------------------------- lifecycle

def test_create_queue_returns_url_of_request_host_account_and_name(sqs, endpoint, make_queue):
    name = unique("url")
    url = make_queue(name=name)
    account = account_of(queue_arn(sqs, url))
    assert url == f"{endpoint}/{account}/{name}"
    assert len(account) == 12 and account.isdigit()


def test_queue_url_follows_the_host_the_request_came_to(boto_session, endpoint, sqs, make_queue):
    name = unique("host")
    make_queue(name=name)
    port = urlparse(endpoint).port
    other = boto_session.client("sqs", endpoint_url=f"http://localhost:{port}")
    url = other.get_queue_url(QueueName=name)["QueueUrl"]
    assert urlparse(url).netloc == f"localhost:{port}"
    assert url.endswith(f"/{name}")


def test_queue_arn_names_region_account_and_queue(sqs, make_queue):
    name = unique("arn")
    arn = queue_arn(sqs, make_queue(name=name))
    parts = arn.split(":")
    assert parts[:4] == ["arn", "aws", "sqs", "us-east-1"] and parts[5] == name


def test_create_queue_is_idempotent_with_identical_attributes(sqs):
    name = unique("idem")
    first = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    again = sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "5"})["QueueUrl"]
    assert again == first
    sqs.delete_queue(QueueUrl=first)


def test_create_queue_with_a_differing_attribute_is_queue_already_exists(sqs, make_queue):
    name = unique("exists")
    make_queue(name=name, VisibilityTimeout=5)
    with aws_error(sqs, "QueueNameExists", "QueueAlreadyExists"):
        sqs.create_queue(QueueName=name, Attributes={"VisibilityTimeout": "6"})


def test_get_queue_url_finds_an_existing_queue(sqs, make_queue):
    name = unique("get")
    url = make_queue(name=name)
    assert sqs.get_queue_url(QueueName=name)["QueueUrl"] == url


def test_get_queue_url_of_a_missing_queue_is_queue_does_not_exist(sqs):
    with aws_error(sqs, *NONEXISTENT, status=400):
        sqs.get_queue_url(QueueName=unique("missing"))


def test_list_queues_filters_by_case_sensitive_prefix(sqs, make_queue):
    prefix = unique("lst")
    urls = sorted(make_queue(name=f"{prefix}-{i}") for i in range(3))
    other = make_queue(name=unique("other"))
    listed = sqs.list_queues(QueueNamePrefix=prefix).get("QueueUrls", [])
    assert sorted(listed) == urls
    assert other not in listed
    assert sqs.list_queues(QueueNamePrefix=prefix.upper()).get("QueueUrls", []) == []


def test_list_queues_without_max_results_has_no_next_token(sqs, make_queue):
    prefix = unique("nopage")
    for i in range(3):
        make_queue(name=f"{prefix}-{i}")
    r = sqs.list_queues(QueueNamePrefix=prefix)
    assert len(r["QueueUrls"]) == 3
    assert "NextToken" not in r


@pytest.mark.deviation("moto", aws="ListQueues with MaxResults pages with NextToken",
                       actual="returns every queue and no NextToken")
def test_list_queues_pages_with_max_results_and_next_token(sqs, make_queue):
    prefix = unique("page")
    urls = sorted(make_queue(name=f"{prefix}-{i}") for i in range(5))
    seen, token, pages = [], None, 0
    while True:
        kw = {"NextToken": token} if token else {}
        r = sqs.list_queues(QueueNamePrefix=prefix, MaxResults=2, **kw)
        pages += 1
        assert len(r.get("QueueUrls", [])) <= 2
        seen += r.get("QueueUrls", [])
        token = r.get("NextToken")
        if not token:
            break
        assert pages < 10
    assert sorted(seen) == urls and pages == 3


def test_delete_queue_makes_it_unknown(sqs):
    name = unique("del")
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    with aws_error(sqs, *NONEXISTENT):
        sqs.get_queue_url(QueueName=name)
    with aws_error(sqs, *NONEXISTENT):
        sqs.send_message(QueueUrl=url, MessageBody="x")
    assert url not in sqs.list_queues(QueueNamePrefix=name).get("QueueUrls", [])


def test_delete_of_a_missing_queue_is_queue_does_not_exist(sqs, endpoint, make_queue):
    account = account_of(queue_arn(sqs, make_queue()))
    with aws_error(sqs, *NONEXISTENT):
        sqs.delete_queue(QueueUrl=f"{endpoint}/{account}/{unique('never')}")


def test_queue_is_resolved_by_account_and_name_whatever_the_url_host(sqs, make_queue):
    name = unique("anyhost")
    url = make_queue(name=name)
    path = urlparse(url).path
    sqs.send_message(QueueUrl=f"http://elsewhere.invalid:1{path}", MessageBody="routed")
    r = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=1)
    assert [m["Body"] for m in r["Messages"]] == ["routed"]


@pytest.mark.deviation("moto", aws="a deleted queue's name cannot be reused for 60 s (QueueDeletedRecently)",
                       actual="re-creates the queue at once")
def test_recreating_a_just_deleted_queue_is_queue_deleted_recently(sqs):
    name = unique("recent")
    sqs.delete_queue(QueueUrl=sqs.create_queue(QueueName=name)["QueueUrl"])
    with aws_error(sqs, "QueueDeletedRecently", "AWS.SimpleQueueService.QueueDeletedRecently"):
        sqs.create_queue(QueueName=name)


@pytest.mark.parametrize("name", ["has space", "dot.in.name", "x" * 81, "", "ümlaut"],
                         ids=["space", "dot", "81-chars", "empty", "non-ascii"])
def test_invalid_queue_names_are_invalid_parameter_value(sqs, name):
    with aws_error(sqs, None, "InvalidParameterValue"):
        sqs.create_queue(QueueName=name)


def test_eighty_character_name_is_accepted(sqs, make_queue):
    name = unique("n")
    name = name + "x" * (80 - len(name))
    assert make_queue(name=name).endswith("/" + name)


def test_queue_names_are_case_sensitive(sqs, make_queue):
    name = unique("Case")
    upper = make_queue(name=name.upper())
    lower = make_queue(name=name.lower())
    assert upper != lower
    assert sqs.get_queue_url(QueueName=name.lower())["QueueUrl"] == lower


# --------------------------------------------------------------------------------------------------------- attributes

def test_new_queue_has_documented_default_attributes(sqs, make_queue):
    attrs = sqs.get_queue_attributes(QueueUrl=make_queue(), AttributeNames=["All"])["Attributes"]
    assert attrs["VisibilityTimeout"] == "30"
    assert attrs["MaximumMessageSize"] == "1048576"
    assert attrs["MessageRetentionPeriod"] == "345600"
    assert attrs["DelaySeconds"] == "0"
    assert attrs["ReceiveMessageWaitTimeSeconds"] == "0"
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert attrs["ApproximateNumberOfMessagesDelayed"] == "0"
    assert "FifoQueue" not in attrs and "RedrivePolicy" not in attrs


@pytest.mark.deviation("moto", aws="CreatedTimestamp and LastModifiedTimestamp are integer epoch seconds",
                       actual="returns fractional seconds such as '1795452788.274237'")
def test_queue_timestamps_are_integer_epoch_seconds(sqs, make_queue):
    attrs = sqs.get_queue_attributes(QueueUrl=make_queue(), AttributeNames=["All"])["Attributes"]
    for key in ("CreatedTimestamp", "LastModifiedTimestamp"):
        assert attrs[key].isdigit(), f"{key}={attrs[key]!r}"
        assert abs(int(attrs[key]) - time.time()) < 120


def test_get_queue_attributes_returns_only_the_named_attributes(sqs, make_queue):
    attrs = sqs.get_queue_attributes(QueueUrl=make_queue(), AttributeNames=["DelaySeconds", "QueueArn"])["Attributes"]
    assert set(attrs) == {"DelaySeconds", "QueueArn"}


def test_attributes_given_at_creation_are_returned(sqs, make_queue):
    url = make_queue(VisibilityTimeout=7, DelaySeconds=3, MessageRetentionPeriod=600, MaximumMessageSize=2048,
                     ReceiveMessageWaitTimeSeconds=4)
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert (attrs["VisibilityTimeout"], attrs["DelaySeconds"], attrs["MessageRetentionPeriod"],
            attrs["MaximumMessageSize"], attrs["ReceiveMessageWaitTimeSeconds"]) == ("7", "3", "600", "2048", "4")


def test_set_queue_attributes_changes_them(sqs, make_queue):
    url = make_queue()
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "45", "DelaySeconds": "2"})
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout", "DelaySeconds"])["Attributes"]
    assert attrs == {"VisibilityTimeout": "45", "DelaySeconds": "2"}


def test_get_queue_attributes_with_unknown_name_is_invalid_attribute_name(sqs, make_queue):
    with aws_error(sqs, "InvalidAttributeName", "InvalidAttributeName"):
        sqs.get_queue_attributes(QueueUrl=make_queue(), AttributeNames=["NoSuchAttribute"])


@pytest.mark.deviation("moto", aws="SetQueueAttributes with an unknown attribute name fails with InvalidAttributeName",
                       actual="accepts and ignores it")
def test_set_queue_attributes_with_unknown_name_is_invalid_attribute_name(sqs, make_queue):
    with aws_error(sqs, "InvalidAttributeName", "InvalidAttributeName"):
        sqs.set_queue_attributes(QueueUrl=make_queue(), Attributes={"NoSuchAttribute": "1"})


@pytest.mark.deviation("moto", aws="CreateQueue with an unknown attribute name fails with InvalidAttributeName",
                       actual="accepts and ignores it")
def test_create_queue_with_unknown_attribute_is_invalid_attribute_name(sqs):
    with aws_error(sqs, "InvalidAttributeName", "InvalidAttributeName"):
        sqs.create_queue(QueueName=unique("badattr"), Attributes={"NoSuchAttribute": "1"})


@pytest.mark.deviation("moto", aws="FIFO-only attributes on a standard queue fail with InvalidAttributeName",
                       actual="accepts ContentBasedDeduplication on a standard queue")
def test_fifo_only_attribute_on_standard_queue_is_invalid_attribute_name(sqs, make_queue):
    with aws_error(sqs, "InvalidAttributeName", "InvalidAttributeName"):
        sqs.set_queue_attributes(QueueUrl=make_queue(), Attributes={"ContentBasedDeduplication": "true"})


@pytest.mark.parametrize("name, value", [
    ("VisibilityTimeout", "43201"),
    ("VisibilityTimeout", "-1"),
    ("VisibilityTimeout", "abc"),
    ("DelaySeconds", "901"),
    ("MessageRetentionPeriod", "59"),
    ("MessageRetentionPeriod", "1209601"),
    ("MaximumMessageSize", "1023"),
    ("MaximumMessageSize", "1048577"),
    ("ReceiveMessageWaitTimeSeconds", "21"),
])
@pytest.mark.deviation("moto", aws="SetQueueAttributes validates ranges (InvalidAttributeValue)",
                       actual="accepts out-of-range values")
def test_set_queue_attributes_out_of_range_is_invalid_attribute_value(sqs, make_queue, name, value):
    with aws_error(sqs, "InvalidAttributeValue", "InvalidAttributeValue"):
        sqs.set_queue_attributes(QueueUrl=make_queue(), Attributes={name: value})


@pytest.mark.deviation("moto", aws="CreateQueue validates attribute ranges (InvalidAttributeValue)",
                       actual="accepts DelaySeconds 901")
def test_create_queue_with_out_of_range_attribute_is_invalid_attribute_value(sqs):
    with aws_error(sqs, "InvalidAttributeValue", "InvalidAttributeValue"):
        sqs.create_queue(QueueName=unique("range"), Attributes={"DelaySeconds": "901"})


@pytest.mark.deviation("moto", aws="the queue type cannot change: FifoQueue=false on a FIFO queue is InvalidAttributeValue",
                       actual="accepts the change silently")
def test_changing_fifo_queue_type_is_invalid_attribute_value(sqs, make_queue):
    url = make_queue(fifo=True)
    with aws_error(sqs, "InvalidAttributeValue", "InvalidAttributeValue"):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"FifoQueue": "false"})


def test_attribute_operations_on_missing_queue_are_queue_does_not_exist(sqs, make_queue):
    url = make_queue()
    sqs.delete_queue(QueueUrl=url)
    with aws_error(sqs, *NONEXISTENT):
        sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])
    with aws_error(sqs, *NONEXISTENT):
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"DelaySeconds": "1"})


# --------------------------------------------------------------------------------------------------------------- tags

def test_tags_given_at_creation_are_listed(sqs):
    url = sqs.create_queue(QueueName=unique("tagged"), tags={"env": "dev", "team": "shop"})["QueueUrl"]
    try:
        assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "dev", "team": "shop"}
    finally:
        sqs.delete_queue(QueueUrl=url)


def test_tag_and_untag_queue(sqs, make_queue):
    url = make_queue()
    assert sqs.list_queue_tags(QueueUrl=url).get("Tags", {}) == {}
    sqs.tag_queue(QueueUrl=url, Tags={"a": "1", "b": "2"})
    sqs.tag_queue(QueueUrl=url, Tags={"b": "3"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"a": "1", "b": "3"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["a"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"b": "3"}


def test_tag_operations_on_missing_queue_are_queue_does_not_exist(sqs, make_queue):
    url = make_queue()
    sqs.delete_queue(QueueUrl=url)
    with aws_error(sqs, *NONEXISTENT):
        sqs.tag_queue(QueueUrl=url, Tags={"a": "1"})
    with aws_error(sqs, *NONEXISTENT):
        sqs.list_queue_tags(QueueUrl=url)

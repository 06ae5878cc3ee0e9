"""SNS topics, tags and subscriptions (management API; delivery is in test_sns_delivery.py)."""
import json

import pytest

from wirehelpers import account_of, aws_error, queue_arn, unique

NOT_FOUND = ("NotFoundException", "NotFound")


def _missing_topic_arn(existing_arn: str) -> str:
    return existing_arn.rsplit(":", 1)[0] + ":" + unique("never")


# ------------------------------------------------------------------------------------------------------------- topics

def test_create_topic_returns_an_arn_with_region_account_and_name(sns):
    name = unique("topic")
    arn = sns.create_topic(Name=name)["TopicArn"]
    parts = arn.split(":")
    assert parts[:4] == ["arn", "aws", "sns", "us-east-1"] and parts[5] == name
    assert len(parts[4]) == 12 and parts[4].isdigit()
    sns.delete_topic(TopicArn=arn)


def test_create_topic_is_idempotent(sns, make_topic):
    arn = make_topic()
    assert sns.create_topic(Name=arn.split(":")[-1])["TopicArn"] == arn


@pytest.mark.deviation("moto", aws="CreateTopic on an existing name with different attributes is InvalidParameter",
                       actual="answers the existing topic")
def test_create_topic_with_different_attributes_is_invalid_parameter(sns, make_topic):
    arn = make_topic(DisplayName="one")
    with aws_error(sns, "InvalidParameterException", "InvalidParameter", status=400):
        sns.create_topic(Name=arn.split(":")[-1], Attributes={"DisplayName": "two"})


@pytest.mark.parametrize("name", ["has space", "dot.ted", "x" * 257, ""], ids=["space", "dot", "257-chars", "empty"])
def test_invalid_topic_names_are_invalid_parameter(sns, name):
    with aws_error(sns, "InvalidParameterException", "InvalidParameter", status=400):
        sns.create_topic(Name=name)


def test_list_topics_includes_created_and_excludes_deleted(sns):
    keep = sns.create_topic(Name=unique("keep"))["TopicArn"]
    gone = sns.create_topic(Name=unique("gone"))["TopicArn"]
    sns.delete_topic(TopicArn=gone)
    arns = [t["TopicArn"] for page in sns.get_paginator("list_topics").paginate() for t in page["Topics"]]
    assert keep in arns and gone not in arns
    sns.delete_topic(TopicArn=keep)


def test_topic_attributes_describe_the_topic(sns, make_topic):
    arn = make_topic()
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert attrs["TopicArn"] == arn
    assert attrs["Owner"] == account_of(arn)
    assert attrs["SubscriptionsConfirmed"] == "0" and attrs["SubscriptionsPending"] == "0"
    assert json.loads(attrs["Policy"])["Statement"]
    assert json.loads(attrs["EffectiveDeliveryPolicy"])
    assert attrs.get("DisplayName", "") == ""


def test_set_topic_attributes_changes_display_name(sns, make_topic):
    arn = make_topic()
    sns.set_topic_attributes(TopicArn=arn, AttributeName="DisplayName", AttributeValue="Orders")
    assert sns.get_topic_attributes(TopicArn=arn)["Attributes"]["DisplayName"] == "Orders"


def test_topic_operations_on_a_missing_topic_are_not_found(sqs, sns, make_topic, make_queue):
    missing = _missing_topic_arn(make_topic())
    qarn = queue_arn(sqs, make_queue())
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.get_topic_attributes(TopicArn=missing)
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.set_topic_attributes(TopicArn=missing, AttributeName="DisplayName", AttributeValue="x")
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.publish(TopicArn=missing, Message="x")
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.subscribe(TopicArn=missing, Protocol="sqs", Endpoint=qarn)
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.list_subscriptions_by_topic(TopicArn=missing)


@pytest.mark.deviation("moto", aws="a malformed TopicArn is InvalidParameter (HTTP 400)",
                       actual="answers HTTP 500 with an HTML page")
def test_malformed_topic_arn_is_invalid_parameter(sns):
    with aws_error(sns, "InvalidParameterException", "InvalidParameter", status=400):
        sns.get_topic_attributes(TopicArn="not-an-arn")


def test_delete_topic_is_idempotent(sns):
    arn = sns.create_topic(Name=unique("del"))["TopicArn"]
    sns.delete_topic(TopicArn=arn)
    sns.delete_topic(TopicArn=arn)
    with aws_error(sns, *NOT_FOUND):
        sns.get_topic_attributes(TopicArn=arn)


def test_fifo_topic_reports_its_type(sns, make_topic):
    arn = make_topic(fifo=True, ContentBasedDeduplication="true")
    attrs = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
    assert arn.endswith(".fifo")
    assert attrs["FifoTopic"] == "true" and attrs["ContentBasedDeduplication"] == "true"


def test_fifo_topic_name_must_end_with_fifo(sns):
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.create_topic(Name=unique("nofifo"), Attributes={"FifoTopic": "true"})


def test_topic_tags_can_be_added_listed_and_removed(sns, make_topic):
    arn = make_topic()
    sns.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "dev"}, {"Key": "team", "Value": "shop"}])
    tags = {t["Key"]: t["Value"] for t in sns.list_tags_for_resource(ResourceArn=arn)["Tags"]}
    assert tags == {"env": "dev", "team": "shop"}
    sns.untag_resource(ResourceArn=arn, TagKeys=["env"])
    assert sns.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "team", "Value": "shop"}]


def test_tags_of_a_missing_topic_are_resource_not_found(sns, make_topic):
    with aws_error(sns, "ResourceNotFoundException", "ResourceNotFound", status=404):
        sns.list_tags_for_resource(ResourceArn=_missing_topic_arn(make_topic()))


# ------------------------------------------------------------------------------------------------------ subscriptions

@pytest.fixture
def topic_and_queue(sqs, sns, make_topic, make_queue):
    topic = make_topic()
    url = make_queue()
    return topic, url, queue_arn(sqs, url)


def test_subscribe_sqs_returns_a_subscription_under_the_topic(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert sub.startswith(topic + ":") and len(sub) > len(topic) + 1


def test_subscribing_the_same_endpoint_again_returns_the_same_subscription(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    a = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    b = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    assert a == b
    assert len(sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]) == 1


def test_list_subscriptions_and_by_topic_show_the_subscription(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    expected = {"SubscriptionArn": sub, "Protocol": "sqs", "Endpoint": qarn, "TopicArn": topic,
                "Owner": account_of(topic)}
    by_topic = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert by_topic == [expected]
    everything = [s for page in sns.get_paginator("list_subscriptions").paginate() for s in page["Subscriptions"]]
    assert expected in everything


def test_subscription_attributes_describe_the_subscription(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["SubscriptionArn"] == sub
    assert attrs["TopicArn"] == topic
    assert attrs["Protocol"] == "sqs"
    assert attrs["Endpoint"] == qarn
    assert attrs["Owner"] == account_of(topic)
    assert attrs["RawMessageDelivery"] == "false"
    assert attrs["PendingConfirmation"] == "false"
    assert attrs["ConfirmationWasAuthenticated"] == "true"


def test_set_subscription_attributes_changes_them(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    policy = {"eventType": ["order.created"]}
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="true")
    sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy", AttributeValue=json.dumps(policy))
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true"
    assert json.loads(attrs["FilterPolicy"]) == policy


def test_subscribe_with_attributes_applies_them(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True,
                        Attributes={"RawMessageDelivery": "true", "FilterPolicyScope": "MessageBody",
                                    "FilterPolicy": json.dumps({"kind": ["a"]})})["SubscriptionArn"]
    attrs = sns.get_subscription_attributes(SubscriptionArn=sub)["Attributes"]
    assert attrs["RawMessageDelivery"] == "true" and attrs["FilterPolicyScope"] == "MessageBody"


@pytest.mark.deviation("moto", aws="RawMessageDelivery must be true or false (InvalidParameter)",
                       actual="accepts any value")
def test_invalid_raw_message_delivery_value_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="RawMessageDelivery", AttributeValue="maybe")


def test_unknown_subscription_attribute_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="NoSuchAttribute", AttributeValue="x")


@pytest.mark.deviation("moto", aws="a FilterPolicy that is not JSON is InvalidParameter (HTTP 400)",
                       actual="answers HTTP 500 with an HTML page")
def test_filter_policy_that_is_not_json_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"FilterPolicy": "{not json"})


@pytest.mark.deviation("moto", aws="a filter policy with an empty value list is InvalidParameter",
                       actual="accepts it")
def test_filter_policy_with_an_empty_value_list_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.set_subscription_attributes(SubscriptionArn=sub, AttributeName="FilterPolicy",
                                        AttributeValue=json.dumps({"eventType": []}))


def test_subscribing_with_a_queue_url_instead_of_an_arn_is_invalid_parameter(sns, topic_and_queue):
    topic, url, _ = topic_and_queue
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=url)


@pytest.mark.deviation("moto", aws="an unknown Protocol is InvalidParameter",
                       actual="accepts it")
def test_unsupported_protocol_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.subscribe(TopicArn=topic, Protocol="carrier-pigeon", Endpoint=qarn)


def test_standard_topic_cannot_feed_a_fifo_queue(sqs, sns, make_topic, make_queue):
    topic = make_topic()
    fifo_arn = queue_arn(sqs, make_queue(fifo=True))
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=fifo_arn)


def test_unsubscribe_removes_the_subscription(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.unsubscribe(SubscriptionArn=sub)
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []
    with aws_error(sns, *NOT_FOUND, status=404):
        sns.get_subscription_attributes(SubscriptionArn=sub)


def test_deleting_a_topic_removes_its_subscriptions(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sub = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, ReturnSubscriptionArn=True)["SubscriptionArn"]
    sns.delete_topic(TopicArn=topic)
    everything = [s["SubscriptionArn"] for page in sns.get_paginator("list_subscriptions").paginate()
                  for s in page["Subscriptions"]]
    assert sub not in everything


@pytest.mark.deviation("moto", aws="subscribing an endpoint again with different attributes is InvalidParameter",
                       actual="updates or duplicates the subscription")
def test_subscribing_again_with_different_attributes_is_invalid_parameter(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "true"})
    with aws_error(sns, "InvalidParameterException", "InvalidParameter"):
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn, Attributes={"RawMessageDelivery": "false"})


@pytest.mark.deviation("moto", aws="SubscriptionsConfirmed counts the topic's confirmed subscriptions",
                       actual="always answers 0")
def test_topic_counts_its_confirmed_subscriptions(sns, topic_and_queue):
    topic, _, qarn = topic_and_queue
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=qarn)
    assert sns.get_topic_attributes(TopicArn=topic)["Attributes"]["SubscriptionsConfirmed"] == "1"


def test_more_than_fifty_tags_is_tag_limit_exceeded(sns, make_topic):
    arn = make_topic()
    with aws_error(sns, "TagLimitExceededException", "TagLimitExceeded"):
        sns.tag_resource(ResourceArn=arn, Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(51)])

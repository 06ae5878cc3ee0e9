"""pytest plugin for moto's own SQS/SNS suite run against broker-server (see run.sh).

EXCLUDED leaves tests out by a listed rule: they test moto itself (its in-process server app, its internal matcher
functions), need another AWS service (CloudFormation, Lambda, AWS Config, IAM), or mock an endpoint inside the test's own
process. Every other test must pass.

EXPECTED_FAILURES lists tests where moto's expectation differs from AWS's documentation; each is a strict xfail whose
reason quotes the AWS page Broker follows instead.
"""
from __future__ import annotations

import fnmatch

import pytest

# Rule → node-id patterns (fnmatch, relative to moto's source folder).
EXCLUDED: dict[str, list[str]] = {
    "tests moto's own in-process server app (moto.server.create_backend_app), not a server over the wire": [
        "tests/test_sqs/test_server.py::*",
        "tests/test_sns/test_server.py::*",
    ],
    "tests moto's internal filter-policy functions directly, not the API": [
        "tests/test_sns/test_utils.py::*",
    ],
    "needs CloudFormation": [
        "tests/test_sqs/test_sqs_cloudformation.py::*",
        "tests/test_sns/test_sns_cloudformation.py::*",
    ],
    "needs Lambda": [
        "tests/test_sqs/test_sqs_integration.py::*",
    ],
    "needs IAM authentication (moto's enable_iam_authentication)": [
        "tests/test_sqs/test_sqs_authentication.py::*",
    ],
    "needs AWS Config": [
        "tests/test_sns/test_topics.py::test_list_config_service_resources",
        "tests/test_sns/test_topics.py::test_get_config_resource",
    ],
    "mocks its HTTP endpoint inside the test's own process (responses) and reads moto's backend; it skips itself in "
    "server mode": [
        "tests/test_sns/test_publishing.py::test_publish_to_http",
    ],
}

# Node id → reason (quoting the AWS documentation Broker follows), for SQS …
SQS_EXPECTED_FAILURES: dict[str, str] = {
    # CreateQueue / SetQueueAttributes input rules.
    "tests/test_sqs/test_sqs.py::test_create_queue_with_different_attributes_fail":
        "moto creates a standard queue with FifoQueue='tru'. AWS API reference, CreateQueue: 'FifoQueue – Designates a "
        "queue as FIFO. Valid values are true and false.' A standard queue refuses the attribute altogether: AWS answers "
        "'InvalidAttributeName: Unknown Attribute FifoQueue.' (recorded in aws/aws-sdk-php#1331).",
    "tests/test_sqs/test_sqs.py::test_create_fifo_queue_with_dlq":
        "moto creates a standard queue with FifoQueue=false. AWS answers 'InvalidAttributeName: Unknown Attribute "
        "FifoQueue.' for FifoQueue on a queue whose name does not end in .fifo, false included (recorded in "
        "aws/aws-sdk-php#1331 and aws/aws-cli#2549); API reference, CreateQueue: 'If you don't specify the FifoQueue "
        "attribute, Amazon SQS creates a standard queue.'",
    "tests/test_sqs/test_sqs.py::test_message_retention_period":
        "moto accepts MessageRetentionPeriod=1. AWS API reference, CreateQueue: 'MessageRetentionPeriod – ... Valid "
        "values: An integer from 60 seconds (1 minute) to 1,209,600 seconds (14 days).' (InvalidAttributeValue)",
    **{
        f"tests/test_sqs/test_sqs.py::{name}":
            "the test names the attribute 'VisibilityTimeout ' (with a trailing space), which moto accepts. AWS API "
            "reference, CreateQueue, Errors: 'InvalidAttributeName – The specified attribute doesn't exist.'"
        for name in [
            "test_message_becomes_inflight_when_received", "test_receive_message_with_explicit_visibility_timeout",
            "test_change_message_visibility", "test_queue_length", "test_delete_batch_operation",
            "test_delete_message_after_visibility_timeout",
        ]
    },
    "tests/test_sqs/test_sqs.py::test_get_queue_attributes":
        "moto returns RedrivePolicy as the client wrote it (json.dumps, with spaces). AWS returns its own compact "
        "form; AWS CLI reference, get-queue-attributes, example output: "
        "'\"RedrivePolicy\": \"{\\\"deadLetterTargetArn\\\":\\\"arn:aws:sqs:us-east-1:80398EXAMPLE:MyDeadLetterQueue\\\","
        "\\\"maxReceiveCount\\\":1000}\"'.",
    # Messages.
    "tests/test_sqs/test_sqs.py::test_message_with_invalid_attributes":
        "moto refuses the attribute name 'öther_encodings'. AWS accepts letters of any script in attribute names "
        "(recorded against AWS: 'attr.1øßä' is sent and received), so the Developer Guide's 'A-Z, a-z, 0-9, "
        "underscore (_), hyphen (-), and period (.)' (sqs-message-metadata) is narrower than what AWS does.",
    "tests/test_sqs/test_sqs.py::test_message_with_attributes_invalid_datatype":
        "moto answers with an older wording. AWS answers 'The type of message (user) attribute 'timestamp' is invalid. "
        "You must use only the following supported type prefixes: Binary, Number, String.' (recorded against AWS); API "
        "reference, MessageAttributeValue: 'DataType – Amazon SQS supports the following logical data types: String, "
        "Number, and Binary.'",
    "tests/test_sqs/test_sqs.py::test_message_delay_is_more_than_15_minutes":
        "the test sends MessageDeduplicationId to a standard queue and expects that entry to succeed. AWS API "
        "reference, SendMessageBatchRequestEntry: 'MessageDeduplicationId – This parameter applies only to FIFO "
        "(first-in-first-out) queues.'; AWS fails the entry: 'Value ... for parameter MessageDeduplicationId is "
        "invalid. Reason: The request include parameter that is not valid for this queue type.'",
    # Receipt handles.
    **{
        f"tests/test_sqs/test_sqs.py::{name}":
            "moto answers 'The input receipt handle is invalid.'. AWS API reference, DeleteMessage, Errors: "
            "'ReceiptHandleIsInvalid – The specified receipt handle isn't valid.'; its message names the handle: "
            "'The input receipt handle \"fake\" is not a valid receipt handle.' (AWS CLI against AWS, recorded in "
            "softwaremill/elasticmq#324)"
        for name in ["test_change_message_visibility_on_unknown_receipt_handle", "test_delete_message_errors"]
    },
    # AddPermission / RemovePermission.
    "tests/test_sqs/test_sqs.py::test_permissions":
        "moto writes the policy with Version 2012-10-17. AWS writes the policy AddPermission makes in the 2008-10-17 "
        "policy language (recorded against AWS); IAM User Guide, Version element: '2008-10-17. This was an earlier "
        "version of the policy language.'",
    "tests/test_sqs/test_sqs.py::test_remove_permission_errors":
        "moto answers 'Reason: can't find label on existing policy.'. AWS answers 'Value test for parameter Label is "
        "invalid. Reason: can't find label.' (recorded against AWS); API reference, RemovePermission: 'Revokes any "
        "permissions in the queue policy that matches the specified Label parameter.'",
}

# … and for SNS.
SNS_EXPECTED_FAILURES: dict[str, str] = {
    "tests/test_sns/test_publish_batch.py::test_publish_with_upper_cased_message_attributes": (
        "publishes a batch entry with Id 'some id'; AWS's API reference (API_PublishBatchRequestEntry): 'This "
        "identifier can have up to 80 characters. The following characters are accepted: alphanumeric characters, "
        "hyphens(-), and underscores (_).' — a space is InvalidBatchEntryId"
    ),
    "tests/test_sns/test_publishing.py::test_publish_large_subject": (
        "expects moto's own text; AWS's API reference (API_Publish) for Subject: 'must be less than 100 characters "
        "long', refused as InvalidParameter 'Invalid parameter: Subject' (the text real SNS answers, quoted in "
        "getmoto/moto#1503)"
    ),
    "tests/test_sns/test_publishing.py::test_publish_fifo_needs_group_id": (
        "expects SQS's text; AWS's API reference (API_PublishBatchRequestEntry, MessageGroupId): 'You must associate "
        "a non-empty MessageGroupId with a message. If you do not provide a MessageGroupId, the action fails.' — SNS "
        "answers InvalidParameter 'Invalid parameter: The MessageGroupId parameter is required for FIFO topics'"
    ),
    "tests/test_sns/test_publishing.py::test_publish_to_sqs_bad": (
        "expects InvalidParameter for a message attribute without a value; AWS's API reference (API_Publish, "
        "Errors) answers a value that breaks its constraints with InvalidParameterValue ('Indicates that a request "
        "parameter does not comply with the associated constraints'; Query code ParameterValueInvalid), and "
        "API_MessageAttributeValue: 'Name, type, and value must not be empty or null.'"
    ),
    "tests/test_sns/test_publishing.py::test_publish_with_message_structure_errors": (
        "expects moto's own texts; AWS's API reference (API_Publish, MessageStructure): the Message 'must: be a "
        "syntactically valid JSON object; and contain at least a top-level JSON key of \"default\" with a value that "
        "is a string' — SNS refuses it as InvalidParameter 'Invalid parameter: Message Structure - …'"
    ),
    "tests/test_sns/test_topics.py::test_topic_attributes": (
        "expects DeliveryPolicy '' on a new topic and a re-serialized Policy; AWS's API reference "
        "(API_GetTopicAttributes) lists DeliveryPolicy as 'The JSON serialization of the topic's delivery policy' "
        "and EffectiveDeliveryPolicy as the one 'taking system defaults into account': a topic without a "
        "DeliveryPolicy lists only EffectiveDeliveryPolicy"
    ),
    "tests/test_sns/test_topics.py::test_create_fifo_topic": (
        "expects the name errors without SNS's prefix; AWS's API reference (API_CreateTopic, Errors) answers "
        "InvalidParameter, whose messages read 'Invalid parameter: …' ('Invalid parameter: Topic Name' for a "
        "standard topic, 'Invalid parameter: Fifo Topic names must end with .fifo …' for a FIFO one)"
    ),
    "tests/test_sns/test_subscriptions.py::test_confirm_subscription": (
        "confirms with a token no Subscribe sent; AWS's API reference (API_ConfirmSubscription): 'Verifies an "
        "endpoint owner's intent to receive messages by validating the token sent to the endpoint by an earlier "
        "Subscribe action. If the token is valid, the action creates a new subscription' — an invalid token is "
        "InvalidParameter ('Invalid parameter: Token')"
    ),
    "tests/test_sns/test_subscriptions.py::test_subscribe_invalid_filter_policy": (
        "expects HTTP 500 InternalError for the exact value 1000000001; AWS's Developer Guide (Filter policy "
        "constraints): 'For numeric matching, the value can range from -10^9 to 10^9' — Broker refuses the policy "
        "as a client error (InvalidParameter), since no 5xx is documented for a policy"
    ),
    # Mobile push: platform applications.
    **{
        f"tests/test_sns/test_application.py::{name}": (
            "creates an APNS application without PlatformPrincipal and PlatformCredential. AWS API reference, "
            "CreatePlatformApplication: 'You must specify PlatformPrincipal and PlatformCredential attributes when using "
            "the CreatePlatformApplication action.' ... 'For APNS and APNS_SANDBOX using certificate credentials, "
            "PlatformPrincipal is SSL certificate and PlatformCredential is private key.' (InvalidParameter)"
        )
        for name in [
            "test_list_platform_applications", "test_delete_platform_application", "test_create_platform_endpoint",
            "test_get_endpoint_attributes", "test_set_endpoint_attributes", "test_delete_endpoint",
            "test_publish_to_platform_endpoint",
        ]
    },
    **{
        f"tests/test_sns/test_application.py::{name}": (
            "expects GetPlatformApplicationAttributes to return the PlatformCredential it was given. AWS API "
            "reference, GetPlatformApplicationAttributes, Attributes: 'Attributes include the following: "
            "AppleCertificateExpiryDate ... ApplePlatformTeamID ... ApplePlatformBundleID ... AuthenticationMethod ... "
            "EventEndpointCreated ... EventEndpointDeleted ... EventEndpointUpdated ... EventDeliveryFailure' — the "
            "credential (a private key or API key) is not among them, and Broker never returns it"
        )
        for name in ["test_get_platform_application_attributes", "test_set_platform_application_attributes"]
    },
    # SMS.
    **{
        f"tests/test_sns/test_application.py::{name}": (
            "sets an SMS attribute named 'test'. AWS API reference, SetSMSAttributes: 'You can set values for the "
            "following attribute names: MonthlySpendLimit ... DeliveryStatusIAMRole ... "
            "DeliveryStatusSuccessSamplingRate ... DefaultSenderID ... DefaultSMSType ... UsageReportS3Bucket' "
            "(InvalidParameter for any other name)"
        )
        for name in ["test_set_sms_attributes", "test_get_sms_attributes_filtered"]
    },
    **{
        f"tests/test_sns/test_subscriptions.py::{name}": (
            "relies on moto's fixture of opted-out numbers (every number ending in 99, and a non-empty list in a new "
            "account). AWS API reference, CheckIfPhoneNumberIsOptedOut: 'Accepts a phone number and indicates whether "
            "the phone holder has opted out of receiving SMS messages from your Amazon Web Services account.' — a "
            "number opts out when its holder does (replying STOP), so a new account has none; Broker's in-process "
            "Broker.optOut(phoneNumber:) stands for that reply"
        )
        for name in ["test_check_opted_out", "test_list_opted_out", "test_opt_in"]
    },
    "tests/test_sns/test_subscriptions.py::test_creating_subscription": (
        "subscribes an http endpoint and expects it confirmed at once; AWS's API reference (API_Subscribe, "
        "SubscriptionArn): 'The ARN of the subscription if it is confirmed, or the string pending confirmation if the "
        "subscription requires confirmation', and an HTTP/S endpoint requires it: it stays PendingConfirmation "
        "until the endpoint confirms"
    ),
    "tests/test_sns/test_subscriptions.py::test_creating_subscription_with_attributes": (
        "subscribes an http endpoint and expects it confirmed at once; AWS's API reference (API_Subscribe, "
        "SubscriptionArn): 'The ARN of the subscription if it is confirmed, or the string pending confirmation if the "
        "subscription requires confirmation', and an HTTP/S endpoint requires it: it stays PendingConfirmation "
        "until the endpoint confirms"
    ),
    "tests/test_sns/test_subscriptions.py::test_subscribe_attributes": (
        "subscribes an http endpoint and expects it confirmed at once; AWS's API reference (API_Subscribe, "
        "SubscriptionArn): 'The ARN of the subscription if it is confirmed, or the string pending confirmation if the "
        "subscription requires confirmation', and an HTTP/S endpoint requires it: it stays PendingConfirmation "
        "until the endpoint confirms"
    ),
    "tests/test_sns/test_subscriptions.py::test_set_subscription_attributes": (
        "subscribes an http endpoint and expects it confirmed at once; AWS's API reference (API_Subscribe, "
        "SubscriptionArn): 'The ARN of the subscription if it is confirmed, or the string pending confirmation if the "
        "subscription requires confirmation', and an HTTP/S endpoint requires it: it stays PendingConfirmation "
        "until the endpoint confirms"
    ),
    "tests/test_sns/test_subscriptions.py::test_unsubscribe_from_deleted_topic": (
        "subscribes an http endpoint and expects it confirmed at once; AWS's API reference (API_Subscribe, "
        "SubscriptionArn): 'The ARN of the subscription if it is confirmed, or the string pending confirmation if the "
        "subscription requires confirmation', and an HTTP/S endpoint requires it: it stays PendingConfirmation "
        "until the endpoint confirms"
    ),
}

EXPECTED_FAILURES = {**SQS_EXPECTED_FAILURES, **SNS_EXPECTED_FAILURES}


def _rule(nodeid: str) -> str | None:
    for rule, patterns in EXCLUDED.items():
        if any(fnmatch.fnmatchcase(nodeid, pattern) for pattern in patterns):
            return rule
    return None


def pytest_collection_modifyitems(config, items):
    kept, dropped = [], []
    for item in items:
        (dropped if _rule(item.nodeid) else kept).append(item)
        reason = EXPECTED_FAILURES.get(item.nodeid)
        if reason:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    config._broker_moto_excluded = len(dropped)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    terminalreporter.write_line(
        f"broker-server against moto 5.2.1's SQS/SNS suite: {getattr(config, '_broker_moto_excluded', 0)} tests left "
        f"out by listed rules, {len(EXPECTED_FAILURES)} expected failures that follow AWS's documentation "
        "(Server/Tests/moto/broker_moto.py)")

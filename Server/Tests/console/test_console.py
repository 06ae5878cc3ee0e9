"""The web console in a real browser (headless Chromium): live depths by server-sent events while boto3 sends,
a peek, sending and purging from the page, a dead-letter queue redriven with a confirmation, the topic graph, and a
page of another origin refused. Ends with a screenshot at Docs/images/console.png (or CONSOLE_SCREENSHOT)."""
from __future__ import annotations

import json
import os
import time
import urllib.parse

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from conftest import REPO

ACCOUNT = "000000000000"
REGION = "us-east-1"
WAIT = 15  # seconds a condition may take in the browser; counts arrive every second


def wait(browser, condition, message):
    return WebDriverWait(browser, WAIT, poll_frequency=0.1).until(lambda _: condition(), message)


def row_selector(name):
    return f'tr[data-queue="{ACCOUNT}/{REGION}/{name}"]'


def cell(browser, name, column):
    rows = browser.find_elements(By.CSS_SELECTOR, f"{row_selector(name)} td.{column}")
    return rows[0].text if rows else None


@pytest.fixture(scope="module")
def pipeline(sqs, sns):
    """orders (DLQ orders-dlq after one receive) fed by a topic through a filter policy, and audit unfiltered."""
    dlq_url = sqs.create_queue(QueueName="orders-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName="orders", Attributes={
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    audit_url = sqs.create_queue(QueueName="audit")["QueueUrl"]
    audit_arn = sqs.get_queue_attributes(QueueUrl=audit_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    topic = sns.create_topic(Name="order-events")["TopicArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn,
                  Attributes={"FilterPolicy": json.dumps({"event_type": ["order.created"]})})
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=audit_arn)
    return {"url": url, "dlq_url": dlq_url, "audit_url": audit_url, "topic": topic}


@pytest.fixture(scope="module")
def console(browser, endpoint, pipeline):
    browser.get(f"{endpoint}/_broker/console")
    wait(browser, lambda: browser.find_element(By.ID, "status").text == "live", "the event stream never went live")
    wait(browser, lambda: cell(browser, "orders", "visible") == "0", "the orders queue never appeared")
    # A mark on the page: were the page reloaded, it would be gone, so a changed count is proof of a live update.
    browser.execute_script("window.consoleTestMark = 42")
    return browser


def visible(sqs, url):
    return int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
               ["Attributes"]["ApproximateNumberOfMessages"])


def test_depth_changes_live_while_messages_are_sent(console, sns, pipeline):
    for index in range(3):
        sns.publish(TopicArn=pipeline["topic"], Message=json.dumps({"order": index}),
                    MessageAttributes={"event_type": {"DataType": "String", "StringValue": "order.created"}})
        wait(console, lambda: cell(console, "orders", "visible") == str(index + 1),
             f"the orders depth did not reach {index + 1} live")
    sns.publish(TopicArn=pipeline["topic"], Message="refund",
                MessageAttributes={"event_type": {"DataType": "String", "StringValue": "order.refunded"}})
    wait(console, lambda: cell(console, "audit", "visible") == "4", "the audit depth did not reach 4 live")
    assert cell(console, "orders", "visible") == "3"  # the filter policy kept the refund out
    assert console.execute_script("return window.consoleTestMark") == 42
    # The sparkline has drawn the history.
    assert console.find_elements(By.CSS_SELECTOR, f"{row_selector('orders')} td.spark polyline")


def test_a_peek_shows_the_messages_without_receiving_them(console, sqs, pipeline):
    console.find_element(By.CSS_SELECTOR, row_selector("orders")).click()
    wait(console, lambda: len(console.find_elements(By.CSS_SELECTOR, "#messages tr.message")) == 3,
         "the peek did not list three messages")
    bodies = [row.text for row in console.find_elements(By.CSS_SELECTOR, "#messages tr.message td.body")]
    orders = sorted(json.loads(json.loads(body)["Message"])["order"] for body in bodies)
    assert orders == [0, 1, 2]
    assert {row.text for row in console.find_elements(By.CSS_SELECTOR, "#messages tr.message td.state")} == {"visible"}
    # Nothing was received: all three are still visible, none has a receive count.
    assert visible(sqs, pipeline["url"]) == 3
    got = sqs.receive_message(QueueUrl=pipeline["url"], MaxNumberOfMessages=10, VisibilityTimeout=0,
                              AttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert sorted(m["Attributes"]["ApproximateReceiveCount"] for m in got) == ["1", "1", "1"]


def test_a_dead_letter_queue_is_redriven_after_a_confirmation(console, sqs, pipeline):
    # The previous test received each message once; the next receive moves them to the dead-letter queue.
    assert sqs.receive_message(QueueUrl=pipeline["url"], MaxNumberOfMessages=10).get("Messages") is None
    wait(console, lambda: cell(console, "orders-dlq", "visible") == "3", "the DLQ depth did not reach 3 live")
    wait(console, lambda: cell(console, "orders", "visible") == "0", "the orders depth did not fall to 0 live")
    badge = console.find_element(By.CSS_SELECTOR, f"{row_selector('orders-dlq')} .badge.dead-letter")
    assert badge.text == "DLQ"
    console.find_element(By.CSS_SELECTOR, row_selector("orders-dlq")).click()
    redrive = console.find_element(By.ID, "redrive-button")
    wait(console, redrive.is_displayed, "the DLQ offers no redrive")
    redrive.click()
    dialog = console.find_element(By.ID, "confirm")
    wait(console, dialog.is_displayed, "no confirmation was asked")
    assert "orders-dlq" in console.find_element(By.ID, "confirm-text").text
    # Cancelled, nothing moves.
    console.find_element(By.ID, "confirm-cancel").click()
    assert not dialog.is_displayed()
    assert visible(sqs, pipeline["dlq_url"]) == 3
    redrive.click()
    wait(console, dialog.is_displayed, "no confirmation was asked")
    console.find_element(By.ID, "confirm-ok").click()
    wait(console, lambda: cell(console, "orders", "visible") == "3", "the messages did not arrive back in orders")
    wait(console, lambda: cell(console, "orders-dlq", "visible") == "0", "the DLQ did not empty")
    wait(console, lambda: "COMPLETED" in console.find_element(By.ID, "task-status").text,
         "the move task's status was not shown")
    assert "3 of 3 moved" in console.find_element(By.ID, "task-status").text
    assert visible(sqs, pipeline["url"]) == 3


def test_a_message_is_sent_and_a_queue_purged_from_the_page(console, sqs, pipeline):
    console.find_element(By.CSS_SELECTOR, row_selector("audit")).click()
    wait(console, lambda: console.find_element(By.ID, "detail-title").text == "audit", "audit was not opened")
    console.find_element(By.ID, "send-body").send_keys("sent from the console")
    console.find_element(By.ID, "send-button").click()
    wait(console, lambda: cell(console, "audit", "visible") == "5", "the sent message did not show")
    wait(console, lambda: any(row.text == "sent from the console" for row in
                              console.find_elements(By.CSS_SELECTOR, "#messages tr.message td.body")),
         "the sent message was not peeked")
    console.find_element(By.ID, "purge-button").click()
    wait(console, console.find_element(By.ID, "confirm").is_displayed, "no confirmation was asked")
    console.find_element(By.ID, "confirm-ok").click()
    wait(console, lambda: cell(console, "audit", "visible") == "0", "the purge did not show")
    assert visible(sqs, pipeline["audit_url"]) == 0


def test_the_topic_graph_shows_subscriptions_and_filter_policies(console):
    wait(console, lambda: len(console.find_elements(By.CSS_SELECTOR, "#graph g.subscription")) == 2,
         "the graph did not draw two subscriptions")
    texts = [node.text for node in console.find_elements(By.CSS_SELECTOR, "#graph text")]
    assert "order-events" in texts
    assert '{"event_type":["order.created"]}' in texts
    assert "no filter policy" in texts
    assert {"orders", "audit"} <= set(texts)
    assert len(console.find_elements(By.CSS_SELECTOR, "#graph path")) == 4


def test_a_page_of_another_origin_can_neither_read_nor_purge(browser, endpoint, sqs, pipeline):
    assert visible(sqs, pipeline["url"]) == 3
    page = """<!doctype html><script>
      window.outcome = {};
      const base = %s;
      fetch(base + "/_broker/queues/000000000000/orders/purge", {method: "POST", mode: "no-cors",
            headers: {"Content-Type": "text/plain"}, body: "{}"})
        .then(r => outcome.purge = "sent " + r.type, e => outcome.purge = "failed");
      fetch(base + "/_broker/queues").then(r => outcome.read = "read", e => outcome.read = "refused");
      const events = new EventSource(base + "/_broker/events");
      events.addEventListener("counts", () => outcome.events = "read");
      events.onerror = () => { outcome.events = outcome.events || "refused"; events.close(); };
    </script>""" % json.dumps(endpoint)
    browser.get("data:text/html;charset=utf-8," + urllib.parse.quote(page))
    wait(browser, lambda: browser.execute_script("return Object.keys(window.outcome).length") == 3,
         "the hostile page's requests did not finish")
    outcome = browser.execute_script("return window.outcome")
    assert outcome["read"] == "refused"
    assert outcome["events"] == "refused"
    assert visible(sqs, pipeline["url"]) == 3


def test_screenshot(browser, endpoint, sns, sqs, pipeline):
    browser.get(f"{endpoint}/_broker/console")
    wait(browser, lambda: browser.find_element(By.ID, "status").text == "live", "the event stream never went live")
    wait(browser, lambda: cell(browser, "orders", "visible") is not None, "the queues did not show")
    browser.find_element(By.CSS_SELECTOR, row_selector("orders")).click()
    # A few seconds of traffic, so the charts have a shape.
    for step in range(6):
        for _ in range(step % 3 + 1):
            sns.publish(TopicArn=pipeline["topic"], Message=json.dumps({"order": 100 + step}),
                        MessageAttributes={"event_type": {"DataType": "String", "StringValue": "order.created"}})
        if step == 3:
            sqs.receive_message(QueueUrl=pipeline["url"], MaxNumberOfMessages=4, VisibilityTimeout=60)
        time.sleep(1)
    wait(browser, lambda: len(browser.find_elements(By.CSS_SELECTOR, "#graph g.subscription")) == 2, "no graph")
    path = os.environ.get("CONSOLE_SCREENSHOT") or str(REPO / "Docs" / "images" / "console.png")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    height = browser.execute_script("return document.documentElement.scrollHeight")
    browser.set_window_size(1360, min(max(height + 40, 900), 2400))
    assert browser.save_screenshot(path)
    assert os.path.getsize(path) > 10_000

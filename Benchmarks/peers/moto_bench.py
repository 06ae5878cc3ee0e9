#!/usr/bin/env python3
"""broker-bench's scenarios through boto3 against moto's in-process AWS mock, for the side-by-side in
Docs/Performance.md.

    pip install "moto[sqs,sns]" boto3        # moto 5.x (mock_aws)
    python3 Benchmarks/peers/moto_bench.py --runs 5 > moto.json

Prints one JSON document on stdout (progress on stderr). Every scenario checks its result the way broker-bench
does (each message exactly once, FIFO order per group, fan-out counts) and the script exits 1 if a check fails.

Scenarios (same shapes as broker-bench):
  send-receive-delete   one thread: send, receive, delete; --batch 1 and 10 (both run by default)
  fifo                  FIFO queue, 10 groups, batches of 10
  fanout                topic -> 4 SQS subscriptions (2 filtered on the eventType attribute, 1 raw, 1 envelope),
                        ~300-byte JSON bodies; 10 publishes, then every copy received and deleted
  long-poll-latency     a thread parked in receive_message(WaitTimeSeconds=20); another sends; time until return
  depth-sweep           send+receive+delete (batches of 10) with N messages resident (default 100 and 1000)
moto has no consumer framework, so broker-bench's `consumer` scenario has no counterpart here.
"""

import argparse
import json
import os
import platform
import statistics
import sys
import threading
import time

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_SECURITY_TOKEN", "testing")
os.environ.setdefault("AWS_SESSION_TOKEN", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

try:
    import boto3
    import moto
    from moto import mock_aws
except ImportError as error:  # pragma: no cover - a message for people without the packages
    sys.exit(f"moto_bench.py needs boto3 and moto 5: pip install 'moto[sqs,sns]' boto3 ({error})")

REGION = "us-east-1"
EVENT_TYPES = ["order.created", "order.refunded", "order.cancelled", "order.shipped"]
FAILURES = []


def fail(message):
    if len(FAILURES) < 50:
        FAILURES.append(message)


def now_ns():
    return time.perf_counter_ns()


def percentiles(samples_ns):
    """p50/p90/p99/max in microseconds (nearest rank)."""
    if not samples_ns:
        return None
    ordered = sorted(samples_ns)

    def rank(q):
        index = max(0, min(len(ordered) - 1, int(-(-q * len(ordered) // 1)) - 1))
        return ordered[index] / 1000.0

    return {"p50": rank(0.5), "p90": rank(0.9), "p99": rank(0.99), "max": ordered[-1] / 1000.0}


def progress(label, done, start_ns, state, quiet):
    if quiet:
        return
    now = now_ns()
    if now >= state.get("next", start_ns + 2_000_000_000):
        state["next"] = now + 2_000_000_000
        seconds = (now - start_ns) / 1e9
        print(f"{label}: {seconds:.1f} s, {done} msgs, {done / seconds:.1f}/s", file=sys.stderr)


def body(seq, size=100, group=0):
    head = f"m{seq:012d}g{group:06d}"
    return head + "x" * max(0, size - len(head))


def parse(text):
    if not text.startswith("m") or text[13] != "g":
        return None
    return int(text[1:13]), int(text[14:20])


def order_event(seq, size=300):
    head = (
        '{"orderId":"ord-%012d","eventType":"%s","customer":{"id":"c-1042","tier":"gold"},'
        '"currency":"EUR","total":129.95,"items":[{"sku":"SKU-1","qty":2}],"note":"' % (seq, EVENT_TYPES[seq % 4])
    )
    return head + "x" * max(0, size - len(head) - 2) + '"}'


def order_seq(text):
    index = text.find("ord-")
    return int(text[index + 4:index + 16]) if index >= 0 else None


def sqs_client():
    return boto3.client("sqs", region_name=REGION)


# --- scenarios -----------------------------------------------------------------------------------------------


def batch_entries(first, batch, fifo, groups):
    """SendMessageBatch entries for messages first..first+batch-1, spread over `groups` on FIFO queues."""
    entries = []
    for i in range(batch):
        s = first + i
        entry = {"Id": str(i), "MessageBody": body(s, group=s % groups)}
        if fifo:
            entry["MessageGroupId"] = f"g{s % groups}"
            entry["MessageDeduplicationId"] = str(s)
        entries.append(entry)
    return entries


def run_queue(duration, batch, fifo=False, groups=10, resident=0, quiet=False):
    """One thread sends a batch, receives it back and deletes it; like broker-bench's single-thread loop."""
    with mock_aws():
        sqs = sqs_client()
        attributes = {"VisibilityTimeout": "43200"}
        name = "bench"
        if fifo:
            attributes["FifoQueue"] = "true"
            name += ".fifo"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        seq = 0
        while seq < resident:
            entries = [{"Id": str(i), "MessageBody": body(seq + i)} for i in range(min(10, resident - seq))]
            sqs.send_message_batch(QueueUrl=url, Entries=entries)
            seq += len(entries)
        seen = set()
        last = {}
        samples = []
        sent = deleted = 0
        start = now_ns()
        iteration_start = start
        state = {}
        label = f"moto {'fifo' if fifo else 'send-receive-delete'} batch={batch} resident={resident}"
        while iteration_start - start < duration * 1e9:
            entries = batch_entries(seq, batch, fifo, groups)
            if batch == 1:
                extra = {k: v for k, v in entries[0].items() if k in ("MessageGroupId", "MessageDeduplicationId")}
                sqs.send_message(QueueUrl=url, MessageBody=entries[0]["MessageBody"], **extra)
            else:
                result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                if result.get("Failed"):
                    fail(f"SendMessageBatch failed: {result['Failed'][0]}")
            seq += batch
            sent += batch
            empties = 0
            while deleted < sent:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch).get("Messages", [])
                if not messages:
                    empties += 1
                    if empties > 3:
                        fail(f"{sent - deleted} messages missing")
                        deleted = sent
                    continue
                for message in messages:
                    parsed = parse(message["Body"])
                    if parsed is None:
                        fail("unknown body")
                        continue
                    s, group = parsed
                    if s in seen:
                        fail(f"message {s} delivered twice")
                    seen.add(s)
                    if fifo:
                        if s <= last.get(group, -1):
                            fail(f"FIFO order broken in group {group}")
                        last[group] = s
                if batch == 1:
                    for message in messages:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                else:
                    result = sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                    if result.get("Failed"):
                        fail(f"DeleteMessageBatch failed: {result['Failed'][0]}")
                deleted += len(messages)
            now = now_ns()
            samples.append(now - iteration_start)
            iteration_start = now
            progress(label, deleted, start, state, quiet)
        seconds = (iteration_start - start) / 1e9
        depth = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                    ["Attributes"]["ApproximateNumberOfMessages"])
        if depth != resident:
            fail(f"queue holds {depth}, expected {resident}")
        if len(seen) != sent:
            fail(f"{sent} sent, {len(seen)} distinct received")
        return {"throughput": deleted / seconds, "count": deleted, "seconds": seconds, "latency_us": percentiles(samples),
                "latency_of": f"one iteration: send {batch}, receive, delete (one thread)"}


FANOUT_POLICIES = [('{"eventType":["order.created","order.refunded"]}', {0, 1}),
                   ('{"eventType":["order.created","order.cancelled"]}', {0, 2})]


def subscribe_fanout(sqs, sns, topic, name=lambda text: text):
    """The fan-out shape of broker-bench: 2 subscriptions filtered on eventType, 1 raw, 1 envelope."""
    subscribers = []
    for index in range(4):
        url = sqs.create_queue(QueueName=name(f"subscriber-{index}"), Attributes={"VisibilityTimeout": "43200"})["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        attributes, types, kind = {}, {0, 1, 2, 3}, "filtered"
        if index < 2:
            attributes["FilterPolicy"], types = FANOUT_POLICIES[index]
        else:
            kind = "raw" if index == 2 else "envelope"
            attributes["RawMessageDelivery"] = "true" if index == 2 else "false"
        sub_arn = sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes=attributes,
                                ReturnSubscriptionArn=True)["SubscriptionArn"]
        subscribers.append({"url": url, "arn": sub_arn, "types": types, "kind": kind, "seen": set(),
                            "expected": 0, "received": 0})
    return subscribers


def publish_fanout(sns, topic, subscribers, first, count=lambda call: None):
    """Publishes events first..first+9 and records which subscriptions should get each."""
    for seq in range(first, first + 10):
        sns.publish(TopicArn=topic, Message=order_event(seq), MessageAttributes={
            "eventType": {"DataType": "String", "StringValue": EVENT_TYPES[seq % 4]}})
        count("Publish")
        for sub in subscribers:
            if seq % 4 in sub["types"]:
                sub["expected"] += 1


def drain_fanout(sqs, topic, subscribers, count=lambda call: None):
    """Receives and deletes every copy owed to each subscription, checking each: known, once, admitted by the
    filter, raw or wrapped as configured."""
    for index, sub in enumerate(subscribers):
        empties = 0
        while sub["received"] < sub["expected"]:
            messages = sqs.receive_message(QueueUrl=sub["url"], MaxNumberOfMessages=10).get("Messages", [])
            count("ReceiveMessage/10-fanout" if messages else "ReceiveMessage/empty")
            if not messages:
                empties += 1
                if empties > 3:
                    fail(f"fanout subscription {index}: {sub['expected'] - sub['received']} copies missing")
                    sub["received"] = sub["expected"]
                continue
            for message in messages:
                seq = order_seq(message["Body"])
                if seq is None:
                    fail(f"fanout subscription {index}: unknown body")
                    continue
                if seq in sub["seen"]:
                    fail(f"fanout subscription {index}: publish {seq} twice")
                sub["seen"].add(seq)
                if seq % 4 not in sub["types"]:
                    fail(f"fanout subscription {index}: filter let {seq} through")
                if message["Body"].startswith('{"orderId"') != (sub["kind"] == "raw"):
                    fail(f"fanout subscription {index} ({sub['kind']}): wrong body shape")
                elif sub["kind"] != "raw" and json.loads(message["Body"]).get("TopicArn") != topic:
                    fail(f"fanout subscription {index}: envelope without the topic's ARN")
            result = sqs.delete_message_batch(QueueUrl=sub["url"], Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
            count("DeleteMessageBatch")
            if result.get("Failed"):
                fail(f"fanout: DeleteMessageBatch failed: {result['Failed'][0]}")
            sub["received"] += len(messages)


def check_fanout(subscribers):
    for index, sub in enumerate(subscribers):
        if len(sub["seen"]) != sub["expected"]:
            fail(f"fanout subscription {index}: expected {sub['expected']}, got {len(sub['seen'])}")


def run_fanout(duration, quiet=False):
    with mock_aws():
        sqs = sqs_client()
        sns = boto3.client("sns", region_name=REGION)
        topic = sns.create_topic(Name="order-events")["TopicArn"]
        subscribers = subscribe_fanout(sqs, sns, topic)
        published = 0
        samples = []
        start = now_ns()
        iteration_start = start
        state = {}
        while iteration_start - start < duration * 1e9:
            publish_fanout(sns, topic, subscribers, published)
            published += 10
            drain_fanout(sqs, topic, subscribers)
            now = now_ns()
            samples.append(now - iteration_start)
            iteration_start = now
            progress("moto fanout", published, start, state, quiet)
        seconds = (iteration_start - start) / 1e9
        check_fanout(subscribers)
        return {"throughput": published / seconds, "count": published, "seconds": seconds,
                "latency_us": percentiles(samples),
                "latency_of": "one iteration: 10 publishes, then every copy received and deleted"}


def run_long_poll(rounds, gap_us=500, quiet=False):
    with mock_aws():
        sqs = sqs_client()
        url = sqs.create_queue(QueueName="long-poll")["QueueUrl"]
        ready = threading.Semaphore(0)
        received = threading.Semaphore(0)
        errors = []

        def sender():
            client = sqs_client()
            try:
                for round_ in range(rounds):
                    ready.acquire()
                    time.sleep(gap_us / 1e6)
                    client.send_message(QueueUrl=url, MessageBody=f"{now_ns()}:{round_}")
                    received.acquire()
            except Exception as error:  # report, don't hang
                errors.append(str(error))

        thread = threading.Thread(target=sender, daemon=True)
        thread.start()
        samples = []
        start = now_ns()
        for round_ in range(rounds):
            ready.release()
            entered = now_ns()
            messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=1, WaitTimeSeconds=20).get("Messages", [])
            returned = now_ns()
            try:
                if len(messages) != 1:
                    fail(f"round {round_}: {len(messages)} messages")
                    continue
                sent_at, number = messages[0]["Body"].split(":")
                if int(number) != round_:
                    fail(f"round {round_}: got message {number}")
                if returned - entered < gap_us * 1000:
                    fail(f"round {round_}: returned before the send")
                samples.append(returned - int(sent_at))
                sqs.delete_message(QueueUrl=url, ReceiptHandle=messages[0]["ReceiptHandle"])
            finally:
                received.release()
        seconds = (now_ns() - start) / 1e9
        thread.join(timeout=30)
        for error in errors:
            fail(error)
        return {"throughput": rounds / seconds, "count": rounds, "seconds": seconds, "latency_us": percentiles(samples),
                "latency_of": "send (other thread) -> parked long-poll receive returned"}


# --- driver ----------------------------------------------------------------------------------------------------


def aggregate(name, variant, unit, runs):
    throughputs = [r["throughput"] for r in runs]
    latencies = [r["latency_us"] for r in runs if r["latency_us"]]
    latency = None
    if latencies:
        latency = {key: statistics.median(l[key] for l in latencies) for key in ("p50", "p90", "p99", "max")}
    return {"scenario": name, "variant": variant, "unit": unit, "runs": len(runs),
            "throughputMedian": statistics.median(throughputs), "throughputMin": min(throughputs),
            "throughputMax": max(throughputs), "throughputPerRun": throughputs,
            "countMedian": statistics.median(r["count"] for r in runs),
            "latencyOf": runs[0]["latency_of"], "latencyMicroseconds": latency, "extras": {}}


def cpu_model():
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenarios", nargs="*",
                        default=["send-receive-delete", "fifo", "fanout", "long-poll-latency", "depth-sweep"])
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario; medians are reported (default 5)")
    parser.add_argument("--rounds", type=int, default=200, help="long-poll rounds per run (default 200)")
    parser.add_argument("--depths", default="100,1000", help="depth-sweep resident counts (default 100,1000)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args()

    results = []

    def repeat(label, function):
        runs = []
        for run in range(args.runs):
            if not args.quiet:
                print(f"{label}: run {run + 1}/{args.runs}", file=sys.stderr)
            runs.append(function())
        return runs

    for scenario in args.scenarios:
        if scenario == "send-receive-delete":
            for batch in (1, 10):
                runs = repeat(f"send-receive-delete batch={batch}",
                              lambda: run_queue(args.duration, batch, quiet=args.quiet))
                results.append(aggregate("send-receive-delete", f"batch={batch},size=100", "msgs/s", runs))
        elif scenario == "fifo":
            runs = repeat("fifo", lambda: run_queue(args.duration, 10, fifo=True, groups=10, quiet=args.quiet))
            results.append(aggregate("fifo", "batch=10,groups=10,size=100", "msgs/s", runs))
        elif scenario == "fanout":
            runs = repeat("fanout", lambda: run_fanout(args.duration, quiet=args.quiet))
            results.append(aggregate("fanout", "subscriptions=4,filter=attributes,publish=1,drain-every=10,size=300",
                                     "publishes/s", runs))
        elif scenario == "long-poll-latency":
            runs = repeat("long-poll-latency", lambda: run_long_poll(args.rounds, quiet=args.quiet))
            results.append(aggregate("long-poll-latency", "wait=20s,gap=500us", "rounds/s", runs))
        elif scenario == "depth-sweep":
            depths = [int(d) for d in args.depths.split(",")]
            per_depth = {d: [] for d in depths}
            for run in range(args.runs):
                for depth in depths:
                    if not args.quiet:
                        print(f"depth-sweep resident={depth}: run {run + 1}/{args.runs}", file=sys.stderr)
                    per_depth[depth].append(run_queue(args.duration, 10, resident=depth, quiet=args.quiet))
            for depth in depths:
                row = aggregate("depth-sweep", f"resident={depth},batch=10,size=100", "msgs/s", per_depth[depth])
                first = per_depth[depths[0]]
                row["extras"]["throughput vs first depth"] = statistics.median(
                    r["throughput"] / f["throughput"] for r, f in zip(per_depth[depth], first))
                results.append(row)
        else:
            parser.error(f"unknown scenario {scenario}")

    report = {
        "tool": "moto", "moto": moto.__version__, "boto3": boto3.__version__, "python": platform.python_version(),
        "command": " ".join(["moto_bench.py"] + sys.argv[1:]),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "runs": args.runs, "durationPerRun": args.duration,
        "results": results, "verified": not FAILURES, "failures": FAILURES,
    }
    print(json.dumps(report, indent=2, sort_keys=True))
    sys.exit(0 if not FAILURES else 1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""boto3 over HTTP on loopback against Broker's `broker-server` and against moto's server, for the side-by-side in
Docs/Performance.md ("Over HTTP on loopback").

    swift build -c release --package-path Server --product broker-server      # done for you if missing
    python3 Benchmarks/peers/http_bench.py --runs 5 --json > http-loopback.json  # table on stderr
    python3 Benchmarks/peers/http_bench.py --target broker --duration 1 --runs 1 # quick look, table on stdout

The script starts each server itself on a free 127.0.0.1 port (broker-server with `--port 0`, reading the port
from its first stdout line; `python3 -m moto.server -H 127.0.0.1 -p PORT`, polled until it answers) and stops it
afterwards. Every scenario runs on a fresh queue/topic (deleted afterwards), checks its result and the script
exits 1 if any check fails. One boto3 client thread unless said otherwise; boto3 clients are created up front
(creating them concurrently is not thread-safe), endpoint_url set, region us-east-1, dummy credentials, retries
off (a failure should fail, not be retried).

Scenarios (shapes as in moto_bench.py and broker-bench):
  srd-1        send + receive + delete, unbatched, 100-byte bodies                        msgs/s
  srd-10       SendMessageBatch 10 + ReceiveMessage 10 + DeleteMessageBatch 10             msgs/s
  srd-10x4     srd-10 from 4 threads (one client each) on one shared queue                  msgs/s
               (distinct messages; moto hands a message to two concurrent receivers now and then: counted as
               `duplicates` for moto, a failure for Broker)
  fifo         FIFO queue, 10 groups, batches of 10                                         msgs/s
  fanout       topic -> 4 SQS subscriptions (2 filtered on the eventType attribute, 1 raw, 1 envelope), ~300-byte
               JSON; 10 publishes, then every delivered copy received and deleted in batches of 10  publishes/s
  send-latency one SendMessage call, timed alone (p50/p90/p99); a fresh queue every 100 sends,
               because moto's SendMessage slows down as its queue grows                     calls/s (1/mean)
Cost split (per target): `raw-replay` sends boto3's exact SendMessage request bytes with http.client (no boto3:
server + loopback + a minimal HTTP client), and `client floor` times each boto3 operation with a `before-send`
hook that returns a canned response (serialization, signing, event hooks, parsing; no socket, no server), and
`stub` times boto3's SendMessage against a raw-socket stub process that answers canned bytes (boto3 with its HTTP
stack and loopback, a server that costs next to nothing).
CPU seconds of this process and of the server process are recorded per run (µs of CPU per message).
"""

import argparse
import base64
import collections
import hashlib
import http.client
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)

import boto3  # noqa: E402
import botocore  # noqa: E402
import botocore.handlers  # noqa: E402
from botocore.awsrequest import AWSResponse  # noqa: E402
from botocore.config import Config  # noqa: E402

# Shared helpers and shapes. Importing moto_bench imports moto, which appends its (disabled) stubber to botocore's
# built-in `before-send` handlers; take it out again so every client here is a plain boto3 client.
import moto_bench  # noqa: E402
from moto_bench import (EVENT_TYPES, batch_entries, body, check_fanout, cpu_model, drain_fanout, order_event,  # noqa: E402
                        order_seq, parse, percentiles, publish_fanout, subscribe_fanout)

botocore.handlers.BUILTIN_HANDLERS[:] = [
    entry for entry in botocore.handlers.BUILTIN_HANDLERS if "moto" not in type(entry[1]).__module__]

REGION = "us-east-1"
# One list for both scripts: the fan-out checks shared with moto_bench record their failures there.
FAILURES = moto_bench.FAILURES


def fail(message):
    if len(FAILURES) < 50:
        FAILURES.append(message)
    print(f"CHECK FAILED: {message}", file=sys.stderr)


def now_ns():
    return time.perf_counter_ns()


def md5(text):
    return hashlib.md5(text.encode()).hexdigest()


def log(quiet, *parts):
    if not quiet:
        print(*parts, file=sys.stderr, flush=True)


# --- servers -----------------------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    def __init__(self, name, argv, port=None):
        self.name = name
        if port is None:  # broker-server --port 0: the first stdout line names the port
            self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = self.process.stdout.readline().strip()
            match = re.fullmatch(r"broker-server listening on http://127\.0\.0\.1:(\d+)", line)
            if not match:
                self.stop()
                sys.exit(f"broker-server did not announce its port (first line: {line!r})")
            port = int(match.group(1))
        else:
            self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                    connection.request("GET", "/moto-api/")
                    connection.getresponse().read()
                    connection.close()
                    break
                except OSError:
                    if self.process.poll() is not None or time.time() > deadline:
                        self.stop()
                        sys.exit(f"{name} server did not answer on port {port}")
                    time.sleep(0.1)
        self.port = port
        self.endpoint = f"http://127.0.0.1:{port}"

    def cpu_seconds(self):
        """user + system CPU of the server process, from /proc (clock-tick resolution)."""
        try:
            with open(f"/proc/{self.process.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_broker(binary):
    return Server("broker", [binary, "--port", "0"])


def start_moto():
    port = free_port()
    return Server("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)], port=port)


def ensure_broker_binary(path, quiet):
    if path:
        if not os.access(path, os.X_OK):
            sys.exit(f"--broker-bin {path}: not an executable")
        return path
    binary = os.path.join(ROOT, "Server", ".build", "release", "broker-server")
    if not os.access(binary, os.X_OK):
        log(quiet, "building broker-server (release) ...")
        subprocess.run(["swift", "build", "-c", "release", "--package-path", os.path.join(ROOT, "Server"),
                        "--product", "broker-server"], check=True, stdout=sys.stderr)
    return binary


def client(service, endpoint):
    return boto3.session.Session().client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test",
        config=Config(retries={"total_max_attempts": 1}))


# --- measuring ---------------------------------------------------------------------------------------------------


class Meter:
    """Wall time, CPU time of this process and of the server, and the boto3 calls made (for the client floor)."""

    def __init__(self, server):
        self.server = server
        self.calls = collections.Counter()

    @staticmethod
    def machine_busy():
        """CPU-seconds all cores spent busy since boot, from /proc/stat (everything but idle and iowait)."""
        try:
            with open("/proc/stat") as handle:
                fields = [int(x) for x in handle.readline().split()[1:]]
            return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError, IndexError):
            return None

    def __enter__(self):
        self.busy = self.machine_busy()
        self.wall = now_ns()
        self.times = os.times()
        self.server_cpu = self.server.cpu_seconds()
        return self

    def stop(self):
        self.seconds = (now_ns() - self.wall) / 1e9
        times = os.times()
        self.client_user, self.client_sys = times[0] - self.times[0], times[1] - self.times[1]
        self.client_cpu = self.client_user + self.client_sys
        end = self.server.cpu_seconds()
        self.server_cpu = None if end is None or self.server_cpu is None else end - self.server_cpu
        busy = self.machine_busy()
        # Cores kept busy by everything but this process and the server during the run (other builds, ...).
        self.other_cores = None if busy is None or self.busy is None or self.server_cpu is None else \
            max(0.0, busy - self.busy - self.client_cpu - self.server_cpu) / self.seconds

    def __exit__(self, *exc):
        return False

    def result(self, count, unit_count=None, latency=None, latency_of=""):
        unit_count = count if unit_count is None else unit_count
        return {"throughput": unit_count / self.seconds, "count": unit_count, "seconds": self.seconds,
                "clientCpuUsPer": self.client_cpu * 1e6 / unit_count if unit_count else None,
                "clientSysUsPer": self.client_sys * 1e6 / unit_count if unit_count else None,
                "serverCpuUsPer": self.server_cpu * 1e6 / unit_count if unit_count and self.server_cpu is not None
                else None,
                "otherCores": self.other_cores,
                "calls": dict(self.calls), "latency_us": latency, "latency_of": latency_of}


def unique(prefix):
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def queue_counts(sqs, url):
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def check_received(messages, seen, last=None, label=""):
    for message in messages:
        if message.get("MD5OfBody") != md5(message["Body"]):
            fail(f"{label}: MD5OfBody does not match the body")
        parsed = parse(message["Body"])
        if parsed is None:
            fail(f"{label}: unknown body")
            continue
        seq, group = parsed
        if seq in seen:
            fail(f"{label}: message {seq} delivered twice")
        seen.add(seq)
        if last is not None:
            if seq <= last.get(group, -1):
                fail(f"{label}: FIFO order broken in group {group}")
            last[group] = seq


# --- scenarios ---------------------------------------------------------------------------------------------------


def run_queue(sqs, server, duration, batch, fifo=False, groups=10):
    """One thread: send `batch`, receive until it is all back, delete; as moto_bench.run_queue."""
    attributes = {"VisibilityTimeout": "43200"}
    name = unique("bench")
    if fifo:
        attributes["FifoQueue"] = "true"
        name += ".fifo"
    url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
    label = f"{'fifo' if fifo else 'srd'} batch={batch}"
    seen, last = set(), ({} if fifo else None)
    samples = []
    seq = sent = deleted = 0
    with Meter(server) as meter:
        calls = meter.calls
        start = iteration_start = now_ns()
        while iteration_start - start < duration * 1e9:
            entries = batch_entries(seq, batch, fifo, groups)
            if batch == 1:
                extra = {k: v for k, v in entries[0].items() if k in ("MessageGroupId", "MessageDeduplicationId")}
                result = sqs.send_message(QueueUrl=url, MessageBody=entries[0]["MessageBody"], **extra)
                calls["SendMessage"] += 1
                if result["MD5OfMessageBody"] != md5(entries[0]["MessageBody"]):
                    fail(f"{label}: MD5OfMessageBody does not match")
            else:
                result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                calls["SendMessageBatch/fifo" if fifo else "SendMessageBatch"] += 1
                if result.get("Failed") or len(result.get("Successful", [])) != batch:
                    fail(f"{label}: SendMessageBatch failed: {result.get('Failed')}")
            seq += batch
            sent += batch
            empties = 0
            while deleted < sent:
                messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch).get("Messages", [])
                calls[f"ReceiveMessage/{batch}" if messages else "ReceiveMessage/empty"] += 1
                if not messages:
                    empties += 1
                    if empties > 3:
                        fail(f"{label}: {sent - deleted} messages missing")
                        deleted = sent
                    continue
                check_received(messages, seen, last, label)
                if batch == 1:
                    for message in messages:
                        sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                        calls["DeleteMessage"] += 1
                else:
                    result = sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                    calls["DeleteMessageBatch"] += 1
                    if result.get("Failed"):
                        fail(f"{label}: DeleteMessageBatch failed: {result['Failed'][0]}")
                deleted += len(messages)
            now = now_ns()
            samples.append(now - iteration_start)
            iteration_start = now
        meter.stop()
    if queue_counts(sqs, url) != (0, 0):
        fail(f"{label}: queue not empty at the end: {queue_counts(sqs, url)}")
    if len(seen) != sent:
        fail(f"{label}: {sent} sent, {len(seen)} distinct received")
    sqs.delete_queue(QueueUrl=url)
    return meter.result(deleted, latency=percentiles(samples),
                        latency_of=f"one iteration: send {batch}, receive, delete")


def run_queue_threads(clients, server, duration, batch=10, duplicates_fatal=True):
    """len(clients) threads, one client each, on one shared standard queue: send 10, receive 10 until the thread
    has deleted what it sent (or a receive comes back empty: another thread took them), delete in a batch. The
    main thread drains what is left after the timed window and checks every message arrived, and exactly once.
    Throughput counts distinct messages deleted in the window. moto's ReceiveMessage picks and marks messages
    without a lock, so concurrent receivers sometimes get the same message; SQS standard queues are at-least-once,
    so for moto (duplicates_fatal=False) duplicates are counted in `extras` and reported, not failed."""
    sqs = clients[0]
    url = sqs.create_queue(QueueName=unique("bench-mt"), Attributes={"VisibilityTimeout": "43200"})["QueueUrl"]
    lock = threading.Lock()
    seen = set()
    totals = {"sent": 0, "deleted": 0}
    errors = []
    duplicates = []
    barrier = threading.Barrier(len(clients) + 1)
    stop_at = [0]

    def worker(index, sqs):
        local_seen = []
        sent = deleted = 0
        seq = index * 10**9
        try:
            barrier.wait()
            while now_ns() < stop_at[0]:
                entries = [{"Id": str(i), "MessageBody": body(seq + i, group=index)} for i in range(batch)]
                result = sqs.send_message_batch(QueueUrl=url, Entries=entries)
                if result.get("Failed") or len(result.get("Successful", [])) != batch:
                    errors.append(f"SendMessageBatch failed: {result.get('Failed')}")
                seq += batch
                sent += batch
                while deleted < sent:
                    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=batch).get("Messages", [])
                    if not messages:
                        break
                    for message in messages:
                        if message.get("MD5OfBody") != md5(message["Body"]):
                            errors.append("MD5OfBody does not match the body")
                        local_seen.append(parse(message["Body"])[0])
                    result = sqs.delete_message_batch(QueueUrl=url, Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
                    if result.get("Failed"):
                        errors.append(f"DeleteMessageBatch failed: {result['Failed'][0]}")
                    deleted += len(messages)
        except Exception as error:  # report, don't hang
            errors.append(f"thread {index}: {error!r}")
        with lock:
            totals["sent"] += sent
            totals["deleted"] += deleted
            for s in local_seen:
                if s in seen:
                    duplicates.append(s)
                seen.add(s)

    threads = [threading.Thread(target=worker, args=(i, c), daemon=True) for i, c in enumerate(clients)]
    for thread in threads:
        thread.start()
    with Meter(server) as meter:
        stop_at[0] = now_ns() + int(duration * 1e9)
        barrier.wait()
        for thread in threads:
            thread.join()
        meter.stop()
    deleted_in_window = len(seen)
    empties = 0
    while len(seen) < totals["sent"] and empties < 3:  # drain the leftovers, untimed
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            empties += 1
            continue
        for message in messages:
            s = parse(message["Body"])[0]
            if s in seen:
                duplicates.append(s)
            seen.add(s)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    for error in errors[:10]:
        fail(f"srd-10x{len(clients)}: {error}")
    if duplicates and duplicates_fatal:
        fail(f"srd-10x{len(clients)}: {len(duplicates)} messages delivered twice, e.g. {duplicates[0]}")
    elif duplicates:
        print(f"note: srd-10x{len(clients)}: {len(duplicates)} duplicate deliveries (concurrent receives)",
              file=sys.stderr)
    if len(seen) != totals["sent"]:
        fail(f"srd-10x{len(clients)}: {totals['sent']} sent, {len(seen)} distinct received")
    if queue_counts(sqs, url) != (0, 0):
        fail(f"srd-10x{len(clients)}: queue not empty at the end")
    sqs.delete_queue(QueueUrl=url)
    result = meter.result(deleted_in_window, latency_of="")
    result["calls"] = {}
    result["extras"] = {"left for the drain": totals["sent"] - deleted_in_window, "duplicates": len(duplicates)}
    return result


def run_fanout(sqs, sns, server, duration):
    """Topic -> 4 subscriptions as moto_bench.run_fanout: 10 publishes, then every copy received and deleted."""
    topic = sns.create_topic(Name=unique("order-events"))["TopicArn"]
    subscribers = subscribe_fanout(sqs, sns, topic, name=unique)
    published = 0
    samples = []
    with Meter(server) as meter:
        calls = meter.calls

        def count(call):
            calls[call] += 1

        start = iteration_start = now_ns()
        while iteration_start - start < duration * 1e9:
            publish_fanout(sns, topic, subscribers, published, count)
            published += 10
            drain_fanout(sqs, topic, subscribers, count)
            now = now_ns()
            samples.append(now - iteration_start)
            iteration_start = now
        meter.stop()
    check_fanout(subscribers)
    for index, sub in enumerate(subscribers):
        if queue_counts(sqs, sub["url"]) != (0, 0):
            fail(f"fanout subscription {index}: queue not empty at the end")
        sns.unsubscribe(SubscriptionArn=sub["arn"])
        sqs.delete_queue(QueueUrl=sub["url"])
    sns.delete_topic(TopicArn=topic)
    copies = sum(sub["expected"] for sub in subscribers)
    result = meter.result(published, latency=percentiles(samples),
                          latency_of="one iteration: 10 publishes, then every copy received and deleted")
    result["extras"] = {"copies per publish": copies / published if published else 0}
    return result


ROTATE = 100  # send-latency and raw-replay move to a fresh queue every ROTATE sends (moto's SendMessage slows with depth)


def rotating_sends(sqs, server, duration, prefix, send):
    """Calls send(url) for `duration` seconds of send time, on a fresh queue every ROTATE sends (created, checked
    and deleted outside the timed calls), so every send meets a queue with fewer than ROTATE messages."""
    samples = []
    name_prefix = unique(prefix)
    with Meter(server) as meter:
        spent = 0
        queue_index = 0
        while spent < duration * 1e9:
            url = sqs.create_queue(QueueName=f"{name_prefix}-{queue_index:06d}")["QueueUrl"]
            queue_index += 1
            sent = 0
            for _ in range(ROTATE):
                before = now_ns()
                send(url)
                elapsed = now_ns() - before
                samples.append(elapsed)
                spent += elapsed
                sent += 1
                if spent >= duration * 1e9:
                    break
            visible, in_flight = queue_counts(sqs, url)
            if (visible, in_flight) != (sent, 0):
                fail(f"{prefix}: {sent} sent, queue holds {visible} (+{in_flight} in flight)")
            sqs.delete_queue(QueueUrl=url)
        meter.stop()
    return meter, samples


def run_send_latency(sqs, server, duration):
    text = body(0)
    digest = md5(text)

    def send(url):
        if sqs.send_message(QueueUrl=url, MessageBody=text)["MD5OfMessageBody"] != digest:
            fail("send-latency: MD5OfMessageBody does not match")

    meter, samples = rotating_sends(sqs, server, duration, "bench-latency", send)
    meter.calls["SendMessage"] = len(samples)
    result = meter.result(len(samples), latency=percentiles(samples),
                          latency_of=f"one SendMessage call (queue depth < {ROTATE})")
    result["throughput"] = len(samples) / (sum(samples) / 1e9)  # 1 / mean latency: queue rotation left out
    return result


def run_raw_replay(sqs, server, duration):
    """boto3's exact SendMessage request (headers and body, captured by a before-send hook), re-sent with
    http.client on one keep-alive connection: the server and loopback cost with a minimal client."""
    probe = sqs.create_queue(QueueName=unique("bench-raw") + "-probe0")["QueueUrl"]
    captured = {}

    def capture(request, **_):
        captured.update(method=request.method, url=request.url, headers=dict(request.headers), body=request.body)

    sqs.meta.events.register("before-send.sqs.SendMessage", capture)
    try:
        sqs.send_message(QueueUrl=probe, MessageBody=body(0))
    finally:
        sqs.meta.events.unregister("before-send.sqs.SendMessage", capture)
    sqs.delete_queue(QueueUrl=probe)
    path = "/" + captured["url"].split("/", 3)[3] if captured["url"].count("/") >= 3 else "/"
    headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in captured["headers"].items()}
    template = captured["body"] if isinstance(captured["body"], bytes) else captured["body"].encode()
    if probe.encode() not in template:
        fail("raw-replay: the captured request does not carry the queue URL in its body")
    connection = http.client.HTTPConnection("127.0.0.1", server.port)

    def send(url):
        payload = template.replace(probe.encode(), url.encode())  # same length: unique() names are fixed-width
        connection.request(captured["method"], path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            fail(f"raw-replay: HTTP {response.status}: {data[:200]!r}")

    meter, samples = rotating_sends(sqs, server, duration, "bench-raw", send)
    connection.close()
    result = meter.result(len(samples), latency=percentiles(samples),
                          latency_of=f"one SendMessage request (http.client, boto3's bytes; queue depth < {ROTATE})")
    result["throughput"] = len(samples) / (sum(samples) / 1e9)
    return result


# --- the client-only floor ---------------------------------------------------------------------------------------

STUB = r"""
import socket, sys
body = sys.argv[1].encode()
reply = (b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\nx-amzn-RequestId: "
         b"00000000-0000-0000-0000-000000000000\r\nContent-Length: %d\r\nConnection: keep-alive\r\n\r\n" % len(body)
         + body)
listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
print(listener.getsockname()[1], flush=True)
while True:
    connection, _ = listener.accept()
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buffer = b""
    while True:
        end = buffer.find(b"\r\n\r\n")
        if end >= 0:
            head = buffer[:end].lower()
            index = head.find(b"content-length:")
            length = int(head[index + 15:head.find(b"\r\n", index) if head.find(b"\r\n", index) > 0 else None]) \
                if index >= 0 else 0
            if len(buffer) >= end + 4 + length:
                buffer = buffer[end + 4 + length:]
                connection.sendall(reply)
                continue
        data = connection.recv(65536)
        if not data:
            break
        buffer += data
    connection.close()
"""


def run_stub_send(duration, runs, quiet):
    """boto3 SendMessage against a raw-socket stub (another process) that answers every request with the same
    canned bytes at once: boto3 with its HTTP stack and loopback, and a server that costs next to nothing."""
    text = body(0)
    canned = json.dumps({"MD5OfMessageBody": md5(text), "MessageId": str(uuid.uuid4())})
    process = subprocess.Popen([sys.executable, "-c", STUB, canned], stdout=subprocess.PIPE, text=True)
    try:
        port = int(process.stdout.readline())
        stub = Server.__new__(Server)
        stub.name, stub.process, stub.port, stub.endpoint = "stub", process, port, f"http://127.0.0.1:{port}"
        sqs = client("sqs", stub.endpoint)
        url = f"{stub.endpoint}/000000000000/bench"
        for _ in range(50):
            sqs.send_message(QueueUrl=url, MessageBody=text)
        results = []
        for run in range(runs):
            samples = []
            with Meter(stub) as meter:
                end = now_ns() + int(duration * 1e9)
                while True:
                    before = now_ns()
                    if before >= end:
                        break
                    sqs.send_message(QueueUrl=url, MessageBody=text)
                    samples.append(now_ns() - before)
                meter.stop()
            results.append(meter.result(len(samples), latency=percentiles(samples),
                                        latency_of="one boto3 SendMessage call against a canned-bytes stub"))
        row = aggregate("stub-send", "boto3 SendMessage against a raw-socket stub (canned bytes)", "calls/s",
                        results, {})
        log(quiet, f"stub SendMessage: {row['latencyMicroseconds']['p50']:.0f} µs p50")
        return row
    finally:
        stub_kill(process)


def stub_kill(process):
    process.terminate()
    try:
        process.wait(timeout=5)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class CannedRaw:
    def __init__(self, data):
        self.data = data

    def stream(self, **_):
        yield self.data


def canned_sqs(payload):
    return 200, {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": str(uuid.uuid4())}, \
        json.dumps(payload).encode()


def sqs_message(text):
    return {"MessageId": str(uuid.uuid4()), "ReceiptHandle": base64.b64encode(os.urandom(96)).decode(),
            "MD5OfBody": md5(text), "Body": text}


def envelope(seq):
    return json.dumps({
        "Type": "Notification", "MessageId": str(uuid.uuid4()),
        "TopicArn": "arn:aws:sns:us-east-1:000000000000:order-events", "Message": order_event(seq),
        "Timestamp": "2026-11-23T12:00:00.000Z", "SignatureVersion": "1", "Signature": "x" * 172,
        "SigningCertURL": "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000.pem",
        "UnsubscribeURL": "http://localhost/?Action=Unsubscribe&SubscriptionArn=arn:aws:sns:us-east-1:0:o:" + "0" * 36,
        "MessageAttributes": {"eventType": {"Type": "String", "Value": EVENT_TYPES[seq % 4]}}})


def floor_cases():
    """key -> (service, method, kwargs, canned (status, headers, body)). The keys match the `calls` counters."""
    url = "http://127.0.0.1:9/000000000000/bench"
    one = body(0)
    batch = [{"Id": str(i), "MessageBody": body(i, group=i)} for i in range(10)]
    fifo_batch = [dict(e, MessageGroupId=f"g{i}", MessageDeduplicationId=str(i)) for i, e in enumerate(batch)]
    handles = [{"Id": str(i), "ReceiptHandle": base64.b64encode(os.urandom(96)).decode()} for i in range(10)]
    sent = {"Successful": [{"Id": e["Id"], "MessageId": str(uuid.uuid4()), "MD5OfMessageBody": md5(e["MessageBody"])}
                           for e in batch]}
    fanout_bodies = [order_event(i) if i % 4 == 2 else envelope(i) for i in range(10)]
    publish_xml = (
        '<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>%s</MessageId>'
        '</PublishResult><ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></PublishResponse>'
        % (uuid.uuid4(), uuid.uuid4())).encode()
    return {
        "SendMessage": ("sqs", "send_message", {"QueueUrl": url, "MessageBody": one},
                        canned_sqs({"MD5OfMessageBody": md5(one), "MessageId": str(uuid.uuid4())})),
        "ReceiveMessage/1": ("sqs", "receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 1},
                             canned_sqs({"Messages": [sqs_message(one)]})),
        "ReceiveMessage/empty": ("sqs", "receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 10},
                                 canned_sqs({})),
        "DeleteMessage": ("sqs", "delete_message", {"QueueUrl": url, "ReceiptHandle": handles[0]["ReceiptHandle"]},
                          canned_sqs({})),
        "SendMessageBatch": ("sqs", "send_message_batch", {"QueueUrl": url, "Entries": batch}, canned_sqs(sent)),
        "SendMessageBatch/fifo": ("sqs", "send_message_batch", {"QueueUrl": url, "Entries": fifo_batch},
                                  canned_sqs(dict(sent, Successful=[dict(s, SequenceNumber=str(10**19 + i))
                                                                    for i, s in enumerate(sent["Successful"])]))),
        "ReceiveMessage/10": ("sqs", "receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 10},
                              canned_sqs({"Messages": [sqs_message(e["MessageBody"]) for e in batch]})),
        "ReceiveMessage/10-fanout": ("sqs", "receive_message", {"QueueUrl": url, "MaxNumberOfMessages": 10},
                                     canned_sqs({"Messages": [sqs_message(b) for b in fanout_bodies]})),
        "DeleteMessageBatch": ("sqs", "delete_message_batch", {"QueueUrl": url, "Entries": handles},
                               canned_sqs({"Successful": [{"Id": h["Id"]} for h in handles]})),
        "Publish": ("sns", "publish", {
            "TopicArn": "arn:aws:sns:us-east-1:000000000000:order-events", "Message": order_event(0),
            "MessageAttributes": {"eventType": {"DataType": "String", "StringValue": EVENT_TYPES[0]}}},
            (200, {"Content-Type": "text/xml", "x-amzn-RequestId": str(uuid.uuid4())}, publish_xml)),
    }


FLOOR_SEQUENCES = {
    # scenario: (the calls of one iteration in the scenario's order, units per iteration)
    "srd-1": (["SendMessage", "ReceiveMessage/1", "DeleteMessage"], 1),
    "srd-10": (["SendMessageBatch", "ReceiveMessage/10", "DeleteMessageBatch"], 10),
    "srd-10x4": (["SendMessageBatch", "ReceiveMessage/10", "DeleteMessageBatch"], 10),
    "fifo": (["SendMessageBatch/fifo", "ReceiveMessage/10", "DeleteMessageBatch"], 10),
    "fanout": (["Publish"] * 10 + ["ReceiveMessage/10-fanout", "DeleteMessageBatch"] * 4, 10),
    "send-latency": (["SendMessage"], 1),
}


def measure_floor(seconds, runs, quiet):
    """boto3 with the network replaced by a canned response from a `before-send` hook (median of runs):
    µs per call of each operation called alone in a loop, and µs per unit of each scenario's call sequence
    (operations interleaved as in the scenario, which costs more than the same calls one operation at a time)."""
    cases = floor_cases()
    clients = {service: client(service, "http://127.0.0.1:9") for service in ("sqs", "sns")}
    slot = [None]

    def canned(request, **_):
        status, headers, data = slot[0]
        return AWSResponse(request.url, status, headers, CannedRaw(data))

    for c in clients.values():
        c.meta.events.register(f"before-send.{c.meta.service_model.endpoint_prefix}", canned)

    def prepared(key):
        service, method, kwargs, response = cases[key]
        return getattr(clients[service], method), kwargs, response

    def timed(sequence, units):
        calls = [prepared(key) for key in sequence]
        for _ in range(max(3, 60 // len(calls))):
            for call, kwargs, response in calls:
                slot[0] = response
                call(**kwargs)
        per_run = []
        for _ in range(runs):
            iterations = 0
            start = now_ns()
            end = start + int(seconds * 1e9)
            while now_ns() < end:
                for call, kwargs, response in calls:
                    slot[0] = response
                    call(**kwargs)
                iterations += 1
            per_run.append((now_ns() - start) / 1000 / (iterations * units))
        return statistics.median(per_run)

    per_call = {}
    for key in cases:
        per_call[key] = timed([key], 1)
        log(quiet, f"client floor {key}: {per_call[key]:.1f} µs/call")
    per_scenario = {}
    for scenario, (sequence, units) in FLOOR_SEQUENCES.items():
        per_scenario[scenario] = timed(sequence, units)
        log(quiet, f"client floor {scenario}: {per_scenario[scenario]:.1f} µs/unit")
    return {"perCall": per_call, "perScenarioUnit": per_scenario}


# --- driver ------------------------------------------------------------------------------------------------------

SCENARIOS = [
    # key, description, unit
    ("srd-1", "standard queue, send+receive+delete, unbatched", "msgs/s"),
    ("srd-10", "standard queue, SendMessageBatch 10 + ReceiveMessage 10 + DeleteMessageBatch 10", "msgs/s"),
    ("srd-10x4", "as srd-10, 4 client threads on one queue", "msgs/s"),
    ("fifo", "FIFO, 10 groups, batches of 10", "msgs/s"),
    ("fanout", "topic -> 4 subscriptions (2 attribute-filtered, raw, envelope), 10 publishes then drain",
     "publishes/s"),
    ("send-latency", "one SendMessage call", "calls/s"),
    ("raw-replay", "SendMessage bytes via http.client (no boto3)", "calls/s"),
]


def aggregate(key, description, unit, runs, floor):
    def median_of(field):
        values = [r[field] for r in runs if r.get(field) is not None]
        return statistics.median(values) if values else None

    throughputs = [r["throughput"] for r in runs]
    latencies = [r["latency_us"] for r in runs if r["latency_us"]]
    latency = None
    if latencies:
        latency = {k: statistics.median(l[k] for l in latencies) for k in ("p50", "p90", "p99", "max")}
    extras = {}
    for r in runs:
        for name, value in r.get("extras", {}).items():
            extras.setdefault(name, []).append(value)
    return {
        "scenario": key, "description": description, "unit": unit, "runs": len(runs),
        "throughputMedian": statistics.median(throughputs), "throughputMin": min(throughputs),
        "throughputMax": max(throughputs), "throughputPerRun": throughputs,
        "countMedian": statistics.median(r["count"] for r in runs),
        "clientCpuUsPerUnit": median_of("clientCpuUsPer"), "clientSysUsPerUnit": median_of("clientSysUsPer"),
        "serverCpuUsPerUnit": median_of("serverCpuUsPer"),
        "otherCoresMedian": median_of("otherCores"),
        "otherCoresPerRun": [r.get("otherCores") for r in runs],
        "otherCoresMax": max((r["otherCores"] for r in runs if r.get("otherCores") is not None), default=None),
        "clientFloorUsPerUnit": (floor or {}).get("perScenarioUnit", {}).get(key),
        "callsPerUnit": {k: v / runs[0]["count"] for k, v in runs[0]["calls"].items()} if runs[0]["calls"] else {},
        "latencyOf": runs[0]["latency_of"], "latencyMicroseconds": latency,
        "extras": {name: statistics.median(values) for name, values in extras.items()},
        "extrasPerRun": extras,
    }


def loadavg():
    try:
        with open("/proc/loadavg") as handle:
            return [float(x) for x in handle.read().split()[:3]]
    except OSError:
        return None


def prepare_target(name, args, broker_bin):
    """Starts the server, creates the clients (all up front) and warms up; returns the scenario functions."""
    log(args.quiet, f"== {name}: starting server")
    server = start_broker(broker_bin) if name == "broker" else start_moto()
    try:
        sqs, sns = client("sqs", server.endpoint), client("sns", server.endpoint)
        thread_clients = [client("sqs", server.endpoint) for _ in range(args.threads)]
        # Warm-up (untimed): connections opened, moto's backends loaded, both servers' first-request paths taken.
        warm = sqs.create_queue(QueueName=unique("warm"))["QueueUrl"]
        for c in thread_clients:
            c.get_queue_url(QueueName=warm.rsplit("/", 1)[1])
        for i in range(20):
            sqs.send_message(QueueUrl=warm, MessageBody=body(i))
            for m in sqs.receive_message(QueueUrl=warm, MaxNumberOfMessages=10).get("Messages", []):
                sqs.delete_message(QueueUrl=warm, ReceiptHandle=m["ReceiptHandle"])
        sqs.delete_queue(QueueUrl=warm)
        run_fanout(sqs, sns, server, 0.2)
    except BaseException:
        server.stop()
        raise
    functions = {
        "srd-1": lambda: run_queue(sqs, server, args.duration, 1),
        "srd-10": lambda: run_queue(sqs, server, args.duration, 10),
        "srd-10x4": lambda: run_queue_threads(thread_clients, server, args.duration,
                                              duplicates_fatal=(name == "broker")),
        "fifo": lambda: run_queue(sqs, server, args.duration, 10, fifo=True, groups=10),
        "fanout": lambda: run_fanout(sqs, sns, server, args.duration),
        "send-latency": lambda: run_send_latency(sqs, server, args.duration),
        "raw-replay": lambda: run_raw_replay(sqs, server, args.duration),
    }
    return server, functions


def bench(targets, args, floor, broker_bin):
    """Both servers run side by side (an idle server costs nothing) and each run of a scenario alternates between
    the targets, so load from other processes on the machine falls on both alike."""
    prepared = {}
    try:
        for name in targets:
            prepared[name] = prepare_target(name, args, broker_bin)
        runs = {name: {} for name in targets}
        for key, _, _ in SCENARIOS:
            for run in range(args.runs):
                for name in targets:
                    log(args.quiet, f"{name} {key}: run {run + 1}/{args.runs}")
                    try:
                        runs[name].setdefault(key, []).append(prepared[name][1][key]())
                    except Exception as error:  # a failed call is a failed check; go on with the rest
                        fail(f"{name} {key}: {error!r}")
        reports = []
        for name in targets:
            results = []
            for key, description, unit in SCENARIOS:
                if args.threads != 4 and key == "srd-10x4":
                    description = description.replace("4 client threads", f"{args.threads} client threads")
                if runs[name].get(key):
                    results.append(aggregate(key, description, unit, runs[name][key], floor))
                    log(args.quiet, f"{name} {key}: {results[-1]['throughputMedian']:.1f} {unit} (median)")
            reports.append({"server": name, "results": results})
        return reports
    finally:
        for server, _ in prepared.values():
            server.stop()


def fmt(value, digits=0):
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def table(report):
    by_target = {t["server"]: {r["scenario"]: r for r in t["results"]} for t in report["targets"]}
    names = [t["server"] for t in report["targets"]]
    lines = []
    header = ["scenario", "unit"] + names + (["broker ÷ moto"] if len(names) == 2 else [])
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * 2 + "---:|" * (len(header) - 2))
    for key, description, unit in SCENARIOS:
        rows = [by_target[n].get(key) for n in names]
        if not any(rows):
            continue
        cells = [fmt(r["throughputMedian"]) if r else "—" for r in rows]
        if len(names) == 2:
            cells.append(f"{rows[0]['throughputMedian'] / rows[1]['throughputMedian']:.1f}×" if all(rows) else "—")
        lines.append(f"| {key}: {description} | {unit} | " + " | ".join(cells) + " |")
    for key in ("send-latency", "raw-replay"):
        rows = [by_target[n].get(key) for n in names]
        if not all(r and r["latencyMicroseconds"] for r in rows):
            continue
        cells = [" / ".join(fmt(r["latencyMicroseconds"][p]) for p in ("p50", "p90", "p99")) for r in rows]
        if len(names) == 2:
            cells.append(f"{rows[1]['latencyMicroseconds']['p50'] / rows[0]['latencyMicroseconds']['p50']:.1f}× "
                         "faster (p50)")
        lines.append(f"| {key} latency p50 / p90 / p99 | µs | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("| target | scenario | µs per unit (wall) | client CPU µs | server CPU µs | boto3 client floor µs "
                 "(same calls, canned) | other load, cores (median / max) |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for n in names:
        for key, _, _ in SCENARIOS:
            r = by_target[n].get(key)
            if not r:
                continue
            lines.append(f"| {n} | {key} | {1e6 / r['throughputMedian']:,.1f} | {fmt(r['clientCpuUsPerUnit'], 1)} | "
                         f"{fmt(r['serverCpuUsPerUnit'], 1)} | {fmt(r['clientFloorUsPerUnit'], 1)} | "
                         f"{fmt(r['otherCoresMedian'], 2)} / {fmt(r['otherCoresMax'], 2)} |")
    if report.get("clientFloor"):
        lines.append("")
        lines.append("boto3 client-only cost per call, each operation alone (canned response from a before-send hook, "
                     "no socket): " + ", ".join(f"{k} {v:.0f} µs" for k, v in report["clientFloor"]["perCall"].items()))
    for n in names:
        row = by_target[n].get("srd-10x4")
        if row and sum(row["extrasPerRun"].get("duplicates", [])):
            lines.append(f"{n} srd-10x4: {sum(row['extrasPerRun']['duplicates'])} duplicate deliveries in "
                         f"{row['runs']} runs (concurrent receivers got the same message)")
    stub = report.get("stubSendMessage")
    if stub:
        lat = stub["latencyMicroseconds"]
        lines.append(f"boto3 SendMessage against a canned-bytes stub server: p50 / p90 / p99 {lat['p50']:.0f} / "
                     f"{lat['p90']:.0f} / {lat['p99']:.0f} µs, {stub['throughputMedian']:,.0f} calls/s, client CPU "
                     f"{stub['clientCpuUsPerUnit']:.0f} µs/call, stub CPU {fmt(stub['serverCpuUsPerUnit'])} µs/call")
    lines.append(f"load average before / after: {report['loadBefore']} / {report['loadAfter']}")
    lines.append("verified: " + ("yes" if report["verified"] else f"NO — {report['failures'][:5]}"))
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", choices=["broker", "moto", "both"], default="both")
    parser.add_argument("--broker-bin", help="broker-server executable (default: Server/.build/release/broker-server, "
                                             "built with swift build -c release if missing)")
    parser.add_argument("--duration", type=float, default=3.0, help="seconds per run (default 3)")
    parser.add_argument("--runs", type=int, default=5, help="runs per scenario; medians are reported (default 5)")
    parser.add_argument("--threads", type=int, default=4, help="client threads for srd-10x4 (default 4)")
    parser.add_argument("--floor-seconds", type=float, default=0.5,
                        help="seconds per run of each client-floor measurement (default 0.5; 0 skips it)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout (the table goes to stderr)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args()

    targets = ["broker", "moto"] if args.target == "both" else [args.target]
    broker_bin = ensure_broker_binary(args.broker_bin, args.quiet) if "broker" in targets else None
    load_before = loadavg()
    floor = measure_floor(args.floor_seconds, args.runs, args.quiet) if args.floor_seconds > 0 else {}
    stub = run_stub_send(args.duration, args.runs, args.quiet) if args.floor_seconds > 0 else None
    reports = bench(targets, args, floor, broker_bin)

    import moto
    report = {
        "tool": "http_bench.py", "boto3": boto3.__version__, "botocore": botocore.__version__,
        "moto": moto.__version__, "python": platform.python_version(),
        "brokerServer": broker_bin,
        "command": " ".join(["http_bench.py"] + sys.argv[1:]),
        "machine": {"cpu": cpu_model(), "cores": os.cpu_count()},
        "runs": args.runs, "durationPerRun": args.duration,
        "loadBefore": load_before, "loadAfter": loadavg(),
        "clientFloor": floor, "stubSendMessage": stub,
        "targets": reports,
        "verified": not FAILURES, "failures": FAILURES,
    }
    if len(reports) == 2:
        broker, moto_rows = ({r["scenario"]: r for r in t["results"]} for t in reports)
        report["ratios"] = {key: broker[key]["throughputMedian"] / moto_rows[key]["throughputMedian"]
                            for key in broker if key in moto_rows}
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
        print(table(report), file=sys.stderr)
    else:
        print(table(report))
    sys.exit(0 if not FAILURES else 1)


if __name__ == "__main__":
    main()

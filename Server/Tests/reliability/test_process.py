"""broker-server as a process: shutdown with long polls in flight, slow clients, many idle connections."""
from __future__ import annotations

import socket
import threading
import time

from wire import assert_well_formed, sqs_json


def create_queue(port: int, name: str = "q") -> str:
    status, _, _ = sqs_json(port, "CreateQueue", {"QueueName": name})
    assert status == 200
    return f"http://127.0.0.1:{port}/000000000000/{name}"


def test_sigterm_with_long_polls_in_flight_exits_cleanly(make_server):
    for _ in range(3):
        server = make_server()
        url = create_queue(server.port)
        polls = [threading.Thread(target=sqs_json, args=(server.port, "ReceiveMessage",
                                                         {"QueueUrl": url, "WaitTimeSeconds": 20}), daemon=True)
                 for _ in range(4)]
        for poll in polls:
            poll.start()
        time.sleep(0.5)  # let the polls reach the server; nothing here waits for a timeout
        started = time.monotonic()
        assert server.terminate(timeout=10) == 0
        assert time.monotonic() - started < 5
        assert b"Cannot schedule tasks" not in server.stderr, server.stderr.decode(errors="replace")
        assert b"Fatal error" not in server.stderr


def test_slow_head_and_slow_body_are_cut_off_while_others_are_served(make_server):
    server = make_server("--idle-timeout", "1", "--request-timeout", "1")
    create_queue(server.port)
    slow_head = socket.create_connection(("127.0.0.1", server.port))
    slow_body = socket.create_connection(("127.0.0.1", server.port))
    slow_body.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 3000000\r\n\r\nabc")
    closed = {}
    started = time.monotonic()

    def dribble(sock, name, payload):
        try:
            for byte in payload:
                sock.sendall(bytes([byte]))
                time.sleep(0.2)
                sock.settimeout(0.01)
                try:
                    if sock.recv(1024) == b"":
                        break
                except socket.timeout:
                    pass
        except OSError:
            pass
        closed[name] = time.monotonic() - started

    threads = [threading.Thread(target=dribble, args=(slow_head, "head", b"POST / HTTP/1.1\r\nX-Header-" + b"a" * 200)),
               threading.Thread(target=dribble, args=(slow_body, "body", b"b" * 200))]
    for thread in threads:
        thread.start()
    # Meanwhile everyone else is answered at once.
    for _ in range(20):
        status = assert_well_formed(sqs_json(server.port, "ListQueues", {}, timeout=2))
        assert status == 200
    for thread in threads:
        thread.join(30)
    assert closed["head"] < 5 and closed["body"] < 5, closed


def test_many_idle_connections_do_not_stop_the_server(server):
    url = create_queue(server.port)
    baseline = server.rss_kib()
    idle = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(300)]
    try:
        for index in range(50):
            assert sqs_json(server.port, "SendMessage", {"QueueUrl": url, "MessageBody": str(index)}, timeout=5)[0] == 200
        status, _, payload = sqs_json(server.port, "GetQueueAttributes",
                                      {"QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages"]})
        assert b'"50"' in payload
        assert server.rss_kib() - baseline < 64 * 1024
    finally:
        for sock in idle:
            sock.close()


def test_pipelined_bodies_behind_a_long_poll_are_not_buffered(server):
    url = create_queue(server.port)
    baseline = server.rss_kib()
    sockets = []
    body = ('{"QueueUrl": "%s", "MessageBody": "%s"}' % (url, "x" * 900_000)).encode()
    poll = ('{"QueueUrl": "%s", "WaitTimeSeconds": 3}' % url).encode()
    head = ("POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Amz-Target: AmazonSQS.%s\r\nContent-Type: application/x-amz-json-1.0\r\n"
            "Authorization: AWS4-HMAC-SHA256 Credential=t/20261206/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0\r\n"
            "Content-Length: %d\r\n\r\n")
    def push(sock, data):
        try:
            sock.sendall(data)
        except OSError:
            pass  # closed by the test, or by the server

    senders = []
    for _ in range(20):
        sock = socket.create_connection(("127.0.0.1", server.port))
        data = (head % ("ReceiveMessage", len(poll))).encode() + poll
        data += ((head % ("SendMessage", len(body))).encode() + body) * 12
        sockets.append(sock)
        senders.append(threading.Thread(target=push, args=(sock, data), daemon=True))
    for sender in senders:
        sender.start()
    time.sleep(1.5)  # the polls are waiting; this measures what the server holds meanwhile
    grown = server.rss_kib() - baseline
    for sock in sockets:
        sock.shutdown(socket.SHUT_RDWR)
        sock.close()
    print(f"\nheld {grown} KiB for 20 connections")
    assert grown < 128 * 1024, f"{grown} KiB held for 20 connections"
    assert assert_well_formed(sqs_json(server.port, "ListQueues", {})) == 200

"""The signing suite: broker-server signs SNS envelopes, serves its certificate, and a subscriber's own check accepts
them. Each test starts its own server; ``BROKER_SERVER_BIN`` names the binary (default: the Server package's debug
build)."""
from __future__ import annotations

import os
import re
import subprocess
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

SERVER_PACKAGE = Path(__file__).resolve().parents[2]


class Server:
    def __init__(self, *flags: str):
        binary = os.environ.get("BROKER_SERVER_BIN", str(SERVER_PACKAGE / ".build" / "debug" / "broker-server"))
        self.proc = subprocess.Popen([binary, "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        match = re.fullmatch(r"broker-server listening on (http://127\.0\.0\.1:\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"broker-server did not start: {line!r} {self.proc.stderr.read().decode()}")
        self.url = match.group(1)
        self._drain = threading.Thread(target=self.proc.stderr.read, daemon=True)
        self._drain.start()

    def client(self, service: str):
        return boto3.client(service, endpoint_url=self.url, region_name="us-east-1", aws_access_key_id="test",
                            aws_secret_access_key="test", config=Config(retries={"max_attempts": 1}))

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)


@pytest.fixture
def make_server():
    started: list[Server] = []

    def make(*flags: str) -> Server:
        started.append(Server(*flags))
        return started[-1]

    yield make
    for one in started:
        one.stop()


@pytest.fixture
def server(make_server):
    return make_server()

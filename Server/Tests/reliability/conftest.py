"""The reliability suite: broker-server as a process, driven by hostile and careless clients.

Each test starts its own server (``server`` fixture) so a crash, a leak or a stuck connection is that test's alone.
``BROKER_SERVER_BIN`` names the binary (default: the Server package's debug build). ``RELIABILITY_SCALE`` (default 1)
multiplies the fuzz examples and the soak's messages: CI runs 1; the long version is ``RELIABILITY_SCALE=20``.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
SERVER_PACKAGE = HERE.parents[1]
SCALE = int(os.environ.get("RELIABILITY_SCALE", "1"))
SIGNED = "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/{service}/aws4_request, SignedHeaders=host, Signature=00"


class Server:
    def __init__(self, *flags: str):
        binary = os.environ.get("BROKER_SERVER_BIN", str(SERVER_PACKAGE / ".build" / "debug" / "broker-server"))
        self.proc = subprocess.Popen([binary, "--port", "0", *flags], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        match = re.fullmatch(r"broker-server listening on http://127\.0\.0\.1:(\d+)", line)
        if not match:
            self.proc.kill()
            raise RuntimeError(f"broker-server did not start: {line!r} {self.proc.stderr.read().decode()}")
        self.port = int(match.group(1))
        self.url = f"http://127.0.0.1:{self.port}"
        self.stderr = b""
        self._drain = threading.Thread(target=self._read_stderr, daemon=True)
        self._drain.start()

    def _read_stderr(self):
        self.stderr = self.proc.stderr.read()

    def rss_kib(self) -> int:
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
        return 0

    def alive(self) -> bool:
        return self.proc.poll() is None

    def terminate(self, timeout: float = 10) -> int:
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        self._drain.join(5)
        return code


@pytest.fixture
def server():
    started = Server()
    yield started
    if started.alive():
        started.terminate()


@pytest.fixture
def make_server():
    started: list[Server] = []

    def make(*flags: str) -> Server:
        started.append(Server(*flags))
        return started[-1]

    yield make
    for one in started:
        if one.alive():
            one.terminate()

"""pytest wiring for the boto3 / aws CLI wire suite.

Targets: ``--target broker`` (default; env WIRE_TARGET) starts ``broker-server --port 0``; ``--target moto`` starts
``python3 -m moto.server`` on a free loopback port. ``--endpoint URL`` uses a server that is already running.
``--sqs-protocol query`` (env WIRE_SQS_PROTOCOL) overlays botocore 1.34.89's SQS model so boto3 and the aws CLI speak
SQS over the AWS Query protocol (downloaded at test time into a temporary cache, never committed).

Deviations: ``@pytest.mark.deviation("moto", aws="…", actual="…")`` marks a test expected to fail (strict) on that
target; the reason names AWS's documented behaviour and what the target does instead.
"""
from __future__ import annotations

import gzip
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
import botocore.session
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]  # /work/main
SERVER_PACKAGE = REPO / "Server"
TARGETS = ("broker", "moto")
QUERY_BOTOCORE = "1.34.89"
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}
REGION = "us-east-1"


def pytest_addoption(parser):
    g = parser.getgroup("wire")
    g.addoption("--target", choices=TARGETS, default=os.environ.get("WIRE_TARGET", "broker"),
                help="server to test: broker (broker-server) or moto (moto.server); env WIRE_TARGET")
    g.addoption("--endpoint", default=os.environ.get("WIRE_ENDPOINT"),
                help="use an already running server at this URL instead of starting one; env WIRE_ENDPOINT")
    g.addoption("--sqs-protocol", choices=("json", "query"), default=os.environ.get("WIRE_SQS_PROTOCOL", "json"),
                help="json: current botocore (AWS JSON 1.0); query: botocore 1.34.89's SQS model via AWS_DATA_PATH")


def pytest_configure(config):
    config.addinivalue_line("markers", "deviation(target, aws, actual): the target differs from AWS's documented "
                                       "behaviour; the test is expected to fail (strictly) on that target")
    config.addinivalue_line("markers", "cli: drives the aws CLI through subprocess")


def deviation_reason(target: str, aws: str, actual: str) -> str:
    return f"{target} differs from AWS — AWS: {aws}; {target}: {actual}"


def pytest_collection_modifyitems(config, items):
    target = config.getoption("--target")
    for item in items:
        for mark in item.iter_markers("deviation"):
            who = mark.args[0] if mark.args else mark.kwargs["target"]
            if who == target:
                reason = deviation_reason(who, mark.kwargs["aws"], mark.kwargs["actual"])
                item.add_marker(pytest.mark.xfail(reason=reason, strict=True))


def pytest_report_header(config):
    return (f"wire target: {config.getoption('--target')}, SQS protocol: {config.getoption('--sqs-protocol')}, "
            f"endpoint: {config.getoption('--endpoint') or '(started by the suite)'}")


# --------------------------------------------------------------------------------------------------------------------
# Servers
# --------------------------------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _drain(stream, sink):
    for line in iter(stream.readline, b""):
        sink.write(line)
        sink.flush()


def _start_broker(log_path: Path):
    binary = os.environ.get("BROKER_SERVER_BIN")
    if not binary:
        build = subprocess.run(["swift", "build", "--package-path", str(SERVER_PACKAGE), "--product", "broker-server"],
                               capture_output=True, text=True)
        if build.returncode != 0:
            pytest.exit(f"swift build of broker-server failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}", 2)
        binary = str(SERVER_PACKAGE / ".build" / "debug" / "broker-server")
    if not os.access(binary, os.X_OK):
        pytest.exit(f"broker-server binary not found or not executable: {binary}", 2)
    log = open(log_path, "wb")
    proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, stderr=log)
    first: list[bytes] = []

    def read_first():
        first.append(proc.stdout.readline())

    t = threading.Thread(target=read_first, daemon=True)
    t.start()
    t.join(30)
    line = first[0].decode(errors="replace").strip() if first else ""
    m = re.fullmatch(r"broker-server listening on (http://127\.0\.0\.1:(\d+))", line)
    if not m:
        proc.kill()
        pytest.exit(f"broker-server did not announce its port (first stdout line: {line!r}); log: {log_path}", 2)
    threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True).start()
    return proc, m.group(1)


def _start_moto(log_path: Path):
    port = _free_port()
    log = open(log_path, "wb")
    proc = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                            stdout=log, stderr=subprocess.STDOUT, cwd=tempfile.gettempdir())
    endpoint = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.exit(f"moto.server exited with {proc.returncode}; log: {log_path}", 2)
        try:
            urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST"), timeout=1)
            return proc, endpoint
        except (urllib.error.URLError, ConnectionError, OSError):
            time.sleep(0.1)
    proc.kill()
    pytest.exit(f"moto.server did not answer on {endpoint}; log: {log_path}", 2)


@pytest.fixture(scope="session")
def target(request) -> str:
    return request.config.getoption("--target")


@pytest.fixture(scope="session")
def endpoint(request, target, tmp_path_factory):
    given = request.config.getoption("--endpoint")
    if given:
        yield given.rstrip("/")
        return
    log_path = tmp_path_factory.mktemp("server") / f"{target}.log"
    proc, url = _start_broker(log_path) if target == "broker" else _start_moto(log_path)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


# --------------------------------------------------------------------------------------------------------------------
# SQS Query mode: botocore 1.34.89's SQS model overlaid through the data path
# --------------------------------------------------------------------------------------------------------------------


def _query_model_dir() -> Path:
    """Download botocore 1.34.89 (no deps), extract its SQS model, return a directory usable as AWS_DATA_PATH."""
    cache = Path(os.environ.get("WIRE_QUERY_MODEL_CACHE", Path(tempfile.gettempdir()) / f"broker-wire-botocore-{QUERY_BOTOCORE}"))
    model = cache / "models" / "sqs" / "2012-11-05" / "service-2.json"
    if model.exists():
        return model.parents[2]
    cache.mkdir(parents=True, exist_ok=True)
    dl = cache / "wheel"
    r = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
                        f"botocore=={QUERY_BOTOCORE}", "-d", str(dl)], capture_output=True, text=True, timeout=300)
    wheels = list(dl.glob("botocore-*.whl")) if dl.exists() else []
    if r.returncode != 0 or not wheels:
        raise RuntimeError(f"pip download botocore=={QUERY_BOTOCORE} failed (offline?): {r.stderr.strip()[-500:]}")
    with zipfile.ZipFile(wheels[0]) as z:
        data = gzip.decompress(z.read("botocore/data/sqs/2012-11-05/service-2.json.gz"))
    model.parent.mkdir(parents=True, exist_ok=True)
    tmp = model.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(model)
    shutil.rmtree(dl, ignore_errors=True)
    return model.parents[2]


@pytest.fixture(scope="session")
def sqs_protocol(request) -> str:
    return request.config.getoption("--sqs-protocol")


@pytest.fixture(scope="session")
def aws_data_path(sqs_protocol):
    """None in JSON mode; in Query mode the directory holding botocore 1.34.89's SQS model (skip if not obtainable)."""
    if sqs_protocol != "query":
        return None
    try:
        return str(_query_model_dir())
    except Exception as e:  # offline, pip missing, …
        pytest.skip(f"SQS Query mode needs botocore {QUERY_BOTOCORE}'s SQS model and it could not be downloaded: {e}")


# --------------------------------------------------------------------------------------------------------------------
# Clients
# --------------------------------------------------------------------------------------------------------------------

CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=5, read_timeout=60)


@pytest.fixture(scope="session")
def boto_session(aws_data_path):
    core = botocore.session.get_session()
    if aws_data_path:
        core.set_config_variable("data_path", aws_data_path)
    return boto3.Session(botocore_session=core, region_name=REGION, **CREDENTIALS)


@pytest.fixture(scope="session")
def sqs(boto_session, endpoint, sqs_protocol):
    client = boto_session.client("sqs", endpoint_url=endpoint, config=CLIENT_CONFIG)
    assert client.meta.service_model.protocol == sqs_protocol, "the SQS model overlay did not take effect"
    return client


@pytest.fixture(scope="session")
def sns(boto_session, endpoint):
    return boto_session.client("sns", endpoint_url=endpoint, config=CLIENT_CONFIG)


@pytest.fixture(scope="session")
def cli_env(aws_data_path):
    """Environment for `aws` subprocesses (aws CLI v1 ignores AWS_ENDPOINT_URL: pass --endpoint-url)."""
    if shutil.which("aws") is None:
        pytest.skip("aws CLI not installed")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_DEFAULT_REGION=REGION,
               AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    if aws_data_path:
        env["AWS_DATA_PATH"] = aws_data_path
    return env


# --------------------------------------------------------------------------------------------------------------------
# Resource factories (unique names; deleted at teardown)
# --------------------------------------------------------------------------------------------------------------------


@pytest.fixture
def make_queue(sqs):
    from wirehelpers import unique
    created: list[str] = []

    def make(prefix: str = "q", *, fifo: bool = False, name: str | None = None, **attributes) -> str:
        qname = name or unique(prefix) + (".fifo" if fifo else "")
        attrs = {k: str(v) for k, v in attributes.items()}
        if fifo:
            attrs.setdefault("FifoQueue", "true")
        url = sqs.create_queue(QueueName=qname, Attributes=attrs)["QueueUrl"] if attrs else \
            sqs.create_queue(QueueName=qname)["QueueUrl"]
        created.append(url)
        return url

    yield make
    for url in created:
        try:
            sqs.delete_queue(QueueUrl=url)
        except Exception:
            pass


@pytest.fixture
def make_topic(sns):
    from wirehelpers import unique
    created: list[str] = []

    def make(prefix: str = "t", *, fifo: bool = False, **attributes) -> str:
        name = unique(prefix) + (".fifo" if fifo else "")
        attrs = {k: str(v) for k, v in attributes.items()}
        if fifo:
            attrs.setdefault("FifoTopic", "true")
        arn = sns.create_topic(Name=name, Attributes=attrs)["TopicArn"]
        created.append(arn)
        return arn

    yield make
    for arn in created:
        try:
            sns.delete_topic(TopicArn=arn)
        except Exception:
            pass

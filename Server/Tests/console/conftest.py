"""pytest wiring for the web console's browser test: a broker-server on a free port (``BROKER_SERVER_BIN``, else
built with ``swift build``), boto3 clients for it, and a headless Chromium from Debian's packages (``chromium`` and
``chromium-driver``; ``CHROMIUM_BIN`` and ``CHROMEDRIVER_BIN`` override their paths)."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import boto3
import pytest
from botocore.config import Config

HERE = Path(__file__).resolve().parent
SERVER_PACKAGE = HERE.parents[1]
REPO = SERVER_PACKAGE.parent
CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test", "region_name": "us-east-1"}


def _drain(stream, log):
    for chunk in iter(lambda: stream.read1(4096), b""):
        log.write(chunk)
        log.flush()


@pytest.fixture(scope="session")
def endpoint(tmp_path_factory):
    binary = os.environ.get("BROKER_SERVER_BIN")
    if not binary:
        build = subprocess.run(["swift", "build", "--package-path", str(SERVER_PACKAGE), "--product", "broker-server"],
                               capture_output=True, text=True)
        if build.returncode != 0:
            pytest.exit(f"swift build of broker-server failed:\n{build.stdout[-4000:]}\n{build.stderr[-4000:]}", 2)
        binary = str(SERVER_PACKAGE / ".build" / "debug" / "broker-server")
    log = open(tmp_path_factory.mktemp("server") / "broker-server.log", "wb")
    proc = subprocess.Popen([binary, "--port", "0"], stdout=subprocess.PIPE, stderr=log)
    first: list[bytes] = []
    reader = threading.Thread(target=lambda: first.append(proc.stdout.readline()), daemon=True)
    reader.start()
    reader.join(30)
    line = first[0].decode(errors="replace").strip() if first else ""
    match = re.fullmatch(r"broker-server listening on (http://127\.0\.0\.1:\d+)", line)
    if not match:
        proc.kill()
        pytest.exit(f"broker-server did not announce its port (first line: {line!r})", 2)
    threading.Thread(target=_drain, args=(proc.stdout, log), daemon=True).start()
    yield match.group(1)
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session")
def sqs(endpoint):
    return boto3.client("sqs", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)


@pytest.fixture(scope="session")
def sns(endpoint):
    return boto3.client("sns", endpoint_url=endpoint, config=Config(retries={"max_attempts": 1}), **CREDENTIALS)


@pytest.fixture(scope="session")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium = os.environ.get("CHROMIUM_BIN") or shutil.which("chromium") or "/usr/bin/chromium"
    driver_path = os.environ.get("CHROMEDRIVER_BIN") or shutil.which("chromedriver") or "/usr/bin/chromedriver"
    if not (os.access(chromium, os.X_OK) and os.access(driver_path, os.X_OK)):
        pytest.fail(f"headless Chromium needs Debian's chromium and chromium-driver: {chromium}, {driver_path}")
    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--window-size=1360,1500", "--force-device-scale-factor=1", "--no-first-run"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=driver_path), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()

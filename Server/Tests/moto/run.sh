#!/usr/bin/env bash
# Runs moto 5.2.1's own SQS and SNS test suites, in moto's server mode, against broker-server.
#
# The tests come from moto's source distribution on PyPI, downloaded and extracted into .suite/ (ignored by git,
# never committed). broker_moto.py (a pytest plugin) leaves out, by listed rules, the tests that need other
# services or moto's internals, and marks the expected failures, each with the AWS documentation it follows.
#
#   Server/Tests/moto/run.sh                                  # the whole suite (BROKER_SERVER_BIN or Server's debug build)
#   Server/Tests/moto/run.sh tests/test_sqs/test_sqs.py -k fifo
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
version=5.2.1
suite="$here/.suite/moto-$version"
if [ ! -d "$suite/tests" ]; then
    mkdir -p "$here/.suite"
    python3 -m pip download -q "moto==$version" --no-binary :all: --no-deps -d "$here/.suite"
    tar xzf "$here/.suite/moto-$version.tar.gz" -C "$here/.suite"
fi
python3 - "$version" <<'PY'
import sys
from importlib.metadata import version, PackageNotFoundError
try:
    found = version("moto")
except PackageNotFoundError:
    found = None
if found != sys.argv[1]:
    sys.exit(f"moto {sys.argv[1]} is needed (found {found}): python3 -m pip install -r Server/Tests/moto/requirements.txt")
PY

server="${BROKER_SERVER_BIN:-$here/../../.build/debug/broker-server}"
log="$(mktemp)"
# moto's tests expect its default account, 123456789012, for credentials that are not a 12-digit account id, and
# some compare queue URLs with http://localhost:5000, its server's address.
port="${MOTO_SUITE_PORT:-5000}"
# --no-http-delivery: the suite subscribes endpoints such as http://example.com/, which must not be posted to.
"$server" --port "$port" --account-id 123456789012 --no-http-delivery >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 1 100); do
    grep -q "listening on" "$log" && break
    sleep 0.1
done
grep -q "listening on" "$log" || { cat "$log"; exit 1; }
endpoint="http://localhost:$port"

if [ $# -eq 0 ]; then set -- tests/test_sqs tests/test_sns; fi
cd "$suite"
TEST_SERVER_MODE=true TEST_SERVER_MODE_ENDPOINT="$endpoint" PYTHONPATH="$here${PYTHONPATH:+:$PYTHONPATH}" \
    python3 -m pytest -p broker_moto -p no:cacheprovider -q --color=no -rfEX "$@"

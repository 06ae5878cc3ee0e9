#!/usr/bin/env bash
# Run the wire suite with boto3 (and the aws CLI) speaking SQS over the AWS Query protocol.
#
# conftest.py downloads botocore 1.34.89 (pip download --no-deps) at test time, extracts its SQS model to
# $TMPDIR/broker-wire-botocore-1.34.89/models/sqs/2012-11-05/service-2.json and points botocore's data path
# (AWS_DATA_PATH for the CLI) at it. The model is never written into the repository. Offline, the tests that
# need it are skipped with a message saying why.
#
#   ./run_query_mode.sh                      # Broker (BROKER_SERVER_BIN or swift build), every test
#   ./run_query_mode.sh --target moto        # moto
#   ./run_query_mode.sh test_sqs_messages.py -k md5
set -euo pipefail
cd "$(dirname "$0")"
exec python3 -m pytest --sqs-protocol query "$@"

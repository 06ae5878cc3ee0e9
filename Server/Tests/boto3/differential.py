#!/usr/bin/env python3
"""Run the wire suite against Broker and moto and write a Markdown comparison.

    python3 differential.py                         # both targets, JSON SQS; report on stdout
    python3 differential.py --out report.md -- --sqs-protocol query
    python3 differential.py --junit-broker b.xml --junit-moto m.xml   # report from earlier runs, no pytest

Everything after `--` goes to both pytest runs. BROKER_SERVER_BIN is honoured as in conftest.py.
Outcomes: pass, FAIL, error, xfail (a marked deviation: the reason says which side follows AWS's documentation),
XPASS (a deviation marker that no longer holds), skip.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
TARGETS = ("broker", "moto")


def run_pytest(target: str, junit: Path, extra: list[str]) -> subprocess.Popen:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--target={target}",
           f"--junitxml={junit}", "-o", "junit_family=xunit1", *extra]
    log = open(junit.with_suffix(".log"), "w")
    print(f"running: {' '.join(cmd)}", file=sys.stderr)
    return subprocess.Popen(cmd, cwd=HERE, stdout=log, stderr=subprocess.STDOUT)


def first_line(text: str | None) -> str:
    text = (text or "").strip()
    return text.splitlines()[0] if text else ""


def parse_junit(path: Path) -> dict[str, tuple[str, str]]:
    """test id -> (outcome, detail)"""
    results: dict[str, tuple[str, str]] = {}
    for case in ET.parse(path).getroot().iter("testcase"):
        module = case.get("classname", "")
        name = case.get("name", "")
        file = case.get("file") or (module.replace(".", "/") + ".py")
        test_id = f"{Path(file).name}::{name}"
        outcome, detail = "pass", ""
        for child in case:
            msg = child.get("message") or child.text or ""
            if child.tag == "skipped":
                if child.get("type") == "pytest.xfail":
                    outcome, detail = "xfail", msg
                else:
                    outcome, detail = "skip", msg
            elif child.tag == "failure":
                if msg.startswith("[XPASS(strict)]"):
                    outcome, detail = "XPASS", msg.removeprefix("[XPASS(strict)]").strip()
                else:
                    outcome, detail = "FAIL", first_line(msg)
            elif child.tag == "error":
                outcome, detail = "error", first_line(msg)
        results[test_id] = (outcome, detail)
    return results


def md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")[:400]


def report(results: dict[str, dict[str, tuple[str, str]]], include_all: bool, extra: list[str]) -> str:
    ids = sorted(set().union(*(r.keys() for r in results.values())))
    lines = ["## Wire differential: Broker and moto through boto3 and the aws CLI", ""]
    mode = " ".join(extra) if extra else "(defaults: SQS over AWS JSON 1.0, SNS over Query)"
    lines += [f"pytest arguments: `{mode}`. `xfail` marks a documented deviation: the reason names AWS's documented "
              "behaviour and what the target does instead.", ""]
    lines += ["| Target | pass | xfail | FAIL | error | XPASS | skip |", "|---|---|---|---|---|---|---|"]
    for t in TARGETS:
        c = Counter(o for o, _ in results.get(t, {}).values())
        lines.append(f"| {t} | {c['pass']} | {c['xfail']} | {c['FAIL']} | {c['error']} | {c['XPASS']} | {c['skip']} |")
    lines.append("")

    def row(tid):
        b = results.get("broker", {}).get(tid, ("—", ""))
        m = results.get("moto", {}).get(tid, ("—", ""))
        reasons = []
        for target, (outcome, detail) in (("broker", b), ("moto", m)):
            if outcome != "pass" and detail:
                reason = detail if outcome == "xfail" else f"{target} {outcome}: {detail}"
                if reason not in reasons:
                    reasons.append(reason)
        return f"| `{md_escape(tid)}` | {b[0]} | {m[0]} | {md_escape('; '.join(reasons))} |"

    differing = [t for t in ids if any(results.get(x, {}).get(t, ("—",))[0] != "pass" for x in TARGETS)]
    lines += ["### Differences (any result other than pass)", "", "| Test | Broker | moto | Reason |", "|---|---|---|---|"]
    lines += [row(t) for t in differing] or ["| — | | | |"]
    if include_all:
        lines += ["", "### Every test", "", "| Test | Broker | moto | Reason |", "|---|---|---|---|"]
        lines += [row(t) for t in ids]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", help="write the Markdown here instead of stdout")
    ap.add_argument("--all", action="store_true", help="list every test, not only the differences")
    ap.add_argument("--parallel", action="store_true", help="run both targets at once (timing tests may suffer)")
    ap.add_argument("--junit-broker", help="use this JUnit XML for Broker instead of running pytest")
    ap.add_argument("--junit-moto", help="use this JUnit XML for moto instead of running pytest")
    ap.add_argument("pytest_args", nargs="*", help="after --: extra pytest arguments for both runs")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="wire-differential-"))
    given = {"broker": args.junit_broker, "moto": args.junit_moto}
    junits = {t: Path(given[t]) if given[t] else work / f"{t}.xml" for t in TARGETS}
    to_run = [t for t in TARGETS if not given[t]]
    procs = {}
    for t in to_run:
        procs[t] = run_pytest(t, junits[t], args.pytest_args)
        if not args.parallel:
            procs[t].wait()
    for t, p in procs.items():
        code = p.wait()
        if code not in (0, 1) or not junits[t].exists():
            print(f"pytest --target {t} ended with exit code {code}; see {junits[t].with_suffix('.log')}", file=sys.stderr)
            if not junits[t].exists():
                return 2
    results = {t: parse_junit(junits[t]) for t in TARGETS}
    text = report(results, args.all, args.pytest_args)
    if args.out:
        Path(args.out).write_text(text)
        print(f"wrote {args.out} (logs and JUnit files in {work})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

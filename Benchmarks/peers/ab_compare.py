#!/usr/bin/env python3
"""Interleaved A/B runs of two broker-bench builds, for before/after figures on a noisy shared machine.

Runs `<binary> <scenario args> --runs 1 --json --quiet` alternately for each binary, ROUNDS times, and prints the
median throughput (and latency percentiles and key extras) per scenario row and binary. Alternating run by run
exposes both builds to the same host noise, so their ratio is meaningful even when absolute figures drift.

    git worktree add /tmp/before <commit> && swift build -c release --package-path /tmp/before --product broker-bench
    swift build -c release --product broker-bench
    python3 Benchmarks/peers/ab_compare.py 7 /tmp/before/.build/release/broker-bench .build/release/broker-bench \\
        send-receive-delete --batch 10
"""
import collections
import json
import statistics
import subprocess
import sys


def main() -> None:
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    rounds = int(sys.argv[1])
    binaries = {"before": sys.argv[2], "after": sys.argv[3]}
    scenario = sys.argv[4:]
    rows = collections.defaultdict(list)
    for _ in range(rounds):
        for name, binary in binaries.items():
            output = subprocess.run([binary, *scenario, "--runs", "1", "--json", "--quiet"],
                                    capture_output=True, text=True, check=True).stdout
            for result in json.loads(output)["results"]:
                key = (result["scenario"], result["variant"])
                rows[(key, name)].append(result)
    for (key, name), results in sorted(rows.items()):
        throughput = statistics.median(r["throughputMedian"] for r in results)
        line = f"{key[0]:20} {key[1][:45]:45} {name:6} median {throughput:12,.0f} {results[0]['unit']}"
        latencies = [r.get("latencyMicroseconds") for r in results if r.get("latencyMicroseconds")]
        if latencies:
            line += (f"  p50 {statistics.median(l['p50'] for l in latencies):.1f} µs"
                     f"  p99 {statistics.median(l['p99'] for l in latencies):.1f} µs")
        for extra in ("throughput vs first depth", "overhead µs/msg", "worker µs/msg", "raw µs/msg"):
            values = [r["extras"][extra] for r in results if extra in r.get("extras", {})]
            if values:
                line += f"  {extra} {statistics.median(values):.2f}"
        print(line)


if __name__ == "__main__":
    main()

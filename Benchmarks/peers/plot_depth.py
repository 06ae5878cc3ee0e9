#!/usr/bin/env python3
"""Plots send+receive+delete throughput against the number of resident messages, Broker beside moto, to
Docs/throughput-vs-depth.png.

    pip install matplotlib                     # the only dependency
    swift run -c release broker-bench depth-sweep --runs 5 --json > broker-depth.json
    python3 Benchmarks/peers/moto_bench.py depth-sweep --runs 5 > moto-depth.json
    python3 Benchmarks/peers/plot_depth.py broker-depth.json moto-depth.json [-o Docs/throughput-vs-depth.png]

Each input is a JSON report of broker-bench (`--json`) or moto_bench.py; the rows whose scenario is `depth-sweep` are
plotted (median throughput over runs, with the min–max range as error bars). Either file may be omitted.
"""

import argparse
import json
import os
import re
import sys

try:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
except ImportError:
    sys.exit("plot_depth.py needs matplotlib: pip install matplotlib")


def depth_points(path):
    with open(path) as handle:
        report = json.load(handle)
    points = []
    for row in report.get("results", []):
        if row.get("scenario") != "depth-sweep":
            continue
        match = re.search(r"resident=(\d+)", row.get("variant", ""))
        if match:
            points.append((int(match.group(1)), row["throughputMedian"], row["throughputMin"], row["throughputMax"]))
    label = "Broker (Swift, in-process)" if report.get("tool") == "broker-bench" else \
        f"moto {report.get('moto', '')} + boto3 (Python, in-process mock)"
    return label, sorted(points), report.get("machine", {})


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+", help="JSON reports of broker-bench depth-sweep and/or moto_bench.py")
    default_output = os.path.join(os.path.dirname(__file__), "..", "..", "Docs", "throughput-vs-depth.png")
    parser.add_argument("-o", "--output", default=os.path.normpath(default_output))
    args = parser.parse_args()

    figure, axis = plt.subplots(figsize=(8, 5), dpi=120)
    styles = [("tab:orange", "o"), ("tab:blue", "s"), ("tab:green", "^")]
    machine = {}
    for index, path in enumerate(args.reports):
        label, points, machine = depth_points(path)
        if not points:
            print(f"{path}: no depth-sweep rows", file=sys.stderr)
            continue
        depths = [p[0] for p in points]
        medians = [p[1] for p in points]
        lower = [p[1] - p[2] for p in points]
        upper = [p[3] - p[1] for p in points]
        color, marker = styles[index % len(styles)]
        axis.errorbar(depths, medians, yerr=[lower, upper], label=label, color=color, marker=marker, capsize=3)
        for depth, median in zip(depths, medians):
            axis.annotate(f"{median:,.0f}", (depth, median), textcoords="offset points", xytext=(0, 7),
                          ha="center", fontsize=8, color=color)
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("resident messages in the queue")
    axis.set_ylabel("send + receive + delete, msgs/s (batches of 10, one thread)")
    title = "Throughput against queue depth (median of runs; bars: min–max)"
    if machine:
        title += f"\n{machine.get('cpu', '')}, {machine.get('cores', '?')} cores"
    axis.set_title(title, fontsize=10)
    axis.grid(True, which="both", alpha=0.3)
    axis.legend()
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    figure.savefig(args.output)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

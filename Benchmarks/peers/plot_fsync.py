#!/usr/bin/env python3
"""Plots durable throughput against the records each fsync carried, from `broker-bench durable --json`, as SVG.

    swift run -c release broker-bench durable --duration 2 --runs 3 --json > durable.json
    python3 Benchmarks/peers/plot_fsync.py durable.json [-o Docs/images/durable-fsync-batch.svg]

Each point is one `acknowledged` row (1, 2, 4 … 64 producers and as many consumers): x is the median number of
records per fsync (group commit's batch), y the median messages/s (send+receive+delete), with the min–max range
over runs as a bar. No plotting library: the SVG is written by hand, so the script needs only Python.
"""

import argparse
import json
import math
import re
import sys


def points(report):
    found = []
    for row in report.get("results", []):
        variant = row.get("variant", "")
        if row.get("scenario") != "durable" or not variant.startswith("acknowledged,"):
            continue
        extras = row.get("extras") or {}
        per_sync = extras.get("records per sync")
        if not per_sync:
            continue
        producers = int(re.search(r"producers=(\d+)", variant).group(1))
        found.append((per_sync, row["throughputMedian"], row["throughputMin"], row["throughputMax"], producers))
    return sorted(found)


def svg(data, title):
    width, height, left, right, top, bottom = 720, 420, 80, 30, 40, 60
    xs = [math.log2(max(1.0, p[0])) for p in data]
    x_max = max(1.0, math.ceil(max(xs)))
    y_top = max(p[3] for p in data) * 1.1
    y_step = 10 ** math.floor(math.log10(y_top / 4))
    y_step *= 5 if y_top / y_step > 20 else (2 if y_top / y_step > 8 else 1)

    def x_of(value):
        return left + (math.log2(max(1.0, value)) / x_max) * (width - left - right)

    def y_of(value):
        return height - bottom - (value / y_top) * (height - top - bottom)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="22" text-anchor="middle" font-size="14">{title}</text>']
    for exponent in range(0, int(x_max) + 1):
        x = x_of(2 ** exponent)
        out.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{height - bottom}" stroke="#eee"/>')
        out.append(f'<text x="{x:.1f}" y="{height - bottom + 16}" text-anchor="middle">{2 ** exponent}</text>')
    value = 0.0
    while value <= y_top:
        y = y_of(value)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{int(value):,}</text>')
        value += y_step
    out.append(f'<text x="{(left + width - right) / 2}" y="{height - 18}" text-anchor="middle">'
               'records per fsync (log scale)</text>')
    out.append(f'<text x="18" y="{(top + height - bottom) / 2}" text-anchor="middle" '
               f'transform="rotate(-90 18 {(top + height - bottom) / 2})">messages/s (send+receive+delete)</text>')
    path = " ".join(f"{'M' if i == 0 else 'L'}{x_of(p[0]):.1f},{y_of(p[1]):.1f}" for i, p in enumerate(data))
    out.append(f'<path d="{path}" fill="none" stroke="#1f6feb" stroke-width="2"/>')
    for per_sync, median, low, high, producers in data:
        x = x_of(per_sync)
        out.append(f'<line x1="{x:.1f}" y1="{y_of(low):.1f}" x2="{x:.1f}" y2="{y_of(high):.1f}" stroke="#1f6feb"/>')
        out.append(f'<circle cx="{x:.1f}" cy="{y_of(median):.1f}" r="4" fill="#1f6feb"/>')
        out.append(f'<text x="{x + 6:.1f}" y="{y_of(median) - 6:.1f}">{producers}+{producers}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("report")
    parser.add_argument("-o", "--output", default="Docs/images/durable-fsync-batch.svg")
    arguments = parser.parse_args()
    with open(arguments.report) as handle:
        report = json.load(handle)
    data = points(report)
    if not data:
        sys.exit("no acknowledged rows with records per sync in " + arguments.report)
    title = "Durable queue, acknowledged: throughput against group commit's batch (labels: producers+consumers)"
    with open(arguments.output, "w") as handle:
        handle.write(svg(data, title))
    print(f"wrote {arguments.output} ({len(data)} points)")


if __name__ == "__main__":
    main()

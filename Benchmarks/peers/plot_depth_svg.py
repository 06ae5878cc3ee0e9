#!/usr/bin/env python3
"""Plots send+receive+delete throughput against the number of resident messages as an SVG, written by hand (no
matplotlib), to Docs/images/throughput-vs-depth.svg.

    swift run -c release broker-bench depth-sweep --runs 5 --json > broker-depth.json
    swift run -c release broker-bench floors --runs 5 --json > floors.json              # optional: the goal line
    python3 Benchmarks/peers/moto_bench.py depth-sweep --runs 5 > moto-depth.json      # optional
    python3 Benchmarks/peers/plot_depth_svg.py broker-depth.json floors.json [moto-depth.json] [-o OUT.svg]

Each input is a JSON report of broker-bench (`--json`) or moto_bench.py. Rows whose scenario is `depth-sweep` become
a line (median over runs, min–max as bars); a `floor ring,batch=10` row (from `broker-bench floors` or `goals`)
becomes the dashed line of issue 22's goal for batched send+receive+delete: 10× the batched ring's time per
message. The y axis is logarithmic when moto is plotted (its figures are thousands of times smaller), linear from
zero otherwise.
"""

import argparse
import json
import math
import os
import re
import sys
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 760, 440
LEFT, RIGHT, TOP, BOTTOM = 90, 30, 60, 60
COLORS = ["#d95f02", "#1b9e77", "#7570b3"]


def read(path):
    with open(path) as handle:
        report = json.load(handle)
    points = []
    ring = None
    for row in report.get("results", []):
        if row.get("scenario") == "depth-sweep":
            match = re.search(r"resident=(\d+)", row.get("variant", ""))
            if match:
                points.append((int(match.group(1)), row["throughputMedian"], row["throughputMin"], row["throughputMax"]))
        elif row.get("scenario") == "floor" and row.get("variant") == "ring,batch=10":
            ring = row.get("extras", {}).get("ns/msg")
    label = "Broker (Swift, in process)" if report.get("tool") == "broker-bench" else \
        f"moto {report.get('moto', '')} + boto3 (Python, in process)"
    return label, sorted(points), ring, report.get("machine", {})


def human(value):
    if value == 0:
        return "0"
    if value >= 1e6:
        return f"{value / 1e6:.0f}M" if value % 1e6 == 0 else f"{value / 1e6:.2f}M"
    if value >= 1e3:
        return f"{value / 1e3:.0f}k"
    return f"{value:.0f}" if value >= 10 else f"{value:.1f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("reports", nargs="+")
    default = os.path.join(os.path.dirname(__file__), "..", "..", "Docs", "images", "throughput-vs-depth.svg")
    parser.add_argument("-o", "--output", default=os.path.normpath(default))
    parser.add_argument("--note", default="", help="a line under the title (commit, date, load)")
    args = parser.parse_args()

    series, ring, machine = [], None, {}
    for path in args.reports:
        label, points, floor, found_machine = read(path)
        if points:
            series.append((label, points))
            machine = machine or found_machine
        ring = ring or floor
    if not series:
        sys.exit("no depth-sweep rows in the reports")
    goal = 1e9 / (10 * ring) if ring else None

    depths = [p[0] for _, points in series for p in points]
    values = [v for _, points in series for p in points for v in p[1:]] + ([goal] if goal else [])
    log_y = min(values) > 0 and max(values) / min(values) > 100
    x_low, x_high = math.log10(min(depths)), math.log10(max(depths))
    # A margin, so that the first and last depths do not sit on the frame.
    margin = max(0.15, (1 - (x_high - x_low)) / 2)
    x_low, x_high = x_low - margin, x_high + margin
    if log_y:
        y_low, y_high = math.floor(math.log10(min(values))), math.ceil(math.log10(max(values)))
    else:
        step = 10 ** math.floor(math.log10(max(values))) / 2
        y_low, y_high = 0.0, math.ceil(max(values) * 1.08 / step) * step

    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_of(depth):
        return LEFT + (math.log10(depth) - x_low) / (x_high - x_low) * plot_w

    def y_of(value):
        position = (math.log10(value) - y_low) / (y_high - y_low) if log_y else (value - y_low) / (y_high - y_low)
        return TOP + plot_h - position * plot_h

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" '
           'font-family="Helvetica, Arial, sans-serif" font-size="12">',
           f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
           f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="14">Send + receive + delete against queue depth '
           '(batches of 10, one thread; median of runs, bars min–max)</text>']
    subtitle = " · ".join(filter(None, [args.note, f"{machine.get('cpu', '')}, {machine.get('cores', '?')} cores" if machine else ""]))
    out.append(f'<text x="{WIDTH / 2}" y="40" text-anchor="middle" fill="#555">{escape(subtitle)}</text>')
    # Grid and axes.
    for exponent in range(math.ceil(x_low), math.floor(x_high) + 1):
        x = x_of(10 ** exponent)
        out.append(f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_h}" stroke="#ddd"/>')
        out.append(f'<text x="{x:.1f}" y="{TOP + plot_h + 18}" text-anchor="middle">{human(10 ** exponent)}</text>')
    ticks = [10 ** e for e in range(int(y_low), int(y_high) + 1)] if log_y else \
        [y_low + i * (y_high - y_low) / 5 for i in range(6)]
    for tick in ticks:
        y = y_of(tick)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#ddd"/>')
        out.append(f'<text x="{LEFT - 8}" y="{y + 4:.1f}" text-anchor="end">{human(tick)}</text>')
    out.append(f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#333"/>')
    out.append(f'<text x="{LEFT + plot_w / 2}" y="{HEIGHT - 15}" text-anchor="middle">messages resident in the queue</text>')
    out.append(f'<text transform="translate(20 {TOP + plot_h / 2}) rotate(-90)" text-anchor="middle">msgs/s</text>')
    legend_y = TOP + 18
    if goal:
        y = y_of(goal)
        out.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{LEFT + plot_w}" y2="{y:.1f}" stroke="#444" stroke-dasharray="6 4"/>')
        out.append(f'<text x="{LEFT + plot_w - 6}" y="{y - 6:.1f}" text-anchor="end" fill="#444">issue 22 goal: 10× the batched '
                   f'ring ({ring:.1f} ns/msg) = {human(goal)} msgs/s</text>')
    for index, (label, points) in enumerate(series):
        color = COLORS[index % len(COLORS)]
        path = " ".join(f"{'M' if i == 0 else 'L'}{x_of(d):.1f},{y_of(m):.1f}" for i, (d, m, _, _) in enumerate(points))
        out.append(f'<path d="{path}" fill="none" stroke="{color}" stroke-width="2"/>')
        for depth, middle, low, high in points:
            x = x_of(depth)
            out.append(f'<line x1="{x:.1f}" y1="{y_of(low):.1f}" x2="{x:.1f}" y2="{y_of(high):.1f}" stroke="{color}"/>')
            out.append(f'<circle cx="{x:.1f}" cy="{y_of(middle):.1f}" r="4" fill="{color}"/>')
            out.append(f'<text x="{x:.1f}" y="{y_of(high) - 8:.1f}" text-anchor="middle" font-size="11" fill="{color}">{human(middle)}</text>')
        out.append(f'<rect x="{LEFT + 14}" y="{legend_y - 9}" width="14" height="4" fill="{color}"/>')
        out.append(f'<text x="{LEFT + 34}" y="{legend_y - 3}" fill="{color}">{escape(label)}</text>')
        legend_y += 18
    out.append("</svg>")
    os.makedirs(os.path.dirname(os.path.abspath(args.output)), exist_ok=True)
    with open(args.output, "w") as handle:
        handle.write("\n".join(out) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

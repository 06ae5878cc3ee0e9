#!/usr/bin/env python3
"""broker-server over the wire against its floor, a bare SwiftNIO HTTP/1.1 server on the same NIO version that
answers every request with a fixed SendMessage reply, and against moto's server; load from wrk on keep-alive
connections (issue 22, "Over the wire").

    python3 Benchmarks/peers/wire_bench.py                        # 5 interleaved runs of 5 s, table on stdout
    python3 Benchmarks/peers/wire_bench.py --runs 1 --duration 1 --targets floor,broker   # quick look
    python3 Benchmarks/peers/wire_bench.py --json out.json --svg Docs/images/wire-throughput.svg

Scenarios (the same connections and duration for every server; wrk runs one connection per thread, so every request
of a thread, and every receipt handle it deletes, travels on the same connection):
  send  AWS JSON 1.0 SendMessage (100-byte body), the same request over and over                       req/s
  mix   SendMessage, ReceiveMessage (up to 10, no wait), DeleteMessageBatch of the handles just received,
        round and round; a receive that returns nothing goes back to sending (the floor returns no handles,
        so it answers sends and receives only: every request costs it the same)                    req/s

Every run of broker-server and moto starts on a fresh queue, deleted afterwards, and is checked: no socket error, no
non-2xx answer, the queue holds what was sent and not deleted (within the requests in flight when wrk stopped), and
in the mix every handle received was deleted (all but the last batch per connection). A failed check fails the
script (exit 1). The runs of one scenario go floor, broker, moto, then the next round in a rotated order, so load
from other processes falls on all alike; medians (and ranges) of the runs are reported, each server as a share of
the floor's median, with PASS/MISS for the goals (SendMessage >= 80% of the floor, the mix >= 70%).

Binaries are built (release) if missing: Server/.build/release/broker-server and
Benchmarks/WireFloor/.build/release/nio-floor. Needs wrk (Debian: apt-get install wrk) and, for moto, moto_server.
"""

import argparse
import datetime
import http.client
import json
import os
import re
import resource
import signal
import socket
import statistics
import subprocess
import sys
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
LUA = os.path.join(HERE, "wire")
GOALS = {"send": 0.80, "mix": 0.70}
SCENARIOS = [("send", "SendMessage (AWS JSON 1.0)"), ("mix", "SendMessage / ReceiveMessage / DeleteMessageBatch")]
NAMES = {"floor": "NIO floor", "broker": "broker-server", "moto": "moto server"}
FAILURES = []


def fail(message):
    FAILURES.append(message)
    print(f"CHECK FAILED: {message}", file=sys.stderr, flush=True)


def log(quiet, *parts):
    if not quiet:
        print(*parts, file=sys.stderr, flush=True)


# --- servers -----------------------------------------------------------------------------------------------------


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """A server process on a free loopback port; `announce` is the first stdout line's pattern (with the port), or
    None to poll the port until it answers."""

    def __init__(self, name, argv, announce=None):
        self.name = name
        if announce:
            self.process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            line = self.process.stdout.readline().strip()
            match = re.fullmatch(announce, line)
            if not match:
                self.stop()
                sys.exit(f"{name} did not announce its port (first line: {line!r})")
            self.port = int(match.group(1))
        else:
            self.port = free_port()
            self.process = subprocess.Popen(argv + [str(self.port)], stdout=subprocess.DEVNULL,
                                            stderr=subprocess.DEVNULL)
            deadline = time.time() + 60
            while True:
                try:
                    connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                    connection.request("GET", "/moto-api/")
                    connection.getresponse().read()
                    connection.close()
                    break
                except OSError:
                    if self.process.poll() is not None or time.time() > deadline:
                        self.stop()
                        sys.exit(f"{name} did not answer on port {self.port}")
                    time.sleep(0.1)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def cpu_seconds(self):
        try:
            with open(f"/proc/{self.process.pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, IndexError, ValueError):
            return None

    def call(self, operation, payload):
        """One AWS JSON 1.0 SQS call on a fresh connection; the decoded answer, or an exception."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("POST", "/", json.dumps(payload), {
                "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": f"AmazonSQS.{operation}",
                "Authorization": "AWS4-HMAC-SHA256 Credential=test/20261206/us-east-1/sqs/aws4_request, "
                                 "SignedHeaders=host, Signature=00"})
            response = connection.getresponse()
            data = response.read()
            if response.status != 200:
                raise RuntimeError(f"{self.name} {operation}: HTTP {response.status} {data[:200]!r}")
            return json.loads(data) if data else {}
        finally:
            connection.close()

    def stop(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def ensure_binary(path, package, product, quiet):
    if os.access(path, os.X_OK):
        return path
    log(quiet, f"building {product} (release) ...")
    subprocess.run(["swift", "build", "-c", "release", "--package-path", package, "--product", product], check=True,
                   stdout=sys.stderr)
    return path


def resolved_nio(package):
    """The swift-nio version a package resolved to, from its Package.resolved."""
    try:
        with open(os.path.join(package, "Package.resolved")) as handle:
            pins = json.load(handle)["pins"]
        return next(p["state"].get("version") for p in pins if p["identity"] == "swift-nio")
    except (OSError, StopIteration, KeyError, ValueError):
        return None


def package_of(binary, default):
    """The package a prebuilt binary came from (the nearest folder above it with a Package.swift), so that a floor
    or server built in another checkout is compared by the versions it was built with; else `default`."""
    if binary:
        folder = os.path.dirname(os.path.abspath(binary))
        while folder != os.path.dirname(folder):
            if os.path.exists(os.path.join(folder, "Package.swift")):
                return folder
            folder = os.path.dirname(folder)
    return default


# --- one run -----------------------------------------------------------------------------------------------------


def machine_busy():
    """CPU-seconds all cores spent busy since boot (everything but idle and iowait)."""
    with open("/proc/stat") as handle:
        fields = [int(x) for x in handle.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def queue_depth(server, url):
    attributes = server.call("GetQueueAttributes", {
        "QueueUrl": url, "AttributeNames": ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]})
    values = attributes.get("Attributes", {})
    return int(values.get("ApproximateNumberOfMessages", 0)) + int(values.get("ApproximateNumberOfMessagesNotVisible", 0))


def run_once(target, server, scenario, args):
    url = None
    if target != "floor":
        url = server.call("CreateQueue", {"QueueName": f"wire-{scenario}-{uuid.uuid4().hex[:12]}"})["QueueUrl"]
    environment = dict(os.environ, WIRE_QUEUE_URL=url or f"{server.endpoint}/000000000000/floor", WIRE_LUA_DIR=LUA)
    argv = ["wrk", "-t", str(args.connections), "-c", str(args.connections), "-d", f"{args.duration}s",
            "--timeout", "10s", "-s", os.path.join(LUA, f"{scenario}.lua"), server.endpoint + "/"]
    busy, children, cpu = machine_busy(), resource.getrusage(resource.RUSAGE_CHILDREN), server.cpu_seconds()
    output = subprocess.run(argv, capture_output=True, text=True, env=environment)
    after_children = resource.getrusage(resource.RUSAGE_CHILDREN)
    wrk_cpu = (after_children.ru_utime - children.ru_utime) + (after_children.ru_stime - children.ru_stime)
    server_cpu = server.cpu_seconds() - cpu
    lines = [line for line in output.stdout.splitlines() if line.startswith("WIRE ")]
    if output.returncode != 0 or not lines:
        fail(f"{target} {scenario}: wrk failed ({output.returncode}): {output.stderr.strip()[:300]}")
        return None
    result = json.loads(lines[-1][5:])
    seconds = result["seconds"]
    result["throughput"] = result["requests"] / seconds
    result["serverCpuUsPerRequest"] = server_cpu * 1e6 / max(1, result["requests"])
    result["otherCores"] = max(0.0, machine_busy() - busy - wrk_cpu - server_cpu) / seconds
    check(target, scenario, server, url, result, args)
    if url:
        server.call("DeleteQueue", {"QueueUrl": url})
    return result


def check(target, scenario, server, url, result, args):
    where = f"{target} {scenario}"
    if result["errors"]:
        fail(f"{where}: {result['errors']} socket errors")
    if result["non2xx"]:
        fail(f"{where}: {result['non2xx']} answers that were not 2xx")
    if result["requests"] == 0:
        fail(f"{where}: no request answered")
    if target == "floor":
        return
    # Requests in flight when wrk stopped may have been served without being counted: one per connection, a send
    # (one message more than counted) or a delete (up to ten fewer).
    above, below = args.connections, 0
    depth = queue_depth(server, url)
    if scenario == "send":
        expected = result["requests"]
    else:
        below = 10 * args.connections
        expected = result["sent"] - result["deleted"]
        if result["delete_failed"]:
            fail(f"{where}: {result['delete_failed']} handles received were not deleted")
        if result["received"] - result["deleted"] > 10 * args.connections:
            fail(f"{where}: received {result['received']}, deleted only {result['deleted']}")
        if result["deleted"] == 0:
            fail(f"{where}: nothing was received and deleted")
    if not expected - below <= depth <= expected + above:
        fail(f"{where}: the queue holds {depth} messages, {expected} (-{below}/+{above} in flight) expected")


# --- report ------------------------------------------------------------------------------------------------------


def summarize(runs, targets):
    rows = {}
    for scenario, _ in SCENARIOS:
        for target in targets:
            results = [r for r in runs.get((scenario, target), []) if r]
            if not results:
                continue
            throughput = [r["throughput"] for r in results]
            rows[(scenario, target)] = {
                "runs": len(results), "median": statistics.median(throughput), "min": min(throughput),
                "max": max(throughput), "perRun": throughput,
                "p50us": statistics.median(r["p50"] for r in results),
                "p99us": statistics.median(r["p99"] for r in results),
                "serverCpuUsPerRequest": statistics.median(r["serverCpuUsPerRequest"] for r in results),
                "otherCores": statistics.median(r["otherCores"] for r in results),
                "otherCoresMax": max(r["otherCores"] for r in results),
            }
        floor = rows.get((scenario, "floor"))
        for target in targets:
            row = rows.get((scenario, target))
            if row and floor:
                row["ofFloor"] = row["median"] / floor["median"]
                paired = [t / f for t, f in zip(row["perRun"], floor["perRun"])]
                row["ofFloorPaired"] = [min(paired), max(paired)]
    return rows


def table(report):
    rows = {(r["scenario"], r["target"]): r for r in report["rows"]}
    lines = ["| scenario | server | req/s (median) | range | % of floor (paired range) | p50 / p99 µs | "
             "server CPU µs/req | goal |",
             "|---|---|---:|---:|---:|---:|---:|---|"]
    for scenario, description in SCENARIOS:
        for target in report["targets"]:
            row = rows.get((scenario, target))
            if not row:
                continue
            share = "—"
            if "ofFloor" in row:
                low, high = row["ofFloorPaired"]
                share = f"{row['ofFloor'] * 100:.1f}% ({low * 100:.0f}–{high * 100:.0f}%)"
            goal = ""
            if target not in ("floor", "moto") and "ofFloor" in row:
                goal = f"{'PASS' if row['ofFloor'] >= GOALS[scenario] else 'MISS'} (≥ {GOALS[scenario] * 100:.0f}%)"
            lines.append(f"| {description} | {NAMES[target]} | {row['median']:,.0f} | {row['min']:,.0f}–"
                         f"{row['max']:,.0f} | {share} | {row['p50us']:,.0f} / {row['p99us']:,.0f} | "
                         f"{row['serverCpuUsPerRequest']:.1f} | {goal} |")
    lines.append("")
    other = [r["otherCores"] for r in report["rows"]] or [0.0]
    lines.append(f"{report['runs']} interleaved runs of {report['duration']} s per server and scenario, "
                 f"{report['connections']} keep-alive connections (wrk, one thread each), {report['date']}, commit "
                 f"{report['commit']}, swift-nio {report['nio']['server']} (server) / {report['nio']['floor']} "
                 f"(floor); load average before / after {report['loadBefore']} / {report['loadAfter']}; other "
                 f"processes kept {min(other):.2f}–{max(other):.2f} cores busy during the runs (medians per row)")
    lines.append("verified: " + ("yes" if report["verified"] else f"NO — {report['failures'][:5]}"))
    return "\n".join(lines)


def svg(report, path):
    """Horizontal bars of req/s on a logarithmic axis (moto's server is hundreds of times below the others), one group
    per scenario, each bar labelled with its median and its share of the floor."""
    import math
    rows = {(r["scenario"], r["target"]): r for r in report["rows"]}
    colors = {"floor": "#7f7f7f", "broker": "#1f77b4", "moto": "#d62728"}
    for extra in report["targets"]:
        colors.setdefault(extra, "#9ecae1")
    width, left, right, bar, gap = 860, 250, 40, 22, 6
    top = 56
    values = [r["median"] for r in report["rows"]] or [1]
    low = 10 ** math.floor(math.log10(max(1, min(values))))
    high = 10 ** math.ceil(math.log10(max(values) * 1.05))
    span = width - left - right

    def x(value):
        return left + span * (math.log10(max(value, low)) - math.log10(low)) / (math.log10(high) - math.log10(low))

    parts = []
    y = top
    for scenario, description in SCENARIOS:
        targets = [t for t in report["targets"] if (scenario, t) in rows]
        if not targets:
            continue
        parts.append(f'<text x="10" y="{y + 14}" font-weight="bold">{description}</text>')
        y += 22
        for target in targets:
            row = rows[(scenario, target)]
            parts.append(f'<text x="{left - 8}" y="{y + bar - 6}" text-anchor="end">{NAMES[target]}</text>')
            parts.append(f'<rect x="{left}" y="{y}" width="{x(row["median"]) - left:.1f}" height="{bar}" '
                         f'fill="{colors[target]}"/>')
            # the range of the runs, as a thin line across the bar's end
            parts.append(f'<line x1="{x(row["min"]):.1f}" x2="{x(row["max"]):.1f}" y1="{y + bar / 2}" '
                         f'y2="{y + bar / 2}" stroke="black" stroke-width="1.5"/>')
            label = f'{row["median"]:,.0f} req/s'
            if "ofFloor" in row and target != "floor":
                label += f' · {row["ofFloor"] * 100:.0f}% of floor'
            anchor, at, fill = ("end", x(row["median"]) - 6, "white") if x(row["median"]) - left > 260 else \
                ("start", x(row["max"]) + 6, "black")
            parts.append(f'<text x="{at:.1f}" y="{y + bar - 6}" text-anchor="{anchor}" fill="{fill}">{label}</text>')
            y += bar + gap
        goal = GOALS[scenario]
        floor = rows.get((scenario, "floor"))
        if floor:
            gx = x(floor["median"] * goal)
            parts.append(f'<line x1="{gx:.1f}" x2="{gx:.1f}" y1="{y - (bar + gap) * len(targets) - 4}" '
                         f'y2="{y}" stroke="#2ca02c" stroke-dasharray="4,3"/>')
            parts.append(f'<text x="{gx + 3:.1f}" y="{y + 10}" fill="#2ca02c" font-size="11">goal: '
                         f'{goal * 100:.0f}% of floor</text>')
        y += 24
    axis = y + 4
    ticks = []
    value = low
    while value <= high:
        tx = x(value)
        ticks.append(f'<line x1="{tx:.1f}" x2="{tx:.1f}" y1="{top - 6}" y2="{axis}" stroke="#ddd"/>')
        ticks.append(f'<text x="{tx:.1f}" y="{axis + 16}" text-anchor="middle">{value:,.0f}</text>')
        value *= 10
    height = axis + 44
    title = (f"Over the wire: req/s, {report['connections']} keep-alive connections, median of {report['runs']} "
             f"interleaved runs ({report['date']}, {report['commit']})")
    return_text = "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="13">',
        f'<rect width="{width}" height="{height}" fill="white"/>',
        f'<text x="10" y="24" font-size="15" font-weight="bold">{title}</text>',
        *ticks, *parts,
        f'<text x="{left + span / 2:.1f}" y="{axis + 34}" text-anchor="middle">requests per second '
        f'(logarithmic; line: range of the runs)</text>',
        "</svg>", ""])
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w") as handle:
        handle.write(return_text)


def loadavg():
    with open("/proc/loadavg") as handle:
        return [float(x) for x in handle.read().split()[:3]]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--targets", default="floor,broker,moto", help="comma-separated: floor, broker, moto")
    parser.add_argument("--scenarios", default="send,mix", help="comma-separated: send, mix")
    parser.add_argument("--duration", type=int, default=5, help="whole seconds per run (default 5)")
    parser.add_argument("--runs", type=int, default=5, help="runs per server and scenario (default 5)")
    parser.add_argument("--connections", type=int, default=4, help="keep-alive connections, one wrk thread each")
    parser.add_argument("--broker-bin", default=os.path.join(ROOT, "Server", ".build", "release", "broker-server"))
    parser.add_argument("--floor-bin", default=os.path.join(ROOT, "Benchmarks", "WireFloor", ".build", "release",
                                                            "nio-floor"))
    parser.add_argument("--also", action="append", default=[], metavar="NAME=PATH",
                        help="another broker-server binary measured beside the others, for an A/B (repeatable)")
    parser.add_argument("--json", help="write the report as JSON to this file")
    parser.add_argument("--svg", help="write the plot to this file (e.g. Docs/images/wire-throughput.svg)")
    parser.add_argument("--quiet", action="store_true", help="no progress on stderr")
    args = parser.parse_args()
    targets = [t for t in ("floor", "broker", "moto") if t in args.targets.split(",")]
    also = dict(entry.split("=", 1) for entry in args.also)
    for name in also:
        if name in NAMES or not re.fullmatch(r"[A-Za-z0-9_-]+", name):
            sys.exit(f"--also {name}: choose another name")
        NAMES[name] = f"broker-server {name}"
    targets += list(also)
    scenarios = [s for s, _ in SCENARIOS if s in args.scenarios.split(",")]
    if not targets or not scenarios or args.runs < 1 or args.duration < 1:
        sys.exit("nothing to run")

    servers = {}
    try:
        if "floor" in targets:
            binary = ensure_binary(args.floor_bin, os.path.join(ROOT, "Benchmarks", "WireFloor"), "nio-floor",
                                   args.quiet)
            servers["floor"] = Server("floor", [binary, "--port", "0"],
                                      r"nio-floor listening on http://127\.0\.0\.1:(\d+)")
        if "broker" in targets:
            binary = ensure_binary(args.broker_bin, os.path.join(ROOT, "Server"), "broker-server", args.quiet)
            servers["broker"] = Server("broker", [binary, "--port", "0"],
                                       r"broker-server listening on http://127\.0\.0\.1:(\d+)")
        for name, binary in also.items():
            servers[name] = Server(name, [binary, "--port", "0"],
                                   r"broker-server listening on http://127\.0\.0\.1:(\d+)")
        if "moto" in targets:
            servers["moto"] = Server("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p"])
        load_before = loadavg()
        # Warm-up, unmeasured: first connections, first requests, moto's backends loaded.
        for target, server in servers.items():
            for scenario in scenarios:
                warm = argparse.Namespace(**{**vars(args), "duration": 1})
                run_once(target, server, scenario, warm)
        runs = {}
        for scenario in scenarios:
            for index in range(args.runs):
                order = targets[index % len(targets):] + targets[:index % len(targets)]
                for target in order:
                    result = run_once(target, servers[target], scenario, args)
                    runs.setdefault((scenario, target), []).append(result)
                    if result:
                        log(args.quiet, f"{scenario} run {index + 1}/{args.runs} {target}: "
                                        f"{result['throughput']:,.0f} req/s, p50 {result['p50']} µs, "
                                        f"p99 {result['p99']} µs")
        load_after = loadavg()
    finally:
        for server in servers.values():
            server.stop()

    commit = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True,
                            text=True).stdout.strip()
    rows = summarize(runs, targets)
    report = {
        "tool": "wire_bench.py", "command": " ".join(["wire_bench.py"] + sys.argv[1:]),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"), "commit": commit,
        "cores": os.cpu_count(), "runs": args.runs, "duration": args.duration, "connections": args.connections,
        "nio": {"server": resolved_nio(package_of(args.broker_bin, os.path.join(ROOT, "Server"))),
                "floor": resolved_nio(package_of(args.floor_bin, os.path.join(ROOT, "Benchmarks", "WireFloor")))},
        "loadBefore": load_before, "loadAfter": load_after, "targets": targets,
        "goals": GOALS,
        "rows": [{"scenario": s, "target": t, **row} for (s, t), row in rows.items()],
        "verified": not FAILURES, "failures": FAILURES,
    }
    if report["nio"]["server"] and report["nio"]["floor"] and report["nio"]["server"] != report["nio"]["floor"]:
        fail(f"the floor runs swift-nio {report['nio']['floor']}, broker-server {report['nio']['server']}")
        report["verified"] = False
    print(table(report))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(report, handle, indent=2, sort_keys=True)
    if args.svg:
        svg(report, args.svg)
    sys.exit(0 if not FAILURES else 1)


if __name__ == "__main__":
    main()

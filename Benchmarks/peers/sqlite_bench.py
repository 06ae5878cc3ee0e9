#!/usr/bin/env python3
"""A real database doing what a durable queue does, for the side-by-side with `broker-bench journal` and issue 20's
goal (durable send+receive+delete >= 25x SQLite with the same concurrency).

    python3 Benchmarks/peers/sqlite_bench.py --threads 64 --duration 5 --runs 3 > sqlite.json

SQLite in WAL mode with synchronous=FULL (a commit returns after its WAL frames are fsynced, like the journal's
`acknowledged` level). Each of --threads threads has its own connection and loops: insert --batch rows of a
--body-size byte body in one transaction (the send), then delete those rows in another (the receive+delete).
A message is one row inserted and deleted; the figure is messages per second. SQLite serializes writers, so the
threads queue for the write lock (busy timeout 60 s); its WAL has no group commit across connections.

Checks: every row inserted is deleted (the table is empty at the end) and the row count matches the tally.
Prints one JSON document on stdout, progress on stderr; exits 1 if a check fails.
"""

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import threading
import time


def run_once(threads, duration, batch, body_size, directory):
    path = os.path.join(directory, "queue.db")
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(path + suffix):
            os.remove(path + suffix)
    setup = sqlite3.connect(path)
    setup.execute("PRAGMA journal_mode=WAL")
    setup.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    setup.commit()
    setup.close()

    stop = threading.Event()
    counts = [0] * threads
    errors = []
    body = b"m" * body_size

    def worker(index):
        connection = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
        connection.execute("PRAGMA synchronous=FULL")
        try:
            while not stop.is_set():
                connection.execute("BEGIN IMMEDIATE")
                ids = []
                for _ in range(batch):
                    cursor = connection.execute("INSERT INTO messages (body) VALUES (?)", (body,))
                    ids.append(cursor.lastrowid)
                connection.execute("COMMIT")
                connection.execute("BEGIN IMMEDIATE")
                connection.executemany("DELETE FROM messages WHERE id = ?", [(i,) for i in ids])
                connection.execute("COMMIT")
                counts[index] += batch
        except Exception as error:  # a failure is reported, not hidden
            errors.append(f"thread {index}: {error}")
        finally:
            connection.close()

    workers = [threading.Thread(target=worker, args=(i,)) for i in range(threads)]
    start = time.perf_counter()
    for thread in workers:
        thread.start()
    time.sleep(duration)
    stop.set()
    for thread in workers:
        thread.join()
    elapsed = time.perf_counter() - start

    check = sqlite3.connect(path)
    left = check.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
    check.close()
    failures = list(errors)
    if left != 0:
        failures.append(f"{left} rows left in the table")
    total = sum(counts)
    return {"messages": total, "seconds": elapsed, "throughput": total / elapsed, "failures": failures}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--threads", type=int, default=64)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--body-size", type=int, default=100)
    parser.add_argument("--directory", default=None, help="where the database lives (default: a temporary directory)")
    arguments = parser.parse_args()

    results = []
    with tempfile.TemporaryDirectory(prefix="sqlite-bench-", dir=arguments.directory) as directory:
        for run in range(arguments.runs):
            print(f"run {run + 1}/{arguments.runs}: {arguments.threads} threads, transactions of {arguments.batch}",
                  file=sys.stderr)
            results.append(run_once(arguments.threads, arguments.duration, arguments.batch, arguments.body_size, directory))
    failures = [failure for result in results for failure in result["failures"]]
    throughputs = [result["throughput"] for result in results]
    report = {
        "peer": "sqlite3",
        "sqlite_version": sqlite3.sqlite_version,
        "settings": "journal_mode=WAL, synchronous=FULL, one connection per thread, BEGIN IMMEDIATE",
        "shape": f"{arguments.threads} threads; each: insert {arguments.batch} rows of {arguments.body_size} bytes "
                 f"in one transaction, then delete them in another",
        "unit": "messages/s (one row inserted and deleted)",
        "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(), "os": platform.platform()},
        "runs": results,
        "throughput_median": statistics.median(throughputs),
        "throughput_min": min(throughputs),
        "throughput_max": max(throughputs),
        "verified": not failures,
        "failures": failures,
    }
    print(json.dumps(report, indent=2))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()

"""How long a short write waits while other threads write: stock SQLite backend vs webcap's.

The embedded mode's web requests and in-process jobs all write to one SQLite file from
threads of one process, each transaction IMMEDIATE. This starts ``--jobs`` threads that
write back to back (each transaction holds the lock ``--hold-ms``, as a job step does) and
times a short write transaction ``--writes`` times from the main thread (a request), once
with Django's stock backend (``django.db.backends.sqlite3``: SQLite's busy handler sleeps
and retries on its own schedule) and once with webcap's (``common.sqlite``: writers of the
process queue in a lock that wakes the next one at once). Each engine runs in a fresh
process and database; the two take turns ``--runs`` times.

    .venv/bin/python -m bench.sqlite_writers [--jobs 2] [--hold-ms 2] [--writes 300] [--runs 2]

Nothing outside a fresh temporary folder is written.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENGINES = {"stock": "django.db.backends.sqlite3", "webcap": "common.sqlite"}


def measure(engine: str, *, jobs: int, hold_ms: float, writes: int) -> list[float]:
    """Run one measurement in this process; return the write latencies in ms."""
    import django
    from django.conf import settings

    folder = tempfile.mkdtemp(prefix="webcap-bench-sqlite-")
    settings.configure(
        DATABASES={
            "default": {
                "ENGINE": engine,
                "NAME": f"{folder}/bench.sqlite3",
                # As config/settings/base.py configures the embedded database.
                "OPTIONS": {
                    "transaction_mode": "IMMEDIATE",
                    "timeout": 20,
                    "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                },
            }
        },
        INSTALLED_APPS=[],
    )
    django.setup()
    from django.db import connection, connections, transaction

    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE event (id INTEGER PRIMARY KEY, body TEXT)")
    stop = threading.Event()

    def job() -> None:
        while not stop.is_set():
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO event (body) VALUES ('job')")
                time.sleep(hold_ms / 1000)
            time.sleep(0.0005)
        connections.close_all()

    threads = [threading.Thread(target=job, name=f"job-{n}") for n in range(jobs)]
    for thread in threads:
        thread.start()
    latencies = []
    try:
        for _ in range(writes):
            started = time.perf_counter()
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("INSERT INTO event (body) VALUES ('request')")
            latencies.append((time.perf_counter() - started) * 1000)
            time.sleep(0.005)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    return latencies


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=2, help="threads writing back to back")
    parser.add_argument("--hold-ms", type=float, default=2.0, help="each job transaction's length")
    parser.add_argument("--writes", type=int, default=300, help="timed writes per run")
    parser.add_argument("--runs", type=int, default=2, help="runs of each engine, taking turns")
    parser.add_argument("--one", choices=sorted(ENGINES), help=argparse.SUPPRESS)
    options = parser.parse_args()
    if options.one:
        latencies = measure(
            ENGINES[options.one],
            jobs=options.jobs,
            hold_ms=options.hold_ms,
            writes=options.writes,
        )
        print(json.dumps(latencies))
        return
    results: dict[str, list[list[float]]] = {name: [] for name in ENGINES}
    for _ in range(options.runs):
        for name in ENGINES:
            # A fresh process each time: Django is configured once per process.
            output = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "bench.sqlite_writers",
                    "--one",
                    name,
                    f"--jobs={options.jobs}",
                    f"--hold-ms={options.hold_ms}",
                    f"--writes={options.writes}",
                ],
                cwd=ROOT,
                check=True,
                capture_output=True,
                text=True,
                timeout=600,
            ).stdout
            results[name].append(json.loads(output))
    print(
        f"a short write transaction while {options.jobs} threads write back to back "
        f"({options.hold_ms:g} ms each), {options.writes} writes per run, ms:"
    )
    print(f"{'backend':28} | {'run':>3} | {'p50':>7} | {'p95':>7} | {'p99':>7} | {'max':>7}")
    for name, runs in results.items():
        for number, latencies in enumerate(runs, start=1):
            print(
                f"{ENGINES[name]:28} | {number:>3} | {statistics.median(latencies):7.2f} | "
                f"{_percentile(latencies, 0.95):7.2f} | {_percentile(latencies, 0.99):7.2f} | "
                f"{max(latencies):7.2f}"
            )


if __name__ == "__main__":
    main()

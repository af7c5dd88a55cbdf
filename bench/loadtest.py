"""A 1,000-user mixed A2A load test with locust against the production topology.

Starts PostgreSQL, Redis, two daphne web processes, a Celery worker and beat on 127.0.0.1
(tests/cluster.py; rate limits set far above what is sent), makes ``--keys`` users with one
API key each and one task per key, then runs locust headless (bench/locustfile.py, as a
subprocess: it monkey-patches with gevent) for a bounded time with ``--users`` users dealt
round robin over the keys and both web processes. Afterwards it prints per-operation
p50/p95/p99 and errors and the product's targets as met / not met, and keeps locust's HTML
report and CSVs in var/bench/load/ (git-ignored). Everything it starts is stopped by PID,
also on Ctrl-C, SIGTERM or an exception.

    .venv/bin/python -m bench.loadtest [--users 1000] [--spawn-rate 50] [--run-time 180]
    .venv/bin/python -m bench.loadtest --smoke      # 12 users for 15 s
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench.harness import bench_cluster, create_keys, out_dir, print_targets, raise_open_files
from tests.cluster import Cluster
from tests.live.server import ROOT
from tests.venvs import ensure_venv

# locust runs in a venv of its own: it brings gevent and greenlet, which must not load into
# webcap's processes or its test suite (bench/locust/requirements.in).
LOCUST_VENV = ROOT / ".venv-bench-locust"
LOCUST_REQUIREMENTS = ROOT / "bench" / "locust" / "requirements.txt"

LOCUSTFILE = ROOT / "bench" / "locustfile.py"
# How often each operation is picked (locust @task weights).
WEIGHTS = {
    "send_blocking": 10,
    "send_immediate": 15,
    "stream": 10,
    "get_task": 30,
    "list_tasks": 20,
    "approve": 5,
}
# The rows the targets speak of: "simple requests" are the ones that do no agent work.
SIMPLE = ("GetTask", "ListTasks", "SendMessage returnImmediately", "approve")
CREATION = "SendMessage returnImmediately"
# Every row bench/locustfile.py makes: one that is missing is printed as not run.
OPERATIONS = (
    "SendMessage (blocking)",
    "SendMessage returnImmediately",
    "SendStreamingMessage",
    "SendStreamingMessage first event",
    "GetTask",
    "ListTasks",
    "SendMessage (blocking, to input-required)",
    "approve",
)


@dataclass(frozen=True)
class Row:
    name: str
    requests: int
    failures: int
    p50: float
    p95: float
    p99: float
    rps: float


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=1000, help="locust users (1000)")
    parser.add_argument("--spawn-rate", type=float, default=50, help="users started per second")
    parser.add_argument("--run-time", type=int, default=180, help="seconds of load (180)")
    parser.add_argument("--keys", type=int, default=50, help="owners, one API key each (50)")
    parser.add_argument("--webs", type=int, default=2, help="web processes (2)")
    parser.add_argument("--wait", type=float, nargs=2, default=(10.0, 30.0), metavar=("MIN", "MAX"))
    parser.add_argument("--smoke", action="store_true", help="12 users, 15 s, 4 keys")
    parser.add_argument("--out", type=Path, help="report folder (var/bench/load)")
    options = parser.parse_args(argv)
    if options.smoke:
        # Few users, long enough that an agent's turn finishes on a loaded machine: the worker
        # runs two jobs at once, and every blocking send and stream waits for one.
        options.users, options.spawn_rate, options.run_time, options.keys = 12, 12, 15, 4
        options.wait = (0.5, 1.5)
    return options


def seed_tasks(cluster: Cluster, keys: list[str]) -> dict[str, str]:
    """One task per key, made before the load starts, so GetTask has something to read."""
    seeds = {}
    for index, key in enumerate(keys):
        url = cluster.web_urls[index % len(cluster.web_urls)]
        params = {
            "message": {
                "messageId": f"seed-{index}",
                "role": "ROLE_USER",
                "parts": [{"text": "hi"}],
            },
            "configuration": {"returnImmediately": True},
        }
        body = Cluster.rpc(url, key, "SendMessage", params)
        seeds[key] = body["result"]["task"]["id"]
    return seeds


def run_locust(options: argparse.Namespace, cluster: Cluster, folder: Path) -> int:
    """Run locust headless as a subprocess (its own session, stopped by PID); return its
    exit status (1 when any request failed)."""
    config = folder / "config.json"
    keys = create_keys(cluster, "load", options.keys)
    config.write_text(
        json.dumps(
            {
                "hosts": cluster.web_urls,
                "keys": keys,
                "seed_tasks": seed_tasks(cluster, keys),
                # A smoke run is short: every operation as likely, and each user starts with
                # the next operation in turn, so every one runs even on a loaded machine.
                "weights": dict.fromkeys(WEIGHTS, 1) if options.smoke else WEIGHTS,
                "first_in_turn": options.smoke,
                "wait_min": options.wait[0],
                "wait_max": options.wait[1],
            }
        )
    )
    command = [
        str(ensure_venv(LOCUST_VENV, LOCUST_REQUIREMENTS).parent / "locust"),
        "-f",
        str(LOCUSTFILE),
        "--headless",
        "--users",
        str(options.users),
        "--spawn-rate",
        str(options.spawn_rate),
        "--run-time",
        f"{options.run_time}s",
        # Users finish the operation in flight when the time is up (a short wait when smoking).
        "--stop-timeout",
        "30" if options.smoke else "60",
        "--html",
        str(folder / "report.html"),
        "--csv",
        str(folder / "load"),
        "--csv-full-history",
        "--only-summary",
        "--loglevel",
        "WARNING",
    ]
    print(
        f"locust: {options.users} users, {options.spawn_rate}/s, {options.run_time} s", flush=True
    )
    env = {**cluster.env, "WEBCAP_LOAD_CONFIG": str(config)}
    with (folder / "locust.log").open("wb") as log:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            ramp = options.users / options.spawn_rate
            return process.wait(timeout=ramp + options.run_time + 180)
        finally:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
                try:
                    process.wait(timeout=40)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _number(text: str) -> float:
    return float(text) if text not in ("", "N/A") else math.nan


def read_rows(folder: Path) -> list[Row]:
    with (folder / "load_stats.csv").open() as handle:
        return [
            Row(
                name=line["Name"],
                requests=int(line["Request Count"]),
                failures=int(line["Failure Count"]),
                p50=_number(line["50%"]),
                p95=_number(line["95%"]),
                p99=_number(line["99%"]),
                rps=_number(line["Requests/s"]),
            )
            for line in csv.DictReader(handle)
        ]


def peak_users(folder: Path) -> int:
    with (folder / "load_stats_history.csv").open() as handle:
        return max((int(line["User Count"]) for line in csv.DictReader(handle)), default=0)


def report(rows: list[Row], peak: int, folder: Path) -> bool:
    print(
        f"\n{'operation':<44}{'requests':>9}{'errors':>8}{'p50':>8}{'p95':>8}{'p99':>8}{'req/s':>8}"
    )
    for row in rows:
        print(
            f"{row.name:<44}{row.requests:>9}{row.failures:>8}"
            f"{row.p50:>8.0f}{row.p95:>8.0f}{row.p99:>8.0f}{row.rps:>8.1f}"
        )
    by_name = {row.name: row for row in rows}
    for name in OPERATIONS:
        if name not in by_name:
            print(f"{name:<44}  not run")
    print("(times in ms; the failures and their reasons are in load_failures.csv)")
    simple = [by_name[name] for name in SIMPLE if name in by_name]
    worst95 = max((row.p95 for row in simple), default=math.nan)
    worst99 = max((row.p99 for row in simple), default=math.nan)
    creation = by_name.get(CREATION)
    total = by_name.get("Aggregated")
    failure_ratio = total.failures / total.requests if total and total.requests else 1.0
    met = print_targets(
        [
            ("p95 < 200 ms, simple requests (worst row)", f"{worst95:.0f} ms", worst95 < 200),
            ("p99 < 500 ms, simple requests (worst row)", f"{worst99:.0f} ms", worst99 < 500),
            (
                "task creation < 50 ms (returnImmediately p95)",
                f"p50 {creation.p50:.0f} / p95 {creation.p95:.0f} ms" if creation else "no data",
                creation is not None and creation.p95 < 50,
            ),
            (
                "100+ concurrent connections (users, < 1% errors)",
                f"{peak} users, {failure_ratio:.1%} errors",
                peak >= 100 and failure_ratio < 0.01,
            ),
        ]
    )
    print(f"\nSimple requests: {', '.join(SIMPLE)}.")
    print(f"HTML report: {folder / 'report.html'}; CSVs: {folder}/load_*.csv")
    return met


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)
    folder = options.out or out_dir("load-smoke" if options.smoke else "load")
    folder.mkdir(parents=True, exist_ok=True)
    raise_open_files(options.users * 4 + 1024)
    started = time.monotonic()
    with bench_cluster(
        webs=options.webs,
        workers=1,
        logs_to=folder,
        WEBCAP_AGENT="assistant",
        # echo is harmless (returns its text) and stays on this machine: it is the tool the
        # approve operation waits for.
        WEBCAP_TOOLS_REQUIRE_APPROVAL="echo",
    ) as cluster:
        print(f"cluster up: web {' '.join(cluster.web_urls)}, 1 worker, in {cluster.workdir}")
        status = run_locust(options, cluster, folder)
    print(f"locust exited with {status} after {time.monotonic() - started:.0f} s in all")
    if not (folder / "load_stats.csv").exists():
        print(f"no statistics: see {folder / 'locust.log'}", file=sys.stderr)
        return 2
    report(read_rows(folder), peak_users(folder), folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())

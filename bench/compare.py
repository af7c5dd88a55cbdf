"""webcap side by side with the a2a-sdk 1.3.0 reference server, under the same load.

    .venv/bin/python -m bench.compare [--smoke] [--out DIR] [--seconds S] [--warmup S]
        [--topology embedded|production ...]

Starts webcap (the embedded default; then the production topology: PostgreSQL, Redis, one and
then two web processes, a worker) and the reference server (bench/reference/server.py in its
own venv) on 127.0.0.1, drives both with bench/load.py, one metric at a time, alternating
which server goes first, checks every response, and prints ``metric | webcap | reference |
ratio | target | met`` per topology. Writes var/bench/bench-<timestamp>.json and .html (a
chart). Every process it started is stopped by PID at the end, on Ctrl-C or on an error.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from html import escape
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from bench import load
from bench.load import Operation, Sample, Target
from bench.servers import Reference, WebcapCluster, WebcapEmbedded
from tests.live.server import ROOT

TOPOLOGIES = ("embedded", "production")
# Tasks of the returnImmediately run still queued are waited for before the next metric.
DRAIN_SECONDS = 120.0


@dataclass(frozen=True)
class Options:
    smoke: bool
    out: Path
    seconds: float
    warmup: float
    topologies: tuple[str, ...]
    # Of the throughput metrics (the latency ones run at c=1).
    concurrency: int
    subscribers: int
    fanout_words: int
    fanout_delay_ms: int
    fanout_rounds: int


@dataclass(frozen=True)
class Row:
    """One line of the table: a statistic of a metric, and the target it is held to."""

    key: str
    label: str
    metric: str
    stat: str
    higher_is_better: bool
    # "ratio>=" / "ratio<=": webcap / reference; "abs<": webcap's own value; "": none.
    target_kind: str = ""
    target: float = 0.0

    def target_text(self) -> str:
        if self.target_kind == "ratio>=":
            return f">= {self.target:g}x"
        if self.target_kind == "ratio<=":
            return f"<= {self.target:g}x"
        if self.target_kind == "abs<":
            return f"< {self.target:g} ms"
        return ""

    def met(self, webcap: float, ratio: float) -> bool | None:
        value = {"ratio>=": ratio, "ratio<=": ratio, "abs<": webcap}.get(self.target_kind)
        if value is None or math.isnan(value):
            return None
        if self.target_kind == "ratio>=":
            return value >= self.target
        return value <= self.target if self.target_kind == "ratio<=" else value < self.target


ROWS = [
    Row("card_rps", "agent card (req/s, c={c})", "card", "rate", True, "ratio>=", 1.0),
    Row(
        "send_complete_rps",
        "SendMessage to completion (req/s, c={c})",
        "send_complete",
        "rate",
        True,
        "ratio>=",
        0.8,
    ),
    Row(
        "send_immediate_rps",
        "SendMessage returnImmediately (req/s, c={c})",
        "send_immediate",
        "rate",
        True,
        "ratio>=",
        1.0,
    ),
    Row("get_task_rps", "GetTask (req/s, c={c})", "get_task", "rate", True, "ratio>=", 1.0),
    Row("get_task_p99_ms", "GetTask p99 at c={c} (ms)", "get_task", "p99", False, "abs<", 100),
    Row("list_tasks_rps", "ListTasks (req/s, c={c})", "list_tasks", "rate", True),
    Row("create_p50_ms", "task creation p50 at c=1 (ms)", "create", "p50", False),
    Row("create_p95_ms", "task creation p95 at c=1 (ms)", "create", "p95", False, "abs<", 10),
    Row("stream_first_ms", "stream send -> first event p50 (ms)", "stream", "first_p50", False),
    Row(
        "stream_final_ms",
        "stream send -> final event p50 (ms)",
        "stream",
        "p50",
        False,
        "ratio<=",
        1.5,
    ),
    Row(
        "fanout_first_ms", "fan-out subscribe -> first event p50 (ms)", "fanout", "first_p50", False
    ),
    Row("fanout_spread_ms", "fan-out final event spread p50 (ms)", "fanout", "p50", False),
]
# Two web processes against one, production topology (webcap only).
SCALING_TARGET = 1.8


def parse_args(argv: list[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--smoke", action="store_true", help="tiny durations: checks the harness (~30 s)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench", help="result folder")
    parser.add_argument("--seconds", type=float, help="timed seconds per metric (3; smoke 0.5)")
    parser.add_argument("--warmup", type=float, help="warm-up seconds per metric (1; smoke 0.2)")
    parser.add_argument("--concurrency", type=int, help="of the throughput metrics (64; smoke 8)")
    parser.add_argument(
        "--topology",
        action="append",
        choices=TOPOLOGIES,
        help="run only this topology (repeatable; default both)",
    )
    args = parser.parse_args(argv)
    smoke = bool(args.smoke)
    return Options(
        smoke=smoke,
        out=args.out,
        seconds=args.seconds if args.seconds is not None else (0.5 if smoke else 3.0),
        warmup=args.warmup if args.warmup is not None else (0.2 if smoke else 1.0),
        topologies=tuple(args.topology or TOPOLOGIES),
        concurrency=args.concurrency or (8 if smoke else 64),
        subscribers=4 if smoke else 32,
        fanout_words=6 if smoke else 10,
        fanout_delay_ms=40 if smoke else 50,
        fanout_rounds=1 if smoke else 20,
    )


def stats(sample: Sample) -> dict[str, Any]:
    return {
        "rate": sample.rate,
        "p50": load.percentile(sample.latencies, 50),
        "p95": load.percentile(sample.latencies, 95),
        "p99": load.percentile(sample.latencies, 99),
        "first_p50": load.percentile(sample.firsts, 50),
        "first_p95": load.percentile(sample.firsts, 95),
        "timed": len(sample.latencies),
        "seconds": sample.seconds,
        "errors": sample.errors,
        "error_samples": sample.error_samples,
    }


class Server(Protocol):
    def target(self) -> Target: ...

    def set_echo_delay(self, ms: int) -> None: ...


class Run:
    """The measurements of one topology: webcap and the reference, metric by metric."""

    def __init__(self, name: str, webcap: Server, reference: Server, options: Options) -> None:
        self.name = name
        self.servers = {"webcap": webcap, "reference": reference}
        self.options = options
        self.metrics: dict[str, dict[str, dict[str, Any]]] = {}
        self.completed_ids: dict[str, list[str]] = {"webcap": [], "reference": []}
        self._flip = False

    def both(self, metric: str, run_one: Callable[[str, Target], Sample]) -> None:
        """Measure metric on both servers, alternating which goes first."""
        order = ["webcap", "reference"] if not self._flip else ["reference", "webcap"]
        self._flip = not self._flip
        figures: dict[str, dict[str, Any]] = {}
        for side in order:
            sample = run_one(side, self.servers[side].target())
            figures[side] = stats(sample)
            errors = f", {sample.errors} errors" if sample.errors else ""
            print(
                f"  [{self.name}] {metric:<15} {side:<9} {len(sample.latencies):6d} timed{errors}",
                flush=True,
            )
        self.metrics[metric] = figures

    def loaded(self, metric: str, make: Callable[[Target], Operation], concurrency: int) -> None:
        def run_one(side: str, target: Target) -> Sample:
            return load.measure(
                make(target),
                concurrency=concurrency,
                warmup=self.options.warmup,
                seconds=self.options.seconds,
            )

        self.both(metric, run_one)

    def send_complete(self) -> None:
        def run_one(side: str, target: Target) -> Sample:
            sample = load.measure(
                load.send_op(target, immediate=False),
                concurrency=self.options.concurrency,
                warmup=self.options.warmup,
                seconds=self.options.seconds,
            )
            # GetTask reads these: completed tasks, so its check can insist on the state.
            self.completed_ids[side] = sample.task_ids[-1000:]
            return sample

        self.both("send_complete", run_one)

    def send_immediate(self) -> None:
        def run_one(side: str, target: Target) -> Sample:
            sample = load.measure(
                load.send_op(target, immediate=True),
                concurrency=self.options.concurrency,
                warmup=self.options.warmup,
                seconds=self.options.seconds,
            )
            # The queued tasks must not run under the next metric's load.
            for task_id in load.wait_done(target, sample.task_ids[-16:], DRAIN_SECONDS):
                sample.error(f"task {task_id} not finished {DRAIN_SECONDS:g} s after the run")
            return sample

        self.both("send_immediate", run_one)

    def get_task(self) -> None:
        def run_one(side: str, target: Target) -> Sample:
            ids = self.completed_ids[side]
            if not ids:
                sample = Sample()
                sample.error("no completed task to read (SendMessage to completion failed)")
                return sample
            return load.measure(
                load.get_task_op(target, ids),
                concurrency=self.options.concurrency,
                warmup=self.options.warmup,
                seconds=self.options.seconds,
            )

        self.both("get_task", run_one)

    def fanout(self) -> None:
        options = self.options
        began = time.perf_counter()
        for server in self.servers.values():
            server.set_echo_delay(options.fanout_delay_ms)
        print(
            f"  [{self.name}] restarted with a {options.fanout_delay_ms} ms echo delay in "
            f"{time.perf_counter() - began:.1f} s",
            flush=True,
        )

        def run_one(side: str, target: Target) -> Sample:
            return load.fanout(
                target,
                subscribers=options.subscribers,
                words=options.fanout_words,
                rounds=options.fanout_rounds,
                seconds=options.seconds + options.warmup,
            )

        self.both("fanout", run_one)

    def requests(self) -> None:
        """Everything but the fan-out, in the order of the table."""
        self.loaded("card", load.card_op, self.options.concurrency)
        self.send_complete()
        self.send_immediate()
        self.get_task()
        self.loaded("list_tasks", load.list_tasks_op, self.options.concurrency)
        self.loaded("create", lambda t: load.send_op(t, immediate=True), 1)
        self.loaded("stream", load.stream_op, 1)

    def rows(self) -> list[dict[str, Any]]:
        out = []
        for row in ROWS:
            figures = self.metrics.get(row.metric)
            if figures is None:
                continue
            webcap = float(figures["webcap"][row.stat])
            reference = float(figures["reference"][row.stat])
            ratio = webcap / reference if reference else float("nan")
            out.append(
                {
                    **asdict(row),
                    "label": row.label.format(c=self.options.concurrency),
                    "webcap": webcap,
                    "reference": reference,
                    "ratio": ratio,
                    "target_text": row.target_text(),
                    "met": row.met(webcap, ratio),
                }
            )
        return out

    def errors(self) -> int:
        return sum(side["errors"] for figures in self.metrics.values() for side in figures.values())


def start(stack: ExitStack, *servers: Any) -> None:
    """Start the servers; whatever happens later, each is stopped when stack closes."""
    for server in servers:
        stack.callback(server.stop)
        began = time.perf_counter()
        server.start()
        print(
            f"  {type(server).__name__} started in {time.perf_counter() - began:.1f} s", flush=True
        )


def run_embedded(stack: ExitStack, workdir: Path, options: Options) -> list[Run]:
    webcap = WebcapEmbedded(workdir / "webcap")
    reference = Reference(workdir)
    (workdir / "webcap").mkdir()
    start(stack, webcap, reference)
    run = Run("embedded", webcap, reference, options)
    run.requests()
    run.fanout()
    webcap.stop()
    reference.stop()
    return [run]


def run_production(stack: ExitStack, workdir: Path, options: Options) -> list[Run]:
    cluster_dir = workdir / "cluster"
    cluster_dir.mkdir()
    webcap = WebcapCluster(cluster_dir)
    reference = Reference(workdir)
    start(stack, webcap, reference)
    one = Run("production, 1 web", webcap, reference, options)
    one.requests()
    webcap.add_web()
    two = Run("production, 2 webs", webcap, reference, options)
    two.requests()
    two.fanout()
    webcap.stop()
    reference.stop()
    return [one, two]


def scaling(runs: list[Run]) -> list[dict[str, Any]]:
    """Two web processes against one, for every throughput figure (webcap)."""
    by_name = {run.name: run for run in runs}
    one, two = by_name.get("production, 1 web"), by_name.get("production, 2 webs")
    if one is None or two is None:
        return []
    rows = []
    for row in ROWS:
        if row.stat != "rate" or row.metric not in one.metrics:
            continue
        first = float(one.metrics[row.metric]["webcap"]["rate"])
        second = float(two.metrics[row.metric]["webcap"]["rate"])
        ratio = second / first if first else float("nan")
        rows.append(
            {
                "label": row.label.format(c=two.options.concurrency),
                "one_web": first,
                "two_webs": second,
                "ratio": ratio,
                "target_text": f">= {SCALING_TARGET:g}x",
                "met": None if math.isnan(ratio) else ratio >= SCALING_TARGET,
            }
        )
    return rows


def _figure(value: float) -> str:
    if math.isnan(value):
        return "-"
    return f"{value:.0f}" if value >= 100 else f"{value:.2f}"


def _ratio(value: float) -> str:
    return "-" if math.isnan(value) else f"{value:.2f}x"


def _met(met: bool | None) -> str:
    return {True: "met", False: "not met", None: ""}[met]


def table(runs: list[Run], scaled: list[dict[str, Any]]) -> str:
    lines = []
    width = max(len(row.label) for row in ROWS)
    for run in runs:
        lines.append(f"\n{run.name}")
        lines.append(
            f"{'metric':<{width}} | {'webcap':>8} | {'reference':>9} | {'ratio':>6} | "
            f"{'target':>9} | met"
        )
        lines.append("-" * (width + 52))
        for row in run.rows():
            lines.append(
                f"{row['label']:<{width}} | {_figure(row['webcap']):>8} | "
                f"{_figure(row['reference']):>9} | {_ratio(row['ratio']):>6} | "
                f"{row['target_text']:>9} | {_met(row['met'])}"
            )
    if scaled:
        lines.append("\nproduction topology, webcap: two web processes against one")
        lines.append(f"{'metric':<{width}} | {'1 web':>8} | {'2 webs':>9} | {'ratio':>6} | target")
        for row in scaled:
            lines.append(
                f"{row['label']:<{width}} | {_figure(row['one_web']):>8} | "
                f"{_figure(row['two_webs']):>9} | {_ratio(row['ratio']):>6} | "
                f"{row['target_text']} {_met(row['met'])}"
            )
    lines.append("\nerrors (every response is checked):")
    for run in runs:
        for metric, figures in run.metrics.items():
            for side, figure in figures.items():
                if figure["errors"]:
                    lines.append(f"  {run.name} {metric} {side}: {figure['errors']}")
                    lines.extend(f"    {sample}" for sample in figure["error_samples"])
    if not any(run.errors() for run in runs):
        lines.append("  none")
    return "\n".join(lines)


def html(result: dict[str, Any]) -> str:
    """One page: per topology, a bar pair (webcap, reference) per metric; no scripts."""
    parts = [
        "<!doctype html><meta charset='utf-8'><title>webcap vs a2a-sdk reference</title>",
        "<style>body{font:14px sans-serif;margin:2em}td{padding:2px 6px}"
        ".bar{height:10px;display:block}.w{background:#2a6fdb}.r{background:#999}"
        "td.n{text-align:right;font-variant-numeric:tabular-nums}</style>",
        f"<h1>webcap vs a2a-sdk 1.3.0 reference</h1><p>{escape(result['started'])}, "
        f"{escape(json.dumps(result['machine']))}; <span style='color:#2a6fdb'>webcap</span>, "
        "<span style='color:#999'>reference</span>; req/s: longer is better, ms: shorter.</p>",
    ]
    for name, topology in result["topologies"].items():
        parts.append(f"<h2>{escape(name)}</h2><table>")
        for row in topology["rows"]:
            top = max(row["webcap"], row["reference"], 1e-9)
            bars = "".join(
                f"<span class='bar {cls}' style='width:{300 * value / top:.0f}px'></span>"
                for cls, value in (("w", row["webcap"]), ("r", row["reference"]))
                if not math.isnan(value)
            )
            parts.append(
                f"<tr><td>{escape(row['label'])}</td><td>{bars}</td>"
                f"<td class=n>{_figure(row['webcap'])}<br>{_figure(row['reference'])}</td>"
                f"<td class=n>{_ratio(row['ratio'])}</td>"
                f"<td>{escape(row['target_text'])} {_met(row['met'])}</td></tr>"
            )
        parts.append("</table>")
    return "\n".join(parts) + "\n"


def _no_nan(value: Any) -> Any:
    """JSON has no NaN: a missing figure is null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _no_nan(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_no_nan(v) for v in value]
    return value


def write(result: dict[str, Any], out: Path, stamp: str) -> tuple[Path, Path]:
    out.mkdir(parents=True, exist_ok=True)
    json_path = out / f"bench-{stamp}.json"
    html_path = out / f"bench-{stamp}.html"
    json_path.write_text(json.dumps(_no_nan(result), indent=2) + "\n")
    html_path.write_text(html(result))
    return json_path, html_path


def _missing_programs() -> list[str]:
    from tests.postgres_server import BINARIES

    return [name for name in (*BINARIES, "redis-server") if shutil.which(name) is None]


def main(argv: list[str] | None = None) -> int:
    options = parse_args(argv)

    def stop(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    signal.signal(signal.SIGTERM, stop)
    if "production" in options.topologies and (missing := _missing_programs()):
        print(f"the production topology needs: {', '.join(missing)}", file=sys.stderr)
        return 2
    started_at = datetime.now(UTC)
    clock = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix="webcap-bench-"))
    # PostgreSQL runs as the postgres user when we are root: it must reach its folder.
    workdir.chmod(0o755)
    runs: list[Run] = []
    try:
        with ExitStack() as stack:
            if "embedded" in options.topologies:
                runs += run_embedded(stack, workdir, options)
            if "production" in options.topologies:
                runs += run_production(stack, workdir, options)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    scaled = scaling(runs)
    result = {
        "started": started_at.isoformat(timespec="seconds"),
        "seconds": time.perf_counter() - clock,
        "options": {k: str(v) for k, v in asdict(options).items()},
        "machine": {
            "nproc": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "topologies": {
            run.name: {"metrics": run.metrics, "rows": run.rows(), "errors": run.errors()}
            for run in runs
        },
        "scaling": scaled,
        "errors": sum(run.errors() for run in runs),
    }
    print(table(runs, scaled))
    json_path, html_path = write(result, options.out, started_at.strftime("%Y%m%d-%H%M%S"))
    print(f"\n{json_path}\n{html_path}\ntotal {result['seconds']:.0f} s")
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

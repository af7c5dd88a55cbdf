"""What the load and streams benchmarks share.

A production-topology cluster (tests/cluster.py) that is stopped by PID also on Ctrl-C or
SIGTERM, many API keys made in one process, the open-file limit, a process's memory,
percentiles and the "met / not met" lines. Nothing here imports Django.
"""

from __future__ import annotations

import json
import math
import resource
import shutil
import signal
import textwrap
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

from tests.cluster import Cluster, running_cluster
from tests.live.server import ROOT, run_python

OUT_DIR = ROOT / "var" / "bench"
# High enough that the per-user and per-key limits are never what a benchmark measures,
# but not 0 (off): every request still counts its hit in Redis, as in production.
NO_RATE_LIMITS = {
    "WEBCAP_RATE_LIMIT_USER": "10000000",
    "WEBCAP_RATE_LIMIT_KEY": "10000000",
}


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@contextmanager
def bench_cluster(
    *, webs: int, workers: int, logs_to: Path | None = None, **env: str
) -> Iterator[Cluster]:
    """A fresh cluster in a temp folder; SIGTERM unwinds like Ctrl-C, so every process it
    started is stopped by PID and the folder removed whatever ends the benchmark. The logs
    of the web, worker and beat processes are copied to logs_to once they have stopped."""
    previous = signal.signal(signal.SIGTERM, _interrupt)
    try:
        settings = {**NO_RATE_LIMITS, **env}
        # running_cluster types its settings as object; they are the Cluster's **env: str.
        with running_cluster(webs=webs, workers=workers, **settings) as cluster:  # type: ignore[arg-type]
            try:
                yield cluster
            finally:
                cluster.stop()
                for log in cluster.workdir.glob("*.log") if logs_to else ():
                    shutil.copy(log, logs_to / f"server-{log.name}")  # type: ignore[operator]
    finally:
        signal.signal(signal.SIGTERM, previous)


def raise_open_files(wanted: int) -> int:
    """Raise this process's soft open-file limit towards wanted (children inherit it);
    return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if ceiling > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (ceiling, hard))
        soft = ceiling
    return soft


_KEYS_SCRIPT = """
import json, django
django.setup()
from accounts.services import api_key_create, user_ensure
keys = []
for index in range({count}):
    user = user_ensure(username="{prefix}%d" % index, create=True)
    keys.append(api_key_create(user=user, name="bench")[1])
print(json.dumps(keys))
"""


def create_keys(cluster: Cluster, prefix: str, count: int) -> list[str]:
    """Create count users (prefix0, prefix1, ...) with one API key each, in one process
    (``manage.py apikey create`` per user would start Django count times)."""
    script = textwrap.dedent(_KEYS_SCRIPT).format(count=count, prefix=prefix)
    result = run_python(cluster.env, script, timeout=300)
    if result.returncode != 0:
        raise RuntimeError(f"creating {count} API keys failed:\n{result.stderr}")
    keys: list[str] = json.loads(result.stdout.strip().splitlines()[-1])
    return keys


def rss_bytes(pid: int) -> int:
    """The resident memory of a process now (VmRSS of /proc/<pid>/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def mib(size: float) -> str:
    return f"{size / 2**20:.1f} MiB"


def percentile(values: Sequence[float], share: float) -> float:
    """The nearest-rank percentile (share 0.5, 0.99) of values; NaN when there are none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def print_targets(rows: Sequence[tuple[str, str, bool]]) -> bool:
    """Print "target: figure  met / NOT MET" per row; return whether all were met."""
    print("\nTargets:")
    width = max(len(target) for target, _, _ in rows)
    for target, figure, met in rows:
        print(f"  {target:<{width}}  {figure:<28} {'met' if met else 'NOT MET'}")
    return all(met for _, _, met in rows)


def out_dir(name: str) -> Path:
    """var/bench/<name>, made if missing (var/ is git-ignored)."""
    folder = OUT_DIR / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder

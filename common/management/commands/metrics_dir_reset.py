"""``manage.py metrics_dir_reset``: empty PROMETHEUS_MULTIPROC_DIR before the processes start.

prometheus_client keeps each process's values in files named after its pid. Files left by an
earlier run would be added to the new processes' values (and a new process that happens to
get an old pid would continue its counters), so the folder must be empty when the web and
worker processes of a host start. Run it before them, never while they run.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from common.metrics import multiprocess_dir


class Command(BaseCommand):
    help = "Delete the metric files in PROMETHEUS_MULTIPROC_DIR (creating the folder if needed)."

    def handle(self, *args: Any, **options: Any) -> None:
        folder = multiprocess_dir()
        if not folder:
            self.stdout.write("PROMETHEUS_MULTIPROC_DIR is not set: nothing to do.")
            return
        path = Path(folder)
        path.mkdir(parents=True, exist_ok=True)
        removed = 0
        for item in path.glob("*.db"):
            item.unlink(missing_ok=True)
            removed += 1
        self.stdout.write(f"Removed {removed} metric file(s) from {path}.")

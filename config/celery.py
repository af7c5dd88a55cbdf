"""The Celery app. Jobs live in each app's ``jobs.py`` and are found by autodiscovery."""

import logging
import os
import threading
from typing import Any

from celery import Celery
from celery.signals import worker_ready
from django.conf import settings

from common.logging import connect_celery

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("webcap")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
# Jobs carry the request's log ids and bind them in the worker; logging stays Django's.
connect_celery()


def warm_up_agent() -> None:
    """Let the configured agent load its libraries in the background, off the first task."""
    # Here, not at the top: this module loads with the config package, before Django's app
    # registry is ready, and the agents import models.
    from a2a.agents import agent_get

    def warm() -> None:
        try:
            agent_get(settings.WEBCAP_AGENT).warm_up()
        except Exception:
            # The first task loads it again and reports a real failure on that task.
            logger.exception("Warming up agent %s failed", settings.WEBCAP_AGENT)

    threading.Thread(target=warm, name="agent-warm-up", daemon=True).start()


@worker_ready.connect
def _warm_up(**kwargs: Any) -> None:
    """A standalone worker loads the agent's libraries before its first task, too."""
    warm_up_agent()

"""The Celery app. Jobs live in each app's ``jobs.py`` and are found by autodiscovery."""

import os
from typing import Any

from celery import Celery
from celery.signals import worker_ready

from common.logging import connect_celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("webcap")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
# Jobs carry the request's log ids and bind them in the worker; logging stays Django's.
connect_celery()


@worker_ready.connect
def _warm_up(**kwargs: Any) -> None:
    """A standalone worker loads the agent's libraries before its first task, too."""
    from config.embedded import warm_up_agent

    warm_up_agent()

"""The Celery app. Jobs live in each app's ``jobs.py`` and are found by autodiscovery."""

import logging
import os

from celery import Celery

from common.logging import connect_celery

logger = logging.getLogger(__name__)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("webcap")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks(related_name="jobs")
# Jobs carry the request's log ids and bind them in the worker; logging stays Django's.
connect_celery()

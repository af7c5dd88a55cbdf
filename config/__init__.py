"""Project configuration: settings, ASGI routing, Celery app, URLs."""

from config.celery import app as celery_app

__all__ = ["celery_app"]

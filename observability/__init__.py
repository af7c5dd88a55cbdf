"""Observability wiring: ``/metrics``, the families read at scrape time, Celery job metrics and
the worker heartbeat.

Each app defines its own instruments next to the code they measure (``a2a/metrics.py``,
``tools/metrics.py``, ``common/metrics.py``); this app sits above them all, serves them, and
connects the Celery signals in ``ObservabilityConfig.ready()``.
"""

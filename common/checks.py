"""System checks of the database settings."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Warning, register


@register()
def connection_lifetime_honoured(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """CONN_MAX_AGE does nothing while the psycopg pool holds the connections: say so."""
    pooled = "pool" in settings.DATABASES["default"].get("OPTIONS", {})
    if not (pooled and settings.CONN_MAX_AGE):
        return []
    return [
        Warning(
            f"CONN_MAX_AGE={settings.CONN_MAX_AGE} is ignored: the psycopg connection pool "
            "(DATABASE_POOL=true) holds the connections, and Django requires CONN_MAX_AGE=0 "
            "with it.",
            hint="Tune DATABASE_POOL_MIN_SIZE, DATABASE_POOL_MAX_SIZE, DATABASE_POOL_MAX_IDLE "
            "and DATABASE_POOL_MAX_LIFETIME instead, or set DATABASE_POOL=false to use "
            "CONN_MAX_AGE.",
            id="webcap.W003",
        )
    ]

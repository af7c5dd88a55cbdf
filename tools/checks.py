"""System checks: the tool configuration names modules and tools that exist."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register


@register()
def tools_configured(app_configs: Any, **kwargs: Any) -> list[Error]:
    """WEBCAP_TOOL_MODULES must import; the tool lists must name registered tools."""
    from tools.registry import REGISTRY, tools_load

    try:
        tools_load()
    except Exception as exc:
        return [
            Error(
                f"WEBCAP_TOOL_MODULES={','.join(settings.WEBCAP_TOOL_MODULES)!r} could not be "
                f"loaded: {type(exc).__name__}: {exc}",
                hint="Each entry is a dotted module path on the server's Python path.",
                id="webcap.E010",
            )
        ]
    errors = []
    for setting in ("WEBCAP_TOOLS_ENABLED", "WEBCAP_TOOLS_REQUIRE_APPROVAL"):
        unknown = [name for name in getattr(settings, setting) if name not in REGISTRY]
        if unknown:
            errors.append(
                Error(
                    f"{setting} names tools this server does not have: {', '.join(unknown)}.",
                    hint=f"Known tools: {', '.join(sorted(REGISTRY))}.",
                    id="webcap.E011",
                )
            )
    return errors

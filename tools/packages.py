"""Tool packages: installed distributions whose ``webcap.tools`` entry points register tools.

What was loaded from which distribution, what failed, and which packages are enabled: the
runtime choice lives in the ``tools`` cache, so every process sees it without a restart.
The loading itself is ``tools.registry.tool_packages_load`` (it watches the registry).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import BaseCache, caches

logger = logging.getLogger(__name__)

PACKAGE_GROUP = "webcap.tools"
# Tool name -> the distribution whose entry point registered it.
PACKAGE_TOOLS: dict[str, str] = {}
# Distribution -> why its entry point could not be loaded (reported by a system check).
PACKAGE_ERRORS: dict[str, str] = {}
# The runtime choice of enabled packages (distribution names); unset: the setting.
# A key of the "tools" cache, not a row: every web and worker process and the management
# command share that cache (Redis in production, a file under var/ when embedded), so
# enabling needs no restart, and no migration clashes with the tool catalogue's models,
# into which this is to be folded (a ToolSource of kind "package").
PACKAGES_ENABLED_KEY = "webcap:tool-packages:enabled"


def tool_packages() -> dict[str, list[str]]:
    """Return each loaded tool package with the names of its tools."""
    packages: dict[str, list[str]] = {}
    for name, package in sorted(PACKAGE_TOOLS.items()):
        packages.setdefault(package, []).append(name)
    return packages


def tool_state_cache() -> BaseCache:
    """Return the cache that holds the runtime tool state ("tools", else the default)."""
    return caches["tools" if "tools" in settings.CACHES else "default"]


def tool_packages_enabled() -> frozenset[str]:
    """Return the packages whose tools are offered: the runtime choice, else the setting.

    An unreachable cache is the setting: a model turn goes on without the runtime choice.
    """
    try:
        chosen = tool_state_cache().get(PACKAGES_ENABLED_KEY)
    except Exception:
        logger.warning("The tools cache is unreachable; tool packages as configured at start")
        chosen = None
    return frozenset(settings.WEBCAP_TOOL_PACKAGES_ENABLED if chosen is None else chosen)

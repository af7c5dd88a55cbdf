import logging

from django.apps import AppConfig

logger = logging.getLogger(__name__)


class ToolsConfig(AppConfig):
    """The tool platform: the registry, the built-in tools, tool calls and their approvals."""

    name = "tools"

    def ready(self) -> None:
        from common.health import advisory_register
        from tools import builtins, checks  # noqa: F401  (they register the built-in tools and the system checks)
        from tools.registry import overlay_set, tool_packages_load
        from tools.sources.overlay import OVERLAY

        # The tools of registered sources and the policies admins set (tools/sources/).
        overlay_set(OVERLAY)
        # Once per process: installed packages' tools (listed; offered only when enabled).
        tool_packages_load()

        # Said once per process at start, and on every readiness probe (never failing it).
        advisory_register("model", checks.model_missing)
        if (message := checks.model_missing()) is not None:
            logger.warning("%s", message)

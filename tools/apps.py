from django.apps import AppConfig


class ToolsConfig(AppConfig):
    """Tools the agent can call, their approval workflow and the LLM access (tools/llm.py)."""

    name = "tools"

    def ready(self) -> None:
        from tools import checks  # noqa: F401  (registers the system checks)

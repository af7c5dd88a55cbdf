from django.apps import AppConfig


class AssistantConfig(AppConfig):
    """The LLM agent; its rows live in the tools app's tables (see the package docstring)."""

    name = "assistant"

from django.apps import AppConfig


class AssistantConfig(AppConfig):
    """The LLM agent; its rows live in the tools app's tables (see the package docstring)."""

    name = "assistant"

    def ready(self) -> None:
        # Agents plug in from above: a2a never imports the assistant, the assistant adds
        # itself to a2a's agents once every app's models are loaded.
        from a2a.registry import agent_register
        from assistant.agent import AssistantAgent

        agent_register(AssistantAgent)

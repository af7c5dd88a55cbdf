from django.apps import AppConfig


class A2AConfig(AppConfig):
    """The A2A protocol: store, handlers, bindings and agents."""

    name = "a2a"
    verbose_name = "A2A"

    def ready(self) -> None:
        from a2a import checks  # noqa: F401  (registers the system checks)

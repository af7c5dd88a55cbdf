from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Shared building blocks: the abstract base model, application errors, health views."""

    name = "common"

    def ready(self) -> None:
        from common import checks  # noqa: F401  (registers the system checks)

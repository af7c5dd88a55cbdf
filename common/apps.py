from django.apps import AppConfig


class CommonConfig(AppConfig):
    """Shared building blocks: the abstract base model, application errors, health views."""

    name = "common"

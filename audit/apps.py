from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only audit log of who did what."""

    name = "audit"

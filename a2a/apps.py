from django.apps import AppConfig


class A2AConfig(AppConfig):
    """The A2A protocol: store, handlers, bindings and agents."""

    name = "a2a"
    verbose_name = "A2A"

    def ready(self) -> None:
        from django.core.signals import setting_changed

        from a2a import checks  # noqa: F401  (registers the system checks)

        setting_changed.connect(_clear_card_caches)


def _clear_card_caches(**kwargs: object) -> None:
    """Cached cards are built from settings; forget them when a setting changes (tests)."""
    from a2a.card import _extension, rendered_card

    rendered_card.cache_clear()
    _extension.cache_clear()

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, API keys and the authentication every binding shares."""

    name = "accounts"

    def ready(self) -> None:
        # Registers the OpenAPI description of WebcapAuthentication with drf-spectacular.
        from accounts import schema  # noqa: F401

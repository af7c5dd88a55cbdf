from django.apps import AppConfig

from audit.access import audit_reader_check_install


class AccountsConfig(AppConfig):
    """Users, API keys and the authentication every binding shares."""

    name = "accounts"

    def ready(self) -> None:
        # Imported once the app registry is ready: both modules import the models.
        # schema registers the OpenAPI description of WebcapAuthentication with drf-spectacular.
        from accounts import schema  # noqa: F401
        from accounts.authentication import audit_reader

        audit_reader_check_install(audit_reader)

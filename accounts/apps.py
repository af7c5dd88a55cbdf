from django.apps import AppConfig


class AccountsConfig(AppConfig):
    """Users, API keys and the authentication every binding shares."""

    name = "accounts"

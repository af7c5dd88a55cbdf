from django.apps import AppConfig


class RemoteAgentsConfig(AppConfig):
    """The registry of remote A2A agents webcap may delegate to: cards, trust, credentials."""

    name = "remote_agents"
    label = "remote_agents"
    verbose_name = "Remote agents"

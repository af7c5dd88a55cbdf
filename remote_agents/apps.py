from django.apps import AppConfig


class RemoteAgentsConfig(AppConfig):
    """The registry of remote A2A agents webcap may delegate to: cards, trust, credentials."""

    name = "remote_agents"
    label = "remote_agents"
    verbose_name = "Remote agents"

    def ready(self) -> None:
        # After every model has loaded: the delegate tool, the cancel cascade and its job.
        from a2a.registry import cancel_hook_register, job_register
        from remote_agents import tools  # noqa: F401 (registers the delegate tool)
        from remote_agents.delegation import REMOTE_CANCEL_JOB, delegations_cancel
        from remote_agents.jobs import delegation_remote_cancel_job

        cancel_hook_register(delegations_cancel)
        job_register(REMOTE_CANCEL_JOB, delegation_remote_cancel_job)

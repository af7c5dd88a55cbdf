from django.apps import AppConfig


class RemoteAgentsConfig(AppConfig):
    """The registry of remote A2A agents webcap may delegate to: cards, trust, credentials."""

    name = "remote_agents"
    label = "remote_agents"
    verbose_name = "Remote agents"

    def ready(self) -> None:
        # After every model has loaded: the delegate tool, the cancel cascade and its job.
        from django.db.models.signals import post_delete, post_save

        from a2a.registry import cancel_hook_register, job_register
        from audit.services import audit_actor_labeller_register
        from remote_agents import tools  # noqa: F401 (registers the delegate tool)
        from remote_agents.delegation import REMOTE_CANCEL_JOB, delegations_cancel
        from remote_agents.jobs import delegation_remote_cancel_job
        from remote_agents.models import RemoteAgent
        from remote_agents.selectors import calling_agent_label, calling_agents_forget

        cancel_hook_register(delegations_cancel)
        job_register(REMOTE_CANCEL_JOB, delegation_remote_cancel_job)
        # Federation: audit rows of a remote agent's own account name the agent.
        audit_actor_labeller_register(calling_agent_label)
        post_save.connect(calling_agents_forget, sender=RemoteAgent, weak=False)
        post_delete.connect(calling_agents_forget, sender=RemoteAgent, weak=False)

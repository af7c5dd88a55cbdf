from django.apps import AppConfig


class A2AConfig(AppConfig):
    """The A2A protocol: store, handlers, bindings and agents."""

    name = "a2a"
    verbose_name = "A2A"

    def ready(self) -> None:
        # Imported here, not at the top: they load models, which are not ready before now.
        from celery.signals import worker_ready
        from django.core.signals import setting_changed

        from a2a import checks  # noqa: F401  (registers the system checks)
        from a2a.agents.conformance import ConformanceAgent
        from a2a.agents.echo import EchoAgent
        from a2a.jobs import push_deliver_job, task_run_job
        from a2a.registry import agent_register, agent_warm_up, job_register
        from a2a.services.push import PUSH_DELIVER_JOB
        from a2a.services.runs import TASK_RUN_JOB

        setting_changed.connect(_clear_card_caches)
        # A standalone worker loads the agent's libraries before its first task.
        worker_ready.connect(
            lambda **kwargs: agent_warm_up(), dispatch_uid="webcap-agent-warm-up", weak=False
        )
        agent_register(EchoAgent)
        agent_register(ConformanceAgent)
        job_register(TASK_RUN_JOB, task_run_job)
        job_register(PUSH_DELIVER_JOB, push_deliver_job)


def _clear_card_caches(**kwargs: object) -> None:
    """Cached cards are built from settings; forget them when a setting changes (tests)."""
    from a2a.asgi import CARD_ANSWERS
    from a2a.card import _extension, rendered_card

    rendered_card.cache_clear()
    _extension.cache_clear()
    CARD_ANSWERS.forget()

"""Celery jobs of the remote agents: the card refresh (``CELERY_BEAT_SCHEDULE``), and the
CancelTask a canceled parent sends its delegations' remote tasks."""

from __future__ import annotations

from celery import shared_task
from django.db import OperationalError

from remote_agents.delegation import delegation_cancel_result
from remote_agents.models import Delegation
from remote_agents.runner import remote_task_cancel
from remote_agents.services import remote_agents_refresh_due


@shared_task(
    acks_late=True,
    autoretry_for=(OperationalError,),
    retry_backoff=True,
    retry_backoff_max=300,
    max_retries=3,
)
def remote_agents_refresh_job() -> int:
    """Refresh the cards that are due (Cache-Control max-age, else
    WEBCAP_REMOTE_AGENT_REFRESH_SECONDS); return how many were fetched.

    Idempotent: a second run right after the first finds nothing due.
    """
    return remote_agents_refresh_due()


@shared_task(acks_late=True)
def delegation_remote_cancel_job(delegation_id: str) -> None:
    """Cancel the remote task of a delegation whose parent task was canceled (best effort:
    a failure is logged and audited, never retried into a loop)."""
    delegation = Delegation.objects.select_related("remote_agent").filter(pk=delegation_id).first()
    if delegation is None or not delegation.remote_task_id:
        return
    try:
        state = remote_task_cancel(agent=delegation.remote_agent, task_id=delegation.remote_task_id)
    except Exception as exc:
        delegation_cancel_result(delegation_id=delegation_id, state="", error=str(exc))
        return
    delegation_cancel_result(delegation_id=delegation_id, state=state)

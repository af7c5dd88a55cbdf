"""Reads of the remote agents registry, scoped to what the caller may see.

Every role may read the enabled agents (people pick whom to ask); admins and operators,
who manage them, see the disabled ones too (accounts/roles.py). An agent the caller may
not see answers exactly like a missing one.
"""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from a2a.client import ClientOptions, Credentials, Timeouts
from accounts.models import User
from accounts.roles import manages_remote_agents
from common.errors import ApplicationError
from common.recent import Recent
from common.sealing import secret_open
from remote_agents.models import CredentialKind, Delegation, RemoteAgent, SignatureStatus


class RemoteAgentNotFound(ApplicationError):
    status_code = 404


def remote_agents_visible_to(*, user: User) -> QuerySet[RemoteAgent]:
    """Return the agents the user may read: every one for managers, else the enabled ones."""
    agents = RemoteAgent.objects.all()
    if not manages_remote_agents(user):
        agents = agents.filter(enabled=True)
    return agents.order_by("name")


def remote_agent_get_for_user(*, user: User, agent_id: str | uuid.UUID) -> RemoteAgent:
    """Return the agent with that id if the user may read it; RemoteAgentNotFound otherwise."""
    try:
        key = uuid.UUID(str(agent_id))
    except ValueError:
        key = None
    agent = None
    if key is not None:
        agent = remote_agents_visible_to(user=user).filter(pk=key).first()
    if agent is None:
        raise RemoteAgentNotFound("No such remote agent.")
    return agent


def remote_agent_for_name(*, name: str) -> RemoteAgent | None:
    """Return the enabled agent called name (the name people and the assistant use)."""
    return RemoteAgent.objects.filter(name=name, enabled=True).first()


def remote_agents_offered() -> list[dict[str, Any]]:
    """The enabled agents whose card is accepted, as the assistant is told of them.

    Name, description and skills only: never the URL's credential or anything secret.
    """
    agents = (
        RemoteAgent.objects.filter(enabled=True)
        .exclude(card={})
        .order_by("name")
        .only("name", "description", "description_override", "skills", "card_stale")
    )
    return [
        {"name": a.name, "description": a.shown_description, "skills": a.skills} for a in agents
    ]


def delegations_live_of_task(*, task: object) -> QuerySet[Delegation]:
    """Return the delegations of a task (a Task or its id) that have not finished, oldest
    first."""
    task_id: Any = getattr(task, "pk", task)
    return Delegation.objects.filter(parent_task_id=task_id, finished_at__isnull=True).order_by(
        "created_at"
    )


def delegation_for_remote_task(*, agent: RemoteAgent, remote_task_id: str) -> Delegation | None:
    """Return the delegation that caused the remote agent's task remote_task_id."""
    return Delegation.objects.filter(remote_agent=agent, remote_task_id=remote_task_id).first()


def remote_agent_delegations_live(*, agent: RemoteAgent) -> QuerySet[Delegation]:
    """Return the agent's delegations that have not finished."""
    return Delegation.objects.filter(remote_agent=agent, finished_at__isnull=True)


def remote_agent_needs_approval(*, agent: RemoteAgent) -> bool:
    """Whether a delegation to the agent waits for a person (its approval policy)."""
    if agent.approval_policy == "always":
        return True
    if agent.approval_policy == "never":
        return False
    return agent.signature_status != SignatureStatus.VERIFIED


def remote_agent_credentials(*, agent: RemoteAgent) -> Credentials | None:
    """The credential to send to the agent (decrypted here; never log or show it)."""
    if not agent.credential_set:
        return None
    secret = secret_open(agent.credential_secret)
    if agent.credential_kind == CredentialKind.BEARER:
        return Credentials.bearer(secret)
    return Credentials.api_key(secret, header=agent.credential_header or "X-API-Key")


def remote_agent_client_options(*, agent: RemoteAgent) -> ClientOptions:
    """The A2A client options for the agent: its credential, timeouts and the allowlist."""
    return ClientOptions(
        credentials=remote_agent_credentials(agent=agent),
        allowed_hosts=tuple(settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS),
        timeouts=Timeouts(
            request=float(agent.request_timeout_seconds),
            stream_idle=float(agent.stream_idle_seconds),
            stream_deadline=float(agent.task_timeout_seconds),
        ),
    )


# Which remote agent calls this server as which user (federation), per process for a few
# seconds: every audit row of a request asks (audit_actor_labeller_register).
_calling_agents: Recent[Any, str] = Recent()


def calling_agent_name(*, user: Any) -> str:
    """Return the name of the remote agent whose account user is, or '' (most users)."""
    pk = getattr(user, "pk", None)
    if pk is None:
        return ""
    name = _calling_agents.get(pk)
    if name is None:
        name = (
            RemoteAgent.objects.filter(client_user_id=pk).values_list("name", flat=True).first()
            or ""
        )
        _calling_agents.put(pk, name, seconds=settings.WEBCAP_CREDENTIAL_CACHE_SECONDS)
    return name


def calling_agent_label(actor: Any) -> dict[str, str]:
    """The audit label of an actor that is a remote agent's account: its name."""
    name = calling_agent_name(user=actor)
    return {"callingAgent": name} if name else {}


def calling_agents_forget(**_: Any) -> None:
    """Forget the cached accounts (a remote agent was saved or deleted in this process)."""
    _calling_agents.clear()

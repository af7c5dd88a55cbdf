"""Registering, changing, enabling and deleting remote agents, each with its audit row."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from a2a.client import (
    Credentials,
)
from a2a.protocol.signatures import TrustPolicy
from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from common.sealing import secret_seal
from remote_agents.cards import CardChecked
from remote_agents.models import (
    DEFAULT_CREDENTIAL_HEADER,
    NAME_MAX_LENGTH,
    ApprovalPolicy,
    CredentialKind,
    RemoteAgent,
)
from remote_agents.selectors import remote_agent_delegations_live
from remote_agents.services.checks import (
    EDITABLE,
    MAX_TIMEOUT_SECONDS,
    NAME,
    RECHECKED,
    CardProblem,
    RemoteAgentInUse,
    card_accept,
    card_checked,
    invalid,
    pinned_check,
    refused,
    summary,
    url_check,
)

logger = logging.getLogger(__name__)


def _credential_check(kind: str, header: str, secret: str | None, *, stored: bool) -> None:
    if kind not in CredentialKind.values:
        raise invalid("credential_kind", f"must be one of {', '.join(CredentialKind.values)}")
    if kind == CredentialKind.NONE:
        return
    if secret is None and not stored:
        raise invalid("credential_secret", f"is required for a {kind} credential")
    if secret is not None:
        if not secret:
            raise invalid("credential_secret", f"is required for a {kind} credential")
        try:
            if kind == CredentialKind.BEARER:
                Credentials.bearer(secret)
            else:
                Credentials.api_key(secret, header=header or DEFAULT_CREDENTIAL_HEADER)
        except ValueError as exc:
            # The message names the header, never the value.
            raise invalid("credential_secret", str(exc)) from None
    elif kind == CredentialKind.API_KEY:
        try:
            Credentials.api_key("x", header=header or DEFAULT_CREDENTIAL_HEADER)
        except ValueError as exc:
            raise invalid("credential_header", str(exc)) from None


def _fields_check(values: Mapping[str, Any], *, agent: RemoteAgent | None) -> None:
    """Refuse values that cannot be stored, naming the field."""
    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise invalid(
                "name",
                f"must be 1 to {NAME_MAX_LENGTH} lowercase letters, digits and hyphens, "
                "starting with a letter or digit",
            )
        taken = RemoteAgent.objects.filter(name=name)
        if agent is not None:
            taken = taken.exclude(pk=agent.pk)
        if taken.exists():
            raise invalid("name", f"a remote agent named {name!r} already exists")
    if "trust_policy" in values and values["trust_policy"] not in set(TrustPolicy):
        raise invalid("trust_policy", f"must be one of {', '.join(TrustPolicy)}")
    if "approval_policy" in values and values["approval_policy"] not in ApprovalPolicy.values:
        raise invalid("approval_policy", f"must be one of {', '.join(ApprovalPolicy.values)}")
    for field in ("request_timeout_seconds", "task_timeout_seconds", "stream_idle_seconds"):
        if field in values:
            seconds = values[field]
            if not isinstance(seconds, int) or not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
                raise invalid(field, f"must be a whole number from 1 to {MAX_TIMEOUT_SECONDS}")
    policy = values.get("trust_policy", agent.trust_policy if agent else TrustPolicy.OPEN)
    pinned = pinned_check(values.get("pinned_keys", agent.pinned_keys if agent else {}))
    if policy == TrustPolicy.PINNED and not pinned:
        raise invalid("pinned_keys", "the pinned trust policy needs at least one public key")
    client = values.get("client_user")
    if client is not None:
        if not isinstance(client, User) or client.pk is None:
            raise invalid("client_user", "must be a user of this server")
        other = RemoteAgent.objects.filter(client_user=client)
        if agent is not None:
            other = other.exclude(pk=agent.pk)
        holder = other.values_list("name", flat=True).first()
        if holder:
            raise invalid(
                "client_user", f"{client.get_username()!r} is already the account of {holder!r}"
            )


def client_user_for(username: str | None) -> User | None:
    """Return the active user named username (None for none), or raise naming client_user."""
    if not username:
        return None
    user = User.objects.filter(username=username, is_active=True).first()
    if user is None:
        raise invalid("client_user", f"no active user is named {username!r}")
    return user


def remote_agent_register(
    *,
    actor: User | None,
    name: str,
    card_url: str,
    trust_policy: str = TrustPolicy.OPEN.value,
    pinned_keys: Mapping[str, Any] | None = None,
    approval_policy: str = ApprovalPolicy.UNTRUSTED,
    credential_kind: str = CredentialKind.NONE,
    credential_header: str = DEFAULT_CREDENTIAL_HEADER,
    credential_secret: str | None = None,
    description_override: str = "",
    enabled: bool = True,
    request_timeout_seconds: int = 30,
    task_timeout_seconds: int = 600,
    stream_idle_seconds: int = 60,
    client_user: User | None = None,
    auth_method: str = "",
) -> RemoteAgent:
    """Register the agent whose card is at card_url once its card is fetched and trusted.

    ``client_user`` is the account the agent calls this server with, when it does (two
    servers that delegate to each other): the audit rows of its requests name the agent.
    """
    values: dict[str, Any] = {
        "name": name,
        "trust_policy": trust_policy,
        "pinned_keys": {} if pinned_keys is None else pinned_keys,
        "approval_policy": approval_policy,
        "request_timeout_seconds": request_timeout_seconds,
        "task_timeout_seconds": task_timeout_seconds,
        "stream_idle_seconds": stream_idle_seconds,
        "client_user": client_user,
    }
    _fields_check(values, agent=None)
    _credential_check(credential_kind, credential_header, credential_secret, stored=False)
    try:
        url = url_check(card_url)
        checked = card_checked(url=url, policy=trust_policy, pinned_keys=values["pinned_keys"])
    except CardProblem as problem:
        raise refused(
            problem,
            message=f"The card at {card_url} was refused",
            action=Action.REMOTE_AGENT_REGISTER,
            actor=actor,
            auth_method=auth_method,
            name=name,
            url=card_url,
        ) from problem
    agent = RemoteAgent(
        **values,
        card_url=url,
        created_by=actor,
        enabled=enabled,
        description_override=description_override,
        credential_kind=credential_kind,
        credential_header=credential_header or DEFAULT_CREDENTIAL_HEADER,
        credential_secret=secret_seal(credential_secret or "")
        if credential_kind != CredentialKind.NONE
        else "",
    )
    card_accept(agent, checked, now=timezone.now())
    with transaction.atomic(durable=True):
        if RemoteAgent.objects.filter(name=name).exists():
            raise invalid("name", f"a remote agent named {name!r} already exists")
        agent.save()
        audit_record(
            action=Action.REMOTE_AGENT_REGISTER,
            actor=actor,
            target=agent,
            auth_method=auth_method,
            extra=summary(agent),
        )
    logger.info(
        "remote agent %s registered: %s (%s %s), signature %s",
        agent.name,
        agent.card_url,
        agent.interface_binding,
        agent.interface_version,
        agent.signature_status,
    )
    return agent


def remote_agent_update(
    *, agent: RemoteAgent, actor: User | None, changes: Mapping[str, Any], auth_method: str = ""
) -> RemoteAgent:
    """Change the agent's settings; a new URL or trust setting checks the card again first.

    ``credential_secret`` in changes replaces the stored secret (write-only); a
    ``credential_kind`` of ``none`` clears it.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise invalid(sorted(unknown)[0], "cannot be changed")
    values = dict(changes)
    _fields_check(values, agent=agent)
    kind = values.get("credential_kind", agent.credential_kind)
    header = values.get("credential_header", agent.credential_header)
    secret = values.pop("credential_secret", None)
    _credential_check(kind, header, secret, stored=bool(agent.credential_secret))
    checked: CardChecked | None = None
    if any(field in values and values[field] != getattr(agent, field) for field in RECHECKED):
        url = values.get("card_url", agent.card_url)
        try:
            url = values["card_url"] = url_check(url)
            checked = card_checked(
                url=url,
                policy=values.get("trust_policy", agent.trust_policy),
                pinned_keys=values.get("pinned_keys", agent.pinned_keys),
            )
        except CardProblem as problem:
            raise refused(
                problem,
                message=f"The change was refused: the card at {url} fails it",
                action=Action.REMOTE_AGENT_UPDATE,
                actor=actor,
                auth_method=auth_method,
                agent=agent,
                url=url,
            ) from problem
    with transaction.atomic(durable=True):
        locked = RemoteAgent.objects.select_for_update().get(pk=agent.pk)
        changed = [field for field, value in values.items() if getattr(locked, field) != value]
        for field, value in values.items():
            setattr(locked, field, value)
        if kind == CredentialKind.NONE:
            if locked.credential_secret:
                changed.append("credential_secret")
            locked.credential_secret = ""
        elif secret is not None:
            locked.credential_secret = secret_seal(secret)
            changed.append("credential_secret")
        if checked is not None:
            card_accept(locked, checked, now=timezone.now())
        locked.save()
        audit_record(
            action=Action.REMOTE_AGENT_UPDATE,
            actor=actor,
            target=locked,
            auth_method=auth_method,
            # Field names only: a secret's value never reaches the log.
            extra={**summary(locked), "changed": sorted(set(changed))},
        )
    logger.info("remote agent %s changed: %s", locked.name, ", ".join(sorted(set(changed))))
    return locked


def remote_agent_enable(
    *, agent: RemoteAgent, actor: User | None, enabled: bool, auth_method: str = ""
) -> RemoteAgent:
    """Enable or disable the agent (a disabled one is offered to nobody)."""
    return remote_agent_update(
        agent=agent, actor=actor, changes={"enabled": enabled}, auth_method=auth_method
    )


def remote_agent_delete(*, agent: RemoteAgent, actor: User | None, auth_method: str = "") -> None:
    """Delete the agent; refused (409) while any delegation points at it."""
    with transaction.atomic(durable=True):
        locked = RemoteAgent.objects.select_for_update().get(pk=agent.pk)
        live = remote_agent_delegations_live(agent=locked).count()
        if live:
            raise RemoteAgentInUse(
                f"{locked.name} has {live} live delegation(s): wait for them to finish, "
                "or disable the agent instead.",
                extra={"live_delegations": live},
            )
        if locked.delegations.exists():
            raise RemoteAgentInUse(
                f"{locked.name} keeps the record of its past delegations: disable it instead.",
                extra={"live_delegations": 0},
            )
        audit_record(
            action=Action.REMOTE_AGENT_DELETE,
            actor=actor,
            target=locked,
            auth_method=auth_method,
            extra=summary(locked),
        )
        locked.delete()
    logger.info("remote agent %s deleted", agent.name)

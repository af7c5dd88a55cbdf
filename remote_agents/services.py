"""Every change to the remote agents registry, each with its audit row.

Registering fetches the agent's card through the SSRF guard, validates it, verifies its
signature under the agent's trust policy and chooses an interface; a card that fails any of
that is refused (400, naming the reason) and the refusal is audited. A refresh is
conditional (the stored ETag and Last-Modified); a card that changed is checked again, and a
refused or unreachable one leaves the last accepted card in place, marked stale with the
reason. The network calls run before the transaction that stores their outcome.

The credential secret goes into no audit row and no log record: rows name the fields that
changed, never a secret's value.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from a2a.client import (
    A2AClientError,
    Credentials,
    InvalidAgentCard,
    MalformedResponse,
    NoCompatibleInterface,
    TransportError,
    UnsafeURL,
    card_url,
)
from a2a.protocol.signatures import CardRefused, TrustPolicy
from accounts.models import User
from audit.models import Action, Outcome
from audit.services import audit_record
from common.errors import ApplicationError
from common.netguard import DeliveryError, UnsafeURLError, check_url, resolve
from remote_agents.cards import CardChecked, card_check, skills_of
from remote_agents.credentials import secret_seal
from remote_agents.models import (
    DEFAULT_CREDENTIAL_HEADER,
    NAME_MAX_LENGTH,
    ApprovalPolicy,
    CredentialKind,
    RemoteAgent,
    SignatureStatus,
)
from remote_agents.selectors import remote_agent_delegations_live

logger = logging.getLogger(__name__)

NAME = re.compile(rf"[a-z0-9][a-z0-9-]{{0,{NAME_MAX_LENGTH - 1}}}")
MAX_TIMEOUT_SECONDS = 86_400
# Fetching the card and its JWK set: bounded apart from the agent's own request timeout.
CARD_DEADLINE = 15.0
# Reasons of refusals that are not a signature's (those are a2a.protocol.signatures.Refusal).
UNSAFE_URL = "UNSAFE_URL"
INVALID_CARD = "INVALID_CARD"
BAD_RESPONSE = "BAD_RESPONSE"
NO_COMPATIBLE_INTERFACE = "NO_COMPATIBLE_INTERFACE"
UNREACHABLE = "UNREACHABLE"
FETCH_FAILED = "FETCH_FAILED"
# Fields a change may set; the credential's secret is write-only.
EDITABLE = frozenset(
    {
        "name",
        "card_url",
        "description_override",
        "enabled",
        "trust_policy",
        "pinned_keys",
        "approval_policy",
        "credential_kind",
        "credential_header",
        "credential_secret",
        "request_timeout_seconds",
        "task_timeout_seconds",
        "stream_idle_seconds",
    }
)
# A change of one of these checks the card again before it is stored.
RECHECKED = frozenset({"card_url", "trust_policy", "pinned_keys"})


class RemoteAgentInvalid(ApplicationError):
    """A field of a registration or change is not acceptable (400, naming the field)."""


class RemoteAgentRefused(ApplicationError):
    """The agent's card was refused: unreachable, invalid, or not trusted (400)."""


class RemoteAgentInUse(ApplicationError):
    """The agent cannot be deleted while delegations point at it (409)."""

    status_code = 409


class CardProblem(Exception):
    """Why a card could not be accepted: a stable reason, words, and a signature's details."""

    def __init__(
        self, reason: str, message: str, *, signature: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message
        self.signature = signature

    @property
    def text(self) -> str:
        return f"{self.reason}: {self.message}"


def _invalid(field: str, message: str) -> RemoteAgentInvalid:
    return RemoteAgentInvalid(message, extra={"field": field})


def _url_check(url: str) -> str:
    """Return the card URL for url, refused when it is unsafe (private, metadata, ...)."""
    allowed = settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS
    try:
        parts = check_url(url, allowed_hosts=allowed)
        default_port = 443 if parts.scheme == "https" else 80
        # A name that resolves to a private address now is refused now; one that does not
        # resolve at the moment fails the card fetch, which says so.
        with contextlib.suppress(DeliveryError):
            resolve(parts.hostname or "", parts.port or default_port, allowed_hosts=allowed)
    except UnsafeURLError as exc:
        raise CardProblem(UNSAFE_URL, str(exc)) from exc
    return card_url(url)


def _pinned_check(pinned_keys: Any) -> list[Mapping[str, Any]]:
    """Return the keys of a JWK set of public keys; refuse anything else."""
    if pinned_keys in (None, {}):
        return []
    if not isinstance(pinned_keys, Mapping) or not isinstance(pinned_keys.get("keys"), list):
        raise _invalid("pinned_keys", 'must be a JWK set: {"keys": [...]}')
    keys: list[Mapping[str, Any]] = pinned_keys["keys"]
    for index, key in enumerate(keys):
        if not isinstance(key, Mapping) or not isinstance(key.get("kty"), str):
            raise _invalid("pinned_keys", f"keys[{index}] is not a JWK (it needs kty)")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise _invalid("pinned_keys", f"keys[{index}] needs a kid")
        if "d" in key or key.get("kty") == "oct":
            # A private or symmetric key has no business in the registry.
            raise _invalid("pinned_keys", f"keys[{index}] must be a public key")
    return keys


def _check(
    *,
    url: str,
    policy: str,
    pinned_keys: Any,
    etag: str = "",
    last_modified: str = "",
) -> CardChecked:
    """Fetch and verify the card (sync); CardProblem says why it cannot be accepted."""
    try:
        return async_to_sync(card_check)(
            url=url,
            policy=policy,
            pinned_keys=_pinned_check(pinned_keys),
            etag=etag,
            last_modified=last_modified,
            allowed_hosts=tuple(settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS),
            deadline=CARD_DEADLINE,
        )
    except CardRefused as exc:
        raise CardProblem(exc.reason.value, exc.message, signature=exc.details()) from exc
    except UnsafeURL as exc:
        raise CardProblem(UNSAFE_URL, str(exc)) from exc
    except InvalidAgentCard as exc:
        raise CardProblem(INVALID_CARD, str(exc)) from exc
    except MalformedResponse as exc:
        raise CardProblem(BAD_RESPONSE, str(exc)) from exc
    except NoCompatibleInterface as exc:
        raise CardProblem(NO_COMPATIBLE_INTERFACE, str(exc)) from exc
    except TransportError as exc:
        raise CardProblem(UNREACHABLE, str(exc)) from exc
    except A2AClientError as exc:
        raise CardProblem(FETCH_FAILED, str(exc)) from exc


def _due(now: datetime, max_age: int | None) -> datetime:
    """When a card fetched now is due again: its max-age, else the refresh interval."""
    seconds = settings.WEBCAP_REMOTE_AGENT_REFRESH_SECONDS if max_age is None else max_age
    return now + timedelta(seconds=seconds)


def _accept(agent: RemoteAgent, checked: CardChecked, *, now: datetime) -> None:
    """Store a card its policy accepted on agent (unsaved)."""
    fetch, card, verification, interface = (
        checked.fetch,
        checked.card,
        checked.verification,
        checked.interface,
    )
    assert card is not None
    assert fetch.raw is not None
    assert verification is not None
    assert interface is not None
    agent.card = fetch.raw
    agent.card_etag = fetch.etag or ""
    agent.card_last_modified = fetch.last_modified or ""
    agent.card_fetched_at = now
    agent.card_checked_at = now
    agent.card_due_at = _due(now, fetch.max_age)
    agent.card_stale = False
    agent.card_error = ""
    agent.description = card.description
    agent.skills = skills_of(card)
    agent.interface_url = interface.url
    agent.interface_binding = interface.protocol_binding
    agent.interface_version = interface.protocol_version
    agent.signature_status = (
        SignatureStatus.VERIFIED if verification.verified else SignatureStatus.UNSIGNED
    )
    agent.signature_kid = verification.kid or ""
    agent.signature_error = None


def _refusal_audit(
    *,
    problem: CardProblem,
    action: str,
    actor: User | None,
    auth_method: str,
    agent: RemoteAgent | None = None,
    name: str = "",
    url: str = "",
) -> None:
    """Audit a refused card (committed at once, outside any transaction) and log it."""
    logger.warning(
        "remote agent %s: card at %s refused: %s", name or agent, url, problem.text[:500]
    )
    audit_record(
        action=action,
        actor=actor,
        target=agent,
        target_type="" if agent else RemoteAgent._meta.label_lower,
        outcome=Outcome.FAILURE,
        auth_method=auth_method,
        extra={
            "name": name or (agent.name if agent else ""),
            "card_url": url,
            "reason": problem.reason,
            "message": problem.message[:1000],
            "signature_error": problem.signature,
        },
    )


def _credential_check(kind: str, header: str, secret: str | None, *, stored: bool) -> None:
    if kind not in CredentialKind.values:
        raise _invalid("credential_kind", f"must be one of {', '.join(CredentialKind.values)}")
    if kind == CredentialKind.NONE:
        return
    if secret is None and not stored:
        raise _invalid("credential_secret", f"is required for a {kind} credential")
    if secret is not None:
        if not secret:
            raise _invalid("credential_secret", f"is required for a {kind} credential")
        try:
            if kind == CredentialKind.BEARER:
                Credentials.bearer(secret)
            else:
                Credentials.api_key(secret, header=header or DEFAULT_CREDENTIAL_HEADER)
        except ValueError as exc:
            # The message names the header, never the value.
            raise _invalid("credential_secret", str(exc)) from None
    elif kind == CredentialKind.API_KEY:
        try:
            Credentials.api_key("x", header=header or DEFAULT_CREDENTIAL_HEADER)
        except ValueError as exc:
            raise _invalid("credential_header", str(exc)) from None


def _fields_check(values: Mapping[str, Any], *, agent: RemoteAgent | None) -> None:
    """Refuse values that cannot be stored, naming the field."""
    if "name" in values:
        name = values["name"]
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise _invalid(
                "name",
                f"must be 1 to {NAME_MAX_LENGTH} lowercase letters, digits and hyphens, "
                "starting with a letter or digit",
            )
        taken = RemoteAgent.objects.filter(name=name)
        if agent is not None:
            taken = taken.exclude(pk=agent.pk)
        if taken.exists():
            raise _invalid("name", f"a remote agent named {name!r} already exists")
    if "trust_policy" in values and values["trust_policy"] not in set(TrustPolicy):
        raise _invalid("trust_policy", f"must be one of {', '.join(TrustPolicy)}")
    if "approval_policy" in values and values["approval_policy"] not in ApprovalPolicy.values:
        raise _invalid("approval_policy", f"must be one of {', '.join(ApprovalPolicy.values)}")
    for field in ("request_timeout_seconds", "task_timeout_seconds", "stream_idle_seconds"):
        if field in values:
            seconds = values[field]
            if not isinstance(seconds, int) or not 1 <= seconds <= MAX_TIMEOUT_SECONDS:
                raise _invalid(field, f"must be a whole number from 1 to {MAX_TIMEOUT_SECONDS}")
    policy = values.get("trust_policy", agent.trust_policy if agent else TrustPolicy.OPEN)
    pinned = _pinned_check(values.get("pinned_keys", agent.pinned_keys if agent else {}))
    if policy == TrustPolicy.PINNED and not pinned:
        raise _invalid("pinned_keys", "the pinned trust policy needs at least one public key")


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
    auth_method: str = "",
) -> RemoteAgent:
    """Register the agent whose card is at card_url once its card is fetched and trusted."""
    values: dict[str, Any] = {
        "name": name,
        "trust_policy": trust_policy,
        "pinned_keys": dict(pinned_keys or {}),
        "approval_policy": approval_policy,
        "request_timeout_seconds": request_timeout_seconds,
        "task_timeout_seconds": task_timeout_seconds,
        "stream_idle_seconds": stream_idle_seconds,
    }
    _fields_check(values, agent=None)
    _credential_check(credential_kind, credential_header, credential_secret, stored=False)
    try:
        url = _url_check(card_url)
        checked = _check(url=url, policy=trust_policy, pinned_keys=values["pinned_keys"])
    except CardProblem as problem:
        _refusal_audit(
            problem=problem,
            action=Action.REMOTE_AGENT_REGISTER,
            actor=actor,
            auth_method=auth_method,
            name=name,
            url=card_url,
        )
        raise RemoteAgentRefused(
            f"The card at {card_url} was refused: {problem.text}",
            extra={"field": "card_url", "reason": problem.reason, "signature": problem.signature},
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
    _accept(agent, checked, now=timezone.now())
    with transaction.atomic(durable=True):
        if RemoteAgent.objects.filter(name=name).exists():
            raise _invalid("name", f"a remote agent named {name!r} already exists")
        agent.save()
        audit_record(
            action=Action.REMOTE_AGENT_REGISTER,
            actor=actor,
            target=agent,
            auth_method=auth_method,
            extra=_summary(agent),
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


def _summary(agent: RemoteAgent) -> dict[str, Any]:
    """What an audit row says about an agent: never the credential's secret."""
    return {
        "name": agent.name,
        "card_url": agent.card_url,
        "enabled": agent.enabled,
        "trust_policy": agent.trust_policy,
        "approval_policy": agent.approval_policy,
        "signature_status": agent.signature_status,
        "signature_kid": agent.signature_kid,
        "interface_url": agent.interface_url,
        "credential_kind": agent.credential_kind,
        "credential_set": agent.credential_set,
    }


def remote_agent_update(
    *, agent: RemoteAgent, actor: User | None, changes: Mapping[str, Any], auth_method: str = ""
) -> RemoteAgent:
    """Change the agent's settings; a new URL or trust setting checks the card again first.

    ``credential_secret`` in changes replaces the stored secret (write-only); a
    ``credential_kind`` of ``none`` clears it.
    """
    unknown = set(changes) - EDITABLE
    if unknown:
        raise _invalid(sorted(unknown)[0], "cannot be changed")
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
            url = values["card_url"] = _url_check(url)
            checked = _check(
                url=url,
                policy=values.get("trust_policy", agent.trust_policy),
                pinned_keys=values.get("pinned_keys", agent.pinned_keys),
            )
        except CardProblem as problem:
            _refusal_audit(
                problem=problem,
                action=Action.REMOTE_AGENT_UPDATE,
                actor=actor,
                auth_method=auth_method,
                agent=agent,
                url=url,
            )
            raise RemoteAgentRefused(
                f"The change was refused: the card at {url} fails it: {problem.text}",
                extra={
                    "field": "card_url",
                    "reason": problem.reason,
                    "signature": problem.signature,
                },
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
            _accept(locked, checked, now=timezone.now())
        locked.save()
        audit_record(
            action=Action.REMOTE_AGENT_UPDATE,
            actor=actor,
            target=locked,
            auth_method=auth_method,
            # Field names only: a secret's value never reaches the log.
            extra={**_summary(locked), "changed": sorted(set(changed))},
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
            extra=_summary(locked),
        )
        locked.delete()
    logger.info("remote agent %s deleted", agent.name)


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh did: ``unchanged`` (304 or the same card), ``changed`` or ``failed``."""

    agent: RemoteAgent
    result: str


def remote_agent_refresh(
    *, agent: RemoteAgent, actor: User | None = None, auth_method: str = ""
) -> RefreshOutcome:
    """Fetch the agent's card again (conditionally) and store what came back.

    A 304 keeps the card; a new card is verified again and replaces it; a refused or
    unreachable card keeps the last accepted one and marks the agent stale with the reason.
    A refresh a person asked for (actor) is always audited; the beat's only when the card
    changed or a failure is new.
    """
    problem: CardProblem | None = None
    checked: CardChecked | None = None
    try:
        url = _url_check(agent.card_url)
        checked = _check(
            url=url,
            policy=agent.trust_policy,
            pinned_keys=agent.pinned_keys,
            etag=agent.card_etag,
            last_modified=agent.card_last_modified,
        )
    except CardProblem as exc:
        problem = exc
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = RemoteAgent.objects.select_for_update().get(pk=agent.pk)
        result = "unchanged"
        audited = actor is not None
        if problem is not None:
            result = "failed"
            audited = audited or locked.card_error != problem.text
            locked.card_checked_at = now
            locked.card_due_at = _due(now, None)
            locked.card_stale = True
            locked.card_error = problem.text
            if problem.signature is not None:
                locked.signature_status = SignatureStatus.REFUSED
                locked.signature_error = problem.signature
        elif checked is not None and checked.card is None:
            locked.card_checked_at = now
            locked.card_due_at = _due(now, checked.fetch.max_age)
            locked.card_etag = checked.fetch.etag or locked.card_etag
            locked.card_last_modified = checked.fetch.last_modified or locked.card_last_modified
            locked.card_stale = False
            locked.card_error = ""
        elif checked is not None:
            if checked.fetch.raw != locked.card:
                result = "changed"
                audited = True
            _accept(locked, checked, now=now)
        locked.save()
        if audited:
            extra: dict[str, Any] = {**_summary(locked), "result": result}
            if problem is not None:
                extra.update(
                    reason=problem.reason,
                    message=problem.message[:1000],
                    signature_error=problem.signature,
                )
            audit_record(
                action=Action.REMOTE_AGENT_REFRESH,
                actor=actor,
                target=locked,
                auth_method=auth_method,
                outcome=Outcome.FAILURE if problem is not None else Outcome.SUCCESS,
                extra=extra,
            )
    if problem is not None:
        logger.warning("remote agent %s: refresh failed: %s", locked.name, problem.text[:500])
    else:
        logger.info("remote agent %s: card %s", locked.name, result)
    return RefreshOutcome(agent=locked, result=result)


def remote_agents_refresh_due(*, now: datetime | None = None) -> int:
    """Refresh every enabled agent whose card is due; return how many were refreshed.

    An agent past its due time is marked stale first, so one this run does not reach (a
    crash, a slow remote) still says its card is out of date.
    """
    now = now or timezone.now()
    due = RemoteAgent.objects.filter(enabled=True, card_due_at__lte=now)
    with transaction.atomic(durable=True):
        due.filter(card_stale=False).update(card_stale=True)
    count = 0
    for agent in due.order_by("card_due_at"):
        remote_agent_refresh(agent=agent)
        count += 1
    return count

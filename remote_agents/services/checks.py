"""What registering, changing and refreshing share: the errors, the URL and card checks,
storing an accepted card, and the audit rows of refusals."""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from asgiref.sync import async_to_sync
from django.conf import settings

from a2a.client import (
    A2AClientError,
    InvalidAgentCard,
    MalformedResponse,
    NoCompatibleInterface,
    TransportError,
    UnsafeURL,
    card_url,
)
from a2a.protocol.signatures import CardRefused
from accounts.models import User
from audit.models import Outcome
from audit.services import audit_record
from common.errors import ApplicationError
from common.netguard import DeliveryError, UnsafeURLError, check_url, resolve
from remote_agents.cards import CardChecked, card_check, skills_of
from remote_agents.models import (
    NAME_MAX_LENGTH,
    RemoteAgent,
    SignatureStatus,
)

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
EDITABLE_FIELDS = (
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
    "client_user",
)
EDITABLE = frozenset(EDITABLE_FIELDS)
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


def invalid(field: str, message: str) -> RemoteAgentInvalid:
    return RemoteAgentInvalid(message, extra={"field": field})


def url_check(url: str) -> str:
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


def pinned_check(pinned_keys: Any) -> list[Mapping[str, Any]]:
    """Return the keys of a JWK set of public keys; refuse anything else."""
    if pinned_keys in (None, {}):
        return []
    if not isinstance(pinned_keys, Mapping) or not isinstance(pinned_keys.get("keys"), list):
        raise invalid("pinned_keys", 'must be a JWK set: {"keys": [...]}')
    keys: list[Mapping[str, Any]] = pinned_keys["keys"]
    for index, key in enumerate(keys):
        if not isinstance(key, Mapping) or not isinstance(key.get("kty"), str):
            raise invalid("pinned_keys", f"keys[{index}] is not a JWK (it needs kty)")
        if not isinstance(key.get("kid"), str) or not key["kid"]:
            raise invalid("pinned_keys", f"keys[{index}] needs a kid")
        if "d" in key or key.get("kty") == "oct":
            # A private or symmetric key has no business in the registry.
            raise invalid("pinned_keys", f"keys[{index}] must be a public key")
    return keys


def card_checked(
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
            pinned_keys=pinned_check(pinned_keys),
            etag=etag,
            last_modified=last_modified,
            allowed_hosts=tuple(settings.WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS),
            deadline=CARD_DEADLINE,
        )
    except CardRefused as exc:
        raise CardProblem(exc.reason.value, exc.message, signature=exc.details()) from exc
    except A2AClientError as exc:
        reason = next(code for kind, code in CLIENT_ERRORS if isinstance(exc, kind))
        raise CardProblem(reason, str(exc)) from exc


# The reason of each client error, most specific first (InvalidAgentCard is a
# MalformedResponse, RequestTimeout a TransportError).
CLIENT_ERRORS: tuple[tuple[type[A2AClientError], str], ...] = (
    (UnsafeURL, UNSAFE_URL),
    (InvalidAgentCard, INVALID_CARD),
    (MalformedResponse, BAD_RESPONSE),
    (NoCompatibleInterface, NO_COMPATIBLE_INTERFACE),
    (TransportError, UNREACHABLE),
    (A2AClientError, FETCH_FAILED),
)


def due_at(now: datetime, max_age: int | None) -> datetime:
    """When a card fetched now is due again: its max-age, else the refresh interval."""
    seconds = settings.WEBCAP_REMOTE_AGENT_REFRESH_SECONDS if max_age is None else max_age
    return now + timedelta(seconds=seconds)


def card_accept(agent: RemoteAgent, checked: CardChecked, *, now: datetime) -> None:
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
    agent.card_due_at = due_at(now, fetch.max_age)
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


def refused(
    problem: CardProblem,
    *,
    message: str,
    action: str,
    actor: User | None,
    auth_method: str,
    agent: RemoteAgent | None = None,
    name: str = "",
    url: str = "",
) -> RemoteAgentRefused:
    """Audit a refused card (committed at once, outside any transaction), log it, and
    return the error to raise."""
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
    return RemoteAgentRefused(
        f"{message}: {problem.text}",
        extra={"field": "card_url", "reason": problem.reason, "signature": problem.signature},
    )


def summary(agent: RemoteAgent) -> dict[str, Any]:
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
        "client_user": agent.client_user.get_username() if agent.client_user else "",
    }

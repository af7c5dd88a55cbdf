"""Fetch a remote agent's card, verify it under its trust policy, choose its interface.

Async, on webcap's A2A client (``a2a.client``) through the SSRF guard; the services run it
with ``async_to_sync`` (registering and refreshing are rare). The JWK sets a signature names
are fetched through the same guarded client, and only from the card's own origin
(``card_jwks_urls``).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from a2a.client import A2AClientError, CardFetch, card_fetch, interface_select
from a2a.client.card import MAX_CARD_BYTES
from a2a.client.transport import guarded_call
from a2a.protocol.jsonrpc import loads
from a2a.protocol.signatures import (
    CardRefused,
    CardVerification,
    TrustPolicy,
    card_jwks_urls,
    verify_card,
)
from a2a.protocol.types import AgentCard, AgentInterface
from common.netguard import guarded_async_client

logger = logging.getLogger(__name__)

MAX_JWKS_BYTES = 262_144


@dataclass(frozen=True)
class CardChecked:
    """A fetched card its policy accepts (``card`` is None when the remote said 304)."""

    fetch: CardFetch
    verification: CardVerification | None
    interface: AgentInterface | None

    @property
    def card(self) -> AgentCard | None:
        return self.fetch.card


def skills_of(card: AgentCard) -> list[dict[str, Any]]:
    """The card's skills as the registry keeps them: id, name, description, tags, examples."""
    return [
        {
            "id": skill.id,
            "name": skill.name,
            "description": skill.description,
            "tags": list(skill.tags),
            "examples": list(skill.examples or []),
        }
        for skill in card.skills
    ]


async def _jwks_fetch(http: Any, url: str, *, deadline: float) -> Mapping[str, Any] | None:
    """Return the JWK set at url, or None when it cannot be had (the verifier says NO_JWKS)."""
    try:
        response = await guarded_call(
            http,
            http.build_request("GET", url, headers={"Accept": "application/json"}),
            where=f"GET {url}",
            deadline=deadline,
            max_bytes=MAX_JWKS_BYTES,
        )
        if response.status_code != 200:
            logger.warning("JWK set %s answered HTTP %s", url, response.status_code)
            return None
        data = loads(response.content)
    except (A2AClientError, ValueError, UnicodeDecodeError) as exc:
        logger.warning("JWK set %s could not be read: %s", url, exc)
        return None
    return data if isinstance(data, Mapping) else None


async def card_check(
    *,
    url: str,
    policy: TrustPolicy | str,
    pinned_keys: Collection[Mapping[str, Any]] = (),
    etag: str = "",
    last_modified: str = "",
    allowed_hosts: Collection[str] = (),
    deadline: float = 10.0,
) -> CardChecked:
    """Fetch the card at url (conditionally, with the validators given) and verify it.

    Raises the client's errors (UnsafeURL, InvalidAgentCard, TransportError, ...),
    CardRefused when the policy refuses the card, NoCompatibleInterface when it offers no
    interface webcap speaks.
    """
    policy = TrustPolicy(policy)
    async with guarded_async_client(
        allowed_hosts=allowed_hosts, max_response_bytes=MAX_CARD_BYTES
    ) as http:
        fetch = await card_fetch(
            http, url, etag=etag or None, last_modified=last_modified or None, deadline=deadline
        )
        if fetch.card is None or fetch.raw is None:
            return CardChecked(fetch=fetch, verification=None, interface=None)
        jwks: dict[str, Any] | None = None
        if policy is TrustPolicy.SIGNED:
            jwks = {}
            for jku in card_jwks_urls(fetch.raw, card_url=fetch.url):
                found = await _jwks_fetch(http, jku, deadline=deadline)
                if found is not None:
                    jwks[jku] = found
    verification = verify_card(
        fetch.raw, policy=policy, jwks=jwks, pinned_keys=pinned_keys, card_url=fetch.url
    )
    return CardChecked(
        fetch=fetch, verification=verification, interface=interface_select(fetch.card)
    )


__all__ = ["CardChecked", "CardRefused", "card_check", "skills_of"]

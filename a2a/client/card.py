"""A remote agent's card: fetch it (with revalidation), validate it, choose an interface."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx
from pydantic import ValidationError

from a2a.client.errors import InvalidAgentCard, MalformedResponse, NoCompatibleInterface
from a2a.client.legacy import card_in
from a2a.client.transport import guarded_call
from a2a.protocol.errors import VersionNotSupportedError
from a2a.protocol.jsonrpc import loads
from a2a.protocol.types import AgentCard, AgentInterface
from a2a.protocol.validation import violations
from a2a.protocol.versions import negotiate

CARD_PATH = "/.well-known/agent-card.json"
JSONRPC = "JSONRPC"
HTTP_JSON = "HTTP+JSON"
# Binding and Major.Minor version, most wanted first (A2A §5: the client chooses).
DEFAULT_PREFERENCE: tuple[tuple[str, str], ...] = (
    (JSONRPC, "1.0"),
    (HTTP_JSON, "1.0"),
    (JSONRPC, "0.3"),
)
# Bindings and versions this client speaks.
SPOKEN = frozenset(DEFAULT_PREFERENCE)
MAX_CARD_BYTES = 1_048_576
CARD_TIMEOUT = 10.0


@dataclass(frozen=True)
class CardFetch:
    """What a card fetch found: the card (None when the remote said 304 Not Modified), its
    URL and the validators to send next time (``etag``, ``last_modified``).

    ``raw`` is the card's JSON exactly as served (a signature covers fields the parsed card
    drops, so ``verify_card`` needs it); ``max_age`` is Cache-Control's freshness in seconds
    (0 for ``no-cache``/``no-store``), None when the remote said nothing.
    """

    url: str
    card: AgentCard | None
    etag: str | None
    last_modified: str | None
    raw: dict[str, Any] | None = field(default=None, repr=False)
    max_age: int | None = None

    @property
    def not_modified(self) -> bool:
        return self.card is None


def card_url(url: str) -> str:
    """The card's URL: url itself when it names a .json file, else url's well-known path."""
    if url.split("?", 1)[0].endswith(".json"):
        return url
    return url.rstrip("/") + CARD_PATH


def cache_max_age(cache_control: str | None) -> int | None:
    """Seconds a response may be reused for, from its Cache-Control header (RFC 9111 §5.2.2).

    ``no-store``/``no-cache`` mean 0; ``max-age=N`` means N; otherwise None.
    """
    if not cache_control:
        return None
    max_age: int | None = None
    for directive in cache_control.split(","):
        name, _, value = directive.strip().partition("=")
        name = name.strip().lower()
        if name in ("no-store", "no-cache"):
            return 0
        if name == "max-age":
            try:
                max_age = max(0, int(value.strip().strip('"')))
            except ValueError:
                continue
    return max_age


def card_parse(data: Any, *, where: str) -> AgentCard:
    """Validate decoded JSON as an A2A 1.0 agent card; InvalidAgentCard names each bad field.

    A 0.3 card is read as the 1.0 card its interfaces stand for.
    """
    if not isinstance(data, dict):
        raise InvalidAgentCard(f"{where}: the agent card is not a JSON object")
    try:
        return AgentCard.model_validate(card_in(data))
    except ValidationError as exc:
        problems = "; ".join(f"{field}: {text}" for field, text in violations(exc)[:10])
        raise InvalidAgentCard(f"{where}: not a valid A2A 1.0 agent card: {problems}") from exc


async def card_fetch(
    http: httpx.AsyncClient,
    url: str,
    *,
    etag: str | None = None,
    last_modified: str | None = None,
    deadline: float = CARD_TIMEOUT,
    max_bytes: int = MAX_CARD_BYTES,
) -> CardFetch:
    """GET the card at url (a base URL or the card's own); revalidate with etag/last_modified.

    http is a client from ``guarded_async_client``: the card URL passes the SSRF guard.
    """
    target = card_url(url)
    where = f"GET {target}"
    headers = {"Accept": "application/json"}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    request = http.build_request("GET", target, headers=headers)
    response = await guarded_call(
        http, request, where=where, deadline=deadline, max_bytes=max_bytes
    )
    found_etag = response.headers.get("etag") or etag
    found_modified = response.headers.get("last-modified") or last_modified
    if response.status_code == 304:
        if etag is None and last_modified is None:
            raise MalformedResponse(f"{where}: 304 to a request that had no validators", status=304)
        max_age = cache_max_age(response.headers.get("cache-control"))
        return CardFetch(target, None, found_etag, found_modified, max_age=max_age)
    if response.status_code != 200:
        raise MalformedResponse(
            f"{where}: expected the agent card, got HTTP {response.status_code}",
            status=response.status_code,
        )
    try:
        data = loads(response.content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidAgentCard(f"{where}: the agent card is not JSON: {exc}") from exc
    card = card_parse(data, where=where)
    return CardFetch(
        target,
        card,
        response.headers.get("etag"),
        response.headers.get("last-modified"),
        raw=data,
        max_age=cache_max_age(response.headers.get("cache-control")),
    )


def interface_select(
    card: AgentCard, preference: Sequence[tuple[str, str]] = DEFAULT_PREFERENCE
) -> AgentInterface:
    """Return the card's interface best ranked by preference (binding, Major.Minor).

    Among interfaces of equal rank the card's order decides (its own preference). Patch
    versions are ignored ("1.0.1" is "1.0"); an interface whose version cannot be read is
    passed over. Raises NoCompatibleInterface naming what the card offers.
    """
    unknown = [choice for choice in preference if choice not in SPOKEN]
    if unknown:
        raise ValueError(f"this client does not speak {unknown}; it speaks {sorted(SPOKEN)}")
    rank = {choice: index for index, choice in enumerate(preference)}
    best: tuple[int, AgentInterface] | None = None
    for interface in card.supported_interfaces:
        try:
            version = negotiate(interface.protocol_version)
        except VersionNotSupportedError:
            continue
        position = rank.get((interface.protocol_binding.upper(), version))
        if position is not None and (best is None or position < best[0]):
            best = (position, interface)
    if best is None:
        offered = ", ".join(
            f"{i.protocol_binding} {i.protocol_version}" for i in card.supported_interfaces
        )
        wanted = ", ".join(f"{binding} {version}" for binding, version in preference)
        raise NoCompatibleInterface(
            f"agent {card.name!r} offers {offered or 'no interfaces'}; this client uses {wanted}"
        )
    return best[1]

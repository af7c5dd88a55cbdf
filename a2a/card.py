"""The agent card (A2A §8): what this server serves, built from settings and the agent."""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import timezone
from django.utils.http import http_date

from a2a.protocol import types as wire
from a2a.protocol.jsonrpc import dumps
from a2a.protocol.v03 import LEGACY_VERSION, hybrid_card
from a2a.protocol.versions import CURRENT_VERSION
from a2a.registry import AGENTS
from a2a.signing import card_signed
from common.caching import shared_cache

logger = logging.getLogger(__name__)

WEBCAP_VERSION = "0.1.0"
# A custom binding is named by a URI (A2A §5.8); standard clients skip what they do not know.
WEBSOCKET_BINDING = "urn:webcap:binding:websocket-jsonrpc:v1"
JSONRPC_PATH = "/a2a/jsonrpc"
REST_PATH = "/a2a/rest"
WEBSOCKET_PATH = "/ws/a2a"
# Cap'n Web (the npm capnweb client, docs/capnweb.md): a custom binding too, so standard
# clients skip it. Its version is the A2A version of the messages, tasks and events it carries.
CAPNWEB_BINDING = "urn:webcap:binding:capnweb:v1"
CAPNWEB_PATH = "/ws/capnweb"
BEARER_SCHEME = "bearer"
API_KEY_SCHEME = "apiKey"
OIDC_SCHEME = "oidc"


def security_schemes() -> dict[str, wire.SecurityScheme]:
    """Every way a caller may authenticate: the card declares each enabled scheme."""
    schemes = {
        BEARER_SCHEME: wire.SecurityScheme(
            http_auth_security_scheme=wire.HTTPAuthSecurityScheme(
                scheme="Bearer",
                bearer_format="JWT",
                description="An access token from POST /api/auth/token/ (a JWT), or a webcap "
                "API key (wcp_...) as the bearer token.",
            )
        ),
        API_KEY_SCHEME: wire.SecurityScheme(
            api_key_security_scheme=wire.APIKeySecurityScheme(
                location="header", name="X-API-Key", description="A webcap API key."
            )
        ),
    }
    if settings.OIDC_ISSUER and settings.OIDC_AUDIENCE:
        schemes[OIDC_SCHEME] = wire.SecurityScheme(
            open_id_connect_security_scheme=wire.OpenIdConnectSecurityScheme(
                open_id_connect_url=f"{settings.OIDC_ISSUER}/.well-known/openid-configuration",
                description="An access token of the configured OpenID Connect provider, "
                f"for the audience {settings.OIDC_AUDIENCE!r}, as a bearer token.",
            )
        )
    return schemes


def _websocket_base(base_url: str) -> str:
    if base_url.startswith("https://"):
        return "wss://" + base_url.removeprefix("https://")
    return "ws://" + base_url.removeprefix("http://")


def agent_card(base_url: str) -> dict[str, Any]:
    """Return the public agent card for a server reachable at base_url."""
    agent = AGENTS[settings.WEBCAP_AGENT]
    auth_required = not settings.WEBCAP_PUBLIC_AGENT_USER
    card = wire.AgentCard(
        name=settings.WEBCAP_AGENT_NAME,
        description=settings.WEBCAP_AGENT_DESCRIPTION + f" Agent: {agent.description}",
        version=WEBCAP_VERSION,
        supported_interfaces=[
            wire.AgentInterface(
                url=base_url + JSONRPC_PATH,
                protocol_binding="JSONRPC",
                protocol_version=CURRENT_VERSION,
            ),
            wire.AgentInterface(
                url=base_url + REST_PATH,
                protocol_binding="HTTP+JSON",
                protocol_version=CURRENT_VERSION,
            ),
            wire.AgentInterface(
                url=_websocket_base(base_url) + WEBSOCKET_PATH,
                protocol_binding=WEBSOCKET_BINDING,
                protocol_version=CURRENT_VERSION,
            ),
            wire.AgentInterface(
                url=_websocket_base(base_url) + CAPNWEB_PATH,
                protocol_binding=CAPNWEB_BINDING,
                protocol_version=CURRENT_VERSION,
            ),
            # The same JSON-RPC endpoint also speaks 0.3 to clients that ask for it; listed
            # last, so clients that prefer 1.0 pick the first entry.
            wire.AgentInterface(
                url=base_url + JSONRPC_PATH,
                protocol_binding="JSONRPC",
                protocol_version=LEGACY_VERSION,
            ),
        ],
        capabilities=wire.AgentCapabilities(
            streaming=True,
            push_notifications=settings.WEBCAP_PUSH_ENABLED,
            extended_agent_card=bool(settings.WEBCAP_EXTENDED_AGENT_CARD),
        ),
        security_schemes=security_schemes(),
        # Any one scheme is enough: requirements in the list are alternatives.
        security_requirements=[
            wire.SecurityRequirement(schemes={name: wire.StringList()})
            for name in security_schemes()
        ]
        if auth_required
        else None,
        default_input_modes=agent.input_modes,
        default_output_modes=agent.output_modes,
        skills=[wire.AgentSkill.model_validate(skill) for skill in agent.skills],
    )
    return card.dump()


@lru_cache(maxsize=4)
def _extension(path: str) -> dict[str, Any]:
    """Load the extended card's additions (cached: configuration changes with a restart)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    if not isinstance(data, dict):
        raise ValueError(f"{path} must hold a JSON object")
    return data


def extended_agent_card(base_url: str) -> dict[str, Any] | None:
    """Return the card authenticated callers get, or None when none is configured."""
    if not settings.WEBCAP_EXTENDED_AGENT_CARD:
        return None
    card = agent_card(base_url)
    for key, value in _extension(settings.WEBCAP_EXTENDED_AGENT_CARD).items():
        card[key] = [*card["skills"], *value] if key == "skills" else value
    # Signed like the public card (A2A §8.4), for each caller: it is built per call.
    return card_signed(wire.AgentCard.model_validate(card).dump(), base_url)


@dataclass(frozen=True)
class RenderedCard:
    body: bytes
    # A hash of the body: the same card has the same ETag in every process.
    etag: str


@lru_cache(maxsize=32)
def rendered_card(base_url: str, *, legacy: bool = False) -> RenderedCard:
    """Return the card's bytes and ETag, built once per process and base URL.

    The card is built from settings and the agent class only, both fixed for the life of a
    process (tests that change settings clear this cache: a2a/apps.py). ``legacy`` is the card
    at the older path: the 1.0 card with the 0.3 fields beside it, which both 0.3 and 1.0
    clients read. When signing keys are configured, the card carries its signature (A2A
    §8.4), made here once with the bytes, so the ETag covers it.
    """
    card = agent_card(base_url)
    body = dumps(card_signed(hybrid_card(card) if legacy else card, base_url))
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return RenderedCard(body=body, etag=etag)


# The key names the card by its content hash: a changed card (new settings, a new release) is
# a new key, so nothing is ever invalidated by hand and processes that run different
# configurations during a rolling deploy never see each other's entries. "v1" is the format
# of the stored value.
LAST_MODIFIED_KEY = "a2a:card:v1:last-modified:{etag}"
# Per process: etag -> Last-Modified, read from the shared cache once per card.
_last_modified: dict[str, str] = {}


async def card_last_modified(card: RenderedCard) -> str:
    """Return the card's Last-Modified: when any process first served this exact card.

    Kept in Django's cache (Redis in production), so every web process and every restart
    with unchanged configuration answers the same date, and If-Modified-Since works across
    processes. If the shared cache cannot be reached, the process's own first-seen time.
    """
    known = _last_modified.get(card.etag)
    if known is not None:
        return known
    now = http_date(timezone.now().timestamp())
    key = LAST_MODIFIED_KEY.format(etag=card.etag.strip('"'))
    try:
        # add(): the first process to serve the card decides; the others read its date.
        await shared_cache().aadd(key, now, timeout=None)
        value = await shared_cache().aget(key)
    except Exception:
        # The card stays available; this process keeps its own date for it.
        logger.warning("Agent card: the shared cache is unavailable", exc_info=True)
        value = None
    date = value if isinstance(value, str) else now
    if len(_last_modified) >= 64:
        _last_modified.clear()
    _last_modified[card.etag] = date
    return date

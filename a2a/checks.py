"""System checks: refuse to start with a configuration that cannot serve A2A."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from a2a.card import extended_agent_card
from a2a.registry import AGENTS
from a2a.signing import SigningConfigError, signing_keys


@register()
def agent_configured(app_configs: Any, **kwargs: Any) -> list[Error]:
    """WEBCAP_AGENT must name an agent this server has."""
    if settings.WEBCAP_AGENT not in AGENTS:
        return [
            Error(
                f"WEBCAP_AGENT={settings.WEBCAP_AGENT!r} is not an agent of this server.",
                hint=f"Choose one of: {', '.join(sorted(AGENTS))}.",
                id="webcap.E001",
            )
        ]
    return []


@register()
def extended_card_valid(app_configs: Any, **kwargs: Any) -> list[Error]:
    """WEBCAP_EXTENDED_AGENT_CARD, when set, must make a valid agent card."""
    if not settings.WEBCAP_EXTENDED_AGENT_CARD:
        return []
    try:
        extended_agent_card("http://localhost")
    except SigningConfigError:
        return []  # card_signing_keys_valid reports it
    except Exception as exc:
        return [
            Error(
                f"WEBCAP_EXTENDED_AGENT_CARD={settings.WEBCAP_EXTENDED_AGENT_CARD!r} does not "
                f"make a valid agent card: {exc}",
                id="webcap.E002",
            )
        ]
    return []


@register()
def inline_file_fits_in_a_request(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """The largest inline file part must fit, base64-encoded, in the largest request body."""
    encoded = 4 * -(-settings.WEBCAP_MAX_FILE_BYTES // 3)
    if encoded < settings.WEBCAP_MAX_REQUEST_BYTES:
        return []
    return [
        Warning(
            f"An inline file of WEBCAP_MAX_FILE_BYTES ({settings.WEBCAP_MAX_FILE_BYTES}) is "
            f"{encoded} bytes in base64, more than WEBCAP_MAX_REQUEST_BYTES "
            f"({settings.WEBCAP_MAX_REQUEST_BYTES}): a client meets the body limit (413) first.",
            hint="Unset WEBCAP_MAX_REQUEST_BYTES (it is derived from the file limit), or raise "
            "it above the base64 size plus room for the rest of the request.",
            id="webcap.W004",
        )
    ]


@register(deploy=True)
def public_url_set(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Production workers write download URLs into file parts: they need WEBCAP_PUBLIC_URL."""
    if settings.EMBEDDED or settings.WEBCAP_PUBLIC_URL:
        return []
    return [
        Warning(
            "WEBCAP_PUBLIC_URL is unset: the download URLs of artifact files written by a "
            "worker would point at http://127.0.0.1:8000.",
            hint="Set WEBCAP_PUBLIC_URL to the base URL clients reach webcap at.",
            id="webcap.W001",
        )
    ]


@register()
def card_signing_keys_valid(app_configs: Any, **kwargs: Any) -> list[Error | Warning]:
    """WEBCAP_CARD_SIGNING_KEYS, when set, must be a JWK set that can sign with the active kid."""
    try:
        keys = signing_keys()
    except SigningConfigError as exc:
        return [
            Error(
                f"Card signing is misconfigured: {exc}.",
                hint="See docs/card-signing.md; `python manage.py cardkey create --output "
                "var/card-keys.json` makes a valid key set.",
                id="webcap.E003",
            )
        ]
    source = settings.WEBCAP_CARD_SIGNING_KEYS
    if keys is None or source.lstrip().startswith("{"):
        return []
    mode = os.stat(Path(source).expanduser()).st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return [
            Warning(
                f"The card signing key file {source} can be read by other users "
                f"(mode {stat.S_IMODE(mode):o}): whoever reads it can sign cards as this server.",
                hint=f"chmod 600 {source}",
                id="webcap.W005",
            )
        ]
    return []

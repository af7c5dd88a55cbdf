"""System checks: refuse to start with a configuration that cannot serve A2A."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from a2a.card import extended_agent_card
from a2a.registry import AGENTS


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

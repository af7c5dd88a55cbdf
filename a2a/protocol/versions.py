"""A2A-Version negotiation (A2A §3.6): Major.Minor only, patch ignored, empty means 0.3."""

from __future__ import annotations

import re

from a2a.protocol.errors import VersionNotSupportedError

CURRENT_VERSION = "1.0"
SUPPORTED_VERSIONS = (CURRENT_VERSION,)
LEGACY_DEFAULT = "0.3"
HEADER = "A2A-Version"

_VERSION = re.compile(r"(\d{1,3})\.(\d{1,3})(?:\.\d{1,6})?")


def negotiate(header_value: str | None, query_value: str | None = None) -> str:
    """Return the Major.Minor the client asked for (header first, then query parameter)."""
    raw = (header_value or "").strip() or (query_value or "").strip()
    if not raw:
        # A2A §3.6.2: agents MUST interpret an empty value as 0.3.
        return LEGACY_DEFAULT
    match = _VERSION.fullmatch(raw)
    if match is None:
        raise VersionNotSupportedError(
            f"A2A-Version {raw[:32]!r} is not a Major.Minor version; "
            f"this server supports {', '.join(SUPPORTED_VERSIONS)}",
            metadata={"supportedVersions": ",".join(SUPPORTED_VERSIONS)},
        )
    return f"{int(match[1])}.{int(match[2])}"


def require_supported(version: str) -> None:
    """Raise VersionNotSupported unless this server speaks version."""
    if version not in SUPPORTED_VERSIONS:
        hint = " (no A2A-Version header means 0.3)" if version == LEGACY_DEFAULT else ""
        raise VersionNotSupportedError(
            f"A2A version {version} is not supported{hint}; "
            f"send the header '{HEADER}: {CURRENT_VERSION}'",
            metadata={
                "requestedVersion": version,
                "supportedVersions": ",".join(SUPPORTED_VERSIONS),
            },
        )


def is_legacy(header_value: str | None, query_value: str | None = None) -> bool:
    """Return whether a request asks for 0.3 (no version, or 0.x); malformed counts as not."""
    try:
        return negotiate(header_value, query_value).startswith("0.")
    except VersionNotSupportedError:
        return False

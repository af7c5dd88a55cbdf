"""A2A-Version negotiation (A2A §3.6): Major.Minor only, patch ignored, empty means 0.3."""

from __future__ import annotations

import re

from a2a.protocol.errors import VersionNotSupportedError

CURRENT_VERSION = "1.0"
SUPPORTED_VERSIONS = (CURRENT_VERSION,)
LEGACY_DEFAULT = "0.3"
HEADER = "A2A-Version"
# What every version error tells the client to do.
SEND_CURRENT = (
    f"send the header '{HEADER}: {CURRENT_VERSION}' (or the query parameter "
    f"?{HEADER}={CURRENT_VERSION})"
)

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
            f"A2A-Version {raw[:32]!r} is not a Major.Minor version: {SEND_CURRENT}",
            metadata={"supportedVersions": ",".join(SUPPORTED_VERSIONS)},
        )
    return f"{int(match[1])}.{int(match[2])}"


def require_supported(
    version: str, *, operation: str | None = None, legacy_method: str | None = None
) -> None:
    """Raise VersionNotSupported unless this server speaks version; say what to send instead.

    operation is the 1.0 operation asked for; legacy_method its 0.3 method name, when the
    binding serves 0.3 clients that name.
    """
    if version in SUPPORTED_VERSIONS:
        return
    metadata = {"requestedVersion": version, "supportedVersions": ",".join(SUPPORTED_VERSIONS)}
    if version != LEGACY_DEFAULT:
        raise VersionNotSupportedError(
            f"A2A version {version} is not supported: {SEND_CURRENT}", metadata=metadata
        )
    # A2A §3.6.2: no header means 0.3, which this server speaks only in 0.3's own method
    # names; a 1.0 operation asked for that way needs the header.
    asks = f"asks for A2A {LEGACY_DEFAULT} (no {HEADER} header means {LEGACY_DEFAULT})"
    if operation is None:
        message = f"This request {asks}: {SEND_CURRENT}"
    else:
        message = (
            f"{operation} is an A2A {CURRENT_VERSION} operation, and this request {asks}: "
            f"{SEND_CURRENT}"
        )
        if legacy_method is not None:
            message += f"; a client speaking A2A {LEGACY_DEFAULT} calls {legacy_method} instead"
        else:
            message += f"; A2A {LEGACY_DEFAULT} has no {operation}"
    raise VersionNotSupportedError(message, metadata=metadata)


def is_legacy(header_value: str | None, query_value: str | None = None) -> bool:
    """Return whether a request asks for 0.3 (no version, or 0.x); malformed counts as not."""
    try:
        return negotiate(header_value, query_value).startswith("0.")
    except VersionNotSupportedError:
        return False

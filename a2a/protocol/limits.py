"""Shape limits and hygiene checks of incoming wire objects (issue 5: limits, input hygiene).

Everything a client sends is bounded before a handler sees it: parts per message, text
length, decoded file size, metadata size and depth, string lengths, list lengths and page
sizes. The numeric limits are settings (``WEBCAP_MAX_*``), read when a request is validated,
so an operator or a test (``override_settings``) can change them without a restart.

The checks are plain functions that raise ``ValueError`` with a short description; the wire
types (``types.py``) call them from validators, so pydantic attaches the field path and
``validation.parse_params`` turns them into -32602 naming each bad field. Wire objects the
server builds itself (agent replies, artifacts) are validated without a ``Limits`` in the
validation context and skip these checks: limits protect the server from clients, not from
its own agents.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlsplit

from django.conf import settings
from pydantic import AfterValidator, BeforeValidator, ValidationInfo

# The key under which parse_params hands the Limits to the wire types' validators.
CONTEXT_KEY = "webcap_limits"

# Lengths fixed by standards or by the database columns the values end up in.
MAX_MEDIA_TYPE_CHARS = 255  # RFC 6838 §4.2: 127 + "/" + 127, plus parameters
MAX_FILENAME_CHARS = 255  # the usual file-system name limit
MAX_URL_CHARS = 2048  # PushConfig.url column; what browsers and proxies reliably pass on
MAX_PAGE_TOKEN_CHARS = 1024
MAX_PUSH_TOKEN_CHARS = 1024  # PushConfig.token column
MAX_AUTH_SCHEME_CHARS = 64  # PushConfig.auth_scheme column
MAX_CREDENTIALS_CHARS = 4096  # sent back as one HTTP header value
MAX_OUTPUT_MODE_CHARS = MAX_MEDIA_TYPE_CHARS
# A 32-bit signed integer: what the database columns behind sequence numbers hold.
MAX_INT32 = 2**31 - 1

URL_SCHEMES = frozenset({"http", "https", "data"})
WEBHOOK_URL_SCHEMES = frozenset({"http", "https"})


@dataclass(frozen=True)
class Limits:
    """The numeric limits in force for one request."""

    parts: int
    text_chars: int
    file_bytes: int
    metadata_bytes: int
    metadata_depth: int
    page_size: int
    list_items: int


def current_limits() -> Limits:
    """Return the limits configured now (settings are read on every call, never cached)."""
    return Limits(
        parts=settings.WEBCAP_MAX_PARTS,
        text_chars=settings.WEBCAP_MAX_TEXT_CHARS,
        file_bytes=settings.WEBCAP_MAX_FILE_BYTES,
        metadata_bytes=settings.WEBCAP_MAX_METADATA_BYTES,
        metadata_depth=settings.WEBCAP_MAX_METADATA_DEPTH,
        page_size=settings.WEBCAP_MAX_PAGE_SIZE,
        list_items=settings.WEBCAP_MAX_LIST_ITEMS,
    )


# --- JSON values: metadata objects and data parts ------------------------------------------------


def json_depth(value: Any, *, stop_after: int) -> int:
    """Return how deeply objects and arrays nest in value (a scalar is 0, ``{}`` is 1).

    Walks without recursion and gives up once the depth passes stop_after, so a hostile
    document costs no more than the limit allows.
    """
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        depth += 1
        deepest = max(deepest, depth)
        if deepest > stop_after:
            return deepest
        stack.extend((child, depth) for child in children)
    return deepest


def json_size(value: Any) -> int:
    """Return the size in bytes of value as compact UTF-8 JSON (how it is stored and sent)."""
    encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
    return len(encoded.encode("utf-8", "surrogatepass"))


def check_json(value: Any, limits: Limits) -> None:
    """Refuse a metadata object or data value nested or sized beyond the limits."""
    depth = json_depth(value, stop_after=limits.metadata_depth)
    if depth > limits.metadata_depth:
        raise ValueError(f"nests deeper than {limits.metadata_depth} levels")
    size = json_size(value)
    if size > limits.metadata_bytes:
        raise ValueError(f"is {size} bytes as JSON; at most {limits.metadata_bytes} are allowed")


def check_count(value: Any, limit: int) -> None:
    """Refuse a list longer than limit (other types are left to the type check)."""
    if isinstance(value, list) and len(value) > limit:
        raise ValueError(f"has {len(value)} items; at most {limit} are allowed")


def check_length(value: str, limit: int) -> None:
    """Refuse a string longer than limit characters."""
    if len(value) > limit:
        raise ValueError(f"is {len(value)} characters long; at most {limit} are allowed")


# --- Strings with a shape: media types, file names, URLs -----------------------------------------

# RFC 6838 §4.2 restricted-name for type and subtype; parameters as RFC 9110 §5.6.6
# (token "=" token / quoted-string), whitespace around the ";" allowed.
_RESTRICTED_NAME = r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}"
_HTTP_WORD = r"[!#$%&'*+.^_`|~0-9A-Za-z-]+"
_QUOTED = r'"(?:[\t !#-\[\]-~\x80-\xff]|\\[\t !-~\x80-\xff])*"'
_PARAMETER = rf"[ \t]*;[ \t]*{_HTTP_WORD}=(?:{_HTTP_WORD}|{_QUOTED})"
_MEDIA_TYPE = re.compile(rf"{_RESTRICTED_NAME}/{_RESTRICTED_NAME}(?:{_PARAMETER})*")
# acceptedOutputModes: a media type or media range ("text/*"); A2A samples also send bare
# words such as "text", so any printable ASCII of bounded length passes (spaces only inside,
# as in "text/plain; charset=utf-8"). The pattern has one way to match, so it cannot backtrack.
_OUTPUT_MODE = re.compile(r"[!-~](?:[ -~\t]*[!-~])?")
# Bidirectional overrides and isolates can make "evil\u202egnp.exe" display as "evil.exe.png".
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_URI_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*")


def check_media_type(value: str) -> None:
    """Refuse anything but ``type/subtype`` with optional parameters (RFC 6838), ≤ 255 chars."""
    check_length(value, MAX_MEDIA_TYPE_CHARS)
    if not _MEDIA_TYPE.fullmatch(value):
        raise ValueError("must be a media type such as 'text/plain' or 'image/png'")


def check_output_mode(value: str) -> None:
    """Refuse empty, over-long or non-printable output modes."""
    check_length(value, MAX_OUTPUT_MODE_CHARS)
    if not _OUTPUT_MODE.fullmatch(value):
        raise ValueError("must be a media type (printable ASCII)")


def _has_control(value: str) -> bool:
    return any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in value)


def check_filename(value: str) -> None:
    """Refuse path separators, control characters, "." and "..", and names over 255 chars."""
    check_length(value, MAX_FILENAME_CHARS)
    if "/" in value or "\\" in value:
        raise ValueError("must be a file name without path separators")
    if value in (".", ".."):
        raise ValueError("must name a file")
    if _has_control(value):
        raise ValueError("must not contain control characters")


def check_id(value: str) -> None:
    """Refuse an id with control characters or bidirectional overrides, as file names are."""
    if _has_control(value):
        raise ValueError(
            "must not contain control characters or bidirectional overrides (U+202A-U+202E, "
            "U+2066-U+2069)"
        )


def check_url(value: str, *, schemes: frozenset[str]) -> None:
    """Refuse URLs over 2048 characters, with other schemes, spaces or control characters."""
    check_length(value, MAX_URL_CHARS)
    allowed = ", ".join(sorted(schemes))
    if _has_control(value) or any(c.isspace() for c in value):
        raise ValueError("must not contain spaces or control characters")
    try:
        parts = urlsplit(value)
        host = parts.hostname
    except ValueError as exc:
        raise ValueError(f"is not a valid URL ({exc})") from exc
    if parts.scheme.lower() not in schemes:
        raise ValueError(f"must be a URL with one of the schemes {allowed}")
    if parts.scheme.lower() in ("http", "https") and not host:
        raise ValueError("must name a host")
    if parts.scheme.lower() == "data" and "," not in parts.path:
        raise ValueError("must be a data URL of the form data:[<media type>][;base64],<data>")


def check_uri(value: str) -> None:
    """Refuse an extension URI that is over 2048 chars, unschemed, or has spaces or controls."""
    check_length(value, MAX_URL_CHARS)
    scheme, colon, rest = value.partition(":")
    if not colon or not _URI_SCHEME.fullmatch(scheme) or not rest:
        raise ValueError("must be an absolute URI such as 'https://example.com/ext/v1'")
    if _has_control(value) or any(c.isspace() for c in value):
        raise ValueError("must not contain spaces or control characters")


# --- Every value of a request --------------------------------------------------------------------

UNSTORABLE_STRING = "must not contain NUL characters or unpaired surrogates"
NON_FINITE_NUMBER = "must be a finite number"


def _unstorable(text: str) -> bool:
    # PostgreSQL text and jsonb cannot hold U+0000, and an unpaired surrogate (valid JSON
    # "\ud800", not valid Unicode) cannot be encoded as UTF-8 for any database or response.
    if "\x00" in text:
        return True
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def printable_key(key: str) -> str:
    """Return a dict key as it can be shown in an error: escaped, at most 64 characters."""
    shown = key.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return shown if len(shown) <= 64 else shown[:61] + "..."


def unstorable_values(value: Any) -> Iterator[tuple[str, str]]:
    """Yield (path, problem) for every key, string or number in value no database can hold.

    Python's JSON parser accepts ``NaN``, ``Infinity`` and ``1e999`` (infinite), which JSON
    itself does not; PostgreSQL's jsonb refuses them, and so would strict clients reading
    them back.
    """
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, where = stack.pop()
        if isinstance(item, str):
            if _unstorable(item):
                yield (where or "params", UNSTORABLE_STRING)
        elif isinstance(item, float):
            if not math.isfinite(item):
                yield (where or "params", NON_FINITE_NUMBER)
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                key_text = key if isinstance(key, str) else str(key)
                shown = printable_key(key_text)
                child_path = f"{where}.{shown}" if where else shown
                if _unstorable(key_text):
                    yield (child_path, UNSTORABLE_STRING)
                stack.append((child, child_path))
        elif isinstance(item, list):
            stack.extend((child, f"{where}[{i}]") for i, child in reversed(list(enumerate(item))))


# --- Annotations the wire types use --------------------------------------------------------------


def client_limits(info: ValidationInfo) -> Limits | None:
    """Return the limits of a client request being validated; None for the server's own objects."""
    context = info.context
    limits = context.get(CONTEXT_KEY) if isinstance(context, dict) else None
    return limits if isinstance(limits, Limits) else None


def bounded_json(value: Any, info: ValidationInfo) -> Any:
    """Before-validator: a client's metadata object or data value within depth and size."""
    limits = client_limits(info)
    if limits is not None and value is not None:
        check_json(value, limits)
    return value


def bounded_list(value: Any, info: ValidationInfo) -> Any:
    """Before-validator: a client's list within WEBCAP_MAX_LIST_ITEMS, counted before its items."""
    limits = client_limits(info)
    if limits is not None:
        check_count(value, limits.list_items)
    return value


def _client_string(check: Callable[[str], None]) -> AfterValidator:
    """Return an after-validator running check on a non-empty string a client sent."""

    def validate(value: str | None, info: ValidationInfo) -> str | None:
        if value and client_limits(info) is not None:
            check(value)
        return value

    return AfterValidator(validate)


def _page_size_cap(value: int | None, info: ValidationInfo) -> int | None:
    # WEBCAP_MAX_PAGE_SIZE is read now, so it can change at run time.
    cap = (client_limits(info) or current_limits()).page_size
    if value is not None and value > cap:
        raise ValueError(f"must be at most {cap}")
    return value


def _webhook_url(value: str) -> str:
    # Shape only; common/netguard.py refuses private and loopback targets when it is stored.
    check_url(value, schemes=WEBHOOK_URL_SCHEMES)
    return value


Metadata = Annotated[dict[str, Any] | None, BeforeValidator(bounded_json)]
MediaType = Annotated[str | None, _client_string(check_media_type)]
Filename = Annotated[str | None, _client_string(check_filename)]
Identifier = Annotated[str, _client_string(check_id)]
OptionalIdentifier = Annotated[str | None, _client_string(check_id)]
PartUrl = Annotated[str | None, _client_string(lambda v: check_url(v, schemes=URL_SCHEMES))]
ExtensionUri = Annotated[str, _client_string(check_uri)]
OutputMode = Annotated[str, _client_string(check_output_mode)]
PageSize = Annotated[int | None, AfterValidator(_page_size_cap)]
# Push configs only ever come from clients: always checked.
WebhookUrl = Annotated[str, AfterValidator(_webhook_url)]

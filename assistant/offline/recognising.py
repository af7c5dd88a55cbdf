"""Recognising requests in the user's text: the tool calls it asks for, in order."""

from __future__ import annotations

import functools
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

from assistant.offline.calculating import _calculations


@dataclass(frozen=True)
class _Wanted:
    """A tool call the text asks for, and where in the text it was asked."""

    position: int
    name: str
    arguments: dict[str, Any]


_MASK = "\x00"
_URL = re.compile(r"https?://[^\s<>\"'`\x00]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?]}'\""
# "ask <agent> to <text>" or "delegate to <agent>: <text>" at the start: the whole rest is
# the sub-task for that registered agent (the delegate tool, remote_agents/tools.py).
_DELEGATE = re.compile(
    r"^\s*(?:please\s+)?(?:ask\s+(?P<asked>[a-z0-9][a-z0-9_-]*)\s+to\s+"
    r"|delegate\s+to\s+(?P<delegated>[a-z0-9][a-z0-9_-]*)\s*:\s*)(?P<text>\S.*)",
    re.IGNORECASE | re.DOTALL,
)
_ECHO = re.compile(r"\becho\b[ \t]*:?[ \t]*(?P<text>.*)", re.IGNORECASE | re.DOTALL)
_READ = re.compile(
    r"(?:\bread(?:\s+the)?|\bshow\s+me(?:\s+the)?)(?P<file>\s+file)?\s+"
    r"(?P<path>\"[^\"\n]+\"|'[^'\n]+'|`[^`\n]+`|\S+)",
    re.IGNORECASE,
)
_PATH_TRAILING = ".,;:!?)]}"
_TIME = re.compile(
    r"\bwhat\s+time\b"
    r"|\bwhat(?:['\u2019]s|\s+is)\s+the\s+(?:current\s+)?(?:time|date)\b"
    r"|\b(?:tell|show|give)\s+me\s+the\s+(?:current\s+)?time\b"
    r"|\bcurrent\s+(?:local\s+)?(?:time|date)\b"
    r"|\blocal\s+time\b"
    r"|\btime\s+is\s+it\b"
    r"|\btime\s+(?:now|in|at)\b"
    r"|\bdate\s+(?:now|today)\b"
    r"|\btoday['\u2019]?s\s+date\b"
    r"|\b(?:what|which)\s+(?:day|date|month|year)\s+is\s+(?:it|today)\b"
    r"|\bwhat(?:['\u2019]s|\s+is)\s+(?:the\s+)?day\s+today\b",
    re.IGNORECASE,
)
_ZONE_REGIONS = "Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific"
_ZONE = re.compile(
    rf"\b(?:{_ZONE_REGIONS}|Etc|US|Canada|Brazil|Chile|Mexico)"
    r"/[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z][A-Za-z0-9_+\-]*)?"
    r"|\bUTC\b",
    re.IGNORECASE,
)
# "in Tokyo", "in New York", "in the UK": up to three words after "in".
_PLACE = re.compile(
    r"\bin\s+(?:the\s+)?(?P<place>[A-Za-z][\w'\-]*(?:[ \t]+[A-Za-z][\w'\-]*){0,2})",
    re.IGNORECASE,
)
# Places and abbreviations people use that are no zone's name in the tz database.
_PLACE_ALIASES = {
    "uk": "Europe/London",
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "washington": "America/New_York",
    "boston": "America/New_York",
    "beijing": "Asia/Shanghai",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "mumbai": "Asia/Kolkata",
    "india": "Asia/Kolkata",
    "pst": "America/Los_Angeles",
    "pdt": "America/Los_Angeles",
    "mdt": "America/Denver",
    "cst": "America/Chicago",
    "cdt": "America/Chicago",
    "edt": "America/New_York",
    "bst": "Europe/London",
    "cest": "Europe/Paris",
    "ist": "Asia/Kolkata",
    "jst": "Asia/Tokyo",
    "aest": "Australia/Sydney",
}
# Zones named by everyday words ("in the west", "in Australia/North"): never taken for places.
_NOT_PLACES = frozenset(
    {"act", "center", "north", "south", "west", "virgin", "wake", "oral", "easter", "troll"}
)


def _mask(text: str, start: int, end: int) -> str:
    return text[:start] + _MASK * (end - start) + text[end:]


def _trim_url(url: str) -> str:
    while url and (
        url[-1] in _URL_TRAILING or (url[-1] == ")" and url.count(")") > url.count("("))
    ):
        url = url[:-1]
    return url


def _unquote(text: str) -> str:
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "\"'`":
        return text[1:-1]
    return text


def _looks_like_path(path: str) -> bool:
    return "/" in path or "\\" in path or "." in path.strip(".") or path.startswith("~")


@functools.cache
def _zone_names() -> dict[str, str]:
    try:
        return {name.lower(): name for name in zoneinfo.available_timezones()}
    except Exception:
        return {}


@functools.cache
def _place_zones() -> dict[str, str]:
    """Zones by place: "tokyo" is Asia/Tokyo, "new york" America/New_York, "japan" Japan."""
    places = dict(_PLACE_ALIASES)
    regions = set(_ZONE_REGIONS.split("|"))
    for name in sorted(_zone_names().values()):
        if "/" not in name and name not in ("Factory", "localtime"):
            places.setdefault(name.lower(), name)
        elif name.split("/", 1)[0] in regions:
            places.setdefault(name.rsplit("/", 1)[1].lower().replace("_", " "), name)
    return {place: zone for place, zone in places.items() if place not in _NOT_PLACES}


def _place_zone(place: str) -> str | None:
    """Return the zone of the longest run of the place's first words that names one."""
    words = place.lower().split()
    for count in range(len(words), 0, -1):
        zone = _place_zones().get(" ".join(words[:count]))
        if zone is not None:
            return zone
    return None


def _zones(text: str) -> list[tuple[int, str]]:
    """Return the zones the text names (IANA names, places, UTC), each once, in order."""
    found = [(match.start(), _canonical_zone(match.group())) for match in _ZONE.finditer(text)]
    for match in _PLACE.finditer(text):
        zone = _place_zone(match.group("place"))
        if zone is not None:
            found.append((match.start(), zone))
    zones: list[tuple[int, str]] = []
    for position, zone in sorted(found):
        if zone not in {known for _, known in zones}:
            zones.append((position, zone))
    return zones


def _canonical_zone(name: str) -> str:
    if name.upper() == "UTC":
        return "UTC"
    return _zone_names().get(name.lower(), name)


def _wanted_calls(text: str) -> list[_Wanted]:
    """Return the tool calls the text asks for, in the order they appear in it."""
    delegated = _DELEGATE.match(text)
    if delegated:
        # The sub-task is the other agent's to read: nothing in it is parsed here.
        agent = (delegated.group("asked") or delegated.group("delegated")).lower()
        message = delegated.group("text").strip()
        return [_Wanted(0, "delegate", {"agent": agent, "message": message})]
    wanted: list[_Wanted] = []
    urls = [(m.start(), m.end()) for m in _URL.finditer(text)]

    # "echo" takes the rest of the message verbatim; only what comes before it is parsed.
    for match in _ECHO.finditer(text):
        if any(start <= match.start() < end for start, end in urls):
            continue
        echoed = _unquote(match.group("text").strip())
        if echoed:
            wanted.append(_Wanted(match.start(), "echo", {"text": echoed}))
            text = text[: match.start()]
        break

    masked = text
    for match in _URL.finditer(text):
        url = _trim_url(match.group())
        if "://" in url and url.split("://", 1)[1]:
            wanted.append(_Wanted(match.start(), "http_request", {"url": url, "method": "GET"}))
        masked = _mask(masked, match.start(), match.end())

    for match in _READ.finditer(masked):
        raw = match.group("path")
        if _MASK in raw:
            continue
        quoted = raw[0] in "\"'`"
        path = _unquote(raw) if quoted else raw.rstrip(_PATH_TRAILING)
        if path and (quoted or match.group("file") or _looks_like_path(path)):
            wanted.append(_Wanted(match.start(), "read_file", {"path": path}))
            masked = _mask(masked, match.start(), match.end())

    times = list(_TIME.finditer(masked))
    if times:
        zones = _zones(masked)
        if not zones:
            wanted.append(_Wanted(times[0].start(), "current_time", {}))
        for index, (position, zone) in enumerate(zones):
            at = times[0].start() if index == 0 else position
            wanted.append(_Wanted(at, "current_time", {"timezone": zone}))

    for position, expression in _calculations(masked):
        wanted.append(_Wanted(position, "calculator", {"expression": expression}))

    unique: list[_Wanted] = []
    for item in sorted(wanted, key=lambda item: item.position):
        if not any(item.name == u.name and item.arguments == u.arguments for u in unique):
            unique.append(item)
    return unique

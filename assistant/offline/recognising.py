"""Recognising requests in the user's text: the tool calls it asks for, in order."""

from __future__ import annotations

import ast
import functools
import re
import zoneinfo
from dataclasses import dataclass
from typing import Any

# Longer runs of digits and operators are not taken for arithmetic (nor parsed).
MAX_EXPRESSION_CHARS = 1000


@dataclass(frozen=True)
class _Wanted:
    """A tool call the text asks for, and where in the text it was asked."""

    position: int
    name: str
    arguments: dict[str, Any]


_MASK = "\x00"
_URL = re.compile(r"https?://[^\s<>\"'`\x00]+", re.IGNORECASE)
_URL_TRAILING = ".,;:!?]}'\""
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
    r"|\btoday['\u2019]?s\s+date\b"
    r"|\bwhat\s+day\s+is\s+it\b",
    re.IGNORECASE,
)
_ZONE = re.compile(
    r"\b(?:Africa|America|Antarctica|Arctic|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)"
    r"/[A-Za-z][A-Za-z0-9_+\-]*(?:/[A-Za-z][A-Za-z0-9_+\-]*)?"
    r"|\bUTC\b",
    re.IGNORECASE,
)
_ARITHMETIC_RUN = re.compile(r"[0-9+\-*/%(). \t]+")
_ARITHMETIC_NODES = (
    ast.Expression,
    ast.BinOp,
    ast.UnaryOp,
    ast.Constant,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Pow,
    ast.UAdd,
    ast.USub,
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


def _canonical_zone(name: str) -> str:
    if name.upper() == "UTC":
        return "UTC"
    return _zone_names().get(name.lower(), name)


def _arithmetic(candidate: str) -> str | None:
    """Return the candidate trimmed to an arithmetic expression with an operator, or None."""
    expression = candidate.strip()
    changed = True
    while expression and changed:
        before = expression
        expression = expression.rstrip(".+-*/%( \t").lstrip(") \t")
        if expression.endswith(")") and expression.count(")") > expression.count("("):
            expression = expression[:-1]
        if expression.startswith("(") and expression.count("(") > expression.count(")"):
            expression = expression[1:]
        changed = expression != before
    if len(expression) > MAX_EXPRESSION_CHARS or not any(char.isdigit() for char in expression):
        return None
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        return None
    nodes = list(ast.walk(tree))
    if not all(isinstance(node, _ARITHMETIC_NODES) for node in nodes):
        return None
    if not any(isinstance(node, ast.BinOp) for node in nodes):
        return None
    return expression


def _wanted_calls(text: str) -> list[_Wanted]:
    """Return the tool calls the text asks for, in the order they appear in it."""
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
        zones: list[tuple[int, str]] = []
        for match in _ZONE.finditer(masked):
            zone = _canonical_zone(match.group())
            if zone not in {known for _, known in zones}:
                zones.append((match.start(), zone))
        if not zones:
            wanted.append(_Wanted(times[0].start(), "current_time", {}))
        for index, (position, zone) in enumerate(zones):
            at = times[0].start() if index == 0 else position
            wanted.append(_Wanted(at, "current_time", {"timezone": zone}))

    for match in _ARITHMETIC_RUN.finditer(masked):
        expression = _arithmetic(match.group())
        if expression is not None:
            offset = match.group().find(expression)
            wanted.append(
                _Wanted(match.start() + max(offset, 0), "calculator", {"expression": expression})
            )

    unique: list[_Wanted] = []
    for item in sorted(wanted, key=lambda item: item.position):
        if not any(item.name == u.name and item.arguments == u.arguments for u in unique):
            unique.append(item)
    return unique

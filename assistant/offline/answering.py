"""Writing the answer: tool calls for what the user asks, or text about their results."""

from __future__ import annotations

import hashlib
import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from assistant.offline.greeting import _help_text, _small_talk
from assistant.offline.reading import _arguments, _brief, _get, _text, _tool_names, _words
from assistant.offline.recognising import _wanted_calls
from assistant.offline.summarising import _summary_request

SUMMARY_PROMPT_PREFIX = "summarize the conversation"
SUMMARY_ITEM_CHARS = 60
SUMMARY_MAX_CHARS = 1000
READ_FILE_PREVIEW_CHARS = 500
TOKENS_PER_TOOL = 10


@dataclass
class _Answer:
    """One assistant turn: text, or tool calls as (id, name, JSON arguments)."""

    text: str = ""
    tool_calls: list[tuple[str, str, str]] = field(default_factory=list)
    prompt_tokens: int = 0

    @property
    def finish_reason(self) -> str:
        return "tool_calls" if self.tool_calls else "stop"

    @property
    def completion_tokens(self) -> int:
        if self.tool_calls:
            return TOKENS_PER_TOOL * len(self.tool_calls)
        return _words(self.text)

    def usage(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
        }


def _names(names: list[str]) -> str:
    if len(names) == 1:
        return names[0]
    return ", ".join(names[:-1]) + " and " + names[-1]


def _unavailable(missing: list[str]) -> str:
    plural = len(missing) > 1
    return (
        f"The {_names(missing)} tool{'s' if plural else ''} "
        f"{'are' if plural else 'is'} not available here."
    )


def _show(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(value, ensure_ascii=False)
    except (TypeError, ValueError):
        return str(value)


def _sentence_end(text: str) -> str:
    return text.strip().rstrip(".")


def _title(body: str) -> str:
    match = re.search(r"<title[^>]*>(.*?)</title\s*>", body, re.IGNORECASE | re.DOTALL)
    return _brief(html.unescape(match.group(1)), 200) if match else ""


def _describe_time(zone: object, result: object) -> str:
    """The time current_time returned, with the weekday and the date spelled out."""
    where = f" in {zone}" if zone else ""
    try:
        moment = datetime.fromisoformat(_show(result))
    except ValueError:
        return f"The time{where} is {_show(result)}."
    # Without a zone the tool answers in UTC.
    utc = " UTC" if not zone and moment.utcoffset() == timedelta(0) else ""
    return (
        f"The time{where} is {moment:%H:%M}{utc} on {moment:%A}, {moment.day} {moment:%B %Y} "
        f"({_show(result)})."
    )


def _describe_result(name: str, arguments: dict[str, Any], result: object) -> str:
    """One sentence about a successful tool call."""
    if name == "calculator":
        expression = arguments.get("expression") or "The expression"
        return f"{expression} = {_show(result)}."
    if name == "current_time":
        return _describe_time(arguments.get("timezone"), result)
    if name == "echo":
        return _show(result) if result is not None else str(arguments.get("text", ""))
    if name == "delegate" and isinstance(result, Mapping):
        agent = arguments.get("agent", "The agent")
        answer = str(result.get("text") or "").strip()
        return (
            f"{agent} answered: {_brief(answer, READ_FILE_PREVIEW_CHARS)}"
            if answer
            else (f"{agent} finished ({result.get('state', 'completed')}) without text.")
        )
    if name == "read_file":
        content = result if isinstance(result, str) else _show(_get(result, "content") or result)
        return f"{arguments.get('path', 'The file')} contains:\n{content[:READ_FILE_PREVIEW_CHARS]}"
    if name == "http_request":
        url = arguments.get("url", "the URL")
        if not isinstance(result, Mapping):
            return f"Fetched {url}: {_brief(_show(result), 200)}."
        status = result.get("status", result.get("status_code", "?"))
        body = result.get("body")
        body = body if isinstance(body, str) else ("" if body is None else _show(body))
        sentence = f"Fetched {url}: HTTP {status}, {len(body.encode('utf-8'))} bytes."
        title = _title(body)
        if title:
            sentence += f' The page title is "{title}".'
        if result.get("truncated"):
            sentence += " The body was truncated."
        return sentence
    return f"{name} returned {_brief(_show(result), READ_FILE_PREVIEW_CHARS)}."


def _describe_tool_message(name: str, arguments: dict[str, Any], content: object) -> str:
    """One sentence about a tool message: its result, its error, or its rejection."""
    raw = _text(content)
    if not raw.strip():
        return f"{name} returned no result."
    try:
        payload: object = json.loads(raw)
    except ValueError:
        payload = raw
    if isinstance(payload, dict) and "error" in payload:
        if payload.get("rejected"):
            reason = _sentence_end(_show(payload.get("reason") or payload.get("error") or ""))
            return f"{name} was not approved: {reason}." if reason else f"{name} was not approved."
        return f"{name} failed: {_sentence_end(_show(payload['error']))}."
    if isinstance(payload, dict) and "result" in payload:
        payload = payload["result"]
    return _describe_result(name, arguments, payload)


def _answer_tool_results(messages: list[Any], tools: set[str] | None) -> str:
    """Write the final answer from the trailing tool messages."""
    first = len(messages)
    while first > 0 and _get(messages[first - 1], "role") == "tool":
        first -= 1
    calls = []
    if first > 0 and _get(messages[first - 1], "role") == "assistant":
        calls = list(_get(messages[first - 1], "tool_calls") or [])
    if not calls:
        return ""  # Results of no call: odd input, answered with the help text.
    by_id = {_get(call, "id"): call for call in calls if _get(call, "id")}

    sentences: list[str] = []
    for position, message in enumerate(messages[first:]):
        call = by_id.get(_get(message, "tool_call_id"))
        if call is None and position < len(calls):
            call = calls[position]
        function = _get(call, "function")
        name = _get(function, "name") or _get(message, "name") or "the tool"
        arguments = _arguments(_get(function, "arguments"))
        sentences.append(_describe_tool_message(str(name), arguments, _get(message, "content")))

    # Mention tools the user asked for that could not be called.
    if tools is not None:
        called = {str(_get(_get(call, "function"), "name")) for call in calls}
        user = next(
            (m for m in reversed(messages[: max(first - 1, 0)]) if _get(m, "role") == "user"),
            None,
        )
        missing: list[str] = []
        for wanted in _wanted_calls(_text(_get(user, "content"))):
            name = wanted.name
            if name not in tools and name not in called and name not in missing:
                missing.append(name)
        if missing:
            sentences.append(_unavailable(missing))
    return "\n".join(sentences)


def _summary(messages: list[Any]) -> str:
    items = []
    for message in messages[1:]:
        if _get(message, "role") in ("user", "assistant"):
            text = " ".join(_text(_get(message, "content")).split())
            if text:
                items.append(text[:SUMMARY_ITEM_CHARS])
    summary = "Summary: " + (" | ".join(items) if items else "nothing to summarize.")
    return summary[:SUMMARY_MAX_CHARS]


def _call_id(conversation: str, index: int) -> str:
    digest = hashlib.sha256(f"{conversation}\n{index}".encode()).hexdigest()
    return f"call_{digest[:24]}"


def _conversation_key(messages: list[Any]) -> str:
    """A stable text of the conversation, to derive deterministic tool-call ids from."""
    rows = []
    for message in messages:
        calls = [
            [
                _get(c, "id"),
                _get(_get(c, "function"), "name"),
                _get(_get(c, "function"), "arguments"),
            ]
            for c in (_get(message, "tool_calls") or [])
        ]
        rows.append(
            [
                _get(message, "role"),
                _text(_get(message, "content")),
                _get(message, "tool_call_id"),
                calls,
            ]
        )
    return json.dumps(rows, default=str, ensure_ascii=False, sort_keys=True)


def _last_user_text(messages: list[Any]) -> str:
    user = next((m for m in reversed(messages) if _get(m, "role") == "user"), None)
    return _text(_get(user, "content"))


def _decide(messages: list[Any], tool_specs: object, tool_choice: object) -> _Answer:
    tools = None if tool_choice == "none" else _tool_names(tool_specs)
    first = messages[0] if messages else None
    if _get(first, "role") == "system" and (
        _text(_get(first, "content")).lstrip().lower().startswith(SUMMARY_PROMPT_PREFIX)
    ):
        return _Answer(text=_summary(messages))

    last_role = _get(messages[-1], "role") if messages else None
    if last_role == "tool":
        text = _answer_tool_results(messages, tools)
        return _Answer(text=text or _help_text(_last_user_text(messages)))
    if last_role != "user":
        return _Answer(text=_help_text(_last_user_text(messages)))

    user_text = _text(_get(messages[-1], "content"))
    # Before tool calls: the text to summarize may hold numbers, URLs or "read ...".
    summary = _summary_request(user_text)
    if summary is not None:
        return _Answer(text=summary)
    wanted = _wanted_calls(user_text)
    callable_ = [item for item in wanted if tools is not None and item.name in tools]
    if callable_:
        conversation = _conversation_key(messages)
        return _Answer(
            tool_calls=[
                (_call_id(conversation, index), item.name, json.dumps(item.arguments))
                for index, item in enumerate(callable_)
            ]
        )
    if wanted:
        missing = list(dict.fromkeys(item.name for item in wanted))
        return _Answer(text=f"I am webcap's offline rule-based model. {_unavailable(missing)}")
    return _Answer(text=_small_talk(user_text, tools) or _help_text(user_text, tools))


def _answer(messages: object, optional_params: object) -> _Answer:
    """Decide the model's turn; never raises (odd input gets the help text)."""
    conversation = list(messages) if isinstance(messages, list | tuple) else []
    tools = _get(optional_params, "tools") if isinstance(optional_params, Mapping) else None
    prompt_tokens = TOKENS_PER_TOOL * len(tools) if isinstance(tools, list) else 0
    try:
        prompt_tokens += sum(_words(_text(_get(m, "content"))) for m in conversation)
        answer = _decide(conversation, tools, _get(optional_params, "tool_choice"))
    except Exception:
        try:
            answer = _Answer(text=_help_text(_last_user_text(conversation)))
        except Exception:
            answer = _Answer(text=_help_text(""))
    answer.prompt_tokens = prompt_tokens
    return answer

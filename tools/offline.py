"""webcap's offline model: a deterministic, rule-based stand-in for an LLM.

When no model is configured webcap talks to ``webcap/offline`` so that ``make run`` and the
tests work with no API key and no network. It is not a language model: it matches a few
patterns in the last user message and answers the same way every time for the same input.

What it recognises in the last user message (case-insensitive):

* arithmetic such as ``what is 12*7?`` or ``(3+4)*2``: calls ``calculator``;
* ``what time is it``, ``current time``, ``time in Europe/Paris``: calls ``current_time``
  (with ``timezone`` only when the text names an IANA zone);
* ``echo <text>``: calls ``echo`` with the rest of the message;
* ``read <path>``, ``read file <path>``, ``show me <path>``: calls ``read_file``;
* a URL, bare or after ``fetch``/``get``/``open``/``download``: calls ``http_request`` (GET).

Several requests in one message become several tool calls in one turn, in the order they
appear in the text. Only tools offered in the request's ``tools`` are called; a wanted tool
that is missing is reported as not available. When the conversation ends with tool results
it turns them into one sentence per call. A first system message starting with "Summarize
the conversation" gets a mechanical summary. Anything else gets a short help text.

It is registered with litellm as a custom provider (``litellm.custom_provider_map``), so the
agent calls ``litellm.completion(model="webcap/offline", ...)`` exactly as it calls a real
provider: the same streaming chunks, OpenAI-format tool-call deltas, finish reasons, usage
and cost code paths are exercised with and without a key. litellm is imported only inside
functions (importing it takes seconds, and the web process never needs it); ``OfflineModel``
is therefore created on first access.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import html
import json
import os
import re
import threading
import zoneinfo
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import GenericStreamingChunk, ModelResponse

    # Created on first access by the module's __getattr__ (it subclasses litellm's CustomLLM).
    OfflineModel: type[CustomLLM]

OFFLINE_PROVIDER = "webcap"
OFFLINE_MODEL = f"{OFFLINE_PROVIDER}/offline"

# What litellm.get_model_info / cost_per_token report for the offline model: it is free.
_MODEL_INFO: dict[str, Any] = {
    "litellm_provider": OFFLINE_PROVIDER,
    "mode": "chat",
    "max_tokens": 4096,
    "max_input_tokens": 8192,
    "max_output_tokens": 4096,
    "input_cost_per_token": 0.0,
    "output_cost_per_token": 0.0,
    # Given explicitly, or register_model logs a warning about missing cache pricing.
    "cache_creation_input_token_cost": 0.0,
    "cache_read_input_token_cost": 0.0,
    "supports_function_calling": True,
    "supports_parallel_function_calling": True,
    "supports_tool_choice": True,
    "supports_system_messages": True,
    "supports_vision": False,
}

SUMMARY_PROMPT_PREFIX = "summarize the conversation"
SUMMARY_ITEM_CHARS = 60
SUMMARY_MAX_CHARS = 1000
READ_FILE_PREVIEW_CHARS = 500
TOKENS_PER_TOOL = 10
# Longer runs of digits and operators are not taken for arithmetic (nor parsed).
MAX_EXPRESSION_CHARS = 1000

_lock = threading.RLock()


# --- Reading the request ------------------------------------------------------------------------


def _get(obj: object, key: str) -> Any:
    """Read a field from a dict or from an object (litellm hands either)."""
    if isinstance(obj, Mapping):
        return obj.get(key)
    return getattr(obj, key, None)


def _text(content: object) -> str:
    """Return the text of a message's content: a string, or the text parts of a list."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts = [_get(part, "text") for part in content if _get(part, "type") == "text"]
        return "\n".join(text for text in texts if isinstance(text, str))
    return ""


def _words(text: str) -> int:
    return len(text.split())


def _brief(text: str, limit: int) -> str:
    """Collapse whitespace and cut to ``limit`` characters."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def _tool_names(tools: object) -> set[str] | None:
    """Return the names of the offered function tools, or None when no tools were passed."""
    if not isinstance(tools, list):
        return None
    names: set[str] = set()
    for spec in tools:
        name = _get(_get(spec, "function"), "name") or _get(spec, "name")
        if isinstance(name, str):
            names.add(name)
    return names


def _arguments(raw: object) -> dict[str, Any]:
    """Return a tool call's arguments as a dict, whatever form they came in."""
    if isinstance(raw, Mapping):
        return dict(raw)
    if isinstance(raw, str):
        try:
            value = json.loads(raw)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}
    return {}


# --- Recognising requests in the user's text -----------------------------------------------------


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


# --- Writing the answer -------------------------------------------------------------------------


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


def _help_text(user_text: str) -> str:
    said = _brief(user_text, 80)
    echo = f'You said: "{said}".' if said else "Your message had no text."
    return (
        "I am webcap's offline model, a rule-based stand-in rather than an LLM. I can "
        'calculate ("what is 12*7"), tell the time ("what time is it"), echo text '
        '("echo hello"), read files ("read notes.txt") and fetch URLs '
        f'("fetch https://example.com") when those tools are enabled. {echo}'
    )


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


def _describe_result(name: str, arguments: dict[str, Any], result: object) -> str:
    """One sentence about a successful tool call."""
    if name == "calculator":
        expression = arguments.get("expression") or "The expression"
        return f"{expression} = {_show(result)}."
    if name == "current_time":
        zone = arguments.get("timezone")
        return (
            f"The time in {zone} is {_show(result)}." if zone else f"The time is {_show(result)}."
        )
    if name == "echo":
        return _show(result) if result is not None else str(arguments.get("text", ""))
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
    return _Answer(text=_help_text(user_text))


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


# --- Streaming ----------------------------------------------------------------------------------


def _pieces(text: str) -> list[str]:
    """Split text into one word per piece, keeping whitespace, so the pieces join to the text.

    A piece equal to the one before it is merged into it: litellm's stream wrapper fails a
    stream that repeats the same chunk too often (REPEATED_STREAMING_CHUNK_LIMIT).
    """
    pieces: list[str] = []
    for piece in re.findall(r"\s*\S+\s*", text) or ([text] if text else []):
        if pieces and pieces[-1] == piece:
            pieces[-1] += piece
        else:
            pieces.append(piece)
    return pieces


def _chunks(answer: _Answer) -> Iterator[GenericStreamingChunk]:
    """Yield the answer as litellm generic streaming chunks, the last with finish and usage."""
    for piece in _pieces(answer.text):
        yield {
            "text": piece,
            "tool_use": None,
            "is_finished": False,
            "finish_reason": "",
            "usage": None,
            "index": 0,
        }
    for index, (call_id, name, arguments) in enumerate(answer.tool_calls):
        yield {
            "text": "",
            # One chunk per call, each with its own index: litellm turns it into
            # delta.tool_calls=[{index, id, type, function: {name, arguments}}].
            "tool_use": {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": arguments},
                "index": index,
            },
            "is_finished": False,
            "finish_reason": "",
            "usage": None,
            "index": 0,
        }
    usage = answer.usage()
    yield {
        "text": "",
        "tool_use": None,
        "is_finished": True,
        "finish_reason": answer.finish_reason,
        "usage": {
            "prompt_tokens": usage["prompt_tokens"],
            "completion_tokens": usage["completion_tokens"],
            "total_tokens": usage["total_tokens"],
        },
        "index": 0,
    }


# --- The litellm provider -----------------------------------------------------------------------


@functools.cache
def _offline_model_class() -> type[CustomLLM]:
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import (
        ChatCompletionMessageToolCall,
        Choices,
        Function,
        Message,
        ModelResponse,
        Usage,
    )

    class OfflineModel(CustomLLM):
        """webcap's rule-based offline model, served to litellm as a custom provider."""

        def completion(
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> ModelResponse:
            """Answer in one ModelResponse: text, or tool calls with finish_reason tool_calls."""
            answer = _answer(messages, kwargs.get("optional_params"))
            response = kwargs.get("model_response")
            if not isinstance(response, ModelResponse):
                response = ModelResponse()
            tool_calls = [
                ChatCompletionMessageToolCall(
                    id=call_id,
                    type="function",
                    function=Function(name=name, arguments=arguments),
                )
                for call_id, name, arguments in answer.tool_calls
            ]
            message = Message(
                role="assistant",
                content=None if tool_calls else answer.text,
                tool_calls=tool_calls or None,
            )
            response.choices = [
                Choices(index=0, finish_reason=answer.finish_reason, message=message)
            ]
            usage = answer.usage()
            response.usage = Usage(  # type: ignore[attr-defined]
                prompt_tokens=usage["prompt_tokens"],
                completion_tokens=usage["completion_tokens"],
                total_tokens=usage["total_tokens"],
            )
            response.model = model
            return response

        async def acompletion(
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> ModelResponse:
            """The async form of completion()."""
            return self.completion(model, messages, *args, **kwargs)

        def streaming(
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> Iterator[GenericStreamingChunk]:
            """Stream text one word per chunk, or one chunk per tool call; then finish + usage."""
            return _chunks(_answer(messages, kwargs.get("optional_params")))

        # litellm iterates what astreaming returns, so it must be an async generator, where
        # CustomLLM declares a coroutine returning an async iterator.
        async def astreaming(  # type: ignore[override]
            self, model: str, messages: list[Any], *args: Any, **kwargs: Any
        ) -> AsyncIterator[GenericStreamingChunk]:
            """The async form of streaming()."""
            for chunk in _chunks(_answer(messages, kwargs.get("optional_params"))):
                yield chunk

    return OfflineModel


def __getattr__(name: str) -> Any:
    """Create ``OfflineModel`` on first access, so importing this module never imports litellm."""
    if name == "OfflineModel":
        with _lock:
            return _offline_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def register_offline_model() -> None:
    """Make litellm serve ``webcap/offline`` (free, no network); safe to call repeatedly."""
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm
    from litellm.utils import custom_llm_setup

    with _lock:
        if not any(
            _get(item, "provider") == OFFLINE_PROVIDER for item in litellm.custom_provider_map
        ):
            litellm.custom_provider_map.append(
                {"provider": OFFLINE_PROVIDER, "custom_handler": _offline_model_class()()}
            )
        # litellm runs this at the start of every call too; running it now also makes
        # get_llm_provider(), get_model_info() and cost_per_token() know the provider.
        custom_llm_setup()  # type: ignore[no-untyped-call]
        if OFFLINE_MODEL not in litellm.model_cost:
            litellm.register_model({OFFLINE_MODEL: dict(_MODEL_INFO)})

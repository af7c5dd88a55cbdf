"""webcap's offline model: a deterministic, rule-based stand-in for an LLM.

When no model is configured webcap talks to ``webcap/offline`` so that ``make run`` and the
tests work with no API key and no network. It is not a language model: it matches a few
patterns in the last user message and answers the same way every time for the same input.

What it recognises in the last user message (case-insensitive):

* everyday arithmetic such as ``what is 2^10``, ``What's 15% of 240?``, ``sqrt(144)``,
  ``square root of 144``, ``5 plus 3`` or ``(3+4)*2``: calls ``calculator`` with the
  phrasing in the calculator's syntax (``15% * 240``, ``sqrt(144)``, ``5 + 3``);
* ``what time is it``, ``what's the date today``, ``what day is it in Tokyo``, ``time in
  Europe/Paris``: calls ``current_time`` (with ``timezone`` when the text names an IANA zone,
  a place of the tz database or a common abbreviation);
* ``echo <text>``: calls ``echo`` with the rest of the message;
* ``ask <agent> to <text>`` or ``delegate to <agent>: <text>`` at the start: calls
  ``delegate`` with that registered remote agent and the rest of the message;
* ``read <path>``, ``read file <path>``, ``show me <path>``: calls ``read_file``;
* a URL, bare or after ``fetch``/``get``/``open``/``download``: calls ``http_request`` (GET);
* ``summarize this: <text>``, ``summarise: <text>``, ``tl;dr <text>`` at the start: an
  extractive summary of the text (no tool, no network);
* greetings, help and thanks (``hello``, ``help``, ``what can you do?``): what it is, what
  it understands with the tools offered, and how to configure a real model (WEBCAP_MODEL).

Several requests in one message become several tool calls in one turn, in the order they
appear in the text. Only tools offered in the request's ``tools`` are called; a wanted tool
that is missing is reported as not available. When the conversation ends with tool results
it turns them into one sentence per call. A first system message starting with "Summarize
the conversation" gets a mechanical summary. Anything else gets the help text.

It is registered with litellm as a custom provider (``litellm.custom_provider_map``), so the
agent calls ``litellm.completion(model="webcap/offline", ...)`` exactly as it calls a real
provider: the same streaming chunks, OpenAI-format tool-call deltas, finish reasons, usage
and cost code paths are exercised with and without a key. litellm is imported only inside
functions (importing it takes seconds, and the web process never needs it); ``OfflineModel``
is therefore created on first access.

The package is split by what the model does with a request: ``reading`` (fields of the
messages litellm hands over), ``recognising`` (the tool calls a user's text asks for),
``calculating`` (arithmetic in everyday phrasing), ``summarising`` and ``greeting`` (the
answers that need no tool), ``answering`` (the turn to give back) and ``provider``
(streaming it, and the litellm provider itself).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from assistant.offline.provider import (
    OFFLINE_MODEL,
    OFFLINE_PROVIDER,
    _lock,
    _offline_model_class,
    register_offline_model,
)

if TYPE_CHECKING:
    from litellm.llms.custom_llm import CustomLLM

    # Created on first access by the module's __getattr__ (it subclasses litellm's CustomLLM).
    OfflineModel: type[CustomLLM]

__all__ = ["OFFLINE_MODEL", "OFFLINE_PROVIDER", "OfflineModel", "register_offline_model"]


def __getattr__(name: str) -> Any:
    """Create ``OfflineModel`` on first access, so importing this module never imports litellm."""
    if name == "OfflineModel":
        with _lock:
            return _offline_model_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

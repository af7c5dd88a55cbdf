"""Talking about itself: greetings, help, thanks, and the text for what it cannot answer.

Every one of these says what the offline model is (a rule-based stand-in, not a language
model), what it understands with the tools the request offers, and how to configure a real
model instead.
"""

from __future__ import annotations

import re

from assistant.offline.reading import _brief

# Longer messages are requests, not greetings, even when they open with "hi".
GREETING_MAX_WORDS = 8

_GREETING = re.compile(
    r"\A\W*(?:hello|hi|hey|hiya|howdy|hallo|greetings|good\s+(?:morning|afternoon|evening|day))"
    r"\b",
    re.IGNORECASE,
)
_HELP = re.compile(
    r"\bhelp\b|\A\W*(?:\?+|usage|commands)\W*\Z"
    r"|\bwhat\s+(?:can|do)\s+you\s+(?:do|know|understand)\b"
    r"|\b(?:who|what)\s+are\s+you\b"
    r"|\bhow\s+do\s+i\s+use\s+(?:you|this|webcap)\b",
    re.IGNORECASE,
)
_THANKS = re.compile(r"\A\W*(?:thanks|thank\s+you|thx|cheers)\b", re.IGNORECASE)

_WHAT_I_AM = "I am webcap's offline model, a rule-based stand-in, not a language model."
_HOW_TO_CONFIGURE = (
    "For real answers, set WEBCAP_MODEL to a litellm model name (for example "
    "WEBCAP_MODEL=openai/gpt-4o-mini with WEBCAP_MODEL_API_KEY) and restart webcap; see "
    "docs/agent.md."
)
# What it understands, each with the tool it needs (None: no tool), in the order listed.
_SKILLS: list[tuple[str | None, str]] = [
    ("calculator", 'arithmetic ("what is 2^10", "15% of 240", "square root of 144")'),
    ("current_time", 'the date and time ("what time is it in Tokyo?")'),
    (None, 'summaries of text you give me ("summarize: <text>")'),
    ("echo", '"echo <text>"'),
    ("read_file", 'reading a file from the server\'s files folder ("read notes.txt")'),
    ("http_request", 'fetching a web page ("fetch https://example.com")'),
]


def _skills(tools: set[str] | None) -> str:
    known = ["greetings", "help"]
    known += [text for tool, text in _SKILLS if tool is None or (tools and tool in tools)]
    return f"I understand {', '.join(known[:-1])} and {known[-1]}."


def _help_text(user_text: str, tools: set[str] | None = None) -> str:
    """The answer to a message it cannot answer: what it is, what it understands, what to do."""
    said = _brief(user_text, 80)
    opening = f'I cannot answer "{said}".' if said else "Your message had no text."
    return f"{opening} {_about(tools)}"


def _about(tools: set[str] | None) -> str:
    return f"{_WHAT_I_AM} {_skills(tools)} {_HOW_TO_CONFIGURE}"


def _small_talk(user_text: str, tools: set[str] | None) -> str | None:
    """Answer a greeting, a request for help or thanks; None for any other message."""
    if len(user_text.split()) > GREETING_MAX_WORDS:
        return None
    if _HELP.search(user_text):
        hello = "Hello! " if _GREETING.search(user_text) else ""
        return f"{hello}{_about(tools)}"
    if _GREETING.search(user_text):
        return f"Hello! {_about(tools)}"
    if _THANKS.search(user_text):
        return f"You are welcome. {_WHAT_I_AM} {_HOW_TO_CONFIGURE}"
    return None

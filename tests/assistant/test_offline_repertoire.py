"""What the offline model answers to everyday requests, through litellm and the real tools.

Each phrasing goes to ``litellm.completion(model="webcap/offline")`` as the assistant sends
it; the tool calls the model asks for run as the real built-in tools (approval is the
agent's business, tests/assistant/test_assistant.py), their results go back, and the test
asserts the model's final answer. The table in docs/agent.md is this table.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from assistant.offline import register_offline_model
from tests.assistant.test_offline import ALL_TOOLS, _assistant_calls, _call, _tool_result, _user
from tools.registry import ToolError, tool_get

pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")

ABOUT = (
    "I am webcap's offline model, a rule-based stand-in, not a language model. "
    'I understand greetings, help, arithmetic ("what is 2^10", "15% of 240", '
    '"square root of 144"), the date and time ("what time is it in Tokyo?"), summaries of '
    'text you give me ("summarize: <text>"), "echo <text>", reading a file from the '
    'server\'s files folder ("read notes.txt") and fetching a web page '
    '("fetch https://example.com"). '
    "For real answers, set WEBCAP_MODEL to a litellm model name (for example "
    "WEBCAP_MODEL=openai/gpt-4o-mini with WEBCAP_MODEL_API_KEY) and restart webcap; see "
    "docs/agent.md."
)
TEXT = (
    "Webcap stores every task in a database. "
    "The weather was pleasant on Tuesday. "
    "Each task keeps its messages, its artifacts and its events in the database. "
    "Lunch was late. "
    "A task that waits for approval keeps its state in the database until a person decides. "
    "Nobody likes rain."
)
SUMMARY = (
    "Summary (2 of 6 sentences, picked by word frequency):\n"
    "Each task keeps its messages, its artifacts and its events in the database. "
    "A task that waits for approval keeps its state in the database until a person decides."
)


def _time(zone: str, offset: str) -> re.Pattern[str]:
    """The answer to a time question: the clock, weekday and date, and the tool's ISO text."""
    return re.compile(
        rf"The time{zone} is \d\d:\d\d{' UTC' if not zone else ''} on "
        r"(Mon|Tues|Wednes|Thurs|Fri|Satur|Sun)day, \d{1,2} [A-Z][a-z]+ \d{4} "
        rf"\(\d{{4}}-\d\d-\d\dT\d\d:\d\d:\d\d{offset}\)\."
    )


# (what the user writes, the final answer: a string, or a pattern for the clock)
REPERTOIRE: list[tuple[str, str | re.Pattern[str]]] = [
    # Arithmetic: the calculator with the phrasing rewritten into its syntax.
    ("what is 2^10", "2^10 = 1024."),
    ("What's 15% of 240?", "15% * 240 = 36."),
    ("what is 15 percent of 240", "15% * 240 = 36."),
    ("240 * 15%", "240 * 15% = 36."),
    ("what is 200 + 10%?", "200 + 10% = 220."),
    ("sqrt(144)", "sqrt(144) = 12."),
    ("square root of 144", "sqrt(144) = 12."),
    ("What is the square root of 2?", "sqrt(2) = 1.4142135623731."),
    ("\u221a81", "sqrt(81) = 9."),
    ("What is 2**10?", "2**10 = 1024."),
    ("calculate (3+4)*2", "(3+4)*2 = 14."),
    ("how much is 1,200 x 3?", "1200 * 3 = 3600."),
    ("what is 10 divided by 4", "10 / 4 = 2.5."),
    ("5 plus 3 minus 2", "5 + 3 - 2 = 6."),
    ("what's 6 times 7", "6 * 7 = 42."),
    ("2 to the power of 8", "2^8 = 256."),
    ("what is 7 squared?", "7^2 = 49."),
    ("17 mod 5", "17 % 5 = 2."),
    ("what is 0.1 + 0.2", "0.1 + 0.2 = 0.3."),
    ("what is 1/0", "calculator failed: division by zero."),
    # Greetings and help: what it is, what it understands, how to get a real model.
    ("hello", f"Hello! {ABOUT}"),
    ("Hi there!", f"Hello! {ABOUT}"),
    ("good morning", f"Hello! {ABOUT}"),
    ("help", ABOUT),
    ("what can you do?", ABOUT),
    ("hey, who are you?", f"Hello! {ABOUT}"),
    (
        "thanks!",
        "You are welcome. I am webcap's offline model, a rule-based stand-in, not a language "
        "model. For real answers, set WEBCAP_MODEL to a litellm model name (for example "
        "WEBCAP_MODEL=openai/gpt-4o-mini with WEBCAP_MODEL_API_KEY) and restart webcap; see "
        "docs/agent.md.",
    ),
    # Summaries: the sentences whose words occur most, in their order.
    (f"summarize this: {TEXT}", SUMMARY),
    (f"Summarise:\n{TEXT}", SUMMARY),
    (f"tl;dr {TEXT}", SUMMARY),
    (f"please summarize the following text - {TEXT}", SUMMARY),
    ("summarize: Just this.", "That is a single sentence already: Just this."),
    (
        "summarize this",
        'Give me the text to summarize after the request, as in "summarize: <text>". '
        "I can summarize only text in the message itself.",
    ),
    # The date and time: current_time, in the zone of a place or an IANA name.
    ("what time is it?", _time("", r"\+00:00")),
    ("what's the date today", _time("", r"\+00:00")),
    ("What day is it today?", _time("", r"\+00:00")),
    ("what day is it in Tokyo", _time(" in Asia/Tokyo", r"\+09:00")),
    ("What time is it in New York?", _time(" in America/New_York", r"-0[45]:00")),
    ("current time in Europe/Paris", _time(" in Europe/Paris", r"\+0[12]:00")),
    ("what time is it in India", _time(" in Asia/Kolkata", r"\+05:30")),
    # Files: read_file in the files folder (conftest's files_folder holds notes.txt).
    ("read notes.txt", "notes.txt contains:\nremember the milk"),
    (
        "read README.md",
        "read_file failed: no file 'README.md' in the files folder {folder}: copy the file "
        "there (the setting WEBCAP_FILES_ROOT names the folder).",
    ),
    # Anything else: the help text.
    ("tell me a joke", f'I cannot answer "tell me a joke". {ABOUT}'),
    ("hello, please write me a poem about the sea and the sky", (
        'I cannot answer "hello, please write me a poem about the sea and the sky". '
        f"{ABOUT}"
    )),
    ("I am 100% sure", f'I cannot answer "I am 100% sure". {ABOUT}'),
]  # fmt: skip


def _run(name: str, arguments: str) -> dict[str, Any]:
    """Run a tool as the agent does and return what the model reads back."""
    found = tool_get(name)
    assert found is not None
    try:
        return {"result": found.run(found.validate(json.loads(arguments)))}
    except ToolError as exc:
        return {"error": str(exc)}


def converse(lib: Any, text: str) -> str:
    """Send text, run the tool calls the model asks for, and return its final answer."""
    messages = [_user(text)]
    message = _call(lib, messages, ALL_TOOLS).choices[0].message
    if not message.tool_calls:
        return str(message.content)
    calls = [(c.id, c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls]
    messages.append(_assistant_calls(*calls))
    for call in message.tool_calls:
        messages.append(_tool_result(call.id, _run(call.function.name, call.function.arguments)))
    return str(_call(lib, messages, ALL_TOOLS).choices[0].message.content)


@pytest.fixture(scope="module")
def litellm() -> Any:
    register_offline_model()
    import litellm

    return litellm


@pytest.fixture
def notes(files_folder: Path) -> Path:
    (files_folder / "notes.txt").write_text("remember the milk")
    return files_folder


@pytest.mark.parametrize(("text", "expected"), REPERTOIRE)
def test_the_offline_model_answers(litellm, notes, text, expected):
    answer = converse(litellm, text)
    if isinstance(expected, re.Pattern):
        assert expected.fullmatch(answer), answer
    else:
        assert answer == expected.replace("{folder}", str(notes.resolve()))


@pytest.mark.parametrize(
    ("text", "calls"),
    [
        # Rewritten phrases keep their place among the other requests.
        (
            "what time is it and what is 5 plus 3",
            [("current_time", {}), ("calculator", {"expression": "5 + 3"})],
        ),
        (
            "what is the square root of 16 and what time is it",
            [("calculator", {"expression": "sqrt(16)"}), ("current_time", {})],
        ),
        (
            "what time is it in Europe/Paris and in Tokyo",
            [
                ("current_time", {"timezone": "Europe/Paris"}),
                ("current_time", {"timezone": "Asia/Tokyo"}),
            ],
        ),
        ("what time is it in PST", [("current_time", {"timezone": "America/Los_Angeles"})]),
        ("what time is it in the west", [("current_time", {})]),
        # Numbers that are no calculation.
        ("I am 100% sure it was on 2024-01-15", []),
        ("what is 3 times", []),
        ("call 0x1F", []),
        # Text to summarize is not read for requests.
        ("summarize: what is 2+2? Read a.txt at https://example.com", []),
    ],
)
def test_what_is_asked_for(litellm, text, calls):
    message = _call(litellm, [_user(text)], ALL_TOOLS).choices[0].message
    asked = [(c.function.name, json.loads(c.function.arguments)) for c in message.tool_calls or []]
    assert asked == calls

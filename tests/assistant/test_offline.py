"""The offline model, driven through the real litellm.completion / litellm.acompletion.

Sockets are limited to loopback in this suite, so any attempt of the model (or of litellm on
its behalf) to reach the network fails these tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from assistant.offline import OFFLINE_MODEL, register_offline_model
from tests.fakellm import collect_stream

# litellm/__init__.py:12 ignores this pydantic warning (about litellm's own TypedDicts) with a
# process-wide filter when litellm is imported, but pytest restores the warning filters after
# each test, so the filter is gone in later tests, where pydantic builds the schemas of
# litellm's response models lazily (on the first ModelResponse()) and warns again.
pytestmark = pytest.mark.filterwarnings("ignore:.*`ReadOnly` qualifier:UserWarning")


@pytest.fixture(scope="module")
def litellm() -> Any:
    register_offline_model()
    import litellm

    return litellm


def _tool(name: str, **properties: str) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": name,
            "description": f"The {name} tool.",
            "parameters": {
                "type": "object",
                "properties": {key: {"type": kind} for key, kind in properties.items()},
            },
        },
    }


CALCULATOR = _tool("calculator", expression="string")
CURRENT_TIME = _tool("current_time", timezone="string")
ECHO = _tool("echo", text="string")
READ_FILE = _tool("read_file", path="string")
HTTP_REQUEST = _tool("http_request", url="string", method="string")
ALL_TOOLS = [CALCULATOR, CURRENT_TIME, ECHO, READ_FILE, HTTP_REQUEST]


def _user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def _call(lib: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None) -> Any:
    kwargs: dict[str, Any] = {"model": OFFLINE_MODEL, "messages": messages}
    if tools is not None:
        kwargs["tools"] = tools
    return lib.completion(**kwargs)


def _stream(lib: Any, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None):
    """Call as assistant/llm.py does and return (chunks, text, calls by index, finish, usage)."""
    kwargs: dict[str, Any] = {
        "model": OFFLINE_MODEL,
        "messages": messages,
        "stream": True,
        "stream_options": {"include_usage": True},
        "timeout": 30,
        "num_retries": 0,
    }
    if tools is not None:
        kwargs["tools"] = tools
    return collect_stream(list(lib.completion(**kwargs)))


def _calls(response: Any) -> list[tuple[str, dict[str, Any]]]:
    return [
        (call.function.name, json.loads(call.function.arguments))
        for call in response.choices[0].message.tool_calls or []
    ]


def _assistant_calls(*calls: tuple[str, str, dict[str, Any]]) -> dict[str, Any]:
    return {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": call_id,
                "type": "function",
                "function": {"name": name, "arguments": json.dumps(arguments)},
            }
            for call_id, name, arguments in calls
        ],
    }


def _tool_result(call_id: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": json.dumps(payload)}


# --- Tool calls ---------------------------------------------------------------------------------


def test_importing_the_module_does_not_import_litellm():
    code = "import sys, assistant.offline; print('litellm' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_registration_is_idempotent(litellm):
    register_offline_model()
    register_offline_model()
    providers = [item["provider"] for item in litellm.custom_provider_map]
    assert providers.count("webcap") == 1
    from assistant.offline import OfflineModel

    handler = next(i for i in litellm.custom_provider_map if i["provider"] == "webcap")
    assert isinstance(handler["custom_handler"], OfflineModel)
    assert isinstance(handler["custom_handler"], litellm.CustomLLM)


def test_arithmetic_calls_the_calculator(litellm):
    response = _call(litellm, [_user("what is 12*7?")], [CALCULATOR])
    assert _calls(response) == [("calculator", {"expression": "12*7"})]
    assert response.choices[0].finish_reason == "tool_calls"
    assert response.choices[0].message.tool_calls[0].id.startswith("call_")
    assert response.choices[0].message.tool_calls[0].type == "function"


def test_arithmetic_streams_one_tool_call(litellm):
    _, text, calls, finish, usage = _stream(litellm, [_user("what is 12*7?")], [CALCULATOR])
    assert text == ""
    assert list(calls) == [0]
    assert calls[0]["name"] == "calculator"
    assert json.loads(calls[0]["arguments"]) == {"expression": "12*7"}
    assert finish == "tool_calls"
    assert usage is not None
    assert usage.completion_tokens == 10
    # The same id as the non-streamed answer.
    response = _call(litellm, [_user("what is 12*7?")], [CALCULATOR])
    assert calls[0]["id"] == response.choices[0].message.tool_calls[0].id


@pytest.mark.parametrize(
    ("text", "expression"),
    [("compute (3+4)*2", "(3+4)*2"), ("12 * 7", "12 * 7"), ("What is 2**10?", "2**10")],
)
def test_arithmetic_expressions_are_extracted(litellm, text, expression):
    response = _call(litellm, [_user(text)], ALL_TOOLS)
    assert _calls(response) == [("calculator", {"expression": expression})]


def _get(url: str) -> dict[str, str]:
    return {"url": url, "method": "GET"}


@pytest.mark.parametrize(
    ("text", "name", "arguments"),
    [
        ("What time is it?", "current_time", {}),
        ("current time in Europe/Paris", "current_time", {"timezone": "Europe/Paris"}),
        ("time in Tokyo?", "current_time", {"timezone": "Asia/Tokyo"}),
        ("time in Atlantis?", "current_time", {}),
        ("echo Hello, World", "echo", {"text": "Hello, World"}),
        ("read notes/todo.txt", "read_file", {"path": "notes/todo.txt"}),
        ("read file README", "read_file", {"path": "README"}),
        ("show me data/report.csv.", "read_file", {"path": "data/report.csv"}),
        ("fetch http://example.com", "http_request", _get("http://example.com")),
        ("see https://a.example/b?c=1).", "http_request", _get("https://a.example/b?c=1")),
    ],
)  # fmt: skip
def test_each_tool_is_recognised(litellm, text, name, arguments):
    response = _call(litellm, [_user(text)], ALL_TOOLS)
    assert _calls(response) == [(name, arguments)]


def test_several_requests_are_parallel_calls_in_text_order(litellm):
    messages = [_user("what is 2+2 and what time is it")]
    response = _call(litellm, messages, ALL_TOOLS)
    assert _calls(response) == [("calculator", {"expression": "2+2"}), ("current_time", {})]
    ids = [call.id for call in response.choices[0].message.tool_calls]
    assert len(set(ids)) == 2

    chunks, text, calls, finish, _ = _stream(litellm, messages, ALL_TOOLS)
    assert text == ""
    assert finish == "tool_calls"
    assert sorted(calls) == [0, 1]
    assert [calls[i]["name"] for i in (0, 1)] == ["calculator", "current_time"]
    assert [calls[i]["id"] for i in (0, 1)] == ids
    assert [json.loads(calls[i]["arguments"]) for i in (0, 1)] == [{"expression": "2+2"}, {}]
    # Each tool call arrives in its own delta, with its own index.
    deltas = [c.choices[0].delta.tool_calls for c in chunks if c.choices]
    assert [[d.index for d in delta] for delta in deltas if delta] == [[0], [1]]
    # litellm's own reassembly agrees.
    rebuilt = litellm.stream_chunk_builder(chunks, messages=messages)
    assert [c.id for c in rebuilt.choices[0].message.tool_calls] == ids


def test_a_tool_missing_from_tools_is_never_called(litellm):
    response = _call(litellm, [_user("what is 2+2 and what time is it")], [CURRENT_TIME])
    assert _calls(response) == [("current_time", {})]

    response = _call(litellm, [_user("what is 12*7?")], [ECHO])
    assert response.choices[0].message.tool_calls is None
    assert response.choices[0].finish_reason == "stop"
    assert "calculator tool is not available" in response.choices[0].message.content


def test_no_tools_gives_the_help_text(litellm):
    response = _call(litellm, [_user("what is 12*7?")], None)
    assert response.choices[0].message.tool_calls is None
    assert "not available" in response.choices[0].message.content

    # The help lists only what the offered tools allow, and how to get a real model.
    response = _call(litellm, [_user("Tell me a story")], None)
    content = response.choices[0].message.content
    assert content == (
        'I cannot answer "Tell me a story". '
        "I am webcap's offline model, a rule-based stand-in, not a language model. "
        'I understand greetings, help and summaries of text you give me ("summarize: <text>"). '
        "For real answers, set WEBCAP_MODEL to a litellm model name (for example "
        "WEBCAP_MODEL=openai/gpt-4o-mini with WEBCAP_MODEL_API_KEY) and restart webcap; see "
        "docs/agent.md."
    )
    content = _call(litellm, [_user("Tell me a story")], ALL_TOOLS).choices[0].message.content
    for skill in ("arithmetic", "the date and time", '"echo <text>"', "reading a file", "fetching"):
        assert skill in content


def test_text_parts_of_a_list_content_are_read(litellm):
    content = [
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
        {"type": "text", "text": "what is 6*7"},
    ]
    response = _call(litellm, [_user(content)], [CALCULATOR])
    assert _calls(response) == [("calculator", {"expression": "6*7"})]


# --- Answers from tool results ------------------------------------------------------------------


def _after_calculator(payload: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        _user("what is 12*7?"),
        _assistant_calls(("call_1", "calculator", {"expression": "12*7"})),
        _tool_result("call_1", payload),
    ]


def test_a_result_becomes_the_answer_streamed_word_by_word(litellm):
    messages = _after_calculator({"result": 84})
    response = _call(litellm, messages, [CALCULATOR])
    assert response.choices[0].message.content == "12*7 = 84."
    assert response.choices[0].finish_reason == "stop"

    chunks, text, calls, finish, usage = _stream(litellm, messages, [CALCULATOR])
    assert text == "12*7 = 84."
    assert calls == {}
    assert finish == "stop"
    assert usage.completion_tokens == 3
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert pieces == ["12*7 ", "= ", "84."]


def test_http_result_mentions_status_and_title(litellm):
    first = _call(litellm, [_user("fetch http://example.com")], [HTTP_REQUEST])
    call = first.choices[0].message.tool_calls[0]
    assert (call.function.name, json.loads(call.function.arguments)) == (
        "http_request",
        {"url": "http://example.com", "method": "GET"},
    )
    body = "<html><head><title>Example Domain</title></head><body>hi</body></html>"
    messages = [
        _user("fetch http://example.com"),
        _assistant_calls((call.id, "http_request", {"url": "http://example.com"})),
        _tool_result(
            call.id,
            {"result": {"status": 200, "headers": {}, "body": body, "truncated": False}},
        ),
    ]
    content = _call(litellm, messages, [HTTP_REQUEST]).choices[0].message.content
    assert content.startswith("Fetched http://example.com: HTTP 200, ")
    assert f"{len(body)} bytes." in content
    assert "Example Domain" in content


def test_each_result_gets_one_sentence_in_order(litellm):
    messages = [
        _user("what is 2+2 and what time is it and read a.txt"),
        _assistant_calls(
            ("call_a", "calculator", {"expression": "2+2"}),
            ("call_b", "current_time", {}),
            ("call_c", "read_file", {"path": "a.txt"}),
        ),
        _tool_result("call_a", {"result": 4}),
        _tool_result("call_b", {"result": "2025-01-01T12:00:00+00:00"}),
        _tool_result("call_c", {"error": "no file 'a.txt' in the files folder"}),
    ]
    content = _call(litellm, messages, ALL_TOOLS).choices[0].message.content
    assert content == (
        "2+2 = 4.\n"
        "The time is 12:00 UTC on Wednesday, 1 January 2025 (2025-01-01T12:00:00+00:00).\n"
        "read_file failed: no file 'a.txt' in the files folder."
    )


def test_read_file_and_echo_results(litellm):
    messages = [
        _user("read notes.txt and echo done"),
        _assistant_calls(
            ("call_r", "read_file", {"path": "notes.txt"}),
            ("call_e", "echo", {"text": "done"}),
        ),
        _tool_result("call_r", {"result": "x" * 600}),
        _tool_result("call_e", {"result": "done"}),
    ]
    content = _call(litellm, messages, ALL_TOOLS).choices[0].message.content
    assert content == "notes.txt contains:\n" + "x" * 500 + "\ndone"
    # 500 identical characters in one word still stream (litellm fails repeated chunks).
    assert _stream(litellm, messages, ALL_TOOLS)[1] == content


def test_a_rejected_call_is_reported_with_the_reason(litellm):
    messages = _after_calculator(
        {"error": "The call was rejected.", "rejected": True, "reason": "not today"}
    )
    content = _call(litellm, messages, [CALCULATOR]).choices[0].message.content
    assert content == "calculator was not approved: not today."


def test_repeated_words_stream_without_tripping_litellm(litellm):
    messages = [
        _user("echo " + "spam " * 150),
        _assistant_calls(("call_e", "echo", {"text": "spam " * 150})),
        _tool_result("call_e", {"result": "spam " * 150}),
    ]
    _, text, _, finish, _ = _stream(litellm, messages, [ECHO])
    assert text == "spam " * 150
    assert finish == "stop"


# --- Summaries, determinism, usage, odd input ---------------------------------------------------


def test_summarization_prompt_gets_a_deterministic_summary(litellm):
    messages = [
        {"role": "system", "content": "Summarize the conversation so far, briefly."},
        _user("what is 12*7?"),
        _assistant_calls(("call_1", "calculator", {"expression": "12*7"})),
        _tool_result("call_1", {"result": 84}),
        {"role": "assistant", "content": "12*7 = 84."},
        _user("and now a much longer message " + "that goes on " * 10),
    ]
    first = _call(litellm, messages, ALL_TOOLS).choices[0].message.content
    second = _call(litellm, messages, ALL_TOOLS).choices[0].message.content
    long = ("and now a much longer message " + "that goes on " * 10)[:60]
    assert first == f"Summary: what is 12*7? | 12*7 = 84. | {long}"
    assert first == second

    many = [messages[0]] + [_user("word " * 30) for _ in range(40)]
    assert len(_call(litellm, many, None).choices[0].message.content) == 1000


def test_the_same_request_gives_the_same_answer(litellm):
    messages = [_user("what is 2+2 and what time is it")]
    first = _call(litellm, messages, ALL_TOOLS).choices[0].message
    second = _call(litellm, messages, ALL_TOOLS).choices[0].message
    assert [c.id for c in first.tool_calls] == [c.id for c in second.tool_calls]
    assert [c.function.arguments for c in first.tool_calls] == [
        c.function.arguments for c in second.tool_calls
    ]
    # Ids depend on the conversation: another conversation gets other ids.
    other = _call(litellm, [_user("what is 2+2 and what time is it?")], ALL_TOOLS)
    assert other.choices[0].message.tool_calls[0].id != first.tool_calls[0].id

    text = [_user("Hello there")]
    assert _stream(litellm, text, None)[1] == _stream(litellm, text, None)[1]


def test_usage_counts_words_and_tools(litellm):
    response = _call(litellm, [_user("what is 12*7?")], [CALCULATOR, ECHO])
    assert response.usage.prompt_tokens == 3 + 2 * 10
    assert response.usage.completion_tokens == 10
    assert response.usage.total_tokens == 33

    usage = _stream(litellm, [_user("what is 12*7?")], [CALCULATOR, ECHO])[4]
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (23, 10, 33)


def test_the_model_is_free(litellm):
    response = _call(litellm, [_user("Hello there")], None)
    assert litellm.completion_cost(completion_response=response) == 0.0
    prompt, answer = litellm.cost_per_token(
        model=OFFLINE_MODEL, prompt_tokens=100, completion_tokens=100
    )
    assert prompt + answer == 0.0
    assert litellm.get_model_info(OFFLINE_MODEL)["max_input_tokens"] > 0


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [_user("")],
        [_user(None)],
        [_user([])],
        [{"role": "wizard", "content": "abracadabra"}],
        [{"role": "assistant", "content": "I spoke last"}],
        [{"role": "tool", "content": None}],
    ],
)
def test_odd_input_gets_the_help_text(litellm, messages):
    for tools in (None, ALL_TOOLS):
        response = _call(litellm, messages, tools)
        content = response.choices[0].message.content
        assert "rule-based" in content
        assert _stream(litellm, messages, tools)[1] == content


@pytest.mark.parametrize(
    ("messages", "optional_params", "expected"),
    [
        (None, None, "rule-based"),
        ([None, 42, "text"], {}, "rule-based"),
        ([_user(12345)], {"tools": "nonsense"}, "rule-based"),
        ([{"content": "no role"}], {"tools": [None, 3, {"function": None}]}, "rule-based"),
        (
            [_assistant_calls(("x", "calculator", {})), {"role": "tool", "tool_call_id": "x"}],
            {},
            "calculator returned no result.",
        ),
    ],
)
def test_the_model_never_raises(litellm, messages, optional_params, expected):
    # litellm itself rejects some of these before the model sees them: call the model directly.
    from assistant.offline import OfflineModel

    model: Any = OfflineModel()
    response = model.completion(OFFLINE_MODEL, messages, optional_params=optional_params)
    assert response.choices[0].finish_reason == "stop"
    assert expected in response.choices[0].message.content
    chunks = list(model.streaming(OFFLINE_MODEL, messages, optional_params=optional_params))
    assert "".join(chunk["text"] for chunk in chunks) == response.choices[0].message.content
    assert chunks[-1]["is_finished"]
    assert chunks[-1]["finish_reason"] == "stop"


# --- Async --------------------------------------------------------------------------------------


async def test_acompletion_streams_tool_calls_and_text(litellm):
    messages = [_user("what is 2+2 and what time is it")]
    stream = await litellm.acompletion(
        model=OFFLINE_MODEL,
        messages=messages,
        tools=ALL_TOOLS,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = [chunk async for chunk in stream]
    _, text, calls, finish, usage = collect_stream(chunks)
    assert [calls[i]["name"] for i in sorted(calls)] == ["calculator", "current_time"]
    assert finish == "tool_calls"
    assert usage.completion_tokens == 20
    sync = _call(litellm, messages, ALL_TOOLS).choices[0].message.tool_calls
    assert [calls[i]["id"] for i in sorted(calls)] == [c.id for c in sync]

    stream = await litellm.acompletion(
        model=OFFLINE_MODEL,
        messages=_after_calculator({"result": 84}),
        stream=True,
        stream_options={"include_usage": True},
    )
    _, text, calls, finish, usage = collect_stream([chunk async for chunk in stream])
    assert (text, calls, finish) == ("12*7 = 84.", {}, "stop")
    assert usage.total_tokens > 0


async def test_acompletion_without_streaming(litellm):
    response = await litellm.acompletion(
        model=OFFLINE_MODEL, messages=[_user("what is 12*7?")], tools=[CALCULATOR]
    )
    assert _calls(response) == [("calculator", {"expression": "12*7"})]
    assert response.choices[0].finish_reason == "tool_calls"

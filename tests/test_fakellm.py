"""The fake OpenAI server drives the real litellm 1.103.7 code path (tests/fakellm.py).

Every litellm call passes ``num_retries=0``: without it the OpenAI SDK under litellm retries
429, 5xx, 408 and timeouts twice on its own (three requests reach the server).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fakellm import (
    LITELLM_INSTANCE_ATTRIBUTE_WARNING,
    NO_SCRIPT_LEFT,
    Error,
    FakeLLM,
    Hang,
    Text,
    ToolCalls,
    collect_stream,
)

MESSAGES = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "What is the weather in Paris and in Rome?"},
]
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
]


@pytest.fixture
def fake() -> Iterator[FakeLLM]:
    with FakeLLM() as server:
        yield server


@pytest.fixture(scope="module")
def litellm() -> Any:
    """litellm, imported on first use (it takes seconds), with its stdout chatter off."""
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm as lib

    lib.telemetry = False
    lib.suppress_debug_info = True
    return lib


def complete(litellm: Any, fake: FakeLLM, **kwargs: Any) -> Any:
    """``litellm.completion`` against the fake, litellm's and the SDK's retries off."""
    params: dict[str, Any] = {
        "model": "openai/fake-model",
        "api_base": fake.base_url,
        "api_key": "test-key",
        "messages": MESSAGES,
        "num_retries": 0,
    }
    params.update(kwargs)
    return litellm.completion(**params)


def sse_payloads(response: httpx.Response) -> list[str]:
    return [
        line.removeprefix("data: ") for line in response.iter_lines() if line.startswith("data: ")
    ]


# --- text ---------------------------------------------------------------------------------------


# litellm warns while reading the usage chunk (see LITELLM_INSTANCE_ATTRIBUTE_WARNING).
@pytest.mark.filterwarnings(LITELLM_INSTANCE_ATTRIBUTE_WARNING)
def test_streamed_text_joins_to_the_text_with_usage_last(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Text("Sunny in Paris, rainy  in Rome.\n", usage=(42, 7)))

    chunks = list(complete(litellm, fake, stream=True, stream_options={"include_usage": True}))

    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert "".join(d for d in deltas if d) == "Sunny in Paris, rainy  in Rome.\n"
    assert [d for d in deltas if d] == ["Sunny ", "in ", "Paris, ", "rainy  ", "in ", "Rome.\n"]
    finish_reasons = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert [r for r in finish_reasons if r] == ["stop"]
    # litellm gives the usage chunk (sent with "choices": []) an empty choice of its own.
    assert chunks[-1].choices[0].finish_reason is None
    usage = chunks[-1].usage
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (42, 7, 49)
    assert chunks[0].id.startswith("chatcmpl-")
    assert chunks[0].model == "fake-model"


def test_streamed_text_in_a_given_number_of_chunks(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Text("abcdefghij", chunks=3))

    chunks = list(complete(litellm, fake, stream=True))

    deltas = [c.choices[0].delta.content for c in chunks if c.choices]
    assert [d for d in deltas if d] == ["abcd", "efg", "hij"]


def test_non_streamed_text(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Text("Sunny in Paris."))

    response = complete(litellm, fake)

    assert response.choices[0].message.content == "Sunny in Paris."
    assert response.choices[0].message.role == "assistant"
    assert response.choices[0].finish_reason == "stop"
    assert response.id.startswith("chatcmpl-")
    # Default usage is a rough word count: 3 + 9 words in the prompt, 4 per message.
    assert response.usage.prompt_tokens == 3 + 9 + 2 * 4
    assert response.usage.completion_tokens == 3


def test_wire_format_of_a_stream(fake: FakeLLM) -> None:
    fake.script(Text("Hi there"))
    body = {
        "model": "gpt-test",
        "messages": MESSAGES,
        "stream": True,
        "stream_options": {"include_usage": True},
    }

    with httpx.stream("POST", f"{fake.base_url}/chat/completions", json=body) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        payloads = sse_payloads(response)

    assert payloads[-1] == "[DONE]"
    events = [json.loads(p) for p in payloads[:-1]]
    assert {e["object"] for e in events} == {"chat.completion.chunk"}
    assert {e["model"] for e in events} == {"gpt-test"}
    assert len({e["id"] for e in events}) == 1
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    assert [e["choices"][0]["delta"].get("content") for e in events[1:3]] == ["Hi ", "there"]
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 2
    assert all(e["usage"] is None for e in events[:-1])


def test_no_usage_chunk_unless_asked(fake: FakeLLM) -> None:
    fake.script(Text("Hi"))
    body = {"model": "m", "messages": MESSAGES, "stream": True}

    with httpx.stream("POST", f"{fake.base_url}/chat/completions", json=body) as response:
        events = [json.loads(p) for p in sse_payloads(response)[:-1]]

    assert all(e["choices"] for e in events)
    assert all("usage" not in e for e in events)


# --- tool calls ---------------------------------------------------------------------------------


def test_non_streamed_tool_calls(litellm: Any, fake: FakeLLM) -> None:
    fake.script(
        ToolCalls(
            [("call_1", "get_weather", {"city": "Paris"}), ("call_2", "get_weather", '{"ci')],
            text="Let me look.",
        )
    )

    response = complete(litellm, fake, tools=TOOLS)

    message = response.choices[0].message
    assert response.choices[0].finish_reason == "tool_calls"
    assert message.content == "Let me look."
    assert [(c.id, c.type, c.function.name) for c in message.tool_calls] == [
        ("call_1", "function", "get_weather"),
        ("call_2", "function", "get_weather"),
    ]
    assert json.loads(message.tool_calls[0].function.arguments) == {"city": "Paris"}
    assert message.tool_calls[1].function.arguments == '{"ci'  # raw strings go verbatim


# litellm warns while reading the usage chunk (see LITELLM_INSTANCE_ATTRIBUTE_WARNING).
@pytest.mark.filterwarnings(LITELLM_INSTANCE_ATTRIBUTE_WARNING)
def test_streamed_parallel_tool_calls_reassemble(litellm: Any, fake: FakeLLM) -> None:
    fake.script(
        ToolCalls(
            [
                ("call_paris", "get_weather", {"city": "Paris", "unit": "celsius"}),
                ("call_rome", "get_time", {"city": "Rome"}),
            ]
        )
    )

    chunks = list(
        complete(litellm, fake, tools=TOOLS, stream=True, stream_options={"include_usage": True})
    )

    # The arguments really arrive in pieces: 1 opening delta + 3 argument deltas per call.
    deltas = [d for c in chunks if c.choices for d in c.choices[0].delta.tool_calls or []]
    assert [(d.index, d.id) for d in deltas if d.id] == [(0, "call_paris"), (1, "call_rome")]
    assert sum(1 for d in deltas if d.function.arguments) == 6
    built = litellm.stream_chunk_builder(chunks, messages=MESSAGES)
    choice = built.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls
    assert [(c.id, c.function.name) for c in calls] == [
        ("call_paris", "get_weather"),
        ("call_rome", "get_time"),
    ]
    assert json.loads(calls[0].function.arguments) == {"city": "Paris", "unit": "celsius"}
    assert json.loads(calls[1].function.arguments) == {"city": "Rome"}
    assert built.usage.completion_tokens > 0


def test_streamed_tool_calls_accumulated_by_index(litellm: Any, fake: FakeLLM) -> None:
    """As assistant/llm.py reads a stream: text first, then calls by index, raw args verbatim."""
    fake.script(
        ToolCalls(
            [("call_a", "get_weather", {"city": "Oslo"}), ("call_b", "broken", '{"city": "Ro')],
            text="Checking both.",
        )
    )

    _, text, calls, finish, _ = collect_stream(
        list(complete(litellm, fake, tools=TOOLS, stream=True))
    )

    assert text == "Checking both."
    assert finish == "tool_calls"
    assert calls == {
        0: {"id": "call_a", "name": "get_weather", "arguments": '{"city": "Oslo"}'},
        1: {"id": "call_b", "name": "broken", "arguments": '{"city": "Ro'},
    }


# --- errors, hangs ------------------------------------------------------------------------------


def test_rate_limit_raises_rate_limit_error_with_retry_after(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Error(429, retry_after=2.5))

    with pytest.raises(litellm.RateLimitError) as caught:
        complete(litellm, fake)

    assert caught.value.status_code == 429
    assert "Rate limit reached" in str(caught.value)
    # litellm keeps the provider's headers in litellm_response_headers; exc.response is a
    # synthetic httpx.Response without them.
    assert caught.value.litellm_response_headers["retry-after"] == "2.5"
    assert "retry-after" not in caught.value.response.headers
    assert len(fake.requests) == 1  # num_retries=0: nobody retried


@pytest.mark.parametrize(
    ("status", "exception"),
    [
        (400, "BadRequestError"),
        (401, "AuthenticationError"),
        (403, "APIError"),  # litellm 1.103.7 has no PermissionDeniedError mapping for openai
        (404, "NotFoundError"),
        (408, "Timeout"),
        (422, "BadRequestError"),
        (500, "InternalServerError"),
        (502, "BadGatewayError"),
        (503, "ServiceUnavailableError"),
        (504, "Timeout"),
    ],
)
def test_http_errors_map_to_litellm_exceptions(
    litellm: Any, fake: FakeLLM, status: int, exception: str
) -> None:
    fake.script(Error(status))

    with pytest.raises(getattr(litellm, exception)) as caught:
        complete(litellm, fake)

    assert type(caught.value) is getattr(litellm, exception)
    assert len(fake.requests) == 1


def test_a_401_with_any_message_is_an_authentication_error(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Error(401, "Your key was revoked."))

    with pytest.raises(litellm.AuthenticationError, match="Your key was revoked"):
        complete(litellm, fake)


def test_context_window_error(litellm: Any, fake: FakeLLM) -> None:
    fake.script(
        Error(
            400,
            "This model's maximum context length is 8192 tokens. However, your messages "
            "resulted in 9000 tokens. Please reduce the length of the messages.",
            code="context_length_exceeded",
        )
    )

    with pytest.raises(litellm.ContextWindowExceededError):
        complete(litellm, fake)


def test_without_num_retries_the_sdk_retries_twice(litellm: Any, fake: FakeLLM) -> None:
    """Why the other tests pass num_retries=0 (max_retries=0 works the same).

    The retries are the OpenAI SDK's (x-stainless-retry-count), and they honour Retry-After.
    """
    fake.script(*[Error(500, retry_after=0.01)] * 3, Error(503, retry_after=0.01))

    base = {"model": "openai/m", "api_base": fake.base_url, "api_key": "k", "messages": MESSAGES}

    with pytest.raises(litellm.InternalServerError):
        litellm.completion(**base)
    with pytest.raises(litellm.ServiceUnavailableError):
        litellm.completion(**base, max_retries=0)

    assert len(fake.requests) == 4
    assert [h["x-stainless-retry-count"] for h in fake.headers] == ["0", "1", "2", "0"]


def test_hang_raises_timeout(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Text("warm-up"), Hang(2), Hang(2))
    complete(litellm, fake)  # the first call through a new api_base builds its client

    for stream in (False, True):
        started = time.monotonic()
        with pytest.raises(litellm.Timeout):
            complete(litellm, fake, timeout=0.5, stream=stream)
        assert 0.4 < time.monotonic() - started < 1.5

    assert len(fake.requests) == 3


def test_hang_then_close_is_a_connection_error(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Hang(0.05))

    # litellm 1.103.7 reports the SDK's APIConnectionError ("Connection error.") as a 500.
    with pytest.raises(litellm.InternalServerError, match="Connection error"):
        complete(litellm, fake, timeout=5)


def test_stall_mid_stream_raises_mid_stream_fallback_error(litellm: Any, fake: FakeLLM) -> None:
    from litellm.exceptions import MidStreamFallbackError  # not exported as litellm.<name>

    fake.script(Text("one two", delay=2))

    received: list[str] = []
    started = time.monotonic()
    with pytest.raises(MidStreamFallbackError, match="timed out"):  # noqa: PT012
        for chunk in complete(litellm, fake, timeout=0.5, stream=True):
            received.append(chunk.choices[0].delta.content or "")

    assert received == [""]  # the role chunk came, then nothing
    assert time.monotonic() - started < 1.5
    # A stalled stream is not a litellm.Timeout: it is a ServiceUnavailableError subclass.
    assert issubclass(MidStreamFallbackError, litellm.ServiceUnavailableError)
    assert not issubclass(MidStreamFallbackError, litellm.Timeout)


# --- the script and the record ------------------------------------------------------------------


def test_requests_and_headers_are_recorded(litellm: Any, fake: FakeLLM) -> None:
    fake.script(Text("one"), Text("two"))

    complete(litellm, fake, tools=TOOLS, temperature=0.2)
    complete(litellm, fake, model="openai/other-model", stream=True)

    first, second = fake.wait_for_requests(2, timeout=1)
    assert first["model"] == "fake-model"  # litellm strips the "openai/" prefix
    assert first["messages"] == MESSAGES
    assert first["tools"] == TOOLS
    assert first["temperature"] == 0.2
    assert "stream" not in first or first["stream"] is False
    assert second["model"] == "other-model"
    assert second["stream"] is True
    assert [h["authorization"] for h in fake.headers] == ["Bearer test-key"] * 2
    assert fake.remaining == 0


def test_empty_script_answers_a_loud_500(litellm: Any, fake: FakeLLM) -> None:
    with pytest.raises(litellm.InternalServerError, match=NO_SCRIPT_LEFT):
        complete(litellm, fake)

    response = httpx.post(f"{fake.base_url}/chat/completions", json={"messages": []})
    assert response.status_code == 500
    assert response.json()["error"]["message"] == NO_SCRIPT_LEFT
    assert response.json()["error"]["type"] == "server_error"
    assert len(fake.requests) == 2


def test_error_body_and_retry_after_header(fake: FakeLLM) -> None:
    fake.script(Error(429, retry_after=3), Error(503, "overloaded", error_type="x", code="y"))

    limited = httpx.post(f"{fake.base_url}/chat/completions", json={"model": "m"})
    unavailable = httpx.post(f"{fake.base_url}/chat/completions", json={"model": "m"})

    assert limited.status_code == 429
    assert limited.headers["retry-after"] == "3"
    assert limited.json()["error"] == {
        "message": "Rate limit reached for requests. Please try again later.",
        "type": "rate_limit_error",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    assert unavailable.status_code == 503
    assert "retry-after" not in unavailable.headers
    assert unavailable.json()["error"]["message"] == "overloaded"
    assert (unavailable.json()["error"]["type"], unavailable.json()["error"]["code"]) == ("x", "y")


def test_other_paths_are_404_and_consume_nothing(fake: FakeLLM) -> None:
    fake.script(Text("kept"))

    assert httpx.get(f"{fake.base_url}/models").status_code == 404
    response = httpx.post(f"{fake.base_url}/embeddings", json={"input": "x"})
    assert response.status_code == 404
    assert "unknown path" in response.json()["error"]["message"]
    assert fake.requests == []
    assert fake.remaining == 1


def test_wait_for_requests_times_out_loudly(fake: FakeLLM) -> None:
    with pytest.raises(AssertionError, match="got 0 of 1 requests"):
        fake.wait_for_requests(1, timeout=0.05)


def test_close_ends_a_hang_at_once() -> None:
    fake = FakeLLM()
    fake.script(Hang(30))
    outcome: list[BaseException] = []

    def call() -> None:
        try:
            httpx.post(f"{fake.base_url}/chat/completions", json={}, timeout=10)
        except httpx.HTTPError as exc:
            outcome.append(exc)

    caller = threading.Thread(target=call)
    caller.start()
    fake.wait_for_requests(1, timeout=5)
    started = time.monotonic()
    fake.close()
    caller.join(timeout=5)

    assert time.monotonic() - started < 2
    assert [type(e) for e in outcome] == [httpx.RemoteProtocolError]
    fake.close()  # idempotent

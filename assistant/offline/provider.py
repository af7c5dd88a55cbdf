"""The litellm provider: the offline model's answer as streaming chunks or one response."""

from __future__ import annotations

import functools
import os
import re
import threading
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

from assistant.offline.answering import _Answer, _answer
from assistant.offline.reading import _get

if TYPE_CHECKING:
    from litellm.llms.custom_llm import CustomLLM
    from litellm.types.utils import GenericStreamingChunk, ModelResponse

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

_lock = threading.RLock()


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
    # litellm is imported on first use here and below: it takes seconds to load.
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

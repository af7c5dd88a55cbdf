"""Run a tool the way the worker does, in a tool package's own tests.

``run_tool`` validates the arguments with the tool's model (a bad argument is the ToolError
text the model would read), sets the call context (task, caller, idempotency key, attempt,
deadline), runs the call in a thread of its own until its deadline (a sandboxed tool in its
child process, killed there), and returns the result as the worker stores it (a JSON round
trip) or raises ToolError. No database: only Django settings (``django.setup()``), because
the registry reads them.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from tools.registry import (
    REGISTRY,
    CallContext,
    Tool,
    ToolError,
    ToolSuspended,
    failed_message,
    timed_out_message,
    tool_get,
)
from tools.runs import SANDBOX_GRACE


def tool_for(name_or_function: str | Callable[..., Any]) -> Tool:
    """Return the registered tool of that name or decorated function; ToolError if none."""
    if isinstance(name_or_function, str):
        found = tool_get(name_or_function)
    else:
        found = next((t for t in REGISTRY.values() if t.function is name_or_function), None)
    if found is None:
        raise ToolError(f"unknown tool: {name_or_function!r}")
    return found


def run_tool(
    name_or_function: str | Callable[..., Any],
    arguments: dict[str, Any],
    *,
    task_id: str = "00000000-0000-0000-0000-000000000001",
    owner: str = "tester",
    idempotency_key: str | None = None,
    attempt: int = 1,
    timeout: float | None = None,
) -> Any:
    """Run one call of the tool as the worker would; return its result or raise ToolError.

    ``timeout`` overrides the tool's own limit for this call. A tool that raises anything but
    ToolError ends as the worker's ``the tool failed: <type>`` ToolError (the original is
    chained as its ``__cause__``).
    """
    found = tool_for(name_or_function)
    limit = found.timeout if timeout is None else timeout
    call_id = str(uuid.uuid4())
    stop = threading.Event()
    context = CallContext(
        call_id=call_id,
        task_id=task_id,
        idempotency_key=idempotency_key or f"test-{call_id}",
        attempt=attempt,
        deadline=time.monotonic() + limit,
        stop=stop,
        caller=owner,
    )
    future: Future[Any] = Future()
    future.set_running_or_notify_cancel()

    def target() -> None:
        try:
            future.set_result(found.invoke(arguments, context))
        except BaseException as exc:
            future.set_exception(exc)

    # A daemon thread, as in the worker: a tool that ignores its stop cannot hold up the exit.
    threading.Thread(target=target, name=f"tool-{call_id}", daemon=True).start()
    grace = SANDBOX_GRACE if found.sandbox is not None else 0.0
    try:
        result = future.result(timeout=limit + grace)
    except FutureTimeout:
        stop.set()
        raise ToolError(timed_out_message(limit)) from None
    except (ToolError, ToolSuspended):
        raise
    except Exception as exc:
        raise ToolError(failed_message(exc)) from exc
    # What the model reads back is exactly what the worker would store.
    return json.loads(json.dumps(result, default=str))

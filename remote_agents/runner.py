"""Talking to a remote agent for a delegation, from the synchronous worker.

The A2A client is async; the worker is not. Each remote session (one stream, or one
CancelTask) is one coroutine, run on the process's long-lived client loop
(common/loops.py), with the client opened and closed inside it. A stream hands each event
to the worker's thread and waits for its verdict before reading the next one, so the
worker writes the parent's event and the delegation's ``last_event_id`` (database work,
channel-layer doorbells) in order, on its own thread, before the remote's next event is
read.

Only the agent's stored credential is sent (never the caller's), only to the hosts the SSRF
guard allows (``WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS`` for local ones), with the agent's own
timeouts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import enum
import logging
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from a2a.client import (
    A2AClient,
    ClientOptions,
    RequestTimeout,
    StreamEvent,
    TaskNotCancelable,
)
from a2a.protocol import types as wire
from common.loops import background_loop, loop_run
from remote_agents.models import RemoteAgent
from remote_agents.selectors import remote_agent_client_options

logger = logging.getLogger(__name__)

# The background loop every delegation's client runs on (not the publisher's: a stream's
# events are handled on the worker's thread, which publishes while the session waits).
CLIENT_LOOP = "a2a-client"
# How long the worker waits past a session's own deadline before giving up on it.
GRACE_SECONDS = 5.0


class Verdict(enum.Enum):
    """What the worker made of one event: read on, stop, or stop and cancel the remote task."""

    GO = "go"
    STOP = "stop"
    CANCEL = "cancel"


@dataclass(frozen=True)
class Opening:
    """How a session starts: send a message (new task, or an answer), or resubscribe."""

    message: wire.Message | None = None
    task_id: str = ""
    last_event_id: str | None = None


async def _client(agent: RemoteAgent, options: ClientOptions) -> A2AClient:
    if agent.interface_url and agent.interface_binding and agent.interface_version:
        interface = wire.AgentInterface(
            url=agent.interface_url,
            protocol_binding=agent.interface_binding,
            protocol_version=agent.interface_version,
        )
        return A2AClient(interface, options)
    # No interface chosen yet (a card not refreshed since it was registered): read the card.
    return await A2AClient.connect(agent.card_url, options)


Handoff = queue.Queue[tuple[StreamEvent, "concurrent.futures.Future[tuple[Verdict, str]]"]]


async def _session(
    agent: RemoteAgent, options: ClientOptions, opening: Opening, handoff: Handoff, seconds: float
) -> None:
    async with await _client(agent, options) as client:
        if opening.message is not None:
            stream = client.send_streaming_message(
                opening.message, idle_timeout=options.timeouts.stream_idle, deadline=seconds
            )
        else:
            stream = client.subscribe_to_task(
                opening.task_id,
                last_event_id=opening.last_event_id,
                idle_timeout=options.timeouts.stream_idle,
                deadline=seconds,
            )
        try:
            async for event in stream:
                answer: concurrent.futures.Future[tuple[Verdict, str]] = concurrent.futures.Future()
                handoff.put((event, answer))
                verdict, task_id = await asyncio.wrap_future(answer)
                if verdict is Verdict.GO:
                    continue
                if verdict is Verdict.CANCEL and task_id:
                    await _cancel_quietly(client, task_id, agent.name)
                break
        finally:
            await stream.aclose()


async def _cancel_quietly(client: A2AClient, task_id: str, name: str) -> None:
    try:
        await client.cancel_task(task_id)
    except TaskNotCancelable:
        pass  # it ended meanwhile (or the cancel cascade's job canceled it first)
    except Exception as exc:
        logger.warning("CancelTask of %s at %s failed: %s", task_id, name, exc)


def remote_stream(
    *,
    agent: RemoteAgent,
    opening: Opening,
    handle: Callable[[StreamEvent], tuple[Verdict, str]],
    seconds: float,
) -> None:
    """Run one stream of agent, calling handle on this thread for each event, in order.

    Raises what the client raises (TransportError, RemoteError, MalformedResponse, ...), and
    RequestTimeout when the session outlives ``seconds``. An exception from handle stops the
    stream, cancelling the remote task (the task id of handle's last verdict), and is raised.
    """
    options = remote_agent_client_options(agent=agent)
    handoff: Handoff = queue.Queue()
    future = asyncio.run_coroutine_threadsafe(
        _session(agent, options, opening, handoff, seconds), background_loop(CLIENT_LOOP)
    )
    give_up = time.monotonic() + seconds + GRACE_SECONDS
    remote_task_id = opening.task_id or (opening.message.task_id if opening.message else "") or ""
    try:
        while True:
            try:
                event, answer = handoff.get(timeout=0.1)
            except queue.Empty:
                if future.done():
                    break
                if time.monotonic() > give_up:
                    raise RequestTimeout(
                        f"{agent.name} did not finish within {seconds:g} s"
                    ) from None
                continue
            if event.response.task is not None:
                remote_task_id = event.response.task.id
            try:
                verdict = handle(event)
            except BaseException:
                answer.set_result((Verdict.CANCEL, remote_task_id))
                _wait(future)
                raise
            remote_task_id = verdict[1] or remote_task_id
            answer.set_result(verdict)
        future.result()
    finally:
        if not future.done():
            future.cancel()


def _wait(future: concurrent.futures.Future[None]) -> None:
    try:
        future.result(timeout=30)
    except Exception:
        logger.debug("The stream ended with an error while stopping", exc_info=True)


async def _get_task(agent: RemoteAgent, task_id: str) -> wire.Task:
    options = remote_agent_client_options(agent=agent)
    async with await _client(agent, options) as client:
        return await client.get_task(task_id, history_length=0)


def remote_task_get(*, agent: RemoteAgent, task_id: str) -> wire.Task:
    """Return the remote task as it is now (GetTask), within the agent's request timeout."""
    return loop_run(
        CLIENT_LOOP,
        _get_task(agent, task_id),
        timeout=agent.request_timeout_seconds + GRACE_SECONDS,
    )


async def _cancel(agent: RemoteAgent, task_id: str) -> wire.Task:
    options = remote_agent_client_options(agent=agent)
    async with await _client(agent, options) as client:
        return await client.cancel_task(task_id)


def remote_task_cancel(*, agent: RemoteAgent, task_id: str) -> str:
    """Cancel the remote task; return its wire state after (a finished task keeps its own)."""
    try:
        task = loop_run(
            CLIENT_LOOP, _cancel(agent, task_id), timeout=agent.request_timeout_seconds + 5
        )
    except TaskNotCancelable:
        return ""  # it had ended already: its state is whatever it ended in
    return str(task.status.state)


def parts_text(parts: list[wire.Part] | None) -> str:
    """Return the text parts joined by newlines."""
    return "\n".join(part.text for part in parts or [] if part.text)


def parts_data(parts: list[wire.Part] | None) -> list[Any]:
    """Return the data parts' values."""
    return [part.data for part in parts or [] if part.data is not None]

"""The reference A2A server of the benchmark: a2a-sdk 1.3.0's own server classes and an echo
agent, served by uvicorn on 127.0.0.1.

    .venv-bench-reference/bin/python bench/reference/server.py --port PORT [--echo-delay-ms MS]

It runs in its own venv (bench/reference/requirements.txt): the SDK imports as ``a2a``, like
webcap's package, so this file is started as a script (only its own folder on sys.path) and
never from the project root. The agent does what webcap's echo agent does: the task is
created (submitted), set working, the text of the message comes back as an artifact with one
chunk per word, and the task completes. The card lists the JSON-RPC and the HTTP+JSON
interface; no authentication, an in-memory task store.
"""

from __future__ import annotations

import argparse
import asyncio

import uvicorn
from starlette.applications import Starlette

from a2a.helpers.proto_helpers import new_task
from a2a.server.agent_execution import AgentExecutor, RequestContext
from a2a.server.events import EventQueue
from a2a.server.request_handlers import DefaultRequestHandler
from a2a.server.routes import (
    create_agent_card_routes,
    create_jsonrpc_routes,
    create_rest_routes,
)
from a2a.server.tasks import InMemoryTaskStore, TaskUpdater
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    AgentSkill,
    Part,
    TaskState,
)

JSONRPC_PATH = "/a2a/jsonrpc"
REST_PREFIX = "/a2a/rest"


class EchoExecutor(AgentExecutor):
    """Echo the text of the message as an artifact, one chunk per word, then complete;
    pause delay seconds before each chunk (as webcap's WEBCAP_ECHO_DELAY_MS does)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.delay = delay

    async def execute(self, context: RequestContext, event_queue: EventQueue) -> None:
        task = context.current_task
        if task is None:
            assert context.message is not None
            assert context.task_id is not None
            assert context.context_id is not None
            task = new_task(
                context.task_id,
                context.context_id,
                TaskState.TASK_STATE_SUBMITTED,
                history=[context.message],
            )
            await event_queue.enqueue_event(task)
        updater = TaskUpdater(event_queue, task.id, task.context_id)
        await updater.start_work()
        words = context.get_user_input().split()
        for index, word in enumerate(words):
            if self.delay:
                await asyncio.sleep(self.delay)
            await updater.add_artifact(
                [Part(text=word if index == 0 else f" {word}")],
                artifact_id="echo",
                name="echo",
                append=index > 0,
                last_chunk=index == len(words) - 1,
            )
        await updater.complete()

    async def cancel(self, context: RequestContext, event_queue: EventQueue) -> None:
        assert context.task_id is not None
        assert context.context_id is not None
        await TaskUpdater(event_queue, context.task_id, context.context_id).cancel()


def agent_card(base_url: str) -> AgentCard:
    return AgentCard(
        name="reference echo",
        description="a2a-sdk 1.3.0 reference server: echoes the text of the message.",
        version="1.0.0",
        supported_interfaces=[
            AgentInterface(
                url=f"{base_url}{JSONRPC_PATH}", protocol_binding="JSONRPC", protocol_version="1.0"
            ),
            AgentInterface(
                url=f"{base_url}{REST_PREFIX}", protocol_binding="HTTP+JSON", protocol_version="1.0"
            ),
        ],
        capabilities=AgentCapabilities(streaming=True, push_notifications=False),
        default_input_modes=["text/plain"],
        default_output_modes=["text/plain"],
        skills=[
            AgentSkill(
                id="echo",
                name="Echo",
                description="Streams the words of the message back, one artifact chunk per word.",
                tags=["echo"],
            )
        ],
    )


def application(port: int, delay: float) -> Starlette:
    card = agent_card(f"http://127.0.0.1:{port}")
    handler = DefaultRequestHandler(
        agent_executor=EchoExecutor(delay), task_store=InMemoryTaskStore(), agent_card=card
    )
    return Starlette(
        routes=[
            *create_agent_card_routes(card),
            *create_jsonrpc_routes(handler, JSONRPC_PATH),
            *create_rest_routes(handler, path_prefix=REST_PREFIX),
        ]
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--echo-delay-ms", type=int, default=0, help="pause before each chunk")
    options = parser.parse_args()
    uvicorn.run(
        application(options.port, options.echo_delay_ms / 1000),
        host="127.0.0.1",
        port=options.port,
        # uvicorn's default: an access line per request, as webcap logs request_finished at
        # its default LOG_LEVEL; each server pays for its own request log.
        log_level="info",
    )


if __name__ == "__main__":
    main()

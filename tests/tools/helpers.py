"""Helpers of the tools tests, which drive the assistant on the offline model."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.factories import rpc_send_task
from tests.webhook import WebhookReceiver


async def pending_approval(rpc: Any, key: str, site: WebhookReceiver) -> tuple[dict[str, Any], str]:
    """Ask the offline assistant to fetch site; return the waiting task and the call's id."""
    task = await rpc_send_task(rpc, key, f"fetch {site.url}")
    assert task["status"]["state"] == "TASK_STATE_INPUT_REQUIRED"
    text, data = task["status"]["message"]["parts"]
    assert text["text"].startswith("Approval needed before running: http_request(")
    [pending] = data["data"]["pendingToolCalls"]
    assert (pending["tool"], pending["arguments"]) == (
        "http_request",
        {"url": site.url, "method": "GET"},
    )
    assert pending["reason"] == "http_request reaches the network on your behalf."
    assert site.gets == []  # nothing ran before the decision
    return task, pending["toolCallId"]


async def settled(rpc: Any, key: str, task_id: str) -> dict[str, Any]:
    """Poll GetTask until the task is neither submitted nor working; return it."""
    for _ in range(50):
        task: dict[str, Any] = (await rpc("GetTask", {"id": task_id}, key=key)).json()["result"]
        if task["status"]["state"] not in ("TASK_STATE_SUBMITTED", "TASK_STATE_WORKING"):
            return task
        await asyncio.sleep(0.05)
    raise AssertionError("the task did not settle")

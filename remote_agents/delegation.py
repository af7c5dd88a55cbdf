"""Writes and reads of delegations: the stored link from a task of webcap's to a remote task.

A ``Delegation`` row is made when the ``delegate`` tool first runs for a tool call, and
updated with every remote event forwarded into the parent task, in the transaction that
stores the parent's event (``delegation_progress``), so a re-run after a crash resumes after
the last event the parent has and repeats none. Cancelling a parent ends its live
delegations and queues a CancelTask for each remote task (``delegations_cancel``, the cancel
hook); the remote call itself runs in a job (remote_agents/runner.py), never in the request.

A chain of delegations carries its origin and depth in message metadata
(``webcap.delegation``): the depth is read only as a hop count, never as authority.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from a2a.models import Message, Role, Task
from a2a.protocol.states import TERMINAL_STATES, state_from_wire
from a2a.registry import job_queue
from a2a.services.tasks import task_metadata_put
from audit.services import audit_record
from remote_agents.models import Delegation, RemoteAgent
from remote_agents.selectors import calling_agent_name, delegations_live_of_task

logger = logging.getLogger(__name__)

# The message metadata key a chain of delegations travels under, and the forwarded events'.
METADATA_KEY = "webcap.delegation"
# The name remote_agents/apps.py registers the remote cancel job under.
REMOTE_CANCEL_JOB = "delegation_remote_cancel"
# Bounds on what is read from an incoming chain (it comes from another agent).
MAX_CHAIN = 16
MAX_REF_CHARS = 256
# The task metadata key under which a task lists its sub-tasks at other agents, each with
# the sub-tasks that agent reported in turn: the tree across agents.
TREE_KEY = "webcap.delegations"
# Bounds on the tree a remote reports (it comes from another agent).
MAX_TREE_DEPTH = 8
MAX_TREE_NODES = 200
MAX_ERROR_CHARS = 500


@dataclass(frozen=True)
class Chain:
    """Where a task stands in a chain of delegations: who started it and how many hops deep."""

    origin: str
    # Hops before this task: 0 for a task a person or a plain client asked for.
    depth: int
    # The tasks the chain passed through, oldest first (for people reading logs).
    tasks: tuple[str, ...]

    def next_hop(self, task_ref: str) -> dict[str, Any]:
        """Return the metadata a delegation from this task sends (one hop deeper)."""
        return {
            METADATA_KEY: {
                "origin": self.origin or task_ref,
                "depth": self.depth + 1,
                "chain": [*self.tasks, task_ref][-MAX_CHAIN:],
            }
        }


def chain_of(metadata: Mapping[str, Any] | None, *, task_ref: str) -> Chain:
    """Read the chain an incoming message's metadata claims; a missing or bad one is depth 0."""
    claimed = (metadata or {}).get(METADATA_KEY)
    if not isinstance(claimed, Mapping):
        return Chain(origin=task_ref, depth=0, tasks=())
    depth = claimed.get("depth")
    origin = claimed.get("origin")
    tasks = claimed.get("chain")
    return Chain(
        origin=str(origin)[:MAX_REF_CHARS] if isinstance(origin, str) and origin else task_ref,
        depth=min(depth, 1000) if isinstance(depth, int) and depth > 0 else 0,
        tasks=tuple(str(t)[:MAX_REF_CHARS] for t in tasks[-MAX_CHAIN:])
        if isinstance(tasks, list)
        else (),
    )


def task_chain(*, task_id: uuid.UUID | str) -> Chain:
    """Return the chain of a task, from the metadata of the message that opened it."""
    opening = (
        Message.objects.filter(task_id=task_id, role=Role.USER)
        .order_by("position")
        .values_list("metadata", flat=True)
        .first()
    )
    return chain_of(opening, task_ref=str(task_id))


def task_federation(*, task: Task) -> dict[str, Any]:
    """What a task page says of the task's place among agents.

    ``subtasks``: the tree of its sub-tasks at other agents (its metadata's TREE_KEY);
    ``delegated_by``: for a task another agent asked for, that agent (when its account is
    a registered agent's ``client_user``) and the chain it came down.
    """
    tree = (task.metadata or {}).get(TREE_KEY)
    chain = task_chain(task_id=task.pk)
    agent = calling_agent_name(user=task.owner)
    delegated_by = None
    if chain.depth or agent:
        delegated_by = {
            "agent": agent,
            "depth": chain.depth,
            "origin": chain.origin if chain.depth else "",
            "chain": list(chain.tasks),
        }
    return {"subtasks": subtasks_clean(tree), "delegated_by": delegated_by}


def delegation_for_call(*, tool_call_id: str) -> Delegation | None:
    """Return the delegation a tool call made, if it made one."""
    return (
        Delegation.objects.select_related("remote_agent")
        .filter(tool_call_id=uuid.UUID(tool_call_id))
        .order_by("created_at")
        .first()
    )


def delegation_start(
    *, task_id: uuid.UUID | str, tool_call_id: str, agent: RemoteAgent, depth: int
) -> Delegation:
    """Record that a tool call delegates to agent (once: a re-run gets the same row)."""
    with transaction.atomic():
        found = (
            Delegation.objects.select_for_update()
            .select_related("remote_agent")
            .filter(tool_call_id=uuid.UUID(tool_call_id))
            .first()
        )
        if found is not None:
            return found
        delegation = Delegation.objects.create(
            parent_task_id=task_id,
            tool_call_id=uuid.UUID(tool_call_id),
            remote_agent=agent,
            depth=depth,
            state="TASK_STATE_SUBMITTED",
        )
    logger.info("Task %s delegates to %s (delegation %s)", task_id, agent.name, delegation.id)
    return delegation


def subtasks_clean(reported: Any) -> list[dict[str, Any]]:
    """Return the sub-task tree a remote task reported (its metadata's ``TREE_KEY``), keeping
    only known fields as bounded strings, at most MAX_TREE_NODES nodes MAX_TREE_DEPTH deep."""
    budget = [MAX_TREE_NODES]

    def nodes(value: Any, depth: int) -> list[dict[str, Any]]:
        if depth >= MAX_TREE_DEPTH or not isinstance(value, list):
            return []
        kept: list[dict[str, Any]] = []
        for item in value:
            if budget[0] <= 0:
                break
            if not isinstance(item, Mapping) or not isinstance(item.get("agent"), str):
                continue
            budget[0] -= 1
            node: dict[str, Any] = {
                key: item[key][:limit]
                for key, limit in (
                    ("agent", MAX_REF_CHARS),
                    ("taskId", MAX_REF_CHARS),
                    ("state", 32),
                    ("error", MAX_ERROR_CHARS),
                )
                if isinstance(item.get(key), str) and item[key]
            }
            node["subtasks"] = nodes(item.get("subtasks"), depth + 1)
            kept.append(node)
        return kept

    return nodes(reported, 0)


def _tree_node(delegation: Delegation) -> dict[str, Any]:
    # The shape subtasks_clean keeps: empty values are left out.
    values = {
        "agent": delegation.remote_agent.name,
        "taskId": delegation.remote_task_id,
        "state": delegation.state,
        "error": delegation.error[:MAX_ERROR_CHARS],
    }
    node: dict[str, Any] = {key: value for key, value in values.items() if value}
    node["subtasks"] = delegation.remote_subtasks or []
    return node


def task_tree_publish(*, task_id: uuid.UUID | str) -> None:
    """Put the task's delegations, and what each remote said of its own, in its metadata."""
    delegations = (
        Delegation.objects.filter(parent_task_id=uuid.UUID(str(task_id)))
        .select_related("remote_agent")
        .order_by("created_at", "id")
    )
    tree = [_tree_node(d) for d in delegations]
    task_metadata_put(task_id=task_id, key=TREE_KEY, value=tree or None)


def delegation_progress(
    *,
    delegation: Delegation,
    state: str | None = None,
    last_event_id: str | None = None,
    remote_task_id: str | None = None,
    remote_context_id: str | None = None,
) -> None:
    """Record what the remote reported (the caller's transaction: the parent's event's)."""
    fields = ["updated_at"]
    for name, value in (
        ("state", state),
        ("last_event_id", last_event_id),
        ("remote_task_id", remote_task_id),
        ("remote_context_id", remote_context_id),
    ):
        if value is not None and getattr(delegation, name) != value[:256]:
            setattr(delegation, name, value[:256])
            fields.append(name)
    if len(fields) > 1:
        delegation.save(update_fields=fields)
        if {"state", "remote_task_id"} & set(fields):
            task_tree_publish(task_id=delegation.parent_task_id)


def delegation_finish(
    *,
    delegation: Delegation,
    state: str,
    error: str = "",
    subtasks: list[dict[str, Any]] | None = None,
) -> None:
    """Mark a delegation ended (its remote task final, or given up on) and audit it.

    ``subtasks``: the remote task's own sub-tasks, as ``subtasks_clean`` read them.
    """
    with transaction.atomic():
        changes: dict[str, Any] = {}
        if subtasks is not None:
            changes["remote_subtasks"] = subtasks
        updated = Delegation.objects.filter(pk=delegation.pk, finished_at__isnull=True).update(
            state=state[:32],
            error=error,
            finished_at=timezone.now(),
            updated_at=timezone.now(),
            **changes,
        )
        delegation.state, delegation.error = state[:32], error
        if updated:
            if subtasks is not None:
                delegation.remote_subtasks = subtasks
            _audit(delegation, outcome="success" if not error else "failure", error=error)
            task_tree_publish(task_id=delegation.parent_task_id)


def delegation_audit_extra(*, tool_call_id: str, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """What the audit rows of a delegate call name: the agent, and the remote task once known."""
    extra: dict[str, Any] = {"agent": str(arguments.get("agent", ""))[:64]}
    delegation = delegation_for_call(tool_call_id=tool_call_id)
    if delegation is not None:
        extra.update(
            delegationId=str(delegation.id),
            agent=delegation.remote_agent.name,
            remoteTaskId=delegation.remote_task_id,
        )
        if delegation.state:
            extra["remoteState"] = delegation.state
    return extra


def _audit(delegation: Delegation, *, outcome: str, error: str = "") -> None:
    # The delegate call's own rows (toolcall.*) name the agent too; this row says how the
    # remote task ended, on the task that delegated it.
    extra: dict[str, Any] = {
        "delegationId": str(delegation.id),
        "agent": delegation.remote_agent.name,
        "remoteTaskId": delegation.remote_task_id,
        "remoteState": delegation.state,
        "toolCallId": str(delegation.tool_call_id or ""),
    }
    if error:
        extra["error"] = error[:500]
    audit_record(
        action="task.state",
        target_type="remote_agents.delegation",
        target_id=str(delegation.id),
        outcome=outcome,
        extra=extra,
    )


# --- Cancel cascade -------------------------------------------------------------------------------


def delegations_cancel(task: Task) -> None:
    """End the live delegations of a task being canceled; cancel each remote task after commit.

    The cancel hook (a2a.registry.cancel_hook_register): it runs in the cancel's transaction,
    whatever the task's agent. A delegation whose remote task is not known yet is stopped by
    its running job, which cancels the remote task itself when its next report is refused.
    """
    live = list(delegations_live_of_task(task=task))
    now = timezone.now()
    for delegation in live:
        already = state_from_wire(delegation.state or "") in TERMINAL_STATES
        Delegation.objects.filter(pk=delegation.pk).update(
            finished_at=now, updated_at=now, error="the parent task was canceled"
        )
        if delegation.remote_task_id and not already:
            delegation_id = str(delegation.id)
            transaction.on_commit(lambda d=delegation_id: job_queue(REMOTE_CANCEL_JOB, d))  # type: ignore[misc]
    if live:
        task_tree_publish(task_id=task.pk)
        logger.info("Task %s canceled: ending %d delegation(s)", task.id, len(live))


def delegation_cancel_result(*, delegation_id: str, state: str, error: str = "") -> None:
    """Record the outcome of the CancelTask sent for a canceled parent's delegation."""
    delegation = Delegation.objects.select_related("remote_agent").filter(pk=delegation_id).first()
    if delegation is None:
        return
    with transaction.atomic():
        Delegation.objects.filter(pk=delegation.pk).update(
            state=state[:32] or delegation.state, updated_at=timezone.now()
        )
        delegation.state = state[:32] or delegation.state
        task_tree_publish(task_id=delegation.parent_task_id)
        if error:
            logger.warning(
                "CancelTask for remote task %s at %s failed: %s",
                delegation.remote_task_id,
                delegation.remote_agent.name,
                error,
            )
        audit_record(
            action="task.cancel",
            target_type="remote_agents.delegation",
            target_id=str(delegation.id),
            outcome="failure" if error else "success",
            extra={
                "agent": delegation.remote_agent.name,
                "remoteTaskId": delegation.remote_task_id,
                "parentTaskId": str(delegation.parent_task_id),
                **({"error": error[:500]} if error else {}),
            },
        )

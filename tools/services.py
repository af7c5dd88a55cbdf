"""Writes of the tools app: tool calls from request to result, and the decisions on them.

Every decision, from whichever channel (an A2A follow-up, the REST API, the approval page,
the admin), goes through ``tool_call_decide_locked``; once no call of a task waits for a
person, the task is queued to run again. No worker waits for a decision.

Who may decide is checked before (``a2a.selectors.task_require`` with approve_task); which
tools the task owner's roles may run is checked when the model asks for a call. Requests
that wait for a person, decisions and executions are audited in their own transaction.
"""

from __future__ import annotations

import json
import logging
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from a2a.models import TERMINAL_STATES, Task, TaskState
from a2a.protocol.errors import PermissionDeniedError
from a2a.selectors import APPROVE, task_require
from a2a.services.tasks import task_requeue_locked
from accounts.models import User
from accounts.roles import roles_of
from audit.services import audit_record
from common.errors import ApplicationError
from common.publish import group_send_blocking
from tools.metrics import approval_wait_record, tool_call_record
from tools.models import (
    FINISHED_STATUSES,
    Decision,
    ToolCall,
    ToolCallStatus,
    TranscriptEntry,
)
from tools.packages import (
    PACKAGES_ENABLED_KEY,
    tool_packages,
    tool_packages_enabled,
    tool_state_cache,
)
from tools.registry import (
    ToolError,
    tool_allowed_for,
    tool_enabled,
    tool_get,
    tool_roles,
)
from tools.selectors import tool_calls_visible_to

logger = logging.getLogger(__name__)

# The channel-layer group every open approvals feed (tools/views.py) listens on, and the
# event it gets whenever the set of calls waiting for a person changes. The event carries no
# data: each feed reads again what its own user may decide, so nobody learns of others' calls.
APPROVALS_GROUP = "tools.approvals"
APPROVALS_DOORBELL = "approvals.changed"


def approvals_changed() -> None:
    """Ring the approvals feeds once the caller's transaction commits."""
    transaction.on_commit(_approvals_publish)


def _approvals_publish() -> None:
    try:
        group_send_blocking(APPROVALS_GROUP, {"type": APPROVALS_DOORBELL})
    except Exception:
        # A lost ring costs open feeds one re-read interval (they re-read on their own).
        logger.warning("Could not ring the approvals feeds", exc_info=True)


class ToolCallNotFound(ApplicationError):
    status_code = 404


class DecisionRefused(ApplicationError):
    """The call is not waiting for a decision, or its task has ended."""

    status_code = 409


class DecisionForbidden(ApplicationError):
    """The caller may see the call but not decide it (an operator, a viewer, no approve share)."""

    status_code = 403


def call_audit_extra(call: ToolCall, **extra: Any) -> dict[str, Any]:
    """Return the audit row's extra for a call: its tool and task, the tool's own, then extra."""
    found = tool_get(call.tool)
    own: dict[str, Any] = {}
    if found is not None and found.audit_extra is not None and isinstance(call.arguments, dict):
        own = found.audit_extra(str(call.pk), call.arguments)
    return {"tool": call.tool, "taskId": str(call.task_id), **own, **extra}


@dataclass(frozen=True)
class RequestedCall:
    """A tool call as the model made it: its id, the tool's name and raw JSON arguments."""

    llm_call_id: str
    name: str
    arguments: str


# --- Tool packages ----------------------------------------------------------------------------


def tool_package_enable(*, package: str, enabled: bool, actor: User | None = None) -> list[str]:
    """Offer (or stop offering) an installed package's tools from the next model turn on.

    Returns the package's tools. The choice is a cache entry every process reads
    (tools.packages.PACKAGES_ENABLED_KEY), so no process restarts.
    """
    packages = tool_packages()
    if package not in packages:
        known = ", ".join(sorted(packages)) or "none"
        raise ApplicationError(f"No tool package {package!r} is loaded (loaded: {known}).")
    chosen = set(tool_packages_enabled())
    if enabled:
        chosen.add(package)
    else:
        chosen.discard(package)
    tool_state_cache().set(PACKAGES_ENABLED_KEY, sorted(chosen), None)
    # Logged, not audited yet: a new audit action needs a migration of audit, which would
    # clash with the tool catalogue's; the catalogue's ToolSource rows take this over.
    logger.info(
        "Tool package %s %s by %s",
        package,
        "enabled" if enabled else "disabled",
        actor.username if actor is not None else "the command line",
    )
    return packages[package]


# --- Creating calls -------------------------------------------------------------------------------


def _refuse_by_role(call: ToolCall, owner: User) -> None:
    """Record a call of a tool the owner's roles may not run as rejected by policy."""
    allowed = ", ".join(sorted(tool_roles(call.tool))) or "no role"
    reason = (
        f"{call.tool} may be run for the roles {allowed}; the task owner has "
        f"{', '.join(sorted(roles_of(owner)))}"
    )
    call.status, call.decision = ToolCallStatus.CANCELLED, Decision.REJECTED
    call.decision_reason, call.error = reason, f"refused: {reason}"


def _validated(call: ToolCall, raw_arguments: str, owner: User) -> None:
    """Decode and check a new call's arguments; set its status for what comes next."""
    try:
        arguments = json.loads(raw_arguments) if raw_arguments.strip() else {}
    except json.JSONDecodeError:
        call.arguments = {"_raw": raw_arguments[:10_000]}
        call.status, call.error = ToolCallStatus.ERROR, "arguments are not valid JSON"
        return
    call.arguments = arguments if isinstance(arguments, dict) else {"_value": arguments}
    found = tool_get(call.tool)
    if found is None:
        call.status, call.error = ToolCallStatus.ERROR, f"unknown tool {call.tool!r}"
        return
    call.tool_version = found.version
    call.source_version_id = found.version_id
    if not tool_enabled(call.tool):
        # Not offered (a package not enabled, or left out by configuration), named anyway.
        call.status, call.error = ToolCallStatus.ERROR, f"tool {call.tool!r} is not enabled"
        return
    if not tool_allowed_for(name=call.tool, user=owner):
        # The model was not offered this tool, but named it anyway.
        _refuse_by_role(call, owner)
        return
    try:
        reason = found.approval_for(found.validate(arguments))
    except ToolError as exc:
        call.status, call.error = ToolCallStatus.ERROR, str(exc)
        return
    if reason is not None:
        call.requires_approval = True
        call.approval_reason = reason
        call.status = ToolCallStatus.AWAITING_APPROVAL
    else:
        call.status = ToolCallStatus.SCHEDULED


def tool_calls_request(
    *, task: Task, turn: TranscriptEntry, requested: list[RequestedCall]
) -> list[ToolCall]:
    """Store the tool calls a model turn asked for, validated (the caller holds the task lock).

    A call that waits for a person is audited as ``toolcall.request``; a call of a tool the
    owner's roles may not run is stored rejected (the model reads why, the task goes on)
    and audited as a denied ``toolcall.reject``.
    """
    calls = []
    finished_at = timezone.now()
    for position, request in enumerate(requested):
        call = ToolCall(
            task=task,
            turn=turn,
            requester_id=task.owner_id,
            llm_call_id=request.llm_call_id or f"call_{uuid.uuid4().hex[:24]}",
            position=position,
            tool=request.name,
        )
        _validated(call, request.arguments, task.owner)
        if call.status in FINISHED_STATUSES:
            call.finished_at = finished_at
        call.save()
        if call.status in FINISHED_STATUSES:
            refused = call.decision == Decision.REJECTED
            tool_call_record(tool=call.tool, outcome="rejected" if refused else "error")
        if call.status == ToolCallStatus.AWAITING_APPROVAL:
            audit_record(
                action="toolcall.request",
                actor=task.owner,
                target=call,
                extra=call_audit_extra(call, reason=call.approval_reason),
            )
        elif call.decision == Decision.REJECTED:
            audit_record(
                action="toolcall.reject",
                target=call,
                outcome="denied",
                extra=call_audit_extra(call, reason=call.decision_reason),
            )
        calls.append(call)
    if any(call.status == ToolCallStatus.AWAITING_APPROVAL for call in calls):
        approvals_changed()
    return calls


# --- Deciding -------------------------------------------------------------------------------------


def tool_call_decide_locked(
    *, task: Task, call: ToolCall, user: User, approved: bool, reason: str = ""
) -> ToolCall:
    """Record a decision on a call of a task locked by the caller (who checked the right).

    Deciding again the same way is a no-op (idempotent); any other decision on a call that
    no longer waits, or on a task that has ended, is refused.
    """
    decision = Decision.APPROVED if approved else Decision.REJECTED
    if call.decision == decision:
        return call  # the same decision again, e.g. a retried request
    if task.state in TERMINAL_STATES:
        raise DecisionRefused(f"Task {task.id} is {task.state}; its tool calls are closed.")
    if call.status != ToolCallStatus.AWAITING_APPROVAL or call.decision:
        raise DecisionRefused(
            f"Tool call {call.id} is {call.status}"
            + (f" ({call.decision})" if call.decision else "")
            + "; it does not wait for a decision."
        )
    call.decision = decision
    call.decided_by = user
    call.decided_at = timezone.now()
    call.decision_reason = reason
    if approved:
        call.status = ToolCallStatus.SCHEDULED
    else:
        call.status = ToolCallStatus.CANCELLED
        call.error = f"rejected by {user.get_username()}" + (f": {reason}" if reason else "")
        call.finished_at = call.decided_at
    call.save()
    approvals_changed()
    approval_wait_record(
        tool=call.tool, decision=decision, requested_at=call.created_at, decided_at=call.decided_at
    )
    if not approved:
        tool_call_record(tool=call.tool, outcome="rejected")
    audit_record(
        action="toolcall.approve" if approved else "toolcall.reject",
        actor=user,
        target=call,
        extra=call_audit_extra(call, reason=reason),
    )
    logger.info("Tool call %s %s by user %s", call.id, decision, user.pk)
    return call


def tool_calls_pending(*, task: Task) -> list[ToolCall]:
    """Return the task's calls that wait for a person, oldest first."""
    return list(
        ToolCall.objects.filter(
            task=task, status=ToolCallStatus.AWAITING_APPROVAL, decision=""
        ).order_by("created_at", "position")
    )


def task_resume_if_decided(*, task: Task, actor: User | None = None) -> bool:
    """Queue an interrupted task (locked) again when nothing waits for a decision."""
    if task.state != TaskState.INPUT_REQUIRED or tool_calls_pending(task=task):
        return False
    task_requeue_locked(task=task, actor=actor)
    return True


@transaction.atomic(durable=True)
def tool_call_decide(
    *, user: User, tool_call_id: str, approved: bool, reason: str = ""
) -> ToolCall:
    """Decide on a tool call the user may decide (REST, approval page).

    A call of a task the user may not read is not found, exactly like a missing one; a call
    the user may read but not decide is forbidden (403).
    """
    try:
        pk = uuid.UUID(str(tool_call_id))
    except ValueError:
        raise ToolCallNotFound(f"Tool call {tool_call_id!r} not found.") from None
    found = tool_calls_visible_to(user=user).filter(pk=pk).values_list("task_id", flat=True).first()
    if found is None:
        raise ToolCallNotFound(f"Tool call {tool_call_id!r} not found.")
    task = Task.objects.select_for_update(of=("self",)).select_related("context").get(pk=found)
    try:
        task_require(user=user, task=task, permission=APPROVE)
    except PermissionDeniedError as exc:
        raise DecisionForbidden(
            f"You may see tool call {tool_call_id} but not decide it.",
            extra={"toolCallId": str(pk), "taskId": str(task.id)},
        ) from exc
    call = ToolCall.objects.select_for_update().get(pk=pk)
    tool_call_decide_locked(task=task, call=call, user=user, approved=approved, reason=reason)
    task_resume_if_decided(task=task, actor=user)
    return call


def tool_calls_cancel(*, task: Task) -> int:
    """Cancel every unfinished call of a task (in the caller's transaction)."""
    unfinished = ToolCall.objects.filter(task=task).exclude(status__in=FINISHED_STATUSES)
    ended = list(unfinished.values_list("tool", "status", "created_at"))
    now = timezone.now()
    count = unfinished.update(
        status=ToolCallStatus.CANCELLED,
        error="the task was canceled",
        finished_at=now,
        updated_at=now,
    )
    for tool, status, created_at in ended:
        tool_call_record(tool=tool, outcome="cancelled")
        if status == ToolCallStatus.AWAITING_APPROVAL:
            # The task ended while the call waited: nobody decided it.
            approval_wait_record(
                tool=tool, decision="expired", requested_at=created_at, decided_at=now
            )
    if any(status == ToolCallStatus.AWAITING_APPROVAL for _, status, _ in ended):
        approvals_changed()
    return count

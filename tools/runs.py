"""Running approved tool calls: at most once each, with a deadline, recovered after a crash.

A call is claimed (``executing``) in its own transaction before its tool runs and finished in
another, so a worker that dies mid-call leaves a row that says so: ``tool_calls_recover``
runs it again up to ``MAX_ATTEMPTS`` times, and a tool with side effects only when it can be
retried safely. Executions are audited like every other step of a call (tools/services.py).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from a2a.models import Task
from accounts.models import User
from audit.services import audit_record
from tools.metrics import tool_call_record, tool_run_record, tool_thread_abandoned_record
from tools.models import (
    FINISHED_STATUSES,
    ToolCall,
    ToolCallStatus,
)
from tools.registry import (
    CallContext,
    ToolError,
    ToolSuspended,
    failed_message,
    timed_out_message,
    tool_get,
)
from tools.services import call_audit_extra

logger = logging.getLogger(__name__)


# A call interrupted this many times (a tool that kills its worker) is not run again.
MAX_ATTEMPTS = 3
INTERRUPTED = "interrupted by a restart before it finished; not run again"
# Seconds a call of a tool that is gone may run.
DEFAULT_TIMEOUT = 10.0
# Seconds past its deadline a sandboxed call has to report its own kill ("stopped after ...").
SANDBOX_GRACE = 1.0
# Seconds a timed-out call in the worker's thread has to stop before it counts as abandoned.
STOP_GRACE = 0.5


def tool_calls_recover(*, task: Task) -> None:
    """Settle calls a killed worker left executing: pure ones run again, others do not.

    A call with side effects may have happened before the worker died; running it again
    could do it twice, so it ends as an error the model can read: at most once. A tool that
    retries with its key (``retry_with_key``, WEBCAP_TOOLS_RETRY_WITH_KEY) runs again with
    the same idempotency key, for a system that applies a repeated key once.
    """
    for call in ToolCall.objects.filter(task=task, status=ToolCallStatus.EXECUTING):
        found = tool_get(call.tool)
        try:
            params = found.validate(call.arguments) if found else None
        except ToolError:
            params = None  # the tool's checks changed since: it cannot run again
        if found is None or params is None:
            error = f"{INTERRUPTED}: its tool or arguments are no longer valid"
        elif call.attempts >= MAX_ATTEMPTS:
            error = f"{INTERRUPTED}: interrupted {call.attempts} times"
        elif not found.side_effects(params):
            _finish_if_executing(call, status=ToolCallStatus.SCHEDULED, started_at=None)
            continue
        elif found.retries_with_key():
            logger.info(
                "Tool call %s (%s) runs again with its idempotency key after attempt %d",
                call.pk,
                call.tool,
                call.attempts,
            )
            _finish_if_executing(call, status=ToolCallStatus.SCHEDULED, started_at=None)
            continue
        else:
            error = f"{INTERRUPTED} because it may have had effects"
        _finish_if_executing(call, status=ToolCallStatus.ERROR, error=error)


def _finish_if_executing(call: ToolCall, *, attempt: int | None = None, **fields: Any) -> bool:
    """Update a call that is still executing (a cancel or a timeout may have settled it).

    With ``attempt``, only while that attempt is the latest: the late result of a run that
    was recovered and claimed again is ignored. A call that ends here ran (or was cut off
    while running): ``toolcall.execute`` is audited in the same transaction, a success or
    a failure with the error, and the attempt when it is not the first.
    """
    finished = fields.get("status") in FINISHED_STATUSES
    if finished:
        fields.setdefault("finished_at", timezone.now())
    fields["updated_at"] = timezone.now()
    executing = ToolCall.objects.filter(pk=call.pk, status=ToolCallStatus.EXECUTING)
    if attempt is not None:
        executing = executing.filter(attempts=attempt)
    with transaction.atomic():
        updated = executing.update(**fields) == 1
        if updated and finished:
            success = fields["status"] == ToolCallStatus.SUCCESS
            interrupted = str(fields.get("error", "")).startswith(INTERRUPTED)
            tool_call_record(
                tool=call.tool,
                outcome="success" if success else "interrupted" if interrupted else "error",
            )
            extra: dict[str, Any] = {} if success else {"error": fields.get("error", "")}
            # Without attempt (a timeout), the call the caller holds predates the claim.
            attempts = attempt or ToolCall.objects.values_list("attempts", flat=True).get(
                pk=call.pk
            )
            if attempts > 1:
                extra["attempt"] = attempts
            audit_record(
                action="toolcall.execute",
                actor=User.objects.filter(pk=call.requester_id).first(),
                target=call,
                outcome="success" if success else "failure",
                extra=call_audit_extra(call, **extra),
            )
    return updated


def _claim(call_id: Any) -> ToolCall | None:
    """Move a scheduled call to executing and count the attempt; None if it is not scheduled.

    One conditional UPDATE: of two workers claiming the same call, exactly one wins.
    """
    now = timezone.now()
    claimed = ToolCall.objects.filter(pk=call_id, status=ToolCallStatus.SCHEDULED).update(
        status=ToolCallStatus.EXECUTING,
        started_at=now,
        updated_at=now,
        attempts=F("attempts") + 1,
    )
    return ToolCall.objects.select_related("task__owner").get(pk=call_id) if claimed else None


@dataclass
class _Clock:
    """One call's own clock: when its thread started it, and the flag that tells it to stop."""

    limit: float
    started: float | None = None
    stop: threading.Event = field(default_factory=threading.Event)

    def deadline(self) -> float | None:
        """Return when the call must be done (None until its thread has started)."""
        return None if self.started is None else self.started + self.limit


def _execute(call_id: Any, clock: _Clock | None = None) -> None:
    """Run one scheduled call in this thread and store its outcome."""
    if clock is not None:
        clock.started = time.monotonic()
    try:
        call = _claim(call_id)
        if call is None:
            return  # canceled meanwhile, or another worker claimed it
        attempt = call.attempts
        found = tool_get(call.tool)
        if found is None:
            _finish_if_executing(
                call, attempt=attempt, status=ToolCallStatus.ERROR, error="unknown tool"
            )
            return
        context = CallContext(
            call_id=str(call.pk),
            task_id=str(call.task_id),
            idempotency_key=call.idempotency_key,
            attempt=attempt,
            deadline=clock.deadline() if clock is not None else None,
            stop=clock.stop if clock is not None else threading.Event(),
            caller=call.task.owner.username,
        )
        started = time.monotonic()
        try:
            result = found.invoke(call.arguments, context)
        except ToolSuspended:
            # The task waits for input the call needs (ToolSuspended): run it again then.
            _finish_if_executing(
                call, attempt=attempt, status=ToolCallStatus.SCHEDULED, started_at=None
            )
            return
        except ToolError as exc:
            _finish_if_executing(call, attempt=attempt, status=ToolCallStatus.ERROR, error=str(exc))
            return
        except Exception as exc:
            logger.exception("Tool %s failed on call %s", call.tool, call_id)
            _finish_if_executing(
                call,
                attempt=attempt,
                status=ToolCallStatus.ERROR,
                error=failed_message(exc),
            )
            return
        finally:
            tool_run_record(tool=call.tool, seconds=time.monotonic() - started)
        # JSON round trip: what the model reads back is exactly what is stored.
        stored = json.loads(json.dumps(result, default=str))
        _finish_if_executing(call, attempt=attempt, status=ToolCallStatus.SUCCESS, result=stored)
    finally:
        connection.close()


def _start(call_id: Any, clock: _Clock) -> Future[None]:
    """Run the call in a daemon thread of its own; return the future of its end.

    A daemon thread, not a pool's: a thread abandoned past its deadline must not keep the
    worker process from exiting.
    """
    future: Future[None] = Future()
    future.set_running_or_notify_cancel()

    def target() -> None:
        try:
            _execute(call_id, clock)
        except BaseException as exc:
            future.set_exception(exc)
        else:
            future.set_result(None)

    threading.Thread(target=target, name=f"tool-{call_id}", daemon=True).start()
    return future


def tool_calls_run(*, calls: list[ToolCall]) -> None:
    """Run scheduled calls in parallel, each until its own deadline.

    Each call's clock starts when its own thread starts it, and all calls are waited on
    together, so one slow call never shortens or lengthens another's time. A sandboxed call
    is killed by its sandbox at its deadline and reports that itself (``SANDBOX_GRACE``
    gives it the time to). A call in the worker's thread past its deadline ends as an error
    at once and is told to stop (``CallContext.stopped()``); if it does not cooperate, its
    thread is abandoned, counted and logged: Python cannot stop a thread.
    """
    runs: dict[Future[None], tuple[ToolCall, _Clock, float]] = {}
    for call in calls:
        found = tool_get(call.tool)
        clock = _Clock(limit=found.timeout if found else DEFAULT_TIMEOUT)
        grace = SANDBOX_GRACE if found is not None and found.sandbox is not None else 0.0
        runs[_start(call.pk, clock)] = (call, clock, grace)

    def due(future: Future[None]) -> float | None:
        _call, clock, grace = runs[future]
        deadline = clock.deadline()
        return None if deadline is None else deadline + grace

    pending = set(runs)
    timed_out: list[Future[None]] = []
    while pending:
        now = time.monotonic()
        for future in [f for f in pending if (d := due(f)) is not None and now >= d]:
            pending.discard(future)
            timed_out.append(future)
            call, clock, _grace = runs[future]
            clock.stop.set()
            _finish_if_executing(
                call, status=ToolCallStatus.ERROR, error=timed_out_message(clock.limit)
            )
        deadlines = [d for f in pending if (d := due(f)) is not None]
        # A thread that has not started yet has no deadline: look again shortly.
        left = min(deadlines) - time.monotonic() if deadlines else 0.05
        _done, pending = wait(pending, timeout=max(left, 0.0), return_when=FIRST_COMPLETED)
    _abandoned(timed_out, runs)
    for future in runs:
        if future not in timed_out:
            future.result()  # an error outside the tool (the database) fails the step


def _abandoned(
    timed_out: list[Future[None]], runs: dict[Future[None], tuple[ToolCall, _Clock, float]]
) -> None:
    """Count and log the timed-out calls whose threads did not stop when told to."""
    if not timed_out:
        return
    _done, running = wait(timed_out, timeout=STOP_GRACE)
    for future in running:
        call = runs[future][0]
        tool_thread_abandoned_record(tool=call.tool)
        logger.warning(
            "Tool call %s (%s) ran past its deadline and did not stop; its thread is "
            "abandoned (only sandboxed tools are killed)",
            call.pk,
            call.tool,
        )

"""The task services by the names their callers import; each lives in the module named for it.

Sending messages in ``messages``, the state machine in ``transitions``, artifact chunks in
``artifacts``, queueing, cancel, requeue and the run lease in ``runs``.
"""

from __future__ import annotations

from a2a.services.artifacts import task_artifact_update
from a2a.services.messages import (
    DECISION_KEY,
    INLINE_PUSH_PREFIX,
    Reply,
    SendResult,
    message_send,
)
from a2a.services.runs import (
    task_cancel,
    task_lease_claim,
    task_lease_release,
    task_lease_renew,
    task_lease_wait,
    task_requeue_locked,
    tasks_requeue_orphaned,
    tasks_requeue_unfinished,
)
from a2a.services.transitions import (
    ALLOWED_TRANSITIONS,
    TaskStateError,
    task_metadata_put,
    task_transition,
)

__all__ = [
    "ALLOWED_TRANSITIONS",
    "DECISION_KEY",
    "INLINE_PUSH_PREFIX",
    "Reply",
    "SendResult",
    "TaskStateError",
    "message_send",
    "task_artifact_update",
    "task_cancel",
    "task_lease_claim",
    "task_lease_release",
    "task_lease_renew",
    "task_lease_wait",
    "task_metadata_put",
    "task_requeue_locked",
    "task_transition",
    "tasks_requeue_orphaned",
    "tasks_requeue_unfinished",
]

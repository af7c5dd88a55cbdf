"""Reads of the A2A store. Every lookup by an id a client sent is scoped to the caller first.

A task the caller may not read does not exist for it: the lookup filters by what the caller
may read before it looks at the id, so a foreign id and a missing id raise the same
TaskNotFoundError. A task the caller may read but not act on raises PermissionDeniedError.
The rules are in accounts/roles.py.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core import signing
from django.db.models import Count, Min, Q, QuerySet

from a2a.models import (
    Artifact,
    ArtifactFile,
    ArtifactVersion,
    Task,
    TaskEvent,
    TaskGroupObjectPermission,
    TaskState,
    TaskUserObjectPermission,
)
from a2a.protocol import convert
from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError, PermissionDeniedError, TaskNotFoundError
from a2a.protocol.states import state_from_wire
from accounts.models import User
from accounts.roles import (
    cancels_all_tasks,
    decides_when_granted,
    manages_all_tasks,
    may_send,
    sees_all_tasks,
)
from common.errors import ApplicationError

DEFAULT_PAGE_SIZE = 50
_CURSOR_SALT = "a2a.list-tasks.v1"


def parse_task_id(task_id: str) -> uuid.UUID:
    """Return the UUID of a client-sent task id; anything else cannot exist (TaskNotFound)."""
    try:
        return uuid.UUID(str(task_id))
    except ValueError:
        raise TaskNotFoundError(
            f"Task {task_id!r} not found", metadata={"taskId": str(task_id)}
        ) from None


# The object permissions of a task (guardian codenames).
VIEW = "view_task"
CHANGE = "change_task"
CANCEL = "cancel_task"
APPROVE = "approve_task"
OWNER_PERMISSIONS = (VIEW, CHANGE, CANCEL, APPROVE)
# Not a stored permission: sharing a task is for its owner and admins only.
MANAGE_SHARES = "manage_shares"

_DENIED = {
    CHANGE: "send messages to or change",
    CANCEL: "cancel",
    APPROVE: "decide the tool calls of",
    MANAGE_SHARES: "manage the shares of",
}


def granted(*, user: User, permission: str) -> Q:
    """Return a filter on tasks: user holds permission on the task, itself or via a group.

    ``pk IN (the user's granted task ids)``, not correlated EXISTS: the subqueries are read
    once through the (user or group, permission) index, and ``owner = ? OR pk IN (...)``
    stays an index lookup on both sides. With EXISTS, SQLite and PostgreSQL scanned every
    task (bench/authz_reads.py: 700 ms -> 4 ms for ListTasks at 20 000 tasks).
    """
    direct = TaskUserObjectPermission.objects.filter(
        user=user, permission__codename=permission
    ).values("content_object_id")
    through_group = TaskGroupObjectPermission.objects.filter(
        group__user=user, permission__codename=permission
    ).values("content_object_id")
    return Q(pk__in=direct) | Q(pk__in=through_group)


def tasks_visible_to(*, user: User) -> QuerySet[Task]:
    """Return the tasks the user may read: own, shared with them, or all (admin, operator)."""
    if sees_all_tasks(user):
        return Task.objects.all()
    return Task.objects.filter(Q(owner=user) | granted(user=user, permission=VIEW))


def _task_readable(*, user: User, task: Task) -> bool:
    """Return whether the user may read a task (what tasks_visible_to says, for one row)."""
    if task.owner_id == user.pk or sees_all_tasks(user):
        return True
    return Task.objects.filter(pk=task.pk).filter(granted(user=user, permission=VIEW)).exists()


def task_allows(*, user: User, task: Task, permission: str) -> bool:
    """Return whether the user may do what permission names with a task they may read."""
    if permission == VIEW or manages_all_tasks(user):
        return True
    if permission == MANAGE_SHARES:
        return task.owner_id == user.pk
    if not may_send(user):
        return False  # viewers only read
    if task.owner_id == user.pk:
        return True
    if permission == CANCEL and cancels_all_tasks(user):
        return True
    if permission == APPROVE and not decides_when_granted(user):
        return False  # an approve share counts only for approvers
    return (
        Task.objects.filter(pk=task.pk).filter(granted(user=user, permission=permission)).exists()
    )


def task_require(*, user: User, task: Task, permission: str) -> None:
    """Raise PermissionDeniedError unless the user may do what permission names with task."""
    if not task_allows(user=user, task=task, permission=permission):
        raise PermissionDeniedError(
            f"You may read task {task.id} but not {_DENIED.get(permission, 'change')} it",
            metadata={"taskId": str(task.id), "permission": permission},
        )


def task_get_for_user(
    *, user: User, task_id: str, for_update: bool = False, permission: str = VIEW
) -> Task:
    """Return a task the user may read and do permission with.

    A missing task and a task the user may not read raise the same TaskNotFoundError; a
    task the user may read but not act on raises PermissionDeniedError.
    """
    pk = parse_task_id(task_id)
    if for_update:
        # Scoped in the query, so a foreign task's row is never locked; of=("self",): lock
        # only the task row, not the joined context and status message.
        task = (
            tasks_visible_to(user=user)
            .select_related("context", "status_message")
            .select_for_update(of=("self",))
            .filter(pk=pk)
            .first()
        )
    else:
        # A read by primary key, then the permission in Python: the owner and admins need no
        # second query, and the common case skips building the shares subqueries.
        # get(), not first(): first() orders by pk, and compiling that ORDER BY was a third
        # of the read's CPU for one row that needs no order.
        try:
            task = Task.objects.select_related("context", "status_message").get(pk=pk)
        except Task.DoesNotExist:
            task = None
        if task is not None and not _task_readable(user=user, task=task):
            task = None
    if task is None:
        raise TaskNotFoundError(f"Task {task_id!r} not found", metadata={"taskId": str(task_id)})
    task_require(user=user, task=task, permission=permission)
    return task


class ArtifactNotFound(ApplicationError):
    status_code = 404


class ArtifactFileGone(ApplicationError):
    status_code = 410


def artifact_file_for_user(*, user: User, file_id: uuid.UUID) -> ArtifactFile:
    """Return a stored file of a task the user may read (a foreign one looks missing)."""
    found = (
        ArtifactFile.objects.filter(pk=file_id, task__in=tasks_visible_to(user=user))
        .select_related("task")
        .first()
    )
    if found is None:
        raise ArtifactNotFound(f"File {file_id} not found")
    if found.purged_at is not None:
        raise ArtifactFileGone(
            f"File {file_id} was deleted on {found.purged_at.date().isoformat()}: the files "
            f"of a task are kept {settings.ARTIFACT_RETENTION_DAYS} days after it ends",
            extra={"purgedAt": found.purged_at.isoformat()},
        )
    return found


def artifact_for_user(*, user: User, task_id: str, artifact_id: str) -> Artifact:
    """Return one artifact of a task the user may read (TaskNotFoundError or 404 otherwise)."""
    task = task_get_for_user(user=user, task_id=task_id)
    found = Artifact.objects.filter(task=task, artifact_id=artifact_id).first()
    if found is None:
        raise ArtifactNotFound(f"Task {task.id} has no artifact {artifact_id!r}")
    return found


FilesByVersion = dict[tuple[uuid.UUID, int], list[ArtifactFile]]


def artifact_files_by_version(*, artifact_ids: list[uuid.UUID]) -> FilesByVersion:
    """Return the stored files of these artifacts, by (artifact pk, version), oldest first."""
    found: FilesByVersion = defaultdict(list)
    for row in ArtifactFile.objects.filter(artifact_id__in=artifact_ids).order_by("created_at"):
        found[(row.artifact_id, row.version)].append(row)
    return found


def artifact_versions(*, artifact: Artifact) -> list[ArtifactVersion]:
    """Return the earlier versions of an artifact, oldest first (the current one is itself)."""
    return list(ArtifactVersion.objects.filter(artifact=artifact).order_by("version"))


@dataclass(frozen=True)
class StateCount:
    """How many tasks are in a state, and the status time of the one there longest."""

    count: int
    oldest: datetime | None


def task_states() -> dict[str, StateCount]:
    """Return every state with its task count (0 when empty), over all tasks: one query."""
    found = {
        row["state"]: StateCount(row["n"], row["oldest"])
        for row in Task.objects.order_by()
        .values("state")
        .annotate(n=Count("id"), oldest=Min("status_timestamp"))
    }
    return {state: found.get(state, StateCount(0, None)) for state in TaskState.values}


def task_artifacts(*, task: Task) -> list[Artifact]:
    """Return the task's artifacts in the order they were created."""
    return list(Artifact.objects.filter(task=task).order_by("created_at", "id"))


def _history_trimmed(history: list[dict[str, Any]], history_length: int | None) -> list[Any]:
    """Return a wire history whole (None), or its newest history_length messages (0: none)."""
    if history_length is None:
        return history
    return history[-history_length:] if history_length else []


def task_wire(*, task: Task, history_length: int | None) -> dict[str, Any]:
    """Return the wire Task with its artifacts and (trimmed) history, from the task row alone.

    The row keeps its history and artifacts in wire form (``wire_history``,
    ``wire_artifacts``), written with every change to them, so no other table is read.
    """
    return convert.task_to_wire(
        task,
        context_key=task.context.key,
        history=_history_trimmed(task.wire_history, history_length),
        artifacts=task.wire_artifacts or None,
    )


def task_wire_for_user(*, user: User, task_id: str, history_length: int | None) -> dict[str, Any]:
    """Return a task the user may read in wire form (GetTask)."""
    task = task_get_for_user(user=user, task_id=task_id)
    return task_wire(task=task, history_length=history_length)


@dataclass(frozen=True)
class Snapshot:
    """A task as of one point in its event log."""

    task: dict[str, Any]
    seq: int
    state: str


def task_snapshot(*, user: User, task_id: str, history_length: int | None) -> Snapshot:
    """Return the task with the sequence number it reflects, from one read of its row.

    The history, the artifacts, the state and ``last_seq`` are columns of the task row, which
    every change writes together in one UPDATE (with the status message it points to, in the
    same transaction), so one SELECT sees exactly the events up to ``seq``; a stream that
    continues with ``seq + 1`` then never repeats or skips an artifact chunk. No transaction
    and no row lock: on SQLite (IMMEDIATE transactions) one would take the database's write
    lock for every subscriber.
    """
    task = task_get_for_user(user=user, task_id=task_id)
    return Snapshot(
        task=task_wire(task=task, history_length=history_length),
        seq=task.last_seq,
        state=task.state,
    )


@dataclass(frozen=True)
class StoredEvent:
    """One row of the event log as a stream sends it."""

    seq: int
    state: str
    payload: dict[str, Any]


def task_events_after(*, task_id: uuid.UUID, after_seq: int, limit: int = 500) -> list[StoredEvent]:
    """Return the task's events with seq > after_seq, oldest first (caller checked access)."""
    rows = (
        TaskEvent.objects.filter(task_id=task_id, seq__gt=after_seq)
        .order_by("seq")
        .values_list("seq", "state", "payload")[:limit]
    )
    return [StoredEvent(seq=seq, state=state, payload=payload) for seq, state, payload in rows]


def _page_token(task: Task) -> str:
    """Return an opaque, signed cursor just past task in (status time, id) order."""
    return signing.dumps(
        [task.status_timestamp.isoformat(), str(task.id)], salt=_CURSOR_SALT, compress=True
    )


def _page_cursor(token: str) -> tuple[datetime, uuid.UUID]:
    try:
        timestamp, task_id = signing.loads(token, salt=_CURSOR_SALT)
        return datetime.fromisoformat(timestamp), uuid.UUID(task_id)
    except (signing.BadSignature, ValueError, TypeError) as exc:
        raise InvalidParamsError.for_fields(
            [("pageToken", "is not a token this server returned")]
        ) from exc


def tasks_list_for_user(*, user: User, request: wire.ListTasksRequest) -> dict[str, Any]:
    """ListTasks (A2A §3.1.4): the tasks the user may read, newest status first, keyset-paged.

    The user's own tasks and those shared with them; every task for admins and operators.
    The cursor is the (status time, id) of the last task returned, so tasks created while a
    client pages never shift later pages; ``totalSize`` counts every match.
    """
    queryset = tasks_visible_to(user=user)
    if request.context_id:
        queryset = queryset.filter(context__key=request.context_id)
    state = state_from_wire(request.status) if request.status is not None else None
    if state is not None:
        queryset = queryset.filter(state=state)
    if request.status_timestamp_after is not None:
        queryset = queryset.filter(status_timestamp__gte=request.status_timestamp_after)
    total = queryset.count()
    page_size = min(request.page_size or DEFAULT_PAGE_SIZE, settings.WEBCAP_MAX_PAGE_SIZE)
    if request.page_token:
        after_time, after_id = _page_cursor(request.page_token)
        queryset = queryset.filter(
            Q(status_timestamp__lt=after_time) | Q(status_timestamp=after_time, id__lt=after_id)
        )
    # Each task's history and artifacts come with its row (Task.wire_history, wire_artifacts);
    # what the request leaves out is not read at all.
    unread = [
        *(["wire_history"] if request.history_length == 0 else []),
        *([] if request.include_artifacts else ["wire_artifacts"]),
    ]
    rows = list(
        queryset.select_related("context", "status_message")
        .defer(*unread)
        .order_by("-status_timestamp", "-id")[: page_size + 1]
    )
    next_page_token = _page_token(rows[page_size - 1]) if len(rows) > page_size else ""
    rows = rows[:page_size]

    return {
        "tasks": [
            convert.task_to_wire(
                task,
                context_key=task.context.key,
                history=(
                    _history_trimmed(task.wire_history, request.history_length)
                    if request.history_length != 0
                    else None
                ),
                # A2A §3.1.4: without includeArtifacts the field is left out entirely.
                artifacts=task.wire_artifacts if request.include_artifacts else None,
            )
            for task in rows
        ],
        "nextPageToken": next_page_token,
        "pageSize": page_size,
        "totalSize": total,
    }


@dataclass(frozen=True)
class Share:
    """A user a task is shared with, and how: "view", or "approve" (view and decide)."""

    username: str
    permission: str


def task_shares(*, task: Task) -> list[Share]:
    """Return who the task is shared with (its owner's own rights are not a share)."""
    held: dict[str, set[str]] = defaultdict(set)
    rows = (
        TaskUserObjectPermission.objects.filter(
            content_object=task, permission__codename__in=(VIEW, APPROVE)
        )
        .exclude(user_id=task.owner_id)
        .values_list("user__username", "permission__codename")
    )
    for username, codename in rows:
        held[username].add(codename)
    return [
        Share(username=username, permission="approve" if APPROVE in codenames else "view")
        for username, codenames in sorted(held.items())
        if VIEW in codenames
    ]

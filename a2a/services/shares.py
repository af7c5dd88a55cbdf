"""Sharing a task with other users: "view" (read it) or "approve" (read it, decide its tools).

A share is a set of guardian object permissions on the task (view_task, and approve_task
for "approve"); only the task's owner and admins manage them, and every change is audited
as ``permission.grant`` / ``permission.revoke`` in its own transaction.
"""

from __future__ import annotations

import logging

from django.contrib.auth.models import Permission
from django.db import transaction

from a2a.models import Task, TaskUserObjectPermission
from a2a.selectors import APPROVE, MANAGE_SHARES, VIEW, Share, task_get_for_user
from accounts.models import User
from accounts.roles import decides_when_granted
from audit.services import audit_record
from common.errors import ApplicationError

logger = logging.getLogger(__name__)

# What each kind of share grants.
SHARE_PERMISSIONS: dict[str, frozenset[str]] = {
    "view": frozenset({VIEW}),
    "approve": frozenset({VIEW, APPROVE}),
}


class ShareInvalid(ApplicationError):
    """The share asked for cannot exist (unknown permission)."""

    status_code = 400


class ShareUserNotFound(ApplicationError):
    """No active user has the username the share names."""

    status_code = 404


class ShareConflict(ApplicationError):
    """The user cannot hold this share: the task's owner, or approve for a non-approver."""

    status_code = 409


class ShareNotFound(ApplicationError):
    status_code = 404


def _level(codenames: set[str]) -> str | None:
    if VIEW not in codenames:
        return None
    return "approve" if APPROVE in codenames else "view"


def _held(*, task: Task, user: User) -> set[str]:
    return set(
        TaskUserObjectPermission.objects.filter(
            content_object=task, user=user, permission__codename__in=(VIEW, APPROVE)
        ).values_list("permission__codename", flat=True)
    )


@transaction.atomic(durable=True)
def task_share_set(
    *, user: User, task_id: str, username: str, permission: str
) -> tuple[Share, bool]:
    """Share the task with username at exactly this level; return it and whether it is new.

    Sharing again at another level replaces the old one (approve -> view revokes approve).
    """
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=MANAGE_SHARES)
    if permission not in SHARE_PERMISSIONS:
        raise ShareInvalid(f"permission must be one of {', '.join(SHARE_PERMISSIONS)}.")
    grantee = User.objects.filter(username=username, is_active=True).first()
    if grantee is None:
        raise ShareUserNotFound(
            f"There is no active user named {username!r}.", extra={"field": "username"}
        )
    if grantee.pk == task.owner_id:
        raise ShareConflict(
            f"{username} owns task {task.id}; an owner has every right already.",
            extra={"field": "username"},
        )
    if permission == "approve" and not decides_when_granted(grantee):
        raise ShareConflict(
            f"{username} does not have the approver role; share with them to view only.",
            extra={"field": "permission"},
        )
    held = _held(task=task, user=grantee)
    wanted = SHARE_PERMISSIONS[permission]
    added, removed = wanted - held, held - wanted
    if added:
        TaskUserObjectPermission.objects.bulk_create(
            [
                TaskUserObjectPermission(user=grantee, permission=p, content_object=task)
                for p in Permission.objects.filter(
                    content_type__app_label="a2a", content_type__model="task", codename__in=added
                )
            ]
        )
    if removed:
        TaskUserObjectPermission.objects.filter(
            content_object=task, user=grantee, permission__codename__in=removed
        ).delete()
    before = _level(held)
    if before == "approve" and permission == "view":
        audit_record(
            action="permission.revoke",
            actor=user,
            target=task,
            extra={"username": grantee.username, "permission": "approve"},
        )
    if added:
        audit_record(
            action="permission.grant",
            actor=user,
            target=task,
            extra={"username": grantee.username, "permission": permission},
        )
    logger.info("Task %s shared with user %s (%s)", task.id, grantee.pk, permission)
    return Share(username=grantee.username, permission=permission), before is None


@transaction.atomic(durable=True)
def task_share_revoke(*, user: User, task_id: str, username: str) -> None:
    """End the share of the task with username (404 when there is none)."""
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=MANAGE_SHARES)
    grantee = User.objects.filter(username=username).exclude(pk=task.owner_id).first()
    level = _level(_held(task=task, user=grantee)) if grantee is not None else None
    if grantee is None or level is None:
        raise ShareNotFound(f"Task {task.id} is not shared with {username!r}.")
    TaskUserObjectPermission.objects.filter(
        content_object=task, user=grantee, permission__codename__in=(VIEW, APPROVE)
    ).delete()
    audit_record(
        action="permission.revoke",
        actor=user,
        target=task,
        extra={"username": grantee.username, "permission": level},
    )
    logger.info("Task %s no longer shared with user %s", task.id, grantee.pk)

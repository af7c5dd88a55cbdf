"""``AuditedAdminMixin``: every change made through the Django admin lands in the audit log.

Django calls ``log_addition``, ``log_change`` and ``log_deletions`` inside the admin view's own
transaction (``changeform_view``, ``delete_view`` and list-editable saves are atomic), so the
``admin.add`` / ``admin.change`` / ``admin.delete`` rows commit or roll back with the change.
The built-in "delete selected" action is not atomic in Django; the mixin runs it in a
transaction for the same reason.

Other admin actions call services that own a durable transaction (tool-call decisions, push
retries) and record their own domain events; the mixin adds one ``admin.change`` row per run
of such an action (``extra.admin_action``), written when the action returns or fails.

Put the mixin first: ``class TaskAdmin(AuditedAdminMixin, admin.ModelAdmin[Task])``.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, router, transaction
from django.http import HttpRequest, HttpResponseBase

from audit.models import Action, Outcome
from audit.services import audit_record

if TYPE_CHECKING:
    from django.contrib.auth.base_user import AbstractBaseUser

    _Base = admin.ModelAdmin[Any]
else:
    _Base = object

# How many selected ids an action's row lists (the count is always exact).
ACTION_IDS_SHOWN = 100
REPR_LENGTH = 200
# Everyone in the admin signed in with a browser session (accounts.auth.METHOD_SESSION).
AUTH_METHOD = "session"

ActionFunction = Callable[[Any, HttpRequest, Any], HttpResponseBase | None]


def _actor(request: HttpRequest) -> AbstractBaseUser | None:
    user = getattr(request, "user", None)
    return user if isinstance(user, get_user_model()) else None


def _message(message: Any) -> Any:
    """Return the admin's change message as plain JSON (it may hold lazy translations)."""
    if isinstance(message, str):
        try:
            return json.loads(message) if message.startswith("[") else message
        except ValueError:
            return message
    return json.loads(json.dumps(message, cls=DjangoJSONEncoder))


def _record(
    request: HttpRequest,
    *,
    action: str,
    obj: models.Model | None = None,
    target_type: str = "",
    target_id: str = "",
    outcome: str = Outcome.SUCCESS,
    extra: dict[str, Any],
) -> None:
    audit_record(
        action=action,
        actor=_actor(request),
        target=obj,
        target_type=target_type,
        target_id=target_id,
        outcome=outcome,
        auth_method=AUTH_METHOD,
        extra=extra,
    )


class AuditedAdminMixin(_Base):
    """Write admin.add / admin.change / admin.delete audit events next to Django's LogEntry."""

    def log_addition(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry:
        entry = super().log_addition(request, obj, message)
        _record(
            request,
            action=Action.ADMIN_ADD,
            obj=obj,
            extra={"message": _message(message), "repr": str(obj)[:REPR_LENGTH]},
        )
        return entry

    def log_change(self, request: HttpRequest, obj: Any, message: Any) -> LogEntry:
        entry = super().log_change(request, obj, message)
        _record(
            request,
            action=Action.ADMIN_CHANGE,
            obj=obj,
            extra={"message": _message(message), "repr": str(obj)[:REPR_LENGTH]},
        )
        return entry

    def log_deletions(self, request: HttpRequest, queryset: Iterable[Any]) -> Any:
        # Called before the rows are deleted, so each still has its primary key.
        entries = super().log_deletions(request, queryset)  # type: ignore[arg-type]
        for obj in queryset:  # a QuerySet iterated above is not queried again
            _record(
                request, action=Action.ADMIN_DELETE, obj=obj, extra={"repr": str(obj)[:REPR_LENGTH]}
            )
        return entries

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions: dict[str, Any] = super().get_actions(request)
        return {
            name: (_audited_action(func, name), name, description)
            for name, (func, _, description) in actions.items()
        }


def _audited_action(func: ActionFunction, name: str) -> ActionFunction:
    """Wrap an admin action: delete_selected in a transaction, others with an audit row."""
    if name == "delete_selected":

        @functools.wraps(func)
        def atomic(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
            # Its admin.delete rows are written by log_deletions; they and the deletion
            # commit together.
            with transaction.atomic(using=router.db_for_write(modeladmin.model)):
                return func(modeladmin, request, queryset)

        return atomic

    @functools.wraps(func)
    def audited(modeladmin: Any, request: HttpRequest, queryset: Any) -> Any:
        ids = [str(pk) for pk in queryset.values_list("pk", flat=True)]
        extra: dict[str, Any] = {
            "admin_action": name,
            "count": len(ids),
            "ids": ids[:ACTION_IDS_SHOWN],
        }
        target = {
            "target_type": modeladmin.model._meta.label_lower,
            "target_id": ids[0] if len(ids) == 1 else "",
        }
        try:
            response = func(modeladmin, request, queryset)
        except Exception as exc:
            _record(
                request,
                action=Action.ADMIN_CHANGE,
                outcome=Outcome.FAILURE,
                extra={**extra, "error": type(exc).__name__},
                **target,
            )
            raise
        _record(request, action=Action.ADMIN_CHANGE, extra=extra, **target)
        return response

    return audited

"""``/api/audit/``: the audit log, read-only, for admins and operators.

Filters: ``?action=``, ``?outcome=``, ``?actor=<username>``, ``?target_type=``,
``?target_id=``, ``?request_id=``, ``?since=`` and ``?until=`` (ISO 8601; a time without an
offset is UTC; ``since`` inclusive, ``until`` exclusive). Pages are cursor-based, newest first:
``{next, previous, results}``; ``?page_size=`` up to ``WEBCAP_MAX_PAGE_SIZE``.
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import serializers, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.views import APIView

from audit.access import audit_reader_allowed
from audit.models import Action, AuditEvent, Outcome
from audit.selectors import AuditEventFilter, audit_events_list
from common.pagination import CursorPages


class AuditEventSerializer(serializers.ModelSerializer[AuditEvent]):
    actor = serializers.CharField(source="actor_username", read_only=True)
    actor_id = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEvent
        fields = [
            "id",
            "created_at",
            "action",
            "outcome",
            "actor",
            "actor_id",
            "auth_method",
            "target_type",
            "target_id",
            "request_id",
            "client_ip",
            "extra",
        ]
        read_only_fields = fields


class AuditEventPagination(CursorPages):
    ordering = ("-created_at", "-id")


class ReadsAuditLog(BasePermission):
    """Admins and operators; a request made with an API key also needs its audit:read scope."""

    message = "Only admins and operators may read the audit log."

    def has_permission(self, request: Request, view: APIView) -> bool:
        # The check accounts installed refuses a key without audit:read with its own reason.
        return audit_reader_allowed(request)


def _moment(request: Request, name: str) -> datetime | None:
    """Parse an ISO 8601 time (or date, meaning its midnight) query parameter, in UTC."""
    raw = request.query_params.get(name)
    if raw is None:
        return None
    problem = [f"must be an ISO 8601 date or time, such as 2026-01-31T12:00:00Z; got {raw[:64]!r}"]
    try:
        moment = parse_datetime(raw)
        if moment is None:
            day = parse_date(raw)
            if day is None:
                raise ValidationError({name: problem})
            moment = datetime.combine(day, time.min)
    except ValueError as exc:
        # Well-formed but impossible values (month 13) raise rather than return None.
        raise ValidationError({name: problem}) from exc
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    return moment


def _choice(request: Request, name: str, choices: list[str]) -> str:
    value = request.query_params.get(name)
    if value is None:
        return ""
    if value not in choices:
        raise ValidationError({name: [f"must be one of {', '.join(choices)}"]})
    return value


def _param(name: str, description: str, kind: Any = OpenApiTypes.STR) -> OpenApiParameter:
    return OpenApiParameter(name, kind, OpenApiParameter.QUERY, description=description)


# What _moment accepts: a time, or a date meaning its midnight.
MOMENT = {
    "anyOf": [{"type": "string", "format": "date-time"}, {"type": "string", "format": "date"}]
}


@extend_schema_view(
    list=extend_schema(
        parameters=[
            _param("action", "What happened.", {"type": "string", "enum": Action.values}),
            _param("outcome", "How it ended.", {"type": "string", "enum": Outcome.values}),
            _param("actor", "The actor's username."),
            _param("target_type", "``app_label.model``, e.g. ``a2a.task``."),
            _param("target_id", "The target's id."),
            _param("request_id", "The X-Request-ID of the request that caused the event."),
            _param(
                "since",
                "ISO 8601 time or date (UTC without an offset), inclusive.",
                MOMENT,
            ),
            _param(
                "until",
                "ISO 8601 time or date (UTC without an offset), exclusive; not after since "
                "gives no events.",
                MOMENT,
            ),
        ]
    )
)
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet[AuditEvent]):
    """The audit log, newest first; admins and operators only (an API key needs audit:read)."""

    serializer_class = AuditEventSerializer
    pagination_class = AuditEventPagination
    permission_classes = [IsAuthenticated, ReadsAuditLog]

    def get_queryset(self) -> QuerySet[AuditEvent]:
        if self.action != "list":
            return audit_events_list()
        request = self.request
        params = request.query_params
        filters = AuditEventFilter(
            action=_choice(request, "action", Action.values),
            outcome=_choice(request, "outcome", Outcome.values),
            actor_username=params.get("actor", ""),
            target_type=params.get("target_type", ""),
            target_id=params.get("target_id", ""),
            request_id=params.get("request_id", ""),
            since=_moment(request, "since"),
            until=_moment(request, "until"),
        )
        if filters.since and filters.until and filters.since >= filters.until:
            # An empty window: no event is in it (a valid question with an empty answer).
            return audit_events_list().none()
        return audit_events_list(filters=filters)

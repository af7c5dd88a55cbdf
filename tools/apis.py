"""The management API for tool calls (list, approve, reject) and for model usage per task."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.models import User
from tools.models import LLMCall, ToolCall, ToolCallStatus
from tools.services import tool_call_decide


class ToolCallSerializer(serializers.ModelSerializer[ToolCall]):
    task = serializers.UUIDField(source="task_id", read_only=True)
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True
    )

    class Meta:
        model = ToolCall
        fields = [
            "id",
            "task",
            "tool",
            "tool_version",
            "arguments",
            "status",
            "requires_approval",
            "approval_reason",
            "decision",
            "decision_reason",
            "decided_by",
            "decided_at",
            "result",
            "error",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer[Any]):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class ToolCallPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 100


class ToolCallViewSet(viewsets.ReadOnlyModelViewSet[ToolCall]):
    """Your tool calls, newest first; ``?status=awaiting-approval`` lists what waits for you.

    ``POST .../approve/`` and ``.../reject/`` take an optional ``{"reason": "..."}``.
    """

    serializer_class = ToolCallSerializer
    pagination_class = ToolCallPagination

    def get_queryset(self) -> QuerySet[ToolCall]:
        user = self.request.user
        assert isinstance(user, User)
        queryset = ToolCall.objects.filter(requester=user).select_related("decided_by")
        status = self.request.query_params.get("status")
        if status is not None:
            if status not in ToolCallStatus.values:
                # A list per field, as DRF's own serializer errors are.
                raise ValidationError(
                    {"status": [f"must be one of {', '.join(ToolCallStatus.values)}"]}
                )
            queryset = queryset.filter(status=status)
            if status == ToolCallStatus.AWAITING_APPROVAL:
                queryset = queryset.filter(decision="")
        return _for_task(queryset, self.request).order_by("-created_at", "position")

    def _decide(self, request: Request, pk: str, *, approved: bool) -> Response:
        body = DecisionSerializer(data=request.data or {})
        body.is_valid(raise_exception=True)
        call = tool_call_decide(
            user=request.user,  # type: ignore[arg-type]
            tool_call_id=pk,
            approved=approved,
            reason=body.validated_data["reason"],
        )
        return Response(ToolCallSerializer(call).data)

    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, approved=True)

    @action(detail=True, methods=["post"])
    def reject(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, approved=False)


class LLMCallSerializer(serializers.ModelSerializer[LLMCall]):
    task = serializers.UUIDField(source="task_id", read_only=True)

    class Meta:
        model = LLMCall
        fields = [
            "id",
            "task",
            "model",
            "purpose",
            "outcome",
            "prompt_tokens",
            "completion_tokens",
            "cost_usd",
            "latency_ms",
            "attempts",
            "error",
            "created_at",
        ]
        read_only_fields = fields


class LLMCallViewSet(viewsets.ReadOnlyModelViewSet[LLMCall]):
    """Model requests made for your tasks, newest first; ``?task=<id>`` narrows to one task.

    ``GET .../usage/?task=<id>`` sums them: calls, tokens and cost in US dollars.
    """

    serializer_class = LLMCallSerializer
    pagination_class = ToolCallPagination

    def get_queryset(self) -> QuerySet[LLMCall]:
        user = self.request.user
        assert isinstance(user, User)
        queryset = LLMCall.objects.filter(task__owner=user)
        return _for_task(queryset, self.request).order_by("-created_at", "-id")

    @action(detail=False, methods=["get"])
    def usage(self, request: Request) -> Response:
        totals = self.get_queryset().aggregate(
            calls=Count("id"),
            prompt_tokens=Sum("prompt_tokens", default=0),
            completion_tokens=Sum("completion_tokens", default=0),
            cost_usd=Sum("cost_usd", default=0),
        )
        # The same fixed six decimal places as each call's cost.
        totals["cost_usd"] = f"{Decimal(totals['cost_usd']):.6f}"
        return Response(totals)


def _for_task(queryset: QuerySet[Any], request: Request) -> QuerySet[Any]:
    """Narrow to ``?task=<id>`` when given; an id that is not a UUID matches nothing."""
    task = request.query_params.get("task")
    if task is None:
        return queryset
    return queryset.filter(task_id__in=[task] if _is_uuid(task) else [])


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True

"""The management API for tool calls (list, approve, reject) and for model usage per task.

Lists hold the rows of the tasks the caller may read (accounts/roles.py); anything else is
404, exactly like a missing id. Deciding needs the right to decide (403 otherwise) and, for
an API key, the tools:approve scope; reading needs tasks:read.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from django.db.models import Count, QuerySet, Sum
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    extend_schema_view,
)
from rest_framework import serializers, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from a2a.bindings import public_base_url
from accounts.authentication import request_user, require_scope
from accounts.models import Scope
from common.drf import TextField
from common.pagination import Pages
from tools.models import Decision, LLMCall, ToolCall, ToolCallStatus
from tools.selectors import llm_calls_visible_to, tool_calls_visible_to
from tools.services import tool_call_decide


class ToolCallSerializer(serializers.ModelSerializer[ToolCall]):
    task = serializers.UUIDField(source="task_id", read_only=True)
    decided_by: serializers.SlugRelatedField[Any] = serializers.SlugRelatedField(
        slug_field="username", read_only=True, allow_null=True
    )
    decision = serializers.ChoiceField(
        choices=Decision.choices,
        allow_blank=True,
        read_only=True,
        help_text="Empty until a person decides.",
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
            "attempts",
            "idempotency_key",
        ]
        read_only_fields = fields


class DecisionSerializer(serializers.Serializer[Any]):
    reason = TextField(required=False, allow_blank=True, max_length=2000, default="")


class TaskFollowSerializer(serializers.Serializer[Any]):
    """Where to see what happens next: the task, read or streamed on either A2A binding."""

    taskId = serializers.UUIDField()
    a2aVersion = serializers.CharField(help_text="send it as the A2A-Version header")
    getTask = serializers.URLField(help_text="HTTP+JSON GetTask")
    subscribe = serializers.URLField(help_text="HTTP+JSON SubscribeToTask (SSE)")
    jsonrpc = serializers.DictField(
        help_text="the JSON-RPC endpoint (url) and the GetTask and SubscribeToTask calls"
    )


class DecidedToolCallSerializer(ToolCallSerializer):
    """A decided call, and how to follow its task to the outcome (docs/agent.md)."""

    follow = serializers.SerializerMethodField()

    class Meta(ToolCallSerializer.Meta):
        fields = [*ToolCallSerializer.Meta.fields, "follow"]
        read_only_fields = fields

    @extend_schema_field(TaskFollowSerializer)
    def get_follow(self, call: ToolCall) -> dict[str, Any]:
        request: Request = self.context["request"]
        base = public_base_url(request.scheme or "http", request.get_host())
        task_id = str(call.task_id)
        return {
            "taskId": task_id,
            "a2aVersion": "1.0",
            "getTask": f"{base}/a2a/rest/tasks/{task_id}",
            "subscribe": f"{base}/a2a/rest/tasks/{task_id}:subscribe",
            "jsonrpc": {
                "url": f"{base}/a2a/jsonrpc",
                "getTask": {"method": "GetTask", "params": {"id": task_id}},
                "subscribe": {"method": "SubscribeToTask", "params": {"id": task_id}},
            },
        }


TASK_FILTER = OpenApiParameter(
    "task",
    OpenApiTypes.STR,
    OpenApiParameter.QUERY,
    description="Only this task's (its id); an id of no task you may read matches nothing.",
)
TOOL_CALL_STATUS = OpenApiParameter(
    "status",
    {"type": "string", "enum": list(ToolCallStatus.values)},
    OpenApiParameter.QUERY,
    description="Only calls in this status (awaiting-approval: not yet decided).",
)


@extend_schema_view(list=extend_schema(parameters=[TOOL_CALL_STATUS, TASK_FILTER]))
class ToolCallViewSet(viewsets.ReadOnlyModelViewSet[ToolCall]):
    """Tool calls of the tasks you may read, newest first; ``?status=awaiting-approval``.

    ``POST .../approve/`` and ``.../reject/`` take an optional ``{"reason": "..."}``; they
    are for the task's owner, an approver it is shared with for approval, and admins.
    """

    serializer_class = ToolCallSerializer
    pagination_class = Pages
    # A call already decided, or of a task that has ended.
    extra_error_statuses = {"approve": (409,), "reject": (409,)}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        deciding = self.action in ("approve", "reject")
        require_scope(request, Scope.TOOLS_APPROVE if deciding else Scope.TASKS_READ)

    def get_queryset(self) -> QuerySet[ToolCall]:
        if getattr(self, "swagger_fake_view", False):
            return ToolCall.objects.none()  # the OpenAPI schema: no caller, only the model
        queryset = tool_calls_visible_to(user=request_user(self.request)).select_related(
            "decided_by"
        )
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
        # No body at all is no reason; a body must be a JSON object (null or [] is a 400).
        has_body = int(request.META.get("CONTENT_LENGTH") or 0) > 0
        body = DecisionSerializer(data=request.data if has_body else {})
        body.is_valid(raise_exception=True)
        call = tool_call_decide(
            user=request_user(request),
            tool_call_id=pk,
            approved=approved,
            reason=body.validated_data["reason"],
        )
        return Response(DecidedToolCallSerializer(call, context={"request": request}).data)

    @extend_schema(request=DecisionSerializer, responses=DecidedToolCallSerializer)
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str) -> Response:
        return self._decide(request, pk, approved=True)

    @extend_schema(request=DecisionSerializer, responses=DecidedToolCallSerializer)
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


class UsageSerializer(serializers.Serializer[Any]):
    calls = serializers.IntegerField(help_text="How many model requests.")
    prompt_tokens = serializers.IntegerField()
    completion_tokens = serializers.IntegerField()
    cost_usd = serializers.DecimalField(
        max_digits=20, decimal_places=6, help_text="US dollars, six decimal places."
    )


@extend_schema_view(list=extend_schema(parameters=[TASK_FILTER]))
class LLMCallViewSet(viewsets.ReadOnlyModelViewSet[LLMCall]):
    """Model requests for the tasks you may read, newest first; ``?task=<id>`` narrows.

    ``GET .../usage/?task=<id>`` sums them: calls, tokens and cost in US dollars.
    """

    serializer_class = LLMCallSerializer
    pagination_class = Pages

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.TASKS_READ)

    def get_queryset(self) -> QuerySet[LLMCall]:
        if getattr(self, "swagger_fake_view", False):
            return LLMCall.objects.none()  # the OpenAPI schema: no caller, only the model
        queryset = llm_calls_visible_to(user=request_user(self.request))
        return _for_task(queryset, self.request).order_by("-created_at", "-id")

    @extend_schema(parameters=[TASK_FILTER], responses=UsageSerializer)
    @action(detail=False, methods=["get"], pagination_class=None)
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

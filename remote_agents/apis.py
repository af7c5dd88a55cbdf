"""The remote agents registry over the management API (``/api/agents/``).

- ``GET /api/agents/``: the agents you may read (every role: the enabled ones; admins and
  operators: all), by name
- ``POST /api/agents/`` ``{"name", "card_url", ...}``: register (admins and operators); the
  card is fetched, validated and verified first, and a refused card is a 400 naming why
- ``GET|PATCH|DELETE /api/agents/{id}/``: read, change (admins and operators), delete (409
  while delegations point at it)
- ``POST /api/agents/{id}/refresh/``: fetch the card again now

``credential_secret`` is write-only: responses say ``credential_kind`` and
``credential_set``, never the secret. Reading takes an API key's ``tasks:read`` scope,
writing ``agents:manage``.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.auth import METHOD_SESSION, Identity
from accounts.authentication import request_user, require_scope
from accounts.models import Scope
from accounts.roles import manages_remote_agents
from common.drf import TextField
from common.pagination import Pages
from remote_agents.models import (
    DEFAULT_CREDENTIAL_HEADER,
    NAME_MAX_LENGTH,
    ApprovalPolicy,
    CredentialKind,
    RemoteAgent,
    trust_policy_choices,
)
from remote_agents.selectors import remote_agent_get_for_user, remote_agents_visible_to
from remote_agents.services import (
    MAX_TIMEOUT_SECONDS,
    RefreshOutcome,
    RemoteAgentInvalid,
    client_user_for,
    remote_agent_delete,
    remote_agent_refresh,
    remote_agent_register,
    remote_agent_update,
)

WRITES = frozenset({"create", "partial_update", "destroy", "refresh"})


def _auth_method(request: Request) -> str:
    return request.auth.method if isinstance(request.auth, Identity) else METHOD_SESSION


class RemoteAgentSerializer(serializers.ModelSerializer[RemoteAgent]):
    """A remote agent as the API shows it: never its credential's secret."""

    description = serializers.CharField(
        source="shown_description", read_only=True, help_text="The override, else the card's."
    )
    card_description = serializers.CharField(source="description", read_only=True)
    credential_set = serializers.BooleanField(read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    client_user = serializers.CharField(
        source="client_user.username",
        read_only=True,
        allow_null=True,
        help_text="The account of this server the agent calls it with (federation), if any.",
    )

    class Meta:
        model = RemoteAgent
        fields = [
            "id",
            "name",
            "description",
            "card_description",
            "description_override",
            "card_url",
            "enabled",
            "card",
            "card_etag",
            "card_last_modified",
            "card_fetched_at",
            "card_checked_at",
            "card_due_at",
            "card_stale",
            "card_error",
            "interface_url",
            "interface_binding",
            "interface_version",
            "skills",
            "trust_policy",
            "pinned_keys",
            "signature_status",
            "signature_kid",
            "signature_error",
            "approval_policy",
            "credential_kind",
            "credential_header",
            "credential_set",
            "request_timeout_seconds",
            "task_timeout_seconds",
            "stream_idle_seconds",
            "client_user",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class RemoteAgentWriteSerializer(serializers.Serializer[Any]):
    """What a registration or change may set."""

    name = serializers.SlugField(
        max_length=NAME_MAX_LENGTH,
        help_text="What people and the assistant call it: lowercase letters, digits, hyphens.",
    )
    card_url = serializers.URLField(
        max_length=2048,
        help_text="The agent's base URL or its card's URL; private and metadata addresses "
        "are refused unless WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS names them.",
    )
    description_override = TextField(required=False, allow_blank=True, max_length=4000)
    enabled = serializers.BooleanField(required=False)
    trust_policy = serializers.ChoiceField(choices=trust_policy_choices(), required=False)
    pinned_keys = serializers.JSONField(
        required=False, help_text='Under "pinned": a JWK set {"keys": [...]} of public keys.'
    )
    approval_policy = serializers.ChoiceField(choices=ApprovalPolicy.choices, required=False)
    credential_kind = serializers.ChoiceField(choices=CredentialKind.choices, required=False)
    credential_header = serializers.CharField(
        required=False, max_length=64, help_text=f"For an API key; {DEFAULT_CREDENTIAL_HEADER}."
    )
    credential_secret = serializers.CharField(
        required=False,
        write_only=True,
        trim_whitespace=False,
        max_length=4096,
        help_text="Sent to the agent; never shown again (responses say credential_set).",
    )
    request_timeout_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_TIMEOUT_SECONDS
    )
    task_timeout_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_TIMEOUT_SECONDS
    )
    stream_idle_seconds = serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_TIMEOUT_SECONDS
    )
    client_user = serializers.CharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        max_length=150,
        help_text="The username this agent calls this server as (federation): the audit rows "
        "of its requests name the agent. Empty or null: none.",
    )


class RefreshSerializer(serializers.Serializer[Any]):
    result = serializers.ChoiceField(choices=["unchanged", "changed", "failed"])
    agent = RemoteAgentSerializer()


class RemoteAgentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet[RemoteAgent],
):
    """Remote A2A agents webcap may delegate to (docs/multi-agent.md, "Remote agents")."""

    serializer_class = RemoteAgentSerializer
    pagination_class = Pages
    http_method_names = ["get", "post", "patch", "delete", "head", "options"]
    # For the schema; requests use get_queryset (what the caller may read).
    queryset = RemoteAgent.objects.none()
    # A name taken meanwhile is a 400; deleting an agent delegations point at is a 409.
    extra_error_statuses = {"destroy": (409,)}

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.AGENTS_MANAGE if self.action in WRITES else Scope.TASKS_READ)

    def get_queryset(self) -> QuerySet[RemoteAgent]:
        if getattr(self, "swagger_fake_view", False):
            return RemoteAgent.objects.none()
        return remote_agents_visible_to(user=request_user(self.request)).select_related(
            "created_by", "client_user"
        )

    def get_object(self) -> RemoteAgent:
        return remote_agent_get_for_user(
            user=request_user(self.request), agent_id=self.kwargs["pk"]
        )

    def _manager(self) -> None:
        if not manages_remote_agents(request_user(self.request)):
            raise PermissionDenied("Only admins and operators manage remote agents.")

    def _payload(self, request: Request, *, partial: bool) -> dict[str, Any]:
        payload = RemoteAgentWriteSerializer(data=request.data, partial=partial)
        payload.is_valid(raise_exception=True)
        values = dict(payload.validated_data)
        if "client_user" in values:
            try:
                values["client_user"] = client_user_for(values["client_user"])
            except RemoteAgentInvalid as exc:
                raise ValidationError({"client_user": [exc.message]}) from exc
        return values

    @extend_schema(request=RemoteAgentWriteSerializer, responses={201: RemoteAgentSerializer})
    def create(self, request: Request) -> Response:
        self._manager()
        values = self._payload(request, partial=False)
        try:
            agent = remote_agent_register(
                actor=request_user(request), auth_method=_auth_method(request), **values
            )
        except RemoteAgentInvalid as exc:
            raise ValidationError({exc.extra.get("field", "detail"): [exc.message]}) from exc
        return Response(RemoteAgentSerializer(agent).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RemoteAgentWriteSerializer, responses=RemoteAgentSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        agent = self.get_object()
        self._manager()
        changes = self._payload(request, partial=True)
        try:
            agent = remote_agent_update(
                agent=agent,
                actor=request_user(request),
                changes=changes,
                auth_method=_auth_method(request),
            )
        except RemoteAgentInvalid as exc:
            raise ValidationError({exc.extra.get("field", "detail"): [exc.message]}) from exc
        return Response(RemoteAgentSerializer(agent).data)

    @extend_schema(responses={204: None})
    def destroy(self, request: Request, pk: str) -> Response:
        agent = self.get_object()
        self._manager()
        remote_agent_delete(
            agent=agent, actor=request_user(request), auth_method=_auth_method(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=None, responses=RefreshSerializer)
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str) -> Response:
        """Fetch the card again now (conditionally); a failure keeps the last card, stale."""
        agent = self.get_object()
        self._manager()
        outcome: RefreshOutcome = remote_agent_refresh(
            agent=agent, actor=request_user(request), auth_method=_auth_method(request)
        )
        return Response(
            {"result": outcome.result, "agent": RemoteAgentSerializer(outcome.agent).data}
        )

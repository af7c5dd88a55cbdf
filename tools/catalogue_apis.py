"""The tool catalogue and tool sources over the management API (``/api/tools/``).

- ``GET /api/tools/``: every tool (built-in and from sources) with its versions, approval
  policy, the roles allowed to use it, who added it and when (every role)
- ``POST /api/tools/`` ``{"name", "kind", "url" | "command", "args", "headers"}``: register an
  MCP server (admins and operators); its tools are listed first, a failure is a 400
- ``GET /api/tools/{name}/``; ``POST /api/tools/{name}/enable/``, ``/disable/``,
  ``/policy/`` ``{"approval": "default" | "always" | "never"}``, ``/pin/`` ``{"version": n}``
  (``null`` unpins)
- ``GET /api/tools/sources/``, ``GET|PATCH /api/tools/sources/{id}/`` (``enabled``,
  ``headers``), ``POST /api/tools/sources/{id}/refresh/``
- ``POST /api/tools/versions/{id}/publish/``, ``/deprecate/``, ``/retire/``

Reading takes an API key's ``tasks:read`` scope, writing ``tools:manage``; every write is
audited. ``headers`` is write-only: responses say ``headers_set``.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import NotFound, PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from accounts.auth import METHOD_SESSION, Identity
from accounts.authentication import request_user, require_scope
from accounts.models import Scope
from accounts.roles import manages_tools
from tools.models import (
    SOURCE_NAME_MAX_LENGTH,
    ApprovalMode,
    SourceKind,
    ToolSource,
    ToolVersion,
    VersionState,
)
from tools.sources.selectors import (
    ToolNotFound,
    tool_catalogue,
    tool_catalogue_entry,
    tool_source_get,
    tool_sources_all,
    tool_version_by_number,
    tool_version_get,
)
from tools.sources.services import (
    ToolSourceInvalid,
    ToolStateRefused,
    tool_policy_set,
    tool_source_refresh,
    tool_source_register,
    tool_source_update,
    tool_version_state_set,
)

READS = frozenset({"list", "retrieve"})
NAME_PATTERN = r"[A-Za-z0-9_-]+"


def _auth_method(request: Request) -> str:
    return request.auth.method if isinstance(request.auth, Identity) else METHOD_SESSION


class ToolVersionSerializer(serializers.ModelSerializer[ToolVersion]):
    published_by = serializers.CharField(
        source="published_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = ToolVersion
        fields = [
            "id",
            "tool_name",
            "offered_name",
            "number",
            "state",
            "description",
            "input_schema",
            "annotations",
            "published_at",
            "published_by",
            "created_at",
        ]
        read_only_fields = fields


class ToolSourceSerializer(serializers.ModelSerializer[ToolSource]):
    """A source as the API shows it: never its headers."""

    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    headers_set = serializers.BooleanField(read_only=True)

    class Meta:
        model = ToolSource
        fields = [
            "id",
            "name",
            "kind",
            "url",
            "command",
            "args",
            "enabled",
            "headers_set",
            "refreshed_at",
            "error",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class SourceRefSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    name = serializers.CharField()


class CatalogueEntrySerializer(serializers.Serializer[Any]):
    """One tool of the catalogue."""

    name = serializers.CharField()
    kind = serializers.CharField(help_text="builtin, mcp_http, mcp_stdio (later http, package)")
    # The serializer's own "source" (where a field reads from) is not this one's.
    source = SourceRefSerializer(allow_null=True)  # type: ignore[assignment]
    description = serializers.CharField()
    enabled = serializers.BooleanField()
    approval = serializers.ChoiceField(choices=ApprovalMode.choices)
    requires_approval = serializers.BooleanField(help_text="What calls get now.")
    roles = serializers.ListField(child=serializers.CharField())
    current_version = serializers.CharField(help_text="The version calls run now.")
    pinned_version = serializers.IntegerField(allow_null=True)
    added_by = serializers.CharField(allow_null=True)
    added_at = serializers.DateTimeField(allow_null=True)
    versions = ToolVersionSerializer(many=True)


class SourceWriteSerializer(serializers.Serializer[Any]):
    name = serializers.SlugField(
        max_length=SOURCE_NAME_MAX_LENGTH,
        help_text="Prefix of its tools' names (<name>__<tool>): letters, digits, hyphens.",
    )
    kind = serializers.ChoiceField(choices=SourceKind.choices)
    url = serializers.URLField(
        required=False,
        max_length=2048,
        help_text="mcp_http: the endpoint; private and metadata addresses are refused unless "
        "WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS names them.",
    )
    command = serializers.CharField(required=False, max_length=1024)
    args = serializers.ListField(child=serializers.CharField(), required=False, max_length=64)
    headers = serializers.DictField(child=serializers.CharField(), required=False, write_only=True)
    enabled = serializers.BooleanField(required=False)


class SourceUpdateSerializer(serializers.Serializer[Any]):
    enabled = serializers.BooleanField(required=False)
    headers = serializers.DictField(child=serializers.CharField(), required=False, write_only=True)


class PolicySerializer(serializers.Serializer[Any]):
    approval = serializers.ChoiceField(choices=ApprovalMode.choices)


class PinSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField(allow_null=True, min_value=1)


class ToolSourceRefreshSerializer(serializers.Serializer[Any]):
    result = serializers.ChoiceField(choices=["unchanged", "changed", "failed"])
    source = ToolSourceSerializer()  # type: ignore[assignment]
    versions = ToolVersionSerializer(many=True)


class _Managed(viewsets.ViewSet):
    """Scopes and roles shared by the tool endpoints."""

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.TASKS_READ if self.action in READS else Scope.TOOLS_MANAGE)

    def _manager(self, what: str = "manage tools") -> None:
        if not manages_tools(request_user(self.request)):
            raise PermissionDenied(f"Only admins and operators {what}.")

    def _valid(self, serializer_class: type[serializers.Serializer[Any]]) -> dict[str, Any]:
        payload = serializer_class(data=self.request.data)
        payload.is_valid(raise_exception=True)
        return dict(payload.validated_data)


def _refused(exc: ToolSourceInvalid) -> ValidationError:
    return ValidationError({exc.extra.get("field", "detail"): [exc.message]})


class ToolViewSet(_Managed):
    """The catalogue of every tool (docs/tools.md, "The catalogue API")."""

    lookup_field = "name"
    lookup_value_regex = NAME_PATTERN
    serializer_class = CatalogueEntrySerializer

    @extend_schema(responses=CatalogueEntrySerializer(many=True))
    def list(self, request: Request) -> Response:
        entries = tool_catalogue(user=request_user(request))
        return Response(CatalogueEntrySerializer(entries, many=True).data)

    @extend_schema(responses=CatalogueEntrySerializer)
    def retrieve(self, request: Request, name: str) -> Response:
        return Response(self._entry(name))

    def _entry(self, name: str) -> Any:
        try:
            entry = tool_catalogue_entry(user=request_user(self.request), name=name)
        except ToolNotFound as exc:
            raise NotFound(exc.message) from exc
        return CatalogueEntrySerializer(entry).data

    @extend_schema(request=SourceWriteSerializer, responses={201: ToolSourceSerializer})
    def create(self, request: Request) -> Response:
        """Register a tool source (an MCP server); its tools are listed first."""
        self._manager("register tool sources")
        values = self._valid(SourceWriteSerializer)
        try:
            source = tool_source_register(
                actor=request_user(request), auth_method=_auth_method(request), **values
            )
        except ToolSourceInvalid as exc:
            raise _refused(exc) from exc
        return Response(ToolSourceSerializer(source).data, status=status.HTTP_201_CREATED)

    def _policy(self, name: str, **changes: Any) -> Response:
        self._manager()
        try:
            tool_policy_set(
                name=name,
                actor=request_user(self.request),
                auth_method=_auth_method(self.request),
                **changes,
            )
        except ToolSourceInvalid as exc:
            if exc.extra.get("field") == "name":
                raise NotFound(exc.message) from exc
            raise _refused(exc) from exc
        return Response(self._entry(name))

    @extend_schema(request=None, responses=CatalogueEntrySerializer)
    @action(detail=True, methods=["post"])
    def enable(self, request: Request, name: str) -> Response:
        """Offer the tool again."""
        return self._policy(name, enabled=True)

    @extend_schema(request=None, responses=CatalogueEntrySerializer)
    @action(detail=True, methods=["post"])
    def disable(self, request: Request, name: str) -> Response:
        """Stop offering the tool; a call of it is refused."""
        return self._policy(name, enabled=False)

    @extend_schema(request=PolicySerializer, responses=CatalogueEntrySerializer)
    @action(detail=True, methods=["post"])
    def policy(self, request: Request, name: str) -> Response:
        """Set whether calls wait for a person: the tool's default, always or never."""
        self._manager()
        return self._policy(name, approval=self._valid(PolicySerializer)["approval"])

    @extend_schema(request=PinSerializer, responses=CatalogueEntrySerializer)
    @action(detail=True, methods=["post"])
    def pin(self, request: Request, name: str) -> Response:
        """Run this version of a source's tool (null: the newest active one)."""
        self._manager()
        number = self._valid(PinSerializer)["version"]
        version = None
        if number is not None:
            try:
                version = tool_version_by_number(name=name, number=number)
            except ToolNotFound as exc:
                raise ValidationError({"version": [exc.message]}) from exc
        return self._policy(name, pinned_version=version)


class ToolSourceViewSet(_Managed):
    """Registered tool sources (admins and operators)."""

    serializer_class = ToolSourceSerializer
    # For the schema (the id's type); requests read through the selectors.
    queryset = ToolSource.objects.none()

    def _source(self, pk: str) -> ToolSource:
        self._manager("see tool sources")
        try:
            return tool_source_get(source_id=pk)
        except ToolNotFound as exc:
            raise NotFound(exc.message) from exc

    @extend_schema(responses=ToolSourceSerializer(many=True))
    def list(self, request: Request) -> Response:
        self._manager("see tool sources")
        return Response(ToolSourceSerializer(tool_sources_all(), many=True).data)

    @extend_schema(responses=ToolSourceSerializer)
    def retrieve(self, request: Request, pk: str) -> Response:
        return Response(ToolSourceSerializer(self._source(pk)).data)

    @extend_schema(request=SourceUpdateSerializer, responses=ToolSourceSerializer)
    def partial_update(self, request: Request, pk: str) -> Response:
        """Enable or disable a source, or set its headers."""
        source = self._source(pk)
        values = self._valid(SourceUpdateSerializer)
        try:
            source = tool_source_update(
                source=source,
                actor=request_user(request),
                auth_method=_auth_method(request),
                **values,
            )
        except ToolSourceInvalid as exc:
            raise _refused(exc) from exc
        return Response(ToolSourceSerializer(source).data)

    @extend_schema(request=None, responses=ToolSourceRefreshSerializer)
    @action(detail=True, methods=["post"])
    def refresh(self, request: Request, pk: str) -> Response:
        """List the server's tools again; a changed definition is a new version."""
        source = self._source(pk)
        outcome = tool_source_refresh(
            source=source, actor=request_user(request), auth_method=_auth_method(request)
        )
        return Response(
            {
                "result": outcome.result,
                "source": ToolSourceSerializer(outcome.source).data,
                "versions": ToolVersionSerializer(outcome.versions, many=True).data,
            }
        )


class ToolVersionViewSet(_Managed):
    """A version's lifecycle: draft -> active -> deprecated -> retired."""

    # For the schema (the id's type); requests read through the selectors.
    queryset = ToolVersion.objects.none()
    # A move the lifecycle forbids (retired is final).
    extra_error_statuses = {"publish": (409,), "deprecate": (409,), "retire": (409,)}

    def _move(self, pk: str, state: str) -> Response:
        self._manager()
        try:
            version = tool_version_get(version_id=pk)
        except ToolNotFound as exc:
            raise NotFound(exc.message) from exc
        try:
            version = tool_version_state_set(
                version=version,
                state=state,
                actor=request_user(self.request),
                auth_method=_auth_method(self.request),
            )
        except ToolStateRefused as exc:
            return Response({"detail": exc.message}, status=status.HTTP_409_CONFLICT)
        return Response(ToolVersionSerializer(version).data)

    @extend_schema(request=None, responses=ToolVersionSerializer)
    @action(detail=True, methods=["post"])
    def publish(self, request: Request, pk: str) -> Response:
        """Make the version active (the tool's active one becomes deprecated)."""
        return self._move(pk, VersionState.ACTIVE)

    @extend_schema(request=None, responses=ToolVersionSerializer)
    @action(detail=True, methods=["post"])
    def deprecate(self, request: Request, pk: str) -> Response:
        """Keep the version running, flagged as deprecated."""
        return self._move(pk, VersionState.DEPRECATED)

    @extend_schema(request=None, responses=ToolVersionSerializer)
    @action(detail=True, methods=["post"])
    def retire(self, request: Request, pk: str) -> Response:
        """Stop running the version: a call of it is refused with a clear error."""
        return self._move(pk, VersionState.RETIRED)

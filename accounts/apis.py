"""Sign-in tokens, WebSocket tickets and API keys over the management API.

- ``POST /api/auth/token/`` ``{"username", "password"}`` -> ``{"access", "refresh"}``
- ``POST /api/auth/token/refresh/`` (also ``/api/auth/refresh/``) ``{"refresh"}`` -> a new
  pair; the old refresh token is blacklisted (rotation)
- ``POST /api/auth/logout/`` ``{"refresh"}`` -> 204; the refresh token is blacklisted
- ``POST /api/auth/ws-ticket/`` -> ``{"ticket", "expiresIn", "url"}`` (single use)
- ``/api/keys/``: list, create (the key is in the response once), retrieve, ``DELETE`` revokes

Every outcome of a sign-in, refresh and logout is in the audit log; the token endpoint is
rate-limited per client address and per username.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.auth import AUTH_CHALLENGE, METHOD_SESSION, Identity
from accounts.authentication import require_scope
from accounts.models import ApiKey, Scope, User
from accounts.services import api_key_create, api_key_revoke
from accounts.tickets import ws_ticket_issue
from accounts.tokens import token_obtain, token_refresh, token_revoke
from common.drf import TextField
from common.errors import ApplicationError
from common.pagination import Pages


def _identity(request: Request) -> Identity:
    """Return the caller's Identity (a browser session counts as a session identity)."""
    if isinstance(request.auth, Identity):
        return request.auth
    user = request.user
    assert isinstance(user, User)
    return Identity(user=user, method=METHOD_SESSION)


class _PublicAuthView(APIView):
    """Token endpoints take credentials in the body, not a header: no auth classes run."""

    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request: Request) -> str:
        # A refused sign-in is a 401 with a challenge, not DRF's header-less 403.
        return AUTH_CHALLENGE


class TicketSerializer(serializers.Serializer[Any]):
    ticket = serializers.CharField()
    expiresIn = serializers.IntegerField()
    url = serializers.CharField()


# What the token endpoints take and give. A request's shape is checked here (strings, none
# blank), then simplejwt's serializers (accounts/tokens.py) check the credentials.
class SignInSerializer(serializers.Serializer[Any]):
    username = TextField()
    password = TextField(style={"input_type": "password"})


class RefreshSerializer(serializers.Serializer[Any]):
    refresh = TextField(help_text="A refresh token.")


class TokenPairSerializer(serializers.Serializer[Any]):
    access = serializers.CharField(help_text="Send as Authorization: Bearer <access>.")
    refresh = serializers.CharField(help_text="Trade for a new pair at /api/auth/refresh/.")


class TokenObtainView(_PublicAuthView):
    # Sign-in attempts are rate-limited per client address and per username.
    extra_error_statuses = (429,)

    @extend_schema(request=SignInSerializer, responses=TokenPairSerializer)
    def post(self, request: Request) -> Response:
        SignInSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(token_obtain(data=request.data))


class TokenRefreshView(_PublicAuthView):
    @extend_schema(request=RefreshSerializer, responses=TokenPairSerializer)
    def post(self, request: Request) -> Response:
        RefreshSerializer(data=request.data).is_valid(raise_exception=True)
        return Response(token_refresh(data=request.data))


class LogoutView(_PublicAuthView):
    @extend_schema(request=RefreshSerializer, responses={204: None})
    def post(self, request: Request) -> Response:
        RefreshSerializer(data=request.data).is_valid(raise_exception=True)
        token_revoke(data=request.data)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebSocketTicketView(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(request=None, responses={201: TicketSerializer})
    def post(self, request: Request) -> Response:
        identity = _identity(request)
        require_scope(request, Scope.TASKS_READ)
        ticket, lifetime = ws_ticket_issue(identity=identity)
        return Response(
            {"ticket": ticket, "expiresIn": lifetime, "url": f"/ws/a2a?ticket={ticket}"},
            status=status.HTTP_201_CREATED,
        )


class ApiKeySerializer(serializers.ModelSerializer[ApiKey]):
    class Meta:
        model = ApiKey
        fields = [
            "id",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "revoked_at",
            "last_used_at",
        ]
        read_only_fields = fields


class ApiKeyCreateSerializer(serializers.Serializer[Any]):
    name = TextField(max_length=100, help_text="To tell keys apart.")
    expires_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        default=None,
        help_text="When the key stops working (in the future); null or absent: never.",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=Scope.choices),
        required=False,
        default=list,
        help_text="What the key may do; empty: everything its user may. A key that creates "
        "a key must name a non-empty subset of its own scopes.",
    )

    def validate_expires_at(self, value: datetime | None) -> datetime | None:
        if value is not None and value <= timezone.now():
            raise ValidationError("must be in the future")
        return value


class ApiKeyCreatedSerializer(ApiKeySerializer):
    """A new key: its row, and the key itself, shown this once."""

    key = serializers.CharField(read_only=True, help_text="The key; it is never shown again.")

    class Meta(ApiKeySerializer.Meta):
        fields = [*ApiKeySerializer.Meta.fields, "key"]
        read_only_fields = fields


class ApiKeyViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet[ApiKey],
):
    """Your API keys. The key itself is returned once, by create, as ``key``.

    ``DELETE /api/keys/{id}/`` revokes: the key stops working at once and is gone from this
    API (the row stays for the admin and the audit log, with ``revoked_at``). A request made
    with an API key needs the ``keys:manage`` scope, and a scoped key can only create keys
    with a subset of its own scopes.
    """

    serializer_class = ApiKeySerializer
    pagination_class = Pages
    # For the schema; requests use get_queryset (the caller's keys only).
    queryset = ApiKey.objects.none()

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.KEYS_MANAGE)

    def get_queryset(self) -> QuerySet[ApiKey]:
        user = self.request.user
        assert isinstance(user, User)
        # A revoked key is gone from this API (a 404, like any deleted resource); the admin
        # and the audit log keep it.
        return ApiKey.objects.filter(user=user, revoked_at__isnull=True).order_by("-created_at")

    @extend_schema(request=ApiKeyCreateSerializer, responses={201: ApiKeyCreatedSerializer})
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        payload = ApiKeyCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        identity = _identity(request)
        scopes: list[str] = payload.validated_data["scopes"]
        own = identity.api_key.scopes if identity.api_key is not None else []
        if own and (not scopes or not set(scopes) <= set(own)):
            # A narrowed key must not mint a key that can do more than itself.
            raise ValidationError({"scopes": [f"must be a non-empty subset of {own}"]})
        try:
            api_key, key = api_key_create(
                user=identity.user,
                name=payload.validated_data["name"],
                expires_at=payload.validated_data["expires_at"],
                scopes=scopes,
                actor=identity.user,
            )
        except ApplicationError as exc:
            raise ValidationError({exc.extra.get("field", "detail"): [exc.message]}) from exc
        body = dict(ApiKeySerializer(api_key).data)
        body["key"] = key
        return Response(body, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ApiKey) -> None:
        api_key_revoke(api_key=instance, actor=_identity(self.request).user)

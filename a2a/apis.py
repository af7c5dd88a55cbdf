"""The management API of tasks: who a task is shared with.

- ``GET /api/tasks/{task_id}/shares/`` -> a page of ``{"username", "permission"}``
- ``POST /api/tasks/{task_id}/shares/`` ``{"username", "permission": "view" | "approve"}``
  -> 201 with the new share, 200 when it replaced one ("approve" only to approvers)
- ``DELETE /api/tasks/{task_id}/shares/{username}/`` -> 204

Only the task's owner and admins manage shares. A task the caller may not read is 404,
exactly like a missing one; a task the caller may read but not manage is 403. API keys need
tasks:read to list and tasks:write to change.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from a2a.selectors import MANAGE_SHARES, task_get_for_user, task_shares
from a2a.services.shares import SHARE_PERMISSIONS, task_share_revoke, task_share_set
from accounts.authentication import request_user, require_scope
from accounts.models import Scope


class ShareSerializer(serializers.Serializer[Any]):
    username = serializers.CharField(max_length=150)
    permission = serializers.ChoiceField(choices=sorted(SHARE_PERMISSIONS))


SHARE_PAGE = inline_serializer(
    name="SharePage",
    fields={
        "count": serializers.IntegerField(),
        "next": serializers.URLField(allow_null=True),
        "previous": serializers.URLField(allow_null=True),
        "results": ShareSerializer(many=True),
    },
)
TASK_ID = OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
USERNAME = OpenApiParameter("username", OpenApiTypes.STR, OpenApiParameter.PATH)


class SharePagination(PageNumberPagination):
    """Pages of 50; ``?page_size=`` up to WEBCAP_MAX_PAGE_SIZE (a larger one is capped)."""

    page_size = 50
    page_size_query_param = "page_size"

    def get_page_size(self, request: Request) -> int | None:
        self.max_page_size = settings.WEBCAP_MAX_PAGE_SIZE
        return super().get_page_size(request)


class _TaskShareView(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.TASKS_READ if request.method == "GET" else Scope.TASKS_WRITE)


class TaskSharesView(_TaskShareView):
    """List the task's shares, or share it with one more user."""

    @extend_schema(parameters=[TASK_ID], responses=SHARE_PAGE)
    def get(self, request: Request, task_id: str) -> Response:
        task = task_get_for_user(
            user=request_user(request), task_id=task_id, permission=MANAGE_SHARES
        )
        paginator = SharePagination()
        shares: Any = [ShareSerializer(s).data for s in task_shares(task=task)]
        page = paginator.paginate_queryset(shares, request, view=self)
        return paginator.get_paginated_response(page)

    @extend_schema(
        parameters=[TASK_ID],
        request=ShareSerializer,
        responses={201: ShareSerializer, 200: ShareSerializer},
    )
    def post(self, request: Request, task_id: str) -> Response:
        user = request_user(request)
        # Authorize before looking at the body: a task the caller may not manage answers the
        # same whatever it was sent.
        task_get_for_user(user=user, task_id=task_id, permission=MANAGE_SHARES)
        body = ShareSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        share, created = task_share_set(
            user=user,
            task_id=task_id,
            username=body.validated_data["username"],
            permission=body.validated_data["permission"],
        )
        return Response(
            ShareSerializer(share).data,
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class TaskShareView(_TaskShareView):
    """End the task's share with one user."""

    @extend_schema(parameters=[TASK_ID, USERNAME], responses={204: None})
    def delete(self, request: Request, task_id: str, username: str) -> Response:
        task_share_revoke(user=request_user(request), task_id=task_id, username=username)
        return Response(status=status.HTTP_204_NO_CONTENT)

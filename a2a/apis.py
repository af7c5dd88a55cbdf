"""The management API of tasks: who a task is shared with, its artifacts and their files.

- ``GET /api/tasks/{task_id}/shares/`` -> a page of ``{"username", "permission"}``
- ``POST /api/tasks/{task_id}/shares/`` ``{"username", "permission": "view" | "approve"}``
  -> 201 with the new share, 200 when it replaced one ("approve" only to approvers); 404
  when no active user has that name, 409 when the user cannot hold it (the owner, or
  "approve" for a non-approver)
- ``DELETE /api/tasks/{task_id}/shares/{username}/`` -> 204

Only the task's owner and admins manage shares. A task the caller may not read is 404,
exactly like a missing one; a task the caller may read but not manage is 403. API keys need
tasks:read to list and tasks:write to change.

- ``GET /api/tasks/{task_id}/artifacts/`` -> a page of artifacts with their current files
- ``GET /api/tasks/{task_id}/artifacts/{artifact_id}/versions/`` -> every version, oldest first
- ``GET /a2a/files/{file_id}`` -> the bytes of a stored file (docs/artifacts.md)

These follow the task's read permission (tasks:read for keys).
"""

from __future__ import annotations

import base64
import logging
import uuid
from typing import Any

from django.conf import settings
from django.http import FileResponse, HttpResponseNotModified, HttpResponseRedirect
from django.http.response import HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from a2a.models import ArtifactFile
from a2a.selectors import (
    MANAGE_SHARES,
    ArtifactNotFound,
    artifact_file_for_user,
    artifact_files_by_version,
    artifact_for_user,
    artifact_versions,
    task_artifacts,
    task_get_for_user,
    task_shares,
)
from a2a.services.artifacts import (
    artifact_file_signed_url,
    artifact_file_url,
    artifact_storage,
)
from a2a.services.shares import SHARE_PERMISSIONS, task_share_revoke, task_share_set
from accounts.authentication import request_user, require_scope
from accounts.models import Scope
from common.drf import TextField
from common.pagination import Pages, page_parameters

logger = logging.getLogger(__name__)


class ShareSerializer(serializers.Serializer[Any]):
    username = TextField(max_length=150)
    permission = serializers.ChoiceField(choices=sorted(SHARE_PERMISSIONS))


def _page_schema(name: str, results: type[serializers.Serializer[Any]]) -> Any:
    """The OpenAPI schema of a page of Pages: count, next, previous, results."""
    return inline_serializer(
        name=name,
        fields={
            "count": serializers.IntegerField(),
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": results(many=True),
        },
    )


SHARE_PAGE = _page_schema("SharePage", ShareSerializer)
TASK_ID = OpenApiParameter("task_id", OpenApiTypes.UUID, OpenApiParameter.PATH)
USERNAME = OpenApiParameter("username", OpenApiTypes.STR, OpenApiParameter.PATH)


class _TaskShareView(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.TASKS_READ if request.method == "GET" else Scope.TASKS_WRITE)


class TaskSharesView(_TaskShareView):
    """List the task's shares, or share it with one more user."""

    # 409: the user named cannot hold that share (the owner; approve for a non-approver).
    extra_error_statuses = {"post": (409,)}

    @extend_schema(parameters=[TASK_ID, *page_parameters()], responses=SHARE_PAGE)
    def get(self, request: Request, task_id: str) -> Response:
        task = task_get_for_user(
            user=request_user(request), task_id=task_id, permission=MANAGE_SHARES
        )
        paginator = Pages()
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


# --- Artifacts and their files ------------------------------------------------------------------


class ArtifactFileSerializer(serializers.Serializer[Any]):
    id = serializers.UUIDField()
    filename = serializers.CharField()
    media_type = serializers.CharField()
    size = serializers.IntegerField()
    sha256 = serializers.CharField()
    url = serializers.SerializerMethodField()
    created_at = serializers.DateTimeField()
    purged_at = serializers.DateTimeField(allow_null=True)

    def get_url(self, row: ArtifactFile) -> str:
        return artifact_file_url(row.id)


class ArtifactSerializer(serializers.Serializer[Any]):
    artifact_id = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField()
    complete = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()
    files = ArtifactFileSerializer(many=True)


class ArtifactVersionSerializer(serializers.Serializer[Any]):
    version = serializers.IntegerField()
    current = serializers.BooleanField()
    name = serializers.CharField()
    description = serializers.CharField()
    parts = serializers.JSONField()
    metadata = serializers.JSONField(allow_null=True)
    complete = serializers.BooleanField()
    created_at = serializers.DateTimeField()
    files = ArtifactFileSerializer(many=True)


ARTIFACT_PAGE = _page_schema("ArtifactPage", ArtifactSerializer)
ARTIFACT_ID = OpenApiParameter("artifact_id", OpenApiTypes.STR, OpenApiParameter.PATH)
FILE_ID = OpenApiParameter("file_id", OpenApiTypes.UUID, OpenApiParameter.PATH)


class _ReadView(APIView):
    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)
        require_scope(request, Scope.TASKS_READ)


class TaskArtifactsView(_ReadView):
    """The task's artifacts: current version, whether complete, the files of that version."""

    @extend_schema(parameters=[TASK_ID, *page_parameters()], responses=ARTIFACT_PAGE)
    def get(self, request: Request, task_id: str) -> Response:
        task = task_get_for_user(user=request_user(request), task_id=task_id)
        paginator = Pages()
        artifacts: Any = task_artifacts(task=task)
        page = paginator.paginate_queryset(artifacts, request, view=self) or []
        files = artifact_files_by_version(artifact_ids=[a.pk for a in page])
        rows = [
            {
                "artifact_id": a.artifact_id,
                "name": a.name,
                "description": a.description,
                "version": a.version,
                "complete": a.complete,
                "created_at": a.created_at,
                "updated_at": a.updated_at,
                "files": files[(a.pk, a.version)],
            }
            for a in page
        ]
        return paginator.get_paginated_response(ArtifactSerializer(rows, many=True).data)


class ArtifactVersionsView(_ReadView):
    """Every version of one artifact, oldest first, each with its parts and files."""

    @extend_schema(
        parameters=[TASK_ID, ARTIFACT_ID], responses=ArtifactVersionSerializer(many=True)
    )
    def get(self, request: Request, task_id: str, artifact_id: str) -> Response:
        artifact = artifact_for_user(
            user=request_user(request), task_id=task_id, artifact_id=artifact_id
        )
        files = artifact_files_by_version(artifact_ids=[artifact.pk])
        rows: list[dict[str, Any]] = [
            {
                "version": v.version,
                "current": False,
                "name": v.name,
                "description": v.description,
                "parts": v.parts,
                "metadata": v.metadata,
                "complete": v.complete,
                "created_at": v.created_at,
                "files": files[(artifact.pk, v.version)],
            }
            for v in artifact_versions(artifact=artifact)
        ]
        rows.append(
            {
                "version": artifact.version,
                "current": True,
                "name": artifact.name,
                "description": artifact.description,
                "parts": artifact.parts,
                "metadata": artifact.metadata,
                "complete": artifact.complete,
                "created_at": artifact.version_started_at,
                "files": files[(artifact.pk, artifact.version)],
            }
        )
        return Response(ArtifactVersionSerializer(rows, many=True).data)


class ArtifactFileContentView(_ReadView):
    """The bytes of a stored file, for whoever may read its task (GET /a2a/files/{id}).

    Files never change, so the sha256 is a strong ETag; ``Repr-Digest`` (RFC 9530) lets a
    client check what it received. The file is always an attachment in a sandbox, so a
    browser never runs an HTML or SVG file an agent wrote in webcap's origin.
    """

    # 410: the file was deleted after its task's retention.
    extra_error_statuses = (410,)

    @extend_schema(
        parameters=[FILE_ID],
        responses={
            (200, "application/octet-stream"): bytes,
            302: OpenApiResponse(description="To a signed storage URL (S3 and redirects on)."),
            304: OpenApiResponse(description="Not modified (If-None-Match held its ETag)."),
        },
    )
    def get(self, request: Request, file_id: uuid.UUID) -> HttpResponseBase:
        row = artifact_file_for_user(user=request_user(request), file_id=file_id)
        etag = f'"{row.sha256}"'
        signed = (
            artifact_file_signed_url(row) if settings.WEBCAP_ARTIFACT_DOWNLOAD_REDIRECT else None
        )
        response: HttpResponseBase
        if etag in (request.headers.get("If-None-Match") or ""):
            response = HttpResponseNotModified()
        elif signed is not None:
            # The signed URL expires (AWS_QUERYSTRING_EXPIRE): the redirect is never cached.
            response = HttpResponseRedirect(signed)
            response["Cache-Control"] = "private, no-store"
            return response
        else:
            try:
                opened = artifact_storage().open(row.storage_name, "rb")
            except FileNotFoundError:
                # A database restored without its files, or a bucket emptied by hand.
                logger.error("Artifact file %s is missing from the storage", row.storage_name)
                raise ArtifactNotFound(
                    f"File {file_id} is missing from the artifact storage"
                ) from None
            response = FileResponse(
                opened,
                as_attachment=True,
                filename=row.filename or f"{row.id}",
                content_type=row.media_type or "application/octet-stream",
            )
            response["Content-Length"] = str(row.size)
            digest = base64.b64encode(bytes.fromhex(row.sha256)).decode()
            response["Repr-Digest"] = f"sha-256=:{digest}:"
            response["Content-Security-Policy"] = "sandbox"
        response["ETag"] = etag
        response["Cache-Control"] = "private, max-age=86400, immutable"
        return response

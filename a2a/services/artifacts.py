"""Artifacts: the chunks an agent reports, and the bytes of their file parts kept in a storage.

Each chunk is stored under the task's lock with one TaskEvent (``task_artifact_update``); a
chunk that replaces an artifact keeps the version it replaces.

An agent reports a file part with its bytes (``raw``). Before the artifact update is stored,
the bytes go to the "artifacts" storage (a local folder, or an S3-compatible bucket through
django-storages) and the part becomes a ``url`` part pointing at webcap's download endpoint,
with the file's size and sha256 in the part's metadata. The ArtifactFile rows (name in the
storage, media type, size, sha256) are written in the same transaction as the artifact.

Files are written before that transaction and removed again when it fails, so a task lock is
never held while bytes travel to a bucket. A process killed between the two leaves a file no
row points to (wasted bytes, never a dangling link).
"""

from __future__ import annotations

import base64
import hashlib
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, storages
from django.db import transaction
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.text import get_valid_filename
from storages.backends.s3 import S3Storage

from a2a.models import (
    TERMINAL_STATES,
    Artifact,
    ArtifactFile,
    ArtifactVersion,
    EventKind,
    Task,
    TaskEvent,
)
from a2a.protocol import convert
from a2a.protocol import types as wire
from a2a.services.events import event_append
from a2a.services.transitions import TaskStateError, _lock_task
from common.retention import retention_cutoff

logger = logging.getLogger(__name__)

STORAGE_ALIAS = "artifacts"
# Where the download URLs of an embedded server point when WEBCAP_PUBLIC_URL is unset; the
# embedded server (web and worker in one process) sets it to the address it serves on.
_local_base_url = "http://127.0.0.1:8000"


def artifact_storage() -> Storage:
    """Return the storage artifact files are kept in (STORAGES["artifacts"])."""
    return storages[STORAGE_ALIAS]


def artifacts_served_at(base_url: str) -> None:
    """Record where this (embedded) process serves, for download URLs written by its worker."""
    global _local_base_url
    _local_base_url = base_url.rstrip("/")


def artifact_file_url(file_id: uuid.UUID) -> str:
    """Return the absolute download URL of a stored file."""
    base = settings.WEBCAP_PUBLIC_URL or _local_base_url
    return base + reverse("a2a-artifact-file", kwargs={"file_id": file_id})


def artifact_file_signed_url(row: ArtifactFile) -> str | None:
    """Return a short-lived signed bucket URL for a file, or None if the storage cannot sign.

    The URL makes the bucket answer as webcap would: an attachment of the file's media type
    (``response-content-disposition``/``response-content-type`` are covered by the signature).
    """
    storage = artifact_storage()
    if not isinstance(storage, S3Storage):
        return None
    disposition = content_disposition_header(True, row.filename or str(row.id))
    signed: str = storage.url(
        row.storage_name,
        parameters={
            "ResponseContentDisposition": disposition or "attachment",
            "ResponseContentType": row.media_type or "application/octet-stream",
        },
    )
    return signed


@dataclass(frozen=True)
class PendingFile:
    """A file already in the storage whose row is written with the artifact update."""

    id: uuid.UUID
    storage_name: str
    filename: str
    media_type: str
    size: int
    sha256: str


def _storage_name(task_id: uuid.UUID | str, file_id: uuid.UUID, filename: str) -> str:
    try:
        safe = get_valid_filename(filename)[:200] if filename else "file"
    except SuspiciousFileOperation:
        safe = "file"
    return f"{task_id}/{file_id}/{safe}"


def artifact_files_save(
    *, task_id: uuid.UUID | str, parts: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], list[PendingFile]]:
    """Store the bytes of every raw part; return the parts with URLs instead, and the files.

    The caller writes the rows with ``artifact_files_record`` in its transaction, or calls
    ``artifact_files_discard`` when that transaction does not happen.
    """
    storage = artifact_storage()
    out: list[dict[str, Any]] = []
    saved: list[PendingFile] = []
    try:
        for part in parts:
            if part.get("raw") is None:
                out.append(part)
                continue
            data = base64.b64decode(part["raw"])
            file_id = uuid.uuid4()
            filename = part.get("filename") or ""
            media_type = part.get("mediaType") or ""
            name = storage.save(_storage_name(task_id, file_id, filename), ContentFile(data))
            pending = PendingFile(
                id=file_id,
                storage_name=name,
                filename=filename,
                media_type=media_type,
                size=len(data),
                sha256=hashlib.sha256(data).hexdigest(),
            )
            saved.append(pending)
            replaced: dict[str, Any] = {"url": artifact_file_url(file_id)}
            if media_type:
                replaced["mediaType"] = media_type
            if filename:
                replaced["filename"] = filename
            replaced["metadata"] = {
                **(part.get("metadata") or {}),
                "size": pending.size,
                "sha256": pending.sha256,
            }
            out.append(replaced)
    except BaseException:
        artifact_files_discard(saved)
        raise
    return out, saved


def artifact_files_discard(files: list[PendingFile]) -> None:
    """Remove stored files whose rows were never written."""
    storage = artifact_storage()
    for pending in files:
        try:
            storage.delete(pending.storage_name)
        except Exception:
            logger.exception(
                "Could not remove the unrecorded artifact file %s", pending.storage_name
            )


def artifact_files_record(*, artifact: Artifact, files: list[PendingFile]) -> None:
    """Write the rows of files stored for the artifact's current version (in a transaction)."""
    ArtifactFile.objects.bulk_create(
        ArtifactFile(
            id=pending.id,
            task_id=artifact.task_id,
            artifact=artifact,
            version=artifact.version,
            storage_name=pending.storage_name,
            filename=pending.filename,
            media_type=pending.media_type,
            size=pending.size,
            sha256=pending.sha256,
        )
        for pending in files
    )


def artifact_files_expired(*, cutoff: datetime) -> QuerySet[ArtifactFile]:
    """Return the files still stored of tasks that ended before cutoff."""
    return ArtifactFile.objects.filter(
        purged_at__isnull=True,
        task__state__in=TERMINAL_STATES,
        task__status_timestamp__lt=cutoff,
    )


def artifact_files_purge(*, days: int, now: datetime | None = None, batch: int = 500) -> int:
    """Delete the stored files of tasks that ended more than ``days`` days ago; return how many.

    The rows stay, marked purged, so a download of such a file answers 410 Gone with the
    reason instead of 404. Each file is deleted from the storage before its row is marked;
    a purge interrupted in between deletes it again next time (deleting a missing file is a
    no-op for both storages). Idempotent: a second run right after finds nothing.
    """
    cutoff = retention_cutoff(days=days, now=now)
    if cutoff is None:
        return 0
    storage = artifact_storage()
    purged = 0
    while True:
        files = list(
            artifact_files_expired(cutoff=cutoff)
            .order_by("created_at")
            .values_list("id", "storage_name")[:batch]
        )
        for file_id, name in files:
            storage.delete(name)
            purged += ArtifactFile.objects.filter(pk=file_id, purged_at__isnull=True).update(
                purged_at=timezone.now(), updated_at=timezone.now()
            )
        if len(files) < batch:
            break
    if purged:
        logger.info("Deleted %d artifact file(s) of tasks ended before %s", purged, cutoff)
    return purged


def task_artifact_update(
    *,
    task_id: uuid.UUID | str,
    artifact: dict[str, Any],
    append: bool = False,
    last_chunk: bool = False,
    in_transaction: Callable[[], None] | None = None,
) -> TaskEvent:
    """Store an artifact chunk and log it; append=True joins it to the artifact's parts.

    ``in_transaction`` runs after the event is stored, in the same transaction (see
    ``task_transition``).

    The bytes of file parts go to the artifact storage first (outside the task lock) and
    the chunk carries their download URLs; a chunk that replaces an artifact (append=False)
    starts its next version and keeps the one it replaces.
    """
    chunk = wire.Artifact.model_validate(artifact).dump()
    chunk["parts"], files = artifact_files_save(task_id=task_id, parts=chunk["parts"])
    try:
        return _artifact_store(
            task_id=task_id,
            chunk=chunk,
            files=files,
            append=append,
            last_chunk=last_chunk,
            in_transaction=in_transaction,
        )
    except BaseException:
        artifact_files_discard(files)
        raise


@transaction.atomic(durable=True)
def _artifact_store(
    *,
    task_id: uuid.UUID | str,
    chunk: dict[str, Any],
    files: list[PendingFile],
    append: bool,
    last_chunk: bool,
    in_transaction: Callable[[], None] | None = None,
) -> TaskEvent:
    # A chunk changes the task's artifacts, never its history (which can be long).
    task = _lock_task(task_id, unread="wire_history")
    if task.state in TERMINAL_STATES:
        raise TaskStateError(task, "artifact-update")
    stored = Artifact.objects.filter(task=task, artifact_id=chunk["artifactId"]).first()
    if stored is None:
        stored = Artifact(task=task, artifact_id=chunk["artifactId"], parts=[])
    elif not append:
        _artifact_version_keep(stored)
    if append and stored.pk is not None:
        stored.parts = [*stored.parts, *chunk["parts"]]
    else:
        stored.parts = list(chunk["parts"])
    stored.name = chunk.get("name", stored.name)
    stored.description = chunk.get("description", stored.description)
    if "metadata" in chunk:
        stored.metadata = {**(stored.metadata or {}), **chunk["metadata"]}
    if "extensions" in chunk:
        stored.extensions = chunk["extensions"]
    stored.complete = last_chunk
    stored.save()
    _wire_artifact_set(task=task, artifact=stored)
    artifact_files_record(artifact=stored, files=files)
    event = event_append(
        task=task,
        kind=EventKind.ARTIFACT_UPDATE,
        payload=convert.artifact_update_to_wire(
            task, context_key=task.context.key, chunk=chunk, append=append, last_chunk=last_chunk
        ),
    )
    task.save(update_fields=["last_seq", "wire_artifacts", "updated_at"])
    if in_transaction is not None:
        in_transaction()
    return event


def _wire_artifact_set(*, task: Task, artifact: Artifact) -> None:
    """Put the artifact as it is now into the task's wire artifacts: in its place, or last."""
    wired = convert.artifact_to_wire(artifact)
    for index, existing in enumerate(task.wire_artifacts):
        if existing["artifactId"] == artifact.artifact_id:
            task.wire_artifacts[index] = wired
            return
    # A new artifact is the newest (created under the task's lock): it goes last.
    task.wire_artifacts.append(wired)


def _artifact_version_keep(stored: Artifact) -> None:
    """Keep the artifact's current version as an ArtifactVersion before it is replaced."""
    ArtifactVersion.objects.create(
        artifact=stored,
        version=stored.version,
        name=stored.name,
        description=stored.description,
        parts=stored.parts,
        metadata=stored.metadata,
        complete=stored.complete,
        created_at=stored.version_started_at,
    )
    stored.version += 1
    stored.version_started_at = timezone.now()

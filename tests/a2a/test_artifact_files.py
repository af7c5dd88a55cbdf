"""Artifact files: file parts kept in the artifact storage, versions, downloads, retention.

An agent's file part (``raw``) is stored as a file; the part on the wire and in the event log
carries the download URL with its size and sha256. A replacing update starts a new version
and the old one stays readable, files included. Downloads follow the task's read permission.
"""

from __future__ import annotations

import base64
import hashlib
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from a2a.models import Artifact, ArtifactFile, ArtifactVersion, Task, TaskEvent, TaskState
from a2a.services.artifacts import artifact_files_purge
from a2a.services.tasks import TaskStateError, task_artifact_update, task_transition
from accounts.services import api_key_create
from tests.a2a.people import Cast, cast_people
from tests.factories import send
from tests.s3_server import BUCKET, S3Server, s3_server

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40


@pytest.fixture(autouse=True)
def _stored_files(artifact_folder: Path, settings: Any) -> None:
    """Every test here keeps files in a folder of its own; no job runs on its own."""
    settings.CELERY_TASK_ALWAYS_EAGER = False


@pytest.fixture
def cast(db: None) -> Cast:
    return cast_people()


@pytest.fixture
def task(cast: Cast) -> Task:
    result = send(cast.users["owner"], "make me a picture")
    cast.share(str(result.task_id))
    return Task.objects.get(pk=result.task_id)


def _file_part(data: bytes, filename: str = "picture.png", media: str = "image/png") -> Any:
    return {"raw": base64.b64encode(data).decode(), "mediaType": media, "filename": filename}


def _update(task: Task, parts: list[Any], *, append: bool = False, last: bool = True) -> None:
    task_artifact_update(
        task_id=task.id,
        artifact={"artifactId": "picture", "name": "picture", "parts": parts},
        append=append,
        last_chunk=last,
    )


def _path(url: str) -> str:
    assert url.startswith("https://agents.example.com/a2a/files/"), url
    return url.removeprefix("https://agents.example.com")


def _get(path: str, key: str | None, **headers: str) -> Any:
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    response: Any = Client().get(path, headers=headers)
    if response.streaming:
        # Read and close the file the response holds open.
        response.body = b"".join(response.streaming_content)
        response.close()
    return response


def test_a_file_part_is_stored_and_the_wire_carries_its_url(task, cast, artifact_folder):
    _update(task, [{"text": "here it is"}, _file_part(PNG)])

    [row] = ArtifactFile.objects.filter(task=task)
    digest = hashlib.sha256(PNG).hexdigest()
    assert (row.size, row.sha256, row.media_type, row.filename, row.version) == (
        len(PNG),
        digest,
        "image/png",
        "picture.png",
        1,
    )
    assert (artifact_folder / row.storage_name).read_bytes() == PNG
    assert row.storage_name == f"{task.id}/{row.id}/picture.png"
    expected: dict[str, Any] = {
        "url": f"https://agents.example.com/a2a/files/{row.id}",
        "mediaType": "image/png",
        "filename": "picture.png",
        "metadata": {"size": len(PNG), "sha256": digest},
    }
    artifact = Artifact.objects.get(task=task)
    assert artifact.parts == [{"text": "here it is"}, expected]
    event = TaskEvent.objects.filter(task=task, kind="artifact-update").get()
    assert event.payload["artifactUpdate"]["artifact"]["parts"][1] == expected
    assert "raw" not in str(event.payload)

    response = _get(_path(expected["url"]), cast.keys["owner"])
    assert response.status_code == 200
    assert response.body == PNG
    assert response["Content-Type"] == "image/png"
    assert response["Content-Length"] == str(len(PNG))
    assert response["Content-Disposition"] == 'attachment; filename="picture.png"'
    assert response["Content-Security-Policy"] == "sandbox"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["ETag"] == f'"{digest}"'
    assert (
        response["Repr-Digest"] == f"sha-256=:{base64.b64encode(bytes.fromhex(digest)).decode()}:"
    )

    again = _get(_path(expected["url"]), cast.keys["owner"], **{"If-None-Match": f'"{digest}"'})
    assert again.status_code == 304


@pytest.mark.parametrize(
    ("name", "status"),
    [
        ("owner", 200),
        ("reader", 200),
        ("viewer", 200),
        ("approver", 200),
        ("operator", 200),
        ("admin", 200),
        ("stranger", 404),
        ("lone_approver", 404),
    ],
)
def test_downloads_follow_the_task_read_permission(task, cast, name, status):
    _update(task, [_file_part(PNG)])
    row = ArtifactFile.objects.get(task=task)
    response = _get(f"/a2a/files/{row.id}", cast.keys[name])
    assert response.status_code == status
    if status == 404:
        # A foreign file answers exactly like one that does not exist.
        missing = _get(f"/a2a/files/{uuid.uuid4()}", cast.keys[name])
        assert response.json()["detail"].replace(str(row.id), "<id>") == missing.json()[
            "detail"
        ].replace(missing.request["PATH_INFO"].rsplit("/", 1)[1], "<id>")


def test_anonymous_and_unscoped_callers_are_refused(task, cast):
    _update(task, [_file_part(PNG)])
    row = ArtifactFile.objects.get(task=task)
    assert _get(f"/a2a/files/{row.id}", None).status_code == 401
    assert _get(f"/a2a/files/{row.id}", "not-a-key").status_code == 401
    _, narrow = api_key_create(user=cast.users["owner"], name="push only", scopes=["tools:approve"])
    refused = _get(f"/a2a/files/{row.id}", narrow)
    assert refused.status_code == 403
    assert "tasks:read" in refused.json()["detail"]
    assert _get("/a2a/files/not-a-uuid", cast.keys["owner"]).status_code == 404


def test_a_replacing_update_starts_a_version_and_the_old_one_stays_readable(task, cast):
    first = b"first version"
    _update(task, [_file_part(first, "v.txt", "text/plain")])
    _update(task, [_file_part(b"second ", "v.txt", "text/plain")], last=False)
    _update(task, [{"text": "appended"}], append=True)

    artifact = Artifact.objects.get(task=task)
    assert artifact.version == 2
    old = ArtifactVersion.objects.get(artifact=artifact)
    assert (old.version, old.complete) == (1, True)
    assert old.created_at <= old.replaced_at <= artifact.version_started_at
    files = {f.version: f for f in ArtifactFile.objects.filter(artifact=artifact)}
    assert sorted(files) == [1, 2]
    old_url = old.parts[0]["url"]
    response = _get(_path(old_url), cast.keys["owner"])
    assert response.body == first

    listing = _get(f"/api/tasks/{task.id}/artifacts/", cast.keys["reader"]).json()
    [entry] = listing["results"]
    assert (entry["artifact_id"], entry["version"], entry["complete"]) == ("picture", 2, True)
    assert [f["id"] for f in entry["files"]] == [str(files[2].id)]

    versions = _get(f"/api/tasks/{task.id}/artifacts/picture/versions/", cast.keys["owner"]).json()
    assert [(v["version"], v["current"]) for v in versions] == [(1, False), (2, True)]
    assert versions[0]["parts"] == old.parts
    assert versions[0]["files"][0]["sha256"] == hashlib.sha256(first).hexdigest()
    assert [p.get("text") for p in versions[1]["parts"]] == [None, "appended"]
    assert versions[1]["files"][0]["url"] == artifact.parts[0]["url"]


def test_artifact_api_answers_like_the_task_for_strangers(task, cast):
    _update(task, [_file_part(PNG)])
    for path in (
        f"/api/tasks/{task.id}/artifacts/",
        f"/api/tasks/{task.id}/artifacts/picture/versions/",
    ):
        assert _get(path, cast.keys["stranger"]).status_code == 404
        assert _get(path, None).status_code == 401
    missing = _get(f"/api/tasks/{task.id}/artifacts/nope/versions/", cast.keys["owner"])
    assert missing.status_code == 404
    assert "no artifact 'nope'" in missing.json()["detail"]


def test_an_update_refused_after_the_task_ended_leaves_no_file(task, artifact_folder):
    task_transition(task_id=task.id, state=TaskState.CANCELED)
    with pytest.raises(TaskStateError):
        _update(task, [_file_part(PNG)])
    assert not ArtifactFile.objects.exists()
    assert not [p for p in artifact_folder.rglob("*") if p.is_file()]


def test_retention_deletes_the_files_of_tasks_ended_long_ago(task, cast, artifact_folder):
    _update(task, [_file_part(PNG)])
    recent = Task.objects.get(pk=send(cast.users["owner"], "another").task_id)
    _update(recent, [_file_part(b"recent")])
    running = Task.objects.get(pk=send(cast.users["owner"], "still running").task_id)
    _update(running, [_file_part(b"running")])
    task_transition(task_id=task.id, state=TaskState.COMPLETED)
    task_transition(task_id=recent.id, state=TaskState.COMPLETED)
    Task.objects.filter(pk=task.id).update(status_timestamp=timezone.now() - timedelta(days=31))
    Task.objects.filter(pk=running.id).update(status_timestamp=timezone.now() - timedelta(days=31))

    assert artifact_files_purge(days=0) == 0
    assert artifact_files_purge(days=30) == 1
    assert artifact_files_purge(days=30) == 0  # idempotent
    old = ArtifactFile.objects.get(task=task)
    assert old.purged_at is not None
    assert not (artifact_folder / old.storage_name).exists()
    for kept in (recent, running):
        row = ArtifactFile.objects.get(task=kept)
        assert row.purged_at is None
        assert (artifact_folder / row.storage_name).exists()

    gone = _get(f"/a2a/files/{old.id}", cast.keys["owner"])
    assert gone.status_code == 410
    assert "deleted" in gone.json()["detail"]


def test_the_purge_command_counts_then_deletes(task, capsys):
    _update(task, [_file_part(PNG)])
    task_transition(task_id=task.id, state=TaskState.FAILED)
    Task.objects.filter(pk=task.id).update(status_timestamp=timezone.now() - timedelta(days=10))
    call_command("artifacts_purge", "--days", "5", "--dry-run")
    assert "Would delete 1 artifact files" in capsys.readouterr().out
    assert ArtifactFile.objects.get().purged_at is None
    call_command("artifacts_purge", "--days", "5")
    assert "Deleted 1 artifact files" in capsys.readouterr().out
    call_command("artifacts_purge", "--days", "0")
    assert "keep forever" in capsys.readouterr().out
    assert not storages["artifacts"].exists(ArtifactFile.objects.get().storage_name)


# --- An S3-compatible bucket (moto in server mode on 127.0.0.1) --------------------------------


@pytest.fixture(scope="module")
def bucket(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    with s3_server(tmp_path_factory.mktemp("s3")) as server:
        yield server


@pytest.fixture
def s3(settings: Any, bucket: S3Server, artifact_folder: Path) -> S3Server:
    """Keep artifact files in the bucket, configured the way base.py does from AWS_*."""
    env = bucket.env()
    settings.STORAGES = {
        **settings.STORAGES,
        "artifacts": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": env["AWS_STORAGE_BUCKET_NAME"],
                "endpoint_url": env["AWS_S3_ENDPOINT_URL"],
                "region_name": env["AWS_S3_REGION_NAME"],
                "addressing_style": "path",
                "access_key": env["AWS_ACCESS_KEY_ID"],
                "secret_key": env["AWS_SECRET_ACCESS_KEY"],
                "location": "artifacts",
                "file_overwrite": False,
                "querystring_expire": 60,
            },
        },
    }
    return bucket


def test_files_live_in_the_bucket_and_download_through_webcap(task, cast, s3):
    _update(task, [_file_part(PNG)])
    row = ArtifactFile.objects.get(task=task)
    assert f"artifacts/{row.storage_name}" in s3.object_keys()
    stored = s3.client().get_object(Bucket=BUCKET, Key=f"artifacts/{row.storage_name}")
    assert stored["Body"].read() == PNG

    response = _get(f"/a2a/files/{row.id}", cast.keys["reader"])
    assert response.status_code == 200
    assert response.body == PNG
    assert response["ETag"] == f'"{hashlib.sha256(PNG).hexdigest()}"'
    assert _get(f"/a2a/files/{row.id}", cast.keys["stranger"]).status_code == 404


def test_redirect_mode_hands_out_a_signed_url_the_bucket_honours(task, cast, s3, settings):
    settings.WEBCAP_ARTIFACT_DOWNLOAD_REDIRECT = True
    _update(task, [_file_part(PNG, "chart.png")])
    row = ArtifactFile.objects.get(task=task)

    response = _get(f"/a2a/files/{row.id}", cast.keys["owner"])
    assert response.status_code == 302
    assert response["Cache-Control"] == "private, no-store"
    signed = response["Location"]
    assert signed.startswith(f"{s3.url}/{BUCKET}/artifacts/{task.id}/")
    assert "Signature" in signed or "X-Amz-Signature" in signed
    fetched = httpx.get(signed, timeout=10)
    assert fetched.status_code == 200
    assert fetched.content == PNG
    assert fetched.headers["content-disposition"] == 'attachment; filename="chart.png"'
    assert fetched.headers["content-type"] == "image/png"
    # Without the signature the bucket refuses (nothing is public).
    assert httpx.get(signed.split("?")[0], timeout=10).status_code == 403
    # Strangers never see the signed URL.
    assert _get(f"/a2a/files/{row.id}", cast.keys["stranger"]).status_code == 404


def test_retention_deletes_objects_from_the_bucket(task, s3):
    _update(task, [_file_part(PNG)])
    row = ArtifactFile.objects.get(task=task)
    task_transition(task_id=task.id, state=TaskState.COMPLETED)
    Task.objects.filter(pk=task.id).update(status_timestamp=timezone.now() - timedelta(days=10))
    assert f"artifacts/{row.storage_name}" in s3.object_keys()
    assert artifact_files_purge(days=5) == 1
    assert f"artifacts/{row.storage_name}" not in s3.object_keys()


def test_a_file_missing_from_the_storage_is_a_clear_404(task, cast, artifact_folder):
    _update(task, [_file_part(PNG)])
    row = ArtifactFile.objects.get(task=task)
    (artifact_folder / row.storage_name).unlink()  # e.g. a database restored without files
    response = _get(f"/a2a/files/{row.id}", cast.keys["owner"])
    assert response.status_code == 404
    assert "missing from the artifact storage" in response.json()["detail"]

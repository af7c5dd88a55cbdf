"""Artifact files on a live server whose storage is an S3 bucket (moto on 127.0.0.1).

The worker writes the bytes of a file part to the bucket; the part on the wire is a URL on the
server that answered, which streams the bytes back from the bucket to the task's owner only.
"""

from __future__ import annotations

import hashlib
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.factories import message_params
from tests.live.server import LiveServer
from tests.s3_server import S3Server, s3_server

pytestmark = pytest.mark.live


@pytest.fixture
def bucket(tmp_path: Path) -> Iterator[S3Server]:
    with s3_server(tmp_path) as server:
        yield server


def test_a_file_part_goes_to_the_bucket_and_downloads_from_the_server(
    tmp_path: Path, bucket: S3Server
) -> None:
    server = LiveServer(tmp_path / "webcap", WEBCAP_AGENT="conformance", **bucket.env())
    server.start()
    try:
        key = server.create_key("alice")
        other = server.create_key("mallory")
        params = message_params("file please", message_id="tck-artifact-file-live")
        task = server.rpc(key, "SendMessage", params)["result"]["task"]
        assert task["status"]["state"] == "TASK_STATE_COMPLETED"
        [part] = task["artifacts"][0]["parts"]
        assert part["metadata"] == {"size": 3, "sha256": hashlib.sha256(b"tck").hexdigest()}
        assert part["url"].startswith(f"{server.url}/a2a/files/")
        [stored] = bucket.object_keys()
        assert stored.startswith(f"artifacts/{task['id']}/")

        owner = httpx.get(part["url"], headers={"Authorization": f"Bearer {key}"}, timeout=10)
        assert owner.status_code == 200
        assert owner.content == b"tck"
        assert owner.headers["content-disposition"] == 'attachment; filename="output.txt"'
        stranger = httpx.get(part["url"], headers={"Authorization": f"Bearer {other}"}, timeout=10)
        assert stranger.status_code == 404
    finally:
        server.stop(signal.SIGTERM)

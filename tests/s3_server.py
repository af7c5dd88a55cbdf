"""A throwaway S3 API on 127.0.0.1 (moto in server mode, its own process) with one bucket.

Tests of the S3 artifact storage talk to it through django-storages and boto3 exactly as
they would to AWS or MinIO: real HTTP, real signatures. Started on a free port, stopped by
PID. moto is a dev dependency, so it is always installed where the tests run.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import httpx

from tests.live.server import free_port

BUCKET = "webcap-artifacts"
# moto accepts any credentials; boto3 insists on having some.
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
REGION = "us-east-1"


class S3Server:
    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = workdir / "moto.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30) -> None:
        moto = Path(sys.executable).with_name("moto_server")
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [str(moto), "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"moto_server exited:\n{self.log_path.read_text()}")
            try:
                httpx.get(self.url, timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            self.stop()
            raise RuntimeError(f"moto_server did not start in {timeout}s")
        self.client().create_bucket(Bucket=BUCKET)

    def client(self) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        )

    def object_keys(self) -> list[str]:
        listed = self.client().list_objects_v2(Bucket=BUCKET)
        return sorted(item["Key"] for item in listed.get("Contents", []))

    def env(self) -> dict[str, str]:
        """The settings a webcap process needs to keep its artifact files here."""
        return {
            **CREDENTIALS,
            "AWS_STORAGE_BUCKET_NAME": BUCKET,
            "AWS_S3_ENDPOINT_URL": self.url,
            "AWS_S3_REGION_NAME": REGION,
            "AWS_S3_ADDRESSING_STYLE": "path",
        }

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(10)


@contextmanager
def s3_server(workdir: Path) -> Iterator[S3Server]:
    server = S3Server(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()

"""Fixtures of the tools tests: the assistant on the offline model, a page to fetch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from a2a import jobs
from tests.fakellm import FakeLLM
from tests.webhook import WebhookReceiver
from tools import registry


@pytest.fixture
def fake(settings) -> Iterator[FakeLLM]:
    """New tasks run the assistant on a scripted OpenAI-compatible server on 127.0.0.1."""
    server = FakeLLM()
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = "openai/fake-model"
    settings.WEBCAP_MODEL_API_BASE = server.base_url
    settings.WEBCAP_MODEL_API_KEY = "test-key"
    settings.WEBCAP_MODEL_CONTEXT_TOKENS = 100_000
    settings.WEBCAP_MODEL_TIMEOUT = 5.0
    settings.WEBCAP_MODEL_MAX_RETRIES = 2
    settings.WEBCAP_MODEL_RETRY_BASE = 0.01
    yield server
    server.close()


@pytest.fixture
def offline_assistant(settings):
    """New tasks run the assistant on the offline model."""
    settings.WEBCAP_AGENT = "assistant"
    settings.WEBCAP_MODEL = ""


@pytest.fixture
def site(settings) -> Iterator[WebhookReceiver]:
    """A page on 127.0.0.1 that http_request may fetch."""
    receiver = WebhookReceiver()
    settings.WEBCAP_TOOL_HTTP_ALLOWED_HOSTS = ["127.0.0.1"]
    yield receiver
    receiver.close()


@pytest.fixture
def manual_jobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Jobs are queued but not run: the test runs each step, as a worker would."""
    queued: list[str] = []
    monkeypatch.setattr(jobs.task_run_job, "delay", lambda task_id: queued.append(str(task_id)))
    return queued


@pytest.fixture
def restored_registry() -> Iterator[None]:
    """Tools the test registers are gone after it (the built-ins are loaded first)."""
    registry.tools_load()
    before = dict(registry.REGISTRY)
    yield
    registry.REGISTRY.clear()
    registry.REGISTRY.update(before)

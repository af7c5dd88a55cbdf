"""Fixtures of the tools tests: the assistant on the offline model, a page to fetch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakellm import FakeLLM
from tests.webhook import WebhookReceiver


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

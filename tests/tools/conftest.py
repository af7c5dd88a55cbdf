"""Fixtures of the tools tests: the assistant on the offline model, a page to fetch (the
scripted model, ``fake``, is shared: tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhook import WebhookReceiver


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

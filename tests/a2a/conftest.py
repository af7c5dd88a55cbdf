"""The A2A tests use the shared fixtures of tests/conftest.py."""

import json
from pathlib import Path

import pytest

from tests.conftest import sse_frames

__all__ = ["sse_frames"]


@pytest.fixture
def members_card(settings, tmp_path: Path) -> None:
    """An extended card (A2A §3.1.11): authenticated callers read "For members."."""
    path = tmp_path / "extended.json"
    path.write_text(json.dumps({"description": "For members."}))
    settings.WEBCAP_EXTENDED_AGENT_CARD = str(path)

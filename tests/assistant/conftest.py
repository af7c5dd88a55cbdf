"""Fixtures of the assistant tests: the models and the page of the tools tests."""

from __future__ import annotations

from tests.tools.conftest import fake, offline_assistant, site  # noqa: F401  (shared fixtures)

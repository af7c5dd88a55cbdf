"""The A2A tests use the shared fixtures of tests/conftest.py."""

from tests.conftest import sse_frames

__all__ = ["sse_frames"]

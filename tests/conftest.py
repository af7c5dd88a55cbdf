"""Shared fixtures. Live-server and interop fixtures live in tests/live/ and tests/interop/."""

from __future__ import annotations

import pytest

from accounts.models import User
from tests.factories import make_key, make_user


@pytest.fixture
def user(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def other_user(db: None) -> User:
    return make_user("bob")


@pytest.fixture
def api_key(user: User) -> str:
    return make_key(user)


@pytest.fixture
def other_api_key(other_user: User) -> str:
    return make_key(other_user)

"""Users in each role, and clients signed in to the admin or the API."""

from __future__ import annotations

import pytest
from django.test import Client

from accounts.models import User
from accounts.services import user_ensure


@pytest.fixture
def superuser(db: None) -> User:
    return User.objects.create_superuser(username="root", password="unused-password-123")


@pytest.fixture
def operator(db: None) -> User:
    return user_ensure(username="olga", role="operator")


@pytest.fixture
def viewer(db: None) -> User:
    return user_ensure(username="victor", role="viewer")


@pytest.fixture
def admin_role(db: None) -> User:
    """A user in the admin group who is not a superuser."""
    return user_ensure(username="ada", role="admin")


@pytest.fixture
def admin_client(superuser: User) -> Client:
    """The Django test client signed in as the superuser (the admin's session)."""
    client = Client()
    client.force_login(superuser)
    return client

"""The people of the admin's authorization matrices, and clients signed in as them.

- ``anonymous``: nobody signed in; ``not_staff``: signed in without ``is_staff``: both are sent
  to the admin's sign-in page;
- ``staff_without_permission``: staff in no role group, holding no model permission: 403;
- ``operator`` (operator group) and ``superuser``: 200.
"""

from __future__ import annotations

from typing import Any

from django.test import Client

from accounts.models import User
from accounts.services import user_ensure
from tests.factories import make_user

EXPECTED = {
    "anonymous": 302,
    "not_staff": 302,
    "staff_without_permission": 403,
    "operator": 200,
    "superuser": 200,
}


def make_staff(username: str, role: str | None = None, *, superuser: bool = False) -> User:
    """Return a staff user in role (a superuser when asked), read again without cached roles."""
    person = user_ensure(username=username, role=role)
    person.is_staff = True
    person.is_superuser = superuser
    person.save()
    return User.objects.get(pk=person.pk)


def signed_in(user: User | None, **kwargs: Any) -> Client:
    """Return a test client signed in as user (anonymous for None)."""
    client = Client(**kwargs)
    if user is not None:
        client.force_login(user)
    return client


def admin_people() -> dict[str, User | None]:
    """Create the people named in EXPECTED."""
    return {
        "anonymous": None,
        "not_staff": make_user("nora"),
        "staff_without_permission": make_staff("sam"),
        "operator": make_staff("olga", "operator"),
        "superuser": make_staff("root", superuser=True),
    }


def assert_matrix_answer(response: Any, who: str, path: str) -> None:
    """Check the answer EXPECTED gives who, and where a refused person is sent."""
    assert response.status_code == EXPECTED[who]
    if EXPECTED[who] == 302:
        assert response["Location"].startswith(f"/admin/login/?next={path}")

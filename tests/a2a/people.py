"""The cast of the authorization tests: one user per role, and the shares that matter.

- ``owner`` (user role) owns the tasks;
- ``stranger`` (user role) has nothing to do with them;
- ``operator`` sees and cancels every task, decides nothing;
- ``approver`` (approver role) is given an "approve" share of the task;
- ``lone_approver`` (approver role) has no share;
- ``viewer`` (viewer role) is given a "view" share;
- ``reader`` (user role) is given a "view" share: may read, not write;
- ``admin`` may do everything.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from a2a.services.shares import task_share_set
from accounts.models import User
from accounts.services import user_ensure
from tests.factories import make_key

ROLES = {
    "owner": None,
    "stranger": None,
    "operator": "operator",
    "approver": "approver",
    "lone_approver": "approver",
    "viewer": "viewer",
    "reader": None,
    "admin": "admin",
}
NAMES = tuple(ROLES)


@dataclass
class Cast:
    users: dict[str, User] = field(default_factory=dict)
    keys: dict[str, str] = field(default_factory=dict)

    def share(self, task_id: str) -> None:
        """Share the task as the module doc says, through the sharing service."""
        owner = self.users["owner"]
        for username, permission in (
            ("approver", "approve"),
            ("viewer", "view"),
            ("reader", "view"),
        ):
            task_share_set(user=owner, task_id=task_id, username=username, permission=permission)


def cast_people() -> Cast:
    """Create one user (and one API key) per name of the module doc."""
    cast = Cast()
    for name, role in ROLES.items():
        user = user_ensure(username=name, role=role)
        cast.users[name] = User.objects.get(pk=user.pk)  # no cached roles
        cast.keys[name] = make_key(user)
    return cast


def same_error(body: dict[str, Any], real_id: str, missing_id: str) -> dict[str, Any]:
    """Return a JSON-RPC error body with the task id and the timestamp blanked out."""
    text = json.dumps(body).replace(real_id, "<id>").replace(missing_id, "<id>")
    data: dict[str, Any] = json.loads(text)
    for detail in data["error"].get("data", []):
        detail.get("metadata", {}).pop("timestamp", None)
    return data

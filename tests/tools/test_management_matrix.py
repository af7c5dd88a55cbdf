"""The authorization matrix of the management API: every endpoint, every kind of caller.

The A2A operations have theirs in tests/test_authz_matrix.py. Here the owner has a task that
waits for approval of one tool call, and an API key; the callers are the same kinds, plus an
approver the task was shared with for approval, each with an API key and a JWT. After every
refused request (401, 403, 404) nothing stored has changed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.test import AsyncClient

from a2a.models import TaskUserObjectPermission
from a2a.services.shares import task_share_set
from accounts.models import ApiKey
from accounts.services import api_key_create, user_ensure
from tests.factories import make_access_token, make_key
from tests.matrix import Endpoint
from tests.tools.helpers import pending_approval
from tools.models import ToolCall

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("offline_assistant"),
]

ROLE_OF = {
    "other": "user",
    "viewer": "viewer",
    "viewer_shared": "viewer",
    "operator": "operator",
    "approver": "approver",
    "approver_shared": "approver",
    "admin": "admin",
}
CALLERS = ("anonymous", "owner", *ROLE_OF)
# Who may read the owner's task and its tool calls.
SEES = {"owner", "admin", "operator", "viewer_shared", "approver_shared"}
DECIDES = {"owner", "admin", "approver_shared"}
MANAGES_SHARES = {"owner", "admin"}


@dataclass
class World:
    task: str
    call: str
    owner_key_id: str


def _by_visibility(ok: int, *, allowed: set[str]) -> Callable[[str], int]:
    """ok for allowed callers; 403 for callers that see the task but may not; 404 otherwise."""

    def expect(caller: str) -> int:
        if caller in allowed:
            return ok
        return 403 if caller in SEES else 404

    return expect


ENDPOINTS = (
    Endpoint("keys-list", "get", "/api/keys/", lambda c: 200),
    Endpoint("key-get", "get", "/api/keys/{owner_key_id}/", lambda c: 200 if c == "owner" else 404),
    Endpoint(
        "key-revoke", "delete", "/api/keys/{owner_key_id}/", lambda c: 204 if c == "owner" else 404
    ),
    Endpoint("key-create", "post", "/api/keys/", lambda c: 201, {"name": "more"}),
    Endpoint("ws-ticket", "post", "/api/auth/ws-ticket/", lambda c: 201),
    Endpoint("schema", "get", "/api/schema/", lambda c: 200, public=True),
    Endpoint("tool-calls", "get", "/api/tool-calls/", lambda c: 200),
    Endpoint("tool-call", "get", "/api/tool-calls/{call}/", _by_visibility(200, allowed=SEES)),
    Endpoint(
        "approve", "post", "/api/tool-calls/{call}/approve/", _by_visibility(200, allowed=DECIDES)
    ),
    Endpoint(
        "reject", "post", "/api/tool-calls/{call}/reject/", _by_visibility(200, allowed=DECIDES)
    ),
    Endpoint("llm-calls", "get", "/api/llm-calls/", lambda c: 200),
    Endpoint("usage", "get", "/api/llm-calls/usage/?task={task}", lambda c: 200),
    Endpoint(
        "shares-list",
        "get",
        "/api/tasks/{task}/shares/",
        _by_visibility(200, allowed=MANAGES_SHARES),
    ),
    Endpoint(
        "share",
        "post",
        "/api/tasks/{task}/shares/",
        _by_visibility(201, allowed=MANAGES_SHARES),
        {"username": "other", "permission": "view"},
    ),
    Endpoint(
        "unshare",
        "delete",
        "/api/tasks/{task}/shares/viewer_shared/",
        _by_visibility(204, allowed=MANAGES_SHARES),
    ),
    Endpoint("audit", "get", "/api/audit/", lambda c: 200 if c in {"admin", "operator"} else 403),
)


def _users() -> dict[str, Any]:
    users = {name: user_ensure(username=name, role=role) for name, role in ROLE_OF.items()}
    users["owner"] = user_ensure(username="owner", role="user")
    return users


def _snapshot() -> tuple[Any, ...]:
    return (
        sorted(ToolCall.objects.values_list("id", "status", "decision")),
        sorted(TaskUserObjectPermission.objects.values_list("user_id", "permission_id")),
        sorted(ApiKey.objects.values_list("id", "revoked_at")),
    )


async def _world(rpc: Any, users: dict[str, Any], site: Any) -> World:
    api_key, owner_key = await sync_to_async(api_key_create)(user=users["owner"], name="own")
    site.gets.clear()  # an earlier endpoint may have approved (and run) a fetch
    task, call = await pending_approval(rpc, owner_key, site)
    owner = users["owner"]
    await sync_to_async(task_share_set)(
        user=owner, task_id=task["id"], username="viewer_shared", permission="view"
    )
    await sync_to_async(task_share_set)(
        user=owner, task_id=task["id"], username="approver_shared", permission="approve"
    )
    return World(task=task["id"], call=call, owner_key_id=str(api_key.id))


@pytest.mark.parametrize("credential_kind", ["api_key", "jwt"])
@pytest.mark.parametrize("caller", CALLERS)
async def test_every_management_endpoint(rpc, site, caller, credential_kind):
    users = await sync_to_async(_users)()
    client = AsyncClient()
    mismatches = []
    for endpoint in ENDPOINTS:
        # A fresh task, call and key per endpoint: a decision or revocation must not leak.
        world = await _world(rpc, users, site)
        headers: dict[str, str] = {}
        if caller != "anonymous":
            make = make_key if credential_kind == "api_key" else make_access_token
            headers["Authorization"] = f"Bearer {await sync_to_async(make)(users[caller])}"
        before = await sync_to_async(_snapshot)()
        path = endpoint.path.format(**vars(world))
        kwargs: dict[str, Any] = {"headers": headers}
        if endpoint.method == "post":
            # The API takes JSON bodies only; a POST without one sends an empty JSON body.
            body = json.dumps(endpoint.body) if endpoint.body is not None else ""
            kwargs.update(data=body, content_type="application/json")
        response = await getattr(client, endpoint.method)(path, **kwargs)
        want = 401 if caller == "anonymous" and not endpoint.public else endpoint.expect(caller)
        if response.status_code != want:
            mismatches.append(
                f"{endpoint.name}: expected {want}, got {response.status_code} "
                f"{response.content[:160]!r}"
            )
        elif want >= 400 and await sync_to_async(_snapshot)() != before:
            mismatches.append(f"{endpoint.name}: refused ({want}) but something changed")
        if endpoint.name == "tool-calls" and want == 200:
            listed = {row["id"] for row in response.json()["results"]}
            if (world.call in listed) != (caller in SEES):
                mismatches.append(f"tool-calls: the owner's call listed={world.call in listed}")
    assert not mismatches, "\n".join(mismatches)

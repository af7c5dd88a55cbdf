"""/api/tools/: the authorization matrix of every endpoint (anonymous, each role; API key and
JWT), and that a refused request changes nothing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from accounts.services import user_ensure
from audit.models import AuditEvent
from tests.admin_people import make_staff, signed_in
from tests.factories import make_access_token, make_key
from tests.matrix import Endpoint, only
from tests.tools.mcp_fixtures import STDIO_ARGS, STDIO_COMMAND
from tools.models import SourceKind, ToolPolicy, ToolSource, ToolVersion, VersionState

pytestmark = pytest.mark.django_db

ROLES = ("viewer", "user", "approver", "operator", "admin")
CALLERS = ("anonymous", *ROLES)
MANAGERS = {"operator", "admin"}


def _manages(ok: int) -> Callable[[str], int]:
    return only(MANAGERS, ok)


STDIO = {"kind": "mcp_stdio", "command": STDIO_COMMAND, "args": STDIO_ARGS}
ENDPOINTS = (
    Endpoint("catalogue", "get", "/api/tools/", lambda c: 200),
    Endpoint("tool", "get", "/api/tools/local__add/", lambda c: 200),
    Endpoint("builtin", "get", "/api/tools/echo/", lambda c: 200),
    Endpoint("missing", "get", "/api/tools/nope/", lambda c: 404),
    Endpoint("register", "post", "/api/tools/", _manages(201), {"name": "new", **STDIO}),
    Endpoint("enable", "post", "/api/tools/local__add/enable/", _manages(200)),
    Endpoint("disable", "post", "/api/tools/echo/disable/", _manages(200)),
    Endpoint("policy", "post", "/api/tools/echo/policy/", _manages(200), {"approval": "always"}),
    Endpoint("pin", "post", "/api/tools/local__add/pin/", _manages(200), {"version": 1}),
    Endpoint("sources", "get", "/api/tools/sources/", _manages(200)),
    Endpoint("source", "get", "/api/tools/sources/{source}/", _manages(200)),
    Endpoint(
        "source-patch", "patch", "/api/tools/sources/{source}/", _manages(200), {"enabled": False}
    ),
    Endpoint("refresh", "post", "/api/tools/sources/{source}/refresh/", _manages(200)),
    Endpoint("publish", "post", "/api/tools/versions/{draft}/publish/", _manages(200)),
    Endpoint("deprecate", "post", "/api/tools/versions/{active}/deprecate/", _manages(200)),
    Endpoint("retire", "post", "/api/tools/versions/{active}/retire/", _manages(200)),
)


def _world(owner: Any) -> dict[str, str]:
    """A stdio source with an active and a draft version of local__add (no discovery)."""
    ToolPolicy.objects.all().delete()
    ToolVersion.objects.all().delete()
    ToolSource.objects.all().delete()
    source = ToolSource.objects.create(
        name="local",
        kind=SourceKind.MCP_STDIO,
        command=STDIO_COMMAND,
        args=STDIO_ARGS,
        created_by=owner,
    )
    common = {"source": source, "tool_name": "add", "offered_name": "local__add"}
    active = ToolVersion.objects.create(
        **common,
        number=1,
        description="Add two integers.",
        input_schema={"type": "object"},
        annotations={"readOnlyHint": True},
        state=VersionState.ACTIVE,
    )
    draft = ToolVersion.objects.create(
        **common,
        number=2,
        description="Adds.",
        input_schema={"type": "object"},
        state=VersionState.DRAFT,
    )
    return {"source": str(source.pk), "active": str(active.pk), "draft": str(draft.pk)}


def _snapshot() -> list[Any]:
    return [
        sorted(ToolSource.objects.values_list("name", "enabled", "refreshed_at")),
        sorted(ToolVersion.objects.values_list("offered_name", "number", "state")),
        sorted(ToolPolicy.objects.values_list("name", "enabled", "approval", "pinned_version")),
    ]


@pytest.mark.parametrize("credential_kind", ["api_key", "jwt"])
def test_every_tools_endpoint(credential_kind):
    users = {role: user_ensure(username=role, role=role) for role in ROLES}
    tokens = {
        role: (make_key if credential_kind == "api_key" else make_access_token)(user)
        for role, user in users.items()
    }
    mismatches = []
    for caller in CALLERS:
        client = Client()
        headers = {} if caller == "anonymous" else {"Authorization": f"Bearer {tokens[caller]}"}
        for endpoint in ENDPOINTS:
            world = _world(users["admin"])
            before = _snapshot()
            kwargs: dict[str, Any] = {"headers": headers}
            if endpoint.method in ("post", "patch"):
                body = json.dumps(endpoint.body) if endpoint.body else ""
                kwargs.update(data=body, content_type="application/json")
            response = getattr(client, endpoint.method)(endpoint.path.format(**world), **kwargs)
            want = 401 if caller == "anonymous" else endpoint.expect(caller)
            if response.status_code != want:
                mismatches.append(
                    f"{caller} {endpoint.name}: expected {want}, got {response.status_code} "
                    f"{response.content[:160]!r}"
                )
            elif want >= 400 and _snapshot() != before:
                mismatches.append(f"{caller} {endpoint.name}: refused ({want}) but changed")
            elif want < 400 and endpoint.method != "get" and _snapshot() == before:
                mismatches.append(f"{caller} {endpoint.name}: allowed but nothing changed")
    assert not mismatches, "\n".join(mismatches)


def test_headers_are_write_only(settings):
    admin = user_ensure(username="root", role="admin")
    client = Client(headers={"Authorization": f"Bearer {make_key(admin)}"})
    world = _world(admin)
    secret = "Bearer s3cret-never-returned"
    response = client.patch(
        f"/api/tools/sources/{world['source']}/",
        {"headers": {"Authorization": secret}},
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["headers_set"] is True
    assert secret.encode() not in response.content
    stored = ToolSource.objects.get(pk=world["source"]).headers_sealed
    assert stored.startswith("fernet:")
    assert "s3cret" not in stored


def test_the_admin_shows_sources_and_moves_versions_through_the_services():
    admin = make_staff("boss", "admin", superuser=True)
    world = _world(admin)
    client = signed_in(admin)
    for path in (
        "/admin/tools/toolsource/",
        f"/admin/tools/toolsource/{world['source']}/change/",
        "/admin/tools/toolversion/",
        f"/admin/tools/toolversion/{world['active']}/change/",
        "/admin/tools/toolpolicy/",
    ):
        assert client.get(path).status_code == 200, path
    response = client.post(
        "/admin/tools/toolversion/",
        {"action": "retire", "_selected_action": [world["active"]]},
    )
    assert response.status_code == 302
    assert ToolVersion.objects.get(pk=world["active"]).state == VersionState.RETIRED
    assert AuditEvent.objects.filter(action="toolversion.state", actor=admin).count() == 1


def test_a_malformed_id_is_a_404():
    admin = user_ensure(username="root", role="admin")
    client = Client(headers={"Authorization": f"Bearer {make_key(admin)}"})
    assert client.get("/api/tools/sources/null,null/").status_code == 404
    assert client.post("/api/tools/versions/x/retire/").status_code == 404

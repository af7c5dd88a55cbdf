"""The site's own pages (config/views.py): the landing page, the API's index, Swagger UI and
Redoc. What they show, that they load nothing from another origin, and who may see them."""

from __future__ import annotations

import json
import re
from html.parser import HTMLParser
from typing import Any

import httpx
import pytest
from django.conf import settings
from django.test import Client
from django.urls import resolve

from a2a.card import WEBCAP_VERSION
from accounts.roles import ROLES
from accounts.services import user_ensure
from common.security import PAGE_POLICY
from tests.admin_people import make_staff, signed_in
from tests.factories import make_access_token, make_key
from tests.live.server import LiveServer

pytestmark = pytest.mark.django_db

PAGES = ("/", "/api/docs/", "/api/redoc/")


class _Page(HTMLParser):
    """The URLs a page loads or links to, and the bodies of its script elements."""

    def __init__(self) -> None:
        super().__init__()
        self.loads: list[str] = []
        self.links: list[str] = []
        self.scripts: list[dict[str, str | None]] = []
        self.inline: list[str] = []
        self._in_script = False

    @classmethod
    def of(cls, html: str) -> _Page:
        page = cls()
        page.feed(html)
        return page

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "script":
            self.scripts.append(found)
            self._in_script = True
        if tag in ("script", "img") and found.get("src"):
            self.loads.append(str(found["src"]))
        if tag == "link" and found.get("href"):
            self.loads.append(str(found["href"]))
        if tag == "a" and found.get("href"):
            self.links.append(str(found["href"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)


def _parsed(response: Any) -> _Page:
    return _Page.of(response.content.decode())


def _static(client: Client, url: str) -> tuple[int, bytes]:
    # common/static.py answers with a plain response (the bytes read in a thread).
    response = client.get(url)
    return response.status_code, response.content


@pytest.mark.parametrize("path", PAGES)
def test_pages_load_only_local_files_and_run_no_inline_script(path):
    client = Client()
    response = client.get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response["Content-Security-Policy"] == PAGE_POLICY
    page = _parsed(response)
    assert page.loads
    assert page.inline == []
    for url in page.loads:
        if url == "data:,":  # the empty icon: no /favicon.ico request
            continue
        assert url.startswith("/"), url
        assert not url.startswith("//"), url
        status, body = _static(client, url)
        assert (url, status) == (url, 200)
        assert body


@pytest.mark.live
def test_after_collectstatic_the_pages_load_hashed_files_the_server_serves(tmp_path):
    # `make run` and the image collect the static files; WhiteNoise then serves hashed names.
    server = LiveServer(tmp_path)
    server.manage("collectstatic", "--noinput", "--verbosity", "0")
    server.start()
    try:
        for path in PAGES:
            page = httpx.get(server.url + path, timeout=10)
            assert page.status_code == 200
            assert page.headers["Content-Security-Policy"] == PAGE_POLICY
            files = [url for url in _Page.of(page.text).loads if url.startswith("/static/")]
            assert files, path
            for url in files:
                assert re.search(r"\.[0-9a-f]{12}\.(css|js|png)$", url), url
                served = httpx.get(server.url + url, timeout=10)
                assert served.status_code == 200, url
                assert served.headers["Cache-Control"] == "max-age=315360000, public, immutable"
    finally:
        server.stop()


def test_the_landing_page_says_what_the_server_is_and_links_its_pages():
    client = Client()
    response = client.get("/")
    html = response.content.decode()
    card = client.get("/.well-known/agent-card.json").json()
    assert f"<title>{card['name']}</title>" in html
    assert f"<h1>{card['name']}</h1>" in html
    assert card["description"] in html
    mode = "embedded" if settings.EMBEDDED else "production"
    assert (
        f"webcap <strong>{WEBCAP_VERSION}</strong> in <strong>{mode}</strong> mode, running the\n"
        f"<strong>{settings.WEBCAP_AGENT}</strong> agent"
    ) in html
    # Every interface of the card, with its URL as the card gives it.
    for interface in card["supportedInterfaces"]:
        assert f"<code>{interface['url']}</code> (A2A {interface['protocolVersion']})" in html
    links = _parsed(response).links
    wanted = {
        "/.well-known/agent-card.json": 200,
        "/api/docs/": 200,
        "/api/redoc/": 200,
        "/api/schema/": 200,
        "/api/": 200,
        "/health": 200,
        # Signed-in pages send an anonymous visitor to sign in.
        "/approvals/": 302,
        "/admin/": 302,
    }
    assert set(wanted) <= set(links)
    for link in links:
        if link == "#content-start":  # the admin layout's "Skip to main content"
            continue
        assert link.startswith("/"), link
        assert client.get(link).status_code == wanted.get(link, 200), link


def test_the_admins_view_site_leads_to_the_landing_page():
    client = signed_in(make_staff("root", superuser=True))
    index = client.get("/admin/").content.decode()
    assert '<a href="/">View site</a>' in index
    assert client.get("/").status_code == 200


def test_the_landing_page_refuses_writes():
    response = Client().post("/")
    assert response.status_code == 405


def test_swagger_ui_runs_its_initializer_from_a_script_of_its_own():
    client = Client()
    page = _parsed(client.get("/api/docs/"))
    sources = [script["src"] for script in page.scripts]
    assert sources[-1] == "/api/docs/?script="
    assert all(
        source and source.startswith("/static/drf_spectacular_sidecar/") for source in sources[:-1]
    )
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200
    assert script["Content-Type"] == "application/javascript"
    body = script.content.decode()
    assert 'url: "/api/schema/",' in body
    assert '"validatorUrl": null' in body


def test_redoc_reads_the_schema_and_fetches_no_web_fonts():
    html = Client().get("/api/redoc/").content.decode()
    assert '<redoc spec-url="/api/schema/"></redoc>' in html
    assert "fonts.googleapis.com" not in html
    assert "fonts.gstatic.com" not in html


def test_the_schema_names_its_version_and_accepts_either_credential():
    schema = Client().get("/api/schema/?format=json").json()
    assert schema["info"]["version"] == WEBCAP_VERSION
    # One of them, not both (one object naming both would mean "and").
    assert schema["paths"]["/api/keys/"]["get"]["security"] == [
        {"bearerAuth": []},
        {"apiKeyAuth": []},
        {"cookieAuth": []},
    ]


def test_the_api_index_points_at_the_docs_and_every_endpoint():
    response = Client().get("/api/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    index = response.json()
    assert {key: index[key] for key in ("name", "version", "docs", "redoc", "schema")} == {
        "name": "webcap management API",
        "version": WEBCAP_VERSION,
        "docs": "/api/docs/",
        "redoc": "/api/redoc/",
        "schema": "/api/schema/",
    }
    endpoints = index["endpoints"]
    assert endpoints["/api/keys/"] == ["GET", "POST"]
    assert endpoints["/api/tool-calls/{id}/approve/"] == ["POST"]
    assert endpoints["/api/tasks/{task_id}/shares/"] == ["GET", "POST"]
    # Exactly the schema's paths under /api/, each one served.
    schema = Client().get("/api/schema/?format=json").json()
    assert set(endpoints) == {path for path in schema["paths"] if path.startswith("/api/")}
    for path in endpoints:
        resolve(re.sub(r"\{\w+\}", "x", path))


# --- Who may see them ---------------------------------------------------------------------------

PUBLIC = ("/", "/api/", "/api/docs/", "/api/docs/?script=", "/api/redoc/")


def _callers() -> dict[str, tuple[Client, dict[str, str]]]:
    """Each kind of caller: a client (signed in or not) and the headers it sends."""
    callers: dict[str, tuple[Client, dict[str, str]]] = {
        "anonymous": (Client(), {}),
        "bad token": (Client(), {"Authorization": "Bearer wcp_not-a-key"}),
        "staff superuser": (signed_in(make_staff("root", superuser=True)), {}),
    }
    for role in ROLES:
        person = user_ensure(username=f"{role}-person", role=role)
        callers[f"{role} (session)"] = (signed_in(person), {})
        callers[f"{role} (API key)"] = (
            Client(),
            {"Authorization": f"Bearer {make_key(person)}"},
        )
        callers[f"{role} (JWT)"] = (
            Client(),
            {"Authorization": f"Bearer {make_access_token(person)}"},
        )
    return callers


def test_authorization_matrix_everyone_sees_what_the_schema_shows():
    # /api/schema/ is public (SPECTACULAR_SETTINGS' SERVE_PERMISSIONS): its index and its docs
    # are too, and so is the landing page. None of them shows anything of the caller.
    callers = _callers()
    anonymous = {path: Client().get(path).content for path in ("/", "/api/", "/api/redoc/")}
    mismatches = []
    for who, (client, headers) in callers.items():
        schema = client.get("/api/schema/", headers=headers).status_code
        for path in PUBLIC:
            response = client.get(path, headers=headers)
            if (response.status_code, schema) != (200, 200):
                mismatches.append(f"{who} {path}: {response.status_code}, schema {schema}")
            elif path in anonymous and response.content != anonymous[path]:
                mismatches.append(f"{who} {path}: not the page anonymous visitors get")
    assert mismatches == []


@pytest.mark.parametrize("path", PUBLIC)
def test_the_pages_refuse_writes(path):
    response = Client().post(path, data=json.dumps({}), content_type="application/json")
    assert response.status_code == 405

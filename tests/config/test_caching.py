"""Sessions, the cache and static files (WhiteNoise) in each mode."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import django
import httpx
import pytest

from tests.live.server import LiveServer, run_python, webcap_env

ADMIN_CSS = Path(django.__file__).parent / "contrib" / "admin" / "static" / "admin" / "css"
PROBE = (
    "import json, django; from django.conf import settings as s; django.setup(); "
    "print(json.dumps([s.SESSION_ENGINE, s.CACHES['default']['BACKEND'], "
    "s.STORAGES['staticfiles']['BACKEND'], s.WHITENOISE_USE_FINDERS, "
    "s.MIDDLEWARE.index('common.static.StaticFilesMiddleware') - "
    "s.MIDDLEWARE.index('django.middleware.security.SecurityMiddleware')]))"
)
YEAR = "max-age=315360000, public, immutable"


def _probe(tmp_path: Path, **env: str) -> list[object]:
    result = run_python(webcap_env(tmp_path, **env), PROBE)
    assert result.returncode == 0, result.stderr
    values: list[object] = json.loads(result.stdout)
    return values


def test_embedded_mode_keeps_sessions_in_the_database_and_the_cache_in_memory(tmp_path):
    assert _probe(tmp_path) == [
        "django.contrib.sessions.backends.db",
        "django.core.cache.backends.locmem.LocMemCache",
        "common.static.StaticFilesStorage",
        # Nothing collected yet: WhiteNoise serves the apps' folders.
        True,
        1,
    ]


def test_production_mode_reads_sessions_through_redis(tmp_path):
    values = _probe(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", DJANGO_SECRET_KEY="x" * 50)
    assert values[:3] == [
        "django.contrib.sessions.backends.cached_db",
        "django.core.cache.backends.redis.RedisCache",
        "common.static.StaticFilesStorage",
    ]


def test_debug_serves_plain_names_from_the_apps(tmp_path):
    assert _probe(tmp_path, DJANGO_DEBUG="true")[2:4] == [
        "django.contrib.staticfiles.storage.StaticFilesStorage",
        True,
    ]


def test_static_files_are_served_without_collectstatic(client, settings, tmp_path):
    # An empty STATIC_ROOT, whatever a `make run` left in var/static.
    settings.STATIC_ROOT = tmp_path
    settings.WHITENOISE_USE_FINDERS = True
    response = client.get("/static/admin/css/base.css")
    assert response.status_code == 200
    assert response.content == (ADMIN_CSS / "base.css").read_bytes()
    assert response["Content-Type"].startswith("text/css")
    # A plain name may change with the next release: a short life in caches.
    assert response["Cache-Control"] == "max-age=60, public"
    again = client.get("/static/admin/css/base.css", headers={"If-None-Match": response["ETag"]})
    assert again.status_code == 304
    assert client.get("/static/admin/css/missing.css").status_code == 404
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert b'href="/static/admin/css/base.css"' in login.content


@pytest.mark.live
def test_after_collectstatic_hashed_names_are_cached_for_a_year(tmp_path):
    server = LiveServer(tmp_path)
    server.manage("collectstatic", "--noinput", "--verbosity", "0")
    assert (tmp_path / "static" / "staticfiles.json").is_file()
    server.start()
    try:
        login = httpx.get(f"{server.url}/admin/login/", timeout=10)
        assert login.status_code == 200
        match = re.search(r'href="(/static/admin/css/base\.[0-9a-f]{12}\.css)"', login.text)
        assert match, login.text
        hashed = httpx.get(server.url + match.group(1), timeout=10)
        plain = httpx.get(f"{server.url}/static/admin/css/base.css", timeout=10)
        compressed = httpx.get(
            server.url + match.group(1), headers={"Accept-Encoding": "gzip"}, timeout=10
        )
        head = httpx.head(
            server.url + match.group(1), headers={"Accept-Encoding": "identity"}, timeout=10
        )
    finally:
        server.stop()
    # Served as plain responses: no synchronous file iterator in the ASGI handler.
    assert "synchronous iterators" not in server.log()

    collected = tmp_path / "static" / match.group(1).removeprefix("/static/")
    # The hashed copy has its url(...) references rewritten to hashed names too.
    hashed_bytes = collected.read_bytes()
    assert hashed.status_code == 200
    assert hashed.headers["Cache-Control"] == YEAR
    assert hashed.content == hashed_bytes
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == "max-age=60, public"
    assert plain.content == (ADMIN_CSS / "base.css").read_bytes()
    assert compressed.headers["Content-Encoding"] == "gzip"
    assert compressed.headers["Vary"] == "Accept-Encoding"
    # httpx decodes the body; on the wire were the bytes collectstatic compressed.
    assert compressed.content == hashed_bytes
    assert gzip.decompress(collected.with_suffix(".css.gz").read_bytes()) == hashed_bytes
    assert head.status_code == 200
    assert head.headers["Content-Length"] == str(len(hashed_bytes))
    assert head.content == b""

"""Settings from the environment, checked in fresh interpreters."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

from tests.live.server import run_manage, run_python, webcap_env

ROOT = Path(__file__).resolve().parents[2]
PROBE = (
    "import json; from django.conf import settings as s; import django; django.setup(); "
    "print(json.dumps({'key': s.SECRET_KEY, 'debug': s.DEBUG, 'embedded': s.EMBEDDED, "
    "'hosts': s.ALLOWED_HOSTS, 'db': str(s.DATABASES['default']['NAME']), "
    "'ssl': s.SECURE_SSL_REDIRECT, 'layer': s.CHANNEL_LAYERS['default']['BACKEND']}))"
)


def _settings(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return run_python(webcap_env(tmp_path, **env), PROBE)


def test_embedded_defaults_are_safe(tmp_path):
    result = _settings(tmp_path)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["debug"] is False
    assert values["embedded"] is True
    assert values["ssl"] is False
    assert values["hosts"] == ["127.0.0.1", "localhost", "[::1]"]
    assert values["db"] == str(tmp_path / "webcap.sqlite3")
    assert values["layer"] == "config.layers.EmbeddedInMemoryChannelLayer"
    key_file = tmp_path / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert key_file.read_text() == values["key"]
    # The same key on the next start.
    assert json.loads(_settings(tmp_path).stdout)["key"] == values["key"]


def test_relative_sqlite_url_is_under_the_project(tmp_path):
    result = _settings(tmp_path, DATABASE_URL="sqlite:///var/other.sqlite3")
    assert json.loads(result.stdout)["db"] == str(ROOT / "var" / "other.sqlite3")


def test_production_mode_refuses_to_start_without_a_secret_key(tmp_path):
    result = _settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0")
    assert result.returncode != 0
    assert "DJANGO_SECRET_KEY must be set in production mode" in result.stderr
    assert not (tmp_path / "secret_key").exists()
    ok = _settings(tmp_path, REDIS_URL="redis://127.0.0.1:1/0", DJANGO_SECRET_KEY="x" * 50)
    values = json.loads(ok.stdout)
    assert (values["embedded"], values["layer"]) == (False, "channels_redis.core.RedisChannelLayer")


def test_env_example_and_docs_list_every_variable_settings_read():
    source = (ROOT / "config" / "settings" / "base.py").read_text()
    read = set(re.findall(r'env(?:\.\w+)?\(\s*"([A-Z_][A-Z0-9_]*)"', source))
    listed = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (ROOT / ".env.example").read_text(), re.M))
    documented = set(
        re.findall(r"`([A-Z_][A-Z0-9_]*)`", (ROOT / "docs" / "configuration.md").read_text())
    )
    assert read, "no env reads found; the pattern is out of date"
    assert read <= listed, f"missing from .env.example: {sorted(read - listed)}"
    assert read <= documented, f"missing from docs/configuration.md: {sorted(read - documented)}"


# What docs/security.md gives as the production environment behind a TLS-terminating proxy.
PRODUCTION_ENV = {
    "REDIS_URL": "redis://127.0.0.1:1/0",
    "DATABASE_URL": "postgres://webcap:webcap@127.0.0.1:1/webcap",
    "DJANGO_SECRET_KEY": "k" * 20 + "-production-secret-key-with-enough-entropy-" + "z" * 20,
    "ALLOWED_HOSTS": "agents.example.com",
    "WEBCAP_PUBLIC_URL": "https://agents.example.com",
    "DJANGO_SECURE_SSL_REDIRECT": "true",
    "DJANGO_SECURE_PROXY_SSL_HEADER": "true",
    "DJANGO_SECURE_HSTS_SECONDS": "31536000",
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
    "DJANGO_SECURE_HSTS_PRELOAD": "true",
    "WEBCAP_MODEL": "openai/gpt-4o-mini",
}


def test_deploy_check_is_clean_with_production_settings(tmp_path):
    result = run_manage(
        webcap_env(tmp_path, **PRODUCTION_ENV),
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_cookies_are_secure_and_http_only(tmp_path):
    probe = (
        "import json, django; from django.conf import settings as s; django.setup(); "
        "print(json.dumps([s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, "
        "s.SESSION_COOKIE_HTTPONLY, s.SECURE_HSTS_SECONDS, s.SECURE_PROXY_SSL_HEADER]))"
    )
    result = run_python(webcap_env(tmp_path, **PRODUCTION_ENV), probe)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [
        True,
        True,
        True,
        31536000,
        ["HTTP_X_FORWARDED_PROTO", "https"],
    ]


def test_production_without_a_model_warns_at_start_and_in_the_checks(tmp_path):
    env = {k: v for k, v in PRODUCTION_ENV.items() if k != "WEBCAP_MODEL"}
    result = run_manage(webcap_env(tmp_path, **env), "check", timeout=120)
    # A warning, not a refusal: the offline stand-in still serves.
    assert result.returncode == 0, result.stdout + result.stderr
    assert "(webcap.W002) WEBCAP_MODEL is unset: the assistant answers with the offline" in (
        result.stderr
    )
    # The process's own log says it once at start, at WARNING.
    logged = [line for line in result.stderr.splitlines() if '"logger": "tools.apps"' in line]
    assert len(logged) == 1, result.stderr
    record = json.loads(logged[0])
    assert record["level"] == "warning"
    assert record["event"].startswith("WEBCAP_MODEL is unset")
    # make run's embedded mode uses the offline model on purpose: no word of it.
    quiet = run_manage(webcap_env(tmp_path), "check", timeout=120)
    assert quiet.returncode == 0
    assert "WEBCAP_MODEL" not in quiet.stdout + quiet.stderr


POOL_PROBE = (
    "import json, django; from django.conf import settings as s; django.setup(); "
    "from django.core.checks import run_checks; "
    "print(json.dumps({'age': s.DATABASES['default']['CONN_MAX_AGE'], "
    "'pool': s.DATABASES['default']['OPTIONS'].get('pool'), "
    "'checks': [m.id for m in run_checks() if m.id.startswith('webcap.')]}))"
)


def test_the_pool_governs_connection_lifetime_and_conn_max_age_set_beside_it_warns(tmp_path):
    pooled = webcap_env(tmp_path, **PRODUCTION_ENV, CONN_MAX_AGE="60")
    result = run_python(pooled, POOL_PROBE)
    assert result.returncode == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["age"] == 0
    assert values["pool"] == {
        "min_size": 2,
        "max_size": 10,
        "timeout": 10.0,
        "max_idle": 600.0,
        "max_lifetime": 3600.0,
    }
    assert values["checks"] == ["webcap.W003"]
    tuned = run_python(
        webcap_env(
            tmp_path,
            **PRODUCTION_ENV,
            DATABASE_POOL_MAX_IDLE="30",
            DATABASE_POOL_MAX_LIFETIME="900",
        ),
        POOL_PROBE,
    )
    values = json.loads(tuned.stdout)
    assert (values["pool"]["max_idle"], values["pool"]["max_lifetime"]) == (30.0, 900.0)
    assert values["checks"] == []
    # Without the pool (PgBouncer in front), CONN_MAX_AGE is what it says.
    unpooled = run_python(
        webcap_env(tmp_path, **PRODUCTION_ENV, DATABASE_POOL="false", CONN_MAX_AGE="60"),
        POOL_PROBE,
    )
    values = json.loads(unpooled.stdout)
    assert (values["age"], values["pool"], values["checks"]) == (60, None, [])

"""webcap settings, read from the environment.

Two modes share this file. With no environment (no ``REDIS_URL``) webcap runs embedded:
SQLite, a Celery worker inside the server process on an in-memory broker and an in-process
channel layer. With ``REDIS_URL`` (and usually ``DATABASE_URL``) it runs in production mode:
Redis for the channel layer, the cache and the broker, separate worker processes. Every name
read here is listed in ``.env.example`` and documented in ``docs/configuration.md``.
"""

from __future__ import annotations

import ipaddress
import logging
import os
import secrets
from datetime import timedelta
from pathlib import Path
from typing import Any

import django_stubs_ext
import environ
from django.core.exceptions import ImproperlyConfigured

# Lets classes such as ModelAdmin[Task] be subscripted at runtime, as the type stubs allow.
django_stubs_ext.monkeypatch()

# litellm reads its model price list from the network at import unless told to use its own copy.
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

BASE_DIR = Path(__file__).resolve().parent.parent.parent

env = environ.Env()

VAR_DIR = Path(env.str("WEBCAP_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

REDIS_URL: str = env.str("REDIS_URL", default="")
# Embedded mode is the absence of Redis: nothing outside this process is needed.
EMBEDDED: bool = not REDIS_URL

DEBUG: bool = env.bool("DJANGO_DEBUG", default=False)


def _embedded_secret_key() -> str:
    """Return the secret key kept in var/, generating it (mode 0600) on first use."""
    path = VAR_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    key = secrets.token_urlsafe(50)
    # O_EXCL: two processes starting at once must not both write a key.
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(key)
    return key


SECRET_KEY: str = env.str("DJANGO_SECRET_KEY", default="")
if not SECRET_KEY:
    if not EMBEDDED:
        raise ImproperlyConfigured(
            "DJANGO_SECRET_KEY must be set in production mode (REDIS_URL is set)."
        )
    SECRET_KEY = _embedded_secret_key()
# Earlier secret keys, still accepted while they are rotated out (signed values, and the
# remote agents' stored credentials: common/sealing.py).
SECRET_KEY_FALLBACKS: list[str] = env.list("DJANGO_SECRET_KEY_FALLBACKS", default=[])

ALLOWED_HOSTS: list[str] = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])

INSTALLED_APPS = [
    # daphne first: its runserver replaces Django's, serving ASGI with websockets.
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    # Swagger UI and Redoc as static files (/api/docs/, /api/redoc/): no CDN.
    "drf_spectacular_sidecar",
    "guardian",
    "channels",
    "common",
    "accounts",
    "a2a",
    "tools",
    "assistant",
    "remote_agents",
    "audit",
    "observability",
    # Request, response and latency metrics per view (webcap serves /metrics itself).
    "django_prometheus",
]

MIDDLEWARE = [
    # First and last (django-prometheus): every request is counted and timed, whole.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # Outside everything else: every answer, a probe's or a 413 too, gets the security
    # headers and a Content-Security-Policy (common/security.py).
    "common.security.SecurityHeadersMiddleware",
    # /health/live and /health/ready answered before host validation, the HTTPS redirect and
    # the request log: probes come to the pod's address, over plain HTTP, every few seconds.
    "observability.health.HealthProbeMiddleware",
    # Next: every later layer (and every log record and audit row) sees the request id.
    "common.request_context.RequestContextMiddleware",
    # request_finished / streaming_* records, under the request id bound just above
    # (common/logging.py makes django-structlog use that id instead of one of its own).
    "django_structlog.middlewares.RequestMiddleware",
    # A view's lost database is a 503 with Retry-After, not a 500 (common/database.py).
    "common.database.DatabaseUnavailableMiddleware",
    # A NUL in the path or query string: 400 before any view compares it with text.
    "common.security.NulCharacterMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Right after the security headers: a static file is answered before sessions, auth, etc.
    "common.static.StaticFilesMiddleware",
    "corsheaders.middleware.CorsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last: django-prometheus's per-view metrics, and this process's memory and CPU gauges.
    "common.metrics.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
ASGI_APPLICATION = "config.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]


# psycopg 3's connection pool for PostgreSQL (on by default).
DATABASE_POOL: bool = env.bool("DATABASE_POOL", default=True)
# Seconds Django keeps a PostgreSQL connection between requests: only with DATABASE_POOL=false.
CONN_MAX_AGE: int = env.int("CONN_MAX_AGE", default=0)


SQLITE_ENGINE = "common.sqlite"


def _database() -> dict[str, Any]:
    """Build the default database from DATABASE_URL (SQLite in var/ when unset)."""
    config: dict[str, Any] = env.db_url(
        "DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'webcap.sqlite3'}"
    )
    if config["ENGINE"] == "django.db.backends.sqlite3":
        name = Path(config["NAME"])
        if not name.is_absolute() and str(name) != ":memory:":
            config["NAME"] = str(BASE_DIR / name)
        # IMMEDIATE takes the write lock at BEGIN, so web and worker threads queue for it
        # instead of failing with "database is locked" on a lock upgrade; WAL lets readers
        # run beside the one writer.
        # The stock backend with this process's writers queued in a lock that wakes the next
        # one at once, instead of SQLite's busy loop that sleeps on a schedule (common/sqlite).
        config["ENGINE"] = SQLITE_ENGINE
        config["OPTIONS"] = {
            "transaction_mode": "IMMEDIATE",
            "timeout": env.int("WEBCAP_SQLITE_TIMEOUT", default=20),
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        }
    else:
        config["CONN_HEALTH_CHECKS"] = True
        options = config.setdefault("OPTIONS", {})
        options.setdefault("connect_timeout", env.int("DATABASE_CONNECT_TIMEOUT", default=5))
        statement_timeout = env.int("DATABASE_STATEMENT_TIMEOUT_MS", default=0)
        if statement_timeout > 0:
            options["options"] = f"-c statement_timeout={statement_timeout}"
        if config["ENGINE"] == "django.db.backends.postgresql" and DATABASE_POOL:
            # psycopg 3's pool keeps connections open itself and Django requires
            # CONN_MAX_AGE=0 with it: the pool's sizes, idle time and lifetime govern how long a
            # process holds a connection (common/checks.py warns when CONN_MAX_AGE is set too).
            config["CONN_MAX_AGE"] = 0
            options["pool"] = {
                "min_size": env.int("DATABASE_POOL_MIN_SIZE", default=2),
                "max_size": env.int("DATABASE_POOL_MAX_SIZE", default=10),
                "timeout": env.float("DATABASE_POOL_TIMEOUT", default=10.0),
                "max_idle": env.float("DATABASE_POOL_MAX_IDLE", default=600.0),
                "max_lifetime": env.float("DATABASE_POOL_MAX_LIFETIME", default=3600.0),
            }
        else:
            config["CONN_MAX_AGE"] = CONN_MAX_AGE
    return config


DATABASES = {"default": _database()}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_USER_MODEL = "accounts.User"
# guardian's backend answers user.has_perm(perm, task) from the object permissions.
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# No anonymous user row: anonymous callers are refused (or mapped to the public agent user).
ANONYMOUS_USER_NAME = None
GUARDIAN_MONKEY_PATCH_USER = False
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/approvals/"
LOGOUT_REDIRECT_URL = "/accounts/login/"

STATIC_URL = "static/"
STATIC_ROOT = VAR_DIR / "static"
# WhiteNoise (common/static.py) warns about a missing folder; collectstatic fills it.
STATIC_ROOT.mkdir(exist_ok=True)
# Until collectstatic has run (a checkout, the test suite, the live-test servers), WhiteNoise
# serves the apps' static folders directly (found at start) under their plain names.
WHITENOISE_USE_FINDERS: bool = DEBUG or not (STATIC_ROOT / "staticfiles.json").is_file()

# --- Files: static files, artifact files ---------------------------------------------------------
# Artifact files (the file parts agents produce) go to the "artifacts" storage: a local folder
# by default, an S3-compatible bucket through django-storages when AWS_STORAGE_BUCKET_NAME is
# set (credentials: AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY, read by boto3 itself).
ARTIFACTS_DIR = Path(env.str("WEBCAP_ARTIFACTS_DIR", default=str(VAR_DIR / "artifacts")))
AWS_STORAGE_BUCKET_NAME: str = env.str("AWS_STORAGE_BUCKET_NAME", default="")


def _artifact_storage() -> dict[str, Any]:
    if not AWS_STORAGE_BUCKET_NAME:
        return {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": str(ARTIFACTS_DIR), "base_url": None},
        }
    return {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": AWS_STORAGE_BUCKET_NAME,
            "endpoint_url": env.str("AWS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("AWS_S3_REGION_NAME", default="") or None,
            "location": env.str("AWS_LOCATION", default="artifacts"),
            "addressing_style": env.str("AWS_S3_ADDRESSING_STYLE", default="") or None,
            # Names are unique per file; an existing object is never replaced.
            "file_overwrite": False,
            "default_acl": None,
            "querystring_auth": True,
            "querystring_expire": env.int("AWS_QUERYSTRING_EXPIRE", default=300),
        },
    }


STORAGES: dict[str, dict[str, Any]] = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        # Hashed, compressed names once collectstatic has written its manifest (the image
        # build, `make run`): browsers and proxies keep those files for a year.
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "common.static.StaticFilesStorage"
    },
    "artifacts": _artifact_storage(),
}
# Delete the files of tasks that ended more than this many days ago (0 keeps them forever).
ARTIFACT_RETENTION_DAYS: int = env.int("ARTIFACT_RETENTION_DAYS", default=90)
# Serve downloads by redirecting to a short-lived signed bucket URL instead of streaming the
# bytes through webcap (only for storages that can sign URLs, i.e. S3).
WEBCAP_ARTIFACT_DOWNLOAD_REDIRECT: bool = env.bool(
    "WEBCAP_ARTIFACT_DOWNLOAD_REDIRECT", default=False
)

# --- Security -------------------------------------------------------------------------------
# Behind a TLS-terminating proxy, set DJANGO_SECURE_PROXY_SSL_HEADER=true so request.is_secure()
# trusts X-Forwarded-Proto; the redirect itself stays off unless asked for.
SECURE_SSL_REDIRECT: bool = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=False)
if env.bool("DJANGO_SECURE_PROXY_SSL_HEADER", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SESSION_COOKIE_SECURE: bool = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG and not EMBEDDED)
CSRF_COOKIE_SECURE: bool = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS: int = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS: bool = env.bool(
    "DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=False
)
SECURE_HSTS_PRELOAD: bool = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=False)
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
CSRF_TRUSTED_ORIGINS: list[str] = env.list("CSRF_TRUSTED_ORIGINS", default=[])

# How many reverse proxies in front of webcap append to X-Forwarded-For. 0: the client address
# is the socket peer and X-Forwarded-For is ignored (anyone can send it). N: the Nth address
# from the right, the one the outermost trusted proxy saw.
NUM_PROXIES: int = env.int("NUM_PROXIES", default=0)

# --- Metrics (/metrics) ---------------------------------------------------------------------
# With METRICS_TOKEN set, scrapers must send "Authorization: Bearer <token>"; with
# METRICS_ALLOWED_IPS (addresses and CIDRs, comma-separated), other client addresses (as
# NUM_PROXIES finds them) get 403. Neither set: /metrics is public (a warning in production).
METRICS_TOKEN: str = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS: list[str] = env.list("METRICS_ALLOWED_IPS", default=[])
for _network in METRICS_ALLOWED_IPS:
    try:
        ipaddress.ip_network(_network.strip(), strict=False)
    except ValueError:
        raise ImproperlyConfigured(
            f"METRICS_ALLOWED_IPS: {_network!r} is not an IP address or CIDR network."
        ) from None
# A folder shared by the web and worker processes of one host, emptied before they start:
# prometheus_client reads it from the environment itself; /metrics then adds up every
# process's values. Unset: each process serves its own values.
PROMETHEUS_MULTIPROC_DIR: str = env.str("PROMETHEUS_MULTIPROC_DIR", default="")
if PROMETHEUS_MULTIPROC_DIR:
    # prometheus_client opens a file there as each metric without labels is defined, at
    # import: any process (a migrate before metrics_dir_reset, too) needs the folder first.
    Path(PROMETHEUS_MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)
# A Celery worker on a host of its own (a container or pod) serves its processes' metrics on
# this port (0: off; web processes on the same host already aggregate them).
METRICS_WORKER_PORT: int = env.int("METRICS_WORKER_PORT", default=0)

# --- Health probes (/health/live, /health/ready, /health) ----------------------------------------
# Seconds each readiness check (database, cache, channel layer, broker, migrations, storage)
# may take; they run at once, so a probe answers within about this long.
HEALTH_CHECK_TIMEOUT: float = env.float("HEALTH_CHECK_TIMEOUT", default=2.0)
if not 0 < HEALTH_CHECK_TIMEOUT <= 60:
    raise ImproperlyConfigured("HEALTH_CHECK_TIMEOUT must be more than 0 and at most 60 seconds.")

# Browser origins allowed to call the API cross-origin (django-cors-headers) and to open the
# A2A WebSocket. Non-browser clients send no Origin header and authenticate with a header.
CORS_ALLOWED_ORIGINS: list[str] = env.list("CORS_ALLOWED_ORIGINS", default=[])
CORS_ALLOW_HEADERS = (
    "accept",
    "authorization",
    "content-type",
    "a2a-version",
    "a2a-extensions",
    "last-event-id",
    "x-api-key",
    "x-request-id",
)
CORS_EXPOSE_HEADERS = ("x-request-id", "retry-after", "a2a-version")
# The agent card sets its own "Access-Control-Allow-Origin: *": it is public.
CORS_URLS_REGEX = r"^/(a2a/|api/|capnweb$).*$"

# --- Sign-in tokens (SimpleJWT) -----------------------------------------------------------------
JWT_ACCESS_MINUTES: int = env.int("JWT_ACCESS_MINUTES", default=5)
JWT_REFRESH_HOURS: int = env.int("JWT_REFRESH_HOURS", default=24)
# Defaults to DJANGO_SECRET_KEY; set it to rotate token signing apart from the secret key.
JWT_SIGNING_KEY: str = env.str("JWT_SIGNING_KEY", default="") or SECRET_KEY
JWT_ISSUER: str = env.str("JWT_ISSUER", default="webcap")
JWT_AUDIENCE: str = env.str("JWT_AUDIENCE", default="webcap")

# --- External identity provider (OpenID Connect), optional ------------------------------------
# Set OIDC_ISSUER and OIDC_AUDIENCE to accept the provider's access tokens (RS256/ES256, keys
# from its JWKS). The JWKS URL is discovered from the issuer unless OIDC_JWKS_URL is set.
OIDC_ISSUER: str = env.str("OIDC_ISSUER", default="").rstrip("/")
OIDC_AUDIENCE: str = env.str("OIDC_AUDIENCE", default="")
OIDC_JWKS_URL: str = env.str("OIDC_JWKS_URL", default="")
OIDC_ALGORITHMS: list[str] = env.list("OIDC_ALGORITHMS", default=["RS256", "ES256"])
# The claim that names the local user (created on first sign-in with the "user" role).
OIDC_USERNAME_CLAIM: str = env.str("OIDC_USERNAME_CLAIM", default="sub")
OIDC_JWKS_CACHE_SECONDS: int = env.int("OIDC_JWKS_CACHE_SECONDS", default=300)
# At most one key-set refetch per this many seconds for tokens naming an unknown key id.
OIDC_JWKS_REFETCH_SECONDS: float = env.float("OIDC_JWKS_REFETCH_SECONDS", default=30.0)
OIDC_TIMEOUT: float = env.float("OIDC_TIMEOUT", default=5.0)

# --- Limits -----------------------------------------------------------------------------------
# Requests per window (seconds) on the A2A operations, per user and per API key; 0: no limit.
WEBCAP_RATE_LIMIT_WINDOW: int = env.int("WEBCAP_RATE_LIMIT_WINDOW", default=60)
WEBCAP_RATE_LIMIT_USER: int = env.int("WEBCAP_RATE_LIMIT_USER", default=600)
WEBCAP_RATE_LIMIT_KEY: int = env.int("WEBCAP_RATE_LIMIT_KEY", default=300)
# Sign-in attempts per window on /api/auth/token/, per client address and per username.
WEBCAP_RATE_LIMIT_TOKEN_IP: int = env.int("WEBCAP_RATE_LIMIT_TOKEN_IP", default=30)
WEBCAP_RATE_LIMIT_TOKEN_USER: int = env.int("WEBCAP_RATE_LIMIT_TOKEN_USER", default=10)
# Model tokens (prompt + completion) one user may spend per UTC day; 0: no budget.
WEBCAP_LLM_TOKENS_PER_DAY: int = env.int("WEBCAP_LLM_TOKENS_PER_DAY", default=2_000_000)
# Largest page of any list (ListTasks, management API).
WEBCAP_MAX_PAGE_SIZE: int = env.int("WEBCAP_MAX_PAGE_SIZE", default=100)
# Shape limits of every incoming message (A2A Message, parts, metadata).
WEBCAP_MAX_PARTS: int = env.int("WEBCAP_MAX_PARTS", default=64)
WEBCAP_MAX_TEXT_CHARS: int = env.int("WEBCAP_MAX_TEXT_CHARS", default=1_000_000)
WEBCAP_MAX_FILE_BYTES: int = env.int("WEBCAP_MAX_FILE_BYTES", default=8 * 1024 * 1024)
WEBCAP_MAX_METADATA_BYTES: int = env.int("WEBCAP_MAX_METADATA_BYTES", default=16 * 1024)
WEBCAP_MAX_METADATA_DEPTH: int = env.int("WEBCAP_MAX_METADATA_DEPTH", default=8)
# Entries of the lists a request carries (acceptedOutputModes, extensions, referenceTaskIds).
WEBCAP_MAX_LIST_ITEMS: int = env.int("WEBCAP_MAX_LIST_ITEMS", default=64)
# Seconds a WebSocket ticket from POST /api/auth/ws-ticket/ stays valid (it works once).
WEBCAP_WS_TICKET_SECONDS: int = env.int("WEBCAP_WS_TICKET_SECONDS", default=30)
# Threads each web process runs the A2A bindings' database work on (a2a/asgi.py); each keeps
# one database connection (with PostgreSQL, one of the pool's DATABASE_POOL_MAX_SIZE).
WEBCAP_DB_THREADS: int = env.int("WEBCAP_DB_THREADS", default=4)
# Seconds each process keeps an API key (with its user) or a token's user after a lookup: a
# revoked key or a deactivated user is refused everywhere within this time (0: no cache).
WEBCAP_CREDENTIAL_CACHE_SECONDS: float = env.float("WEBCAP_CREDENTIAL_CACHE_SECONDS", default=5.0)

# --- Audit log --------------------------------------------------------------------------------
# Audit events older than this many days are deleted by the daily purge; 0: kept forever.
AUDIT_RETENTION_DAYS: int = env.int("AUDIT_RETENTION_DAYS", default=365)

# --- Remote agents (remote_agents/, docs/multi-agent.md) ---------------------------------------
# Hosts (or host:port) a remote agent's card and interfaces may use although they are loopback
# or private: for local testing and trusted internal agents only.
WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS: list[str] = env.list(
    "WEBCAP_REMOTE_AGENT_ALLOWED_HOSTS", default=[]
)
# How often beat looks for cards due for a refresh, and how long a card without a
# Cache-Control max-age is used before it is fetched again, in seconds.
WEBCAP_REMOTE_AGENT_REFRESH_SECONDS: float = env.float(
    "WEBCAP_REMOTE_AGENT_REFRESH_SECONDS", default=300.0
)

# --- Tool sources (tools/sources/, docs/tools.md "Tool sources (MCP servers)") ----------------
# Hosts (or host:port) an MCP server's URL may use although they are loopback or private: for
# local testing and trusted internal servers only.
WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS: list[str] = env.list(
    "WEBCAP_TOOL_SOURCE_ALLOWED_HOSTS", default=[]
)
# Seconds one call of a source's tool, and one listing of a server's tools, may take.
WEBCAP_TOOL_SOURCE_CALL_TIMEOUT: float = env.float("WEBCAP_TOOL_SOURCE_CALL_TIMEOUT", default=30.0)
WEBCAP_TOOL_SOURCE_LIST_TIMEOUT: float = env.float("WEBCAP_TOOL_SOURCE_LIST_TIMEOUT", default=15.0)
# Whether a changed tool definition found on refresh is active at once (else a draft that an
# admin publishes).
WEBCAP_TOOL_SOURCE_AUTOPUBLISH: bool = env.bool("WEBCAP_TOOL_SOURCE_AUTOPUBLISH", default=True)
# How often beat lists every enabled source's tools again, in seconds.
WEBCAP_TOOL_SOURCE_REFRESH_SECONDS: float = env.float(
    "WEBCAP_TOOL_SOURCE_REFRESH_SECONDS", default=600.0
)
# How often a process looks at the registry version in the cache (a change elsewhere reaches
# it within this many seconds).
WEBCAP_TOOL_REGISTRY_CHECK_SECONDS: float = env.float(
    "WEBCAP_TOOL_REGISTRY_CHECK_SECONDS", default=1.0
)

# --- Channels and Celery ----------------------------------------------------------------------
CELERY_BROKER_URL: str = env.str("CELERY_BROKER_URL", default=REDIS_URL or "memory://localhost/")
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_ALWAYS_EAGER = False
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Periodic jobs, run by `celery beat` in production (the Procfile's beat process).
CELERY_BEAT_SCHEDULE = {
    "push-deliveries-sweep": {"task": "a2a.jobs.push_deliveries_sweep_job", "schedule": 60.0},
    "audit-purge": {"task": "audit.jobs.audit_purge_job", "schedule": 24 * 3600.0},
    "artifact-files-purge": {"task": "a2a.jobs.artifact_files_purge_job", "schedule": 3600.0},
    # The worker-down alert watches the time a worker last ran this (observability/heartbeat.py).
    # Expires: a stopped worker does not come back to a pile of stale heartbeats.
    "worker-heartbeat": {
        "task": "a2a.jobs.worker_heartbeat_job",
        "schedule": 15.0,
        "options": {"expires": 15.0},
    },
    "remote-agents-refresh": {
        "task": "remote_agents.jobs.remote_agents_refresh_job",
        "schedule": WEBCAP_REMOTE_AGENT_REFRESH_SECONDS,
        "options": {"expires": WEBCAP_REMOTE_AGENT_REFRESH_SECONDS},
    },
    "tool-sources-refresh": {
        "task": "tools.jobs.tool_sources_refresh_job",
        "schedule": WEBCAP_TOOL_SOURCE_REFRESH_SECONDS,
        "options": {"expires": WEBCAP_TOOL_SOURCE_REFRESH_SECONDS},
    },
    "tasks-orphaned-sweep": {
        "task": "a2a.jobs.tasks_orphaned_sweep_job",
        "schedule": env.float("WEBCAP_ORPHAN_SWEEP_SECONDS", default=10.0),
    },
}
# A task still submitted this many seconds after it was sent has lost its job: run it again.
WEBCAP_ORPHAN_SUBMITTED_SECONDS: float = env.float("WEBCAP_ORPHAN_SUBMITTED_SECONDS", default=120)

CHANNEL_LAYERS: dict[str, dict[str, Any]]
if EMBEDDED:
    CHANNEL_LAYERS = {"default": {"BACKEND": "config.layers.EmbeddedInMemoryChannelLayer"}}
    # memory:// polls once a second by default: 10 ms brings the first event from ~0.5 s to
    # ~10 ms for about 0.5 % of one idle core.
    CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, Any] = {"polling_interval": 0.01}
    CELERY_WORKER_POOL = "threads"
    CELERY_WORKER_CONCURRENCY = env.int("WEBCAP_EMBEDDED_WORKERS", default=16)
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        # State `manage.py tool enable` changes in the running server: a file, because the
        # command is another process (tools.packages.PACKAGES_ENABLED_KEY).
        "tools": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache" / "tools"),
        },
    }
else:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {"hosts": [REDIS_URL], "capacity": 1000, "expiry": 60},
        }
    }
    # The visibility timeout must outlive the longest job step, or Redis hands a running
    # job to a second worker.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
    }
    CELERY_WORKER_CONCURRENCY = env.int("CELERY_WORKER_CONCURRENCY", default=4)
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.redis.RedisCache",
            "LOCATION": REDIS_URL,
        },
        "tools": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL},
    }
    # Sessions (the admin, the approval page) are read from Redis and written through to the
    # database, so a Redis restart signs nobody out.
    SESSION_ENGINE = "django.contrib.sessions.backends.cached_db"

# --- Django REST framework --------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.WebcapAuthentication",
        # The approval page's browser session also reaches the API (with CSRF checks).
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "EXCEPTION_HANDLER": "common.drf.drf_exception_handler",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # JSON bodies only (anything else is a 415). The schema then documents only JSON, and no
    # client meets the ASGI server's own bare 400 for a malformed multipart body.
    "DEFAULT_PARSER_CLASSES": ["common.drf.JSONBodyParser"],
    "DEFAULT_SCHEMA_CLASS": "common.openapi.WebcapAutoSchema",
    "UNAUTHENTICATED_USER": None,
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=JWT_ACCESS_MINUTES),
    "REFRESH_TOKEN_LIFETIME": timedelta(hours=JWT_REFRESH_HOURS),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    # Pinned: a token naming another algorithm (or "none") is refused.
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY,
    "AUDIENCE": JWT_AUDIENCE,
    "ISSUER": JWT_ISSUER,
    "LEEWAY": 5,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
}

SPECTACULAR_SETTINGS = {
    "TITLE": "webcap management API",
    "DESCRIPTION": "Tasks, tool calls, API keys, audit events. The A2A bindings are described "
    "by the agent card at /.well-known/agent-card.json.",
    "SERVE_INCLUDE_SCHEMA": False,
    # The description of the API is public; every endpoint it describes needs credentials.
    # The same for /api/, /api/docs/ and /api/redoc/ (config/views.py).
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    # Swagger UI and Redoc from drf-spectacular-sidecar's static files, not a CDN.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # No badge fetched from the online validator: the pages reach no other origin.
    "SWAGGER_UI_SETTINGS": {"validatorUrl": None},
    # Requests and responses of one serializer as two components: what a request must send
    # (no blank name) differs from what a response may hold.
    "COMPONENT_SPLIT_REQUEST": True,
    # The enums as components (drf-spectacular's default), then what JSON Schema must say
    # for the schema to agree with validation (common/openapi.py).
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "common.openapi.postprocess_strings",
    ],
}

# --- webcap -----------------------------------------------------------------------------------
# The agent that runs tasks: the LLM "assistant" (with tools), "echo" or "conformance".
WEBCAP_AGENT: str = env.str("WEBCAP_AGENT", default="assistant")

# --- The model (assistant/llm.py is the only code that talks to it) -----------------------------
# A litellm model name such as "openai/gpt-4o-mini"; unset: the offline rule-based model.
WEBCAP_MODEL: str = env.str("WEBCAP_MODEL", default="")
WEBCAP_MODEL_API_BASE: str = env.str("WEBCAP_MODEL_API_BASE", default="")
WEBCAP_MODEL_API_KEY: str = env.str("WEBCAP_MODEL_API_KEY", default="")
# Seconds one model request may take (to the first byte and between streamed chunks).
WEBCAP_MODEL_TIMEOUT: float = env.float("WEBCAP_MODEL_TIMEOUT", default=60.0)
# Retries of a rate-limited, failing or timed-out request, with exponential backoff.
WEBCAP_MODEL_MAX_RETRIES: int = env.int("WEBCAP_MODEL_MAX_RETRIES", default=3)
WEBCAP_MODEL_RETRY_BASE: float = env.float("WEBCAP_MODEL_RETRY_BASE", default=1.0)
# After this many failed requests in a row the provider is considered down for the cooldown
# (seconds), and tasks fail at once with a clear message instead of waiting on it.
WEBCAP_MODEL_BREAKER_THRESHOLD: int = env.int("WEBCAP_MODEL_BREAKER_THRESHOLD", default=5)
WEBCAP_MODEL_BREAKER_COOLDOWN: float = env.float("WEBCAP_MODEL_BREAKER_COOLDOWN", default=60.0)
# The model's context window in tokens; 0: litellm's model information (8192 if unknown).
WEBCAP_MODEL_CONTEXT_TOKENS: int = env.int("WEBCAP_MODEL_CONTEXT_TOKENS", default=0)
# Older turns are summarized when the prompt passes this share of the window.
WEBCAP_SUMMARY_THRESHOLD: float = env.float("WEBCAP_SUMMARY_THRESHOLD", default=0.75)
WEBCAP_SYSTEM_PROMPT: str = env.str(
    "WEBCAP_SYSTEM_PROMPT",
    default="You are webcap, a helpful assistant. Use the tools when they help; some need a "
    "person's approval before they run. Answer concisely.",
)
# Seconds a job's claim on a task lasts without renewal: after a worker dies, another job
# may run the task this long after the last renewal (the holder renews every third of it).
WEBCAP_RUN_LEASE_SECONDS: float = env.float("WEBCAP_RUN_LEASE_SECONDS", default=30.0)
# Model turns one task may take before it fails (a loop guard).
WEBCAP_AGENT_MAX_STEPS: int = env.int("WEBCAP_AGENT_MAX_STEPS", default=20)
# File parts of a message reach the model up to this size each (bytes).
WEBCAP_MODEL_MAX_FILE_BYTES: int = env.int("WEBCAP_MODEL_MAX_FILE_BYTES", default=512 * 1024)

# --- Tools ------------------------------------------------------------------------------------
# Modules of your own that register tools with @tool (imported at start, after the built-ins).
WEBCAP_TOOL_MODULES: list[str] = env.list("WEBCAP_TOOL_MODULES", default=[])
# Tools offered to the model (comma-separated names); empty: all of them.
WEBCAP_TOOLS_ENABLED: list[str] = env.list("WEBCAP_TOOLS_ENABLED", default=[])
# Installed tool packages (distribution names, e.g. webcap-weather) whose tools are offered
# from the start; `manage.py tool enable/disable` changes this at run time (docs/tools.md).
WEBCAP_TOOL_PACKAGES_ENABLED: list[str] = env.list("WEBCAP_TOOL_PACKAGES_ENABLED", default=[])
# Tools that always wait for a person's approval, whatever the tool's own default.
WEBCAP_TOOLS_REQUIRE_APPROVAL: list[str] = env.list("WEBCAP_TOOLS_REQUIRE_APPROVAL", default=[])
# Tools with side effects whose calls, interrupted by a crash, run again with the same
# Idempotency-Key (for downstreams known to honour it); others run at most once.
WEBCAP_TOOLS_RETRY_WITH_KEY: list[str] = env.list("WEBCAP_TOOLS_RETRY_WITH_KEY", default=[])
# How a sandboxed tool (@tool(sandbox=...)) is kept off the network: "namespace" (a user and
# network namespace of its own, only a loopback that is down), "audit-hook" (a Python audit
# hook that refuses sockets), or "auto": the namespace where the machine allows it.
WEBCAP_SANDBOX_ISOLATION: str = env.str("WEBCAP_SANDBOX_ISOLATION", default="auto")
# Delegation to remote agents (the delegate tool, remote_agents/): how many hops a chain of
# delegations may have (A -> B -> A ... stops there), and how many characters of a remote
# agent's final answer the model reads back.
WEBCAP_DELEGATION_MAX_DEPTH: int = env.int("WEBCAP_DELEGATION_MAX_DEPTH", default=3)
WEBCAP_DELEGATION_RESULT_CHARS: int = env.int("WEBCAP_DELEGATION_RESULT_CHARS", default=20000)
# Which roles may cause a tool to run: "tool=role;role,tool2=role". A tool not named here may
# be run by the admin, operator, approver and user roles (viewers never send messages).
WEBCAP_TOOL_ROLES: dict[str, list[str]] = env.dict(
    "WEBCAP_TOOL_ROLES", cast={"value": lambda v: [r for r in v.split(";") if r]}, default={}
)
# The folder read_file may read (nothing outside it).
WEBCAP_FILES_ROOT: str = env.str("WEBCAP_FILES_ROOT", default=str(VAR_DIR / "files"))
WEBCAP_READ_FILE_MAX_BYTES: int = env.int("WEBCAP_READ_FILE_MAX_BYTES", default=1024 * 1024)
# http_request: hosts exempt from the private-address checks (testing only), limits.
WEBCAP_TOOL_HTTP_ALLOWED_HOSTS: list[str] = env.list("WEBCAP_TOOL_HTTP_ALLOWED_HOSTS", default=[])
WEBCAP_TOOL_HTTP_TIMEOUT: float = env.float("WEBCAP_TOOL_HTTP_TIMEOUT", default=10.0)
WEBCAP_TOOL_HTTP_MAX_BYTES: int = env.int("WEBCAP_TOOL_HTTP_MAX_BYTES", default=256 * 1024)
WEBCAP_ECHO_DELAY_MS: int = env.int("WEBCAP_ECHO_DELAY_MS", default=0)
WEBCAP_PUBLIC_URL: str = env.str("WEBCAP_PUBLIC_URL", default="").rstrip("/")
WEBCAP_PUBLIC_AGENT_USER: str = env.str("WEBCAP_PUBLIC_AGENT_USER", default="")
# How long a blocking SendMessage waits for a terminal or interrupted state before it returns
# the task as it stands.
WEBCAP_BLOCKING_TIMEOUT: float = env.float("WEBCAP_BLOCKING_TIMEOUT", default=300.0)
# SSE comment / WebSocket ping interval on idle streams.
WEBCAP_STREAM_KEEPALIVE: float = env.float("WEBCAP_STREAM_KEEPALIVE", default=15.0)
# How often an idle stream re-reads the event log in case a doorbell was lost.
WEBCAP_STREAM_POLL_INTERVAL: float = env.float("WEBCAP_STREAM_POLL_INTERVAL", default=2.0)
# Live events a stream may hold unsent before it stops being fed and reads the event log
# instead (a slow client never holds up the other subscribers of its task).
WEBCAP_STREAM_QUEUE: int = env.int("WEBCAP_STREAM_QUEUE", default=256)
# Largest request body (HTTP) or frame (WebSocket) accepted, in bytes. By default derived
# from WEBCAP_MAX_FILE_BYTES, so an inline file of the largest size fits: its base64 form
# (4 bytes for each 3) and 1 MiB for the rest of the request (a2a/checks.py warns if not).
WEBCAP_MAX_REQUEST_BYTES: int = env.int(
    "WEBCAP_MAX_REQUEST_BYTES", default=4 * -(-WEBCAP_MAX_FILE_BYTES // 3) + 1024 * 1024
)
WEBCAP_WS_MAX_CONCURRENT: int = env.int("WEBCAP_WS_MAX_CONCURRENT", default=32)
# Cap'n Web sessions (/ws/capnweb, POST /capnweb), per connection: the largest message (checked
# before parsing), nesting depth, calls running at once, and export/import table rows (results
# and objects the client holds, stubs it passed in). Streams per connection: WS_MAX_CONCURRENT.
WEBCAP_CAPNWEB_MAX_MESSAGE_BYTES: int = env.int(
    "WEBCAP_CAPNWEB_MAX_MESSAGE_BYTES", default=1024 * 1024
)
WEBCAP_CAPNWEB_MAX_DEPTH: int = env.int("WEBCAP_CAPNWEB_MAX_DEPTH", default=64)
WEBCAP_CAPNWEB_MAX_CALLS: int = env.int("WEBCAP_CAPNWEB_MAX_CALLS", default=100)
WEBCAP_CAPNWEB_MAX_EXPORTS: int = env.int("WEBCAP_CAPNWEB_MAX_EXPORTS", default=1000)
WEBCAP_CAPNWEB_MAX_IMPORTS: int = env.int("WEBCAP_CAPNWEB_MAX_IMPORTS", default=1000)
DATA_UPLOAD_MAX_MEMORY_SIZE = WEBCAP_MAX_REQUEST_BYTES
# Push notifications (A2A §4.3): declared in the card when enabled.
WEBCAP_PUSH_ENABLED: bool = env.bool("WEBCAP_PUSH_ENABLED", default=True)
# Hosts (or host:port) a webhook may use even though they are private or loopback: for local
# testing and trusted internal receivers only.
WEBCAP_PUSH_ALLOWED_HOSTS: list[str] = env.list("WEBCAP_PUSH_ALLOWED_HOSTS", default=[])
WEBCAP_PUSH_TIMEOUT: float = env.float("WEBCAP_PUSH_TIMEOUT", default=10.0)
WEBCAP_PUSH_MAX_ATTEMPTS: int = env.int("WEBCAP_PUSH_MAX_ATTEMPTS", default=8)
# Retry delays grow from the base (doubling per attempt) up to the cap, in seconds.
WEBCAP_PUSH_RETRY_BASE: float = env.float("WEBCAP_PUSH_RETRY_BASE", default=2.0)
WEBCAP_PUSH_RETRY_MAX: float = env.float("WEBCAP_PUSH_RETRY_MAX", default=300.0)
WEBCAP_PUSH_MAX_CONFIGS_PER_TASK: int = env.int("WEBCAP_PUSH_MAX_CONFIGS_PER_TASK", default=10)
# A JSON file with what authenticated callers see beyond the public card (A2A §3.1.11):
# its fields replace the public card's, except "skills", which are added to them.
WEBCAP_EXTENDED_AGENT_CARD: str = env.str("WEBCAP_EXTENDED_AGENT_CARD", default="")
# Card signing (A2A §8.4, docs/card-signing.md): a JWK set of private keys, as a file path
# or the JSON itself, and the kid of the key that signs. Every key of the set is published
# at /.well-known/jwks.json. Unset: the card is not signed.
WEBCAP_CARD_SIGNING_KEYS: str = env.str("WEBCAP_CARD_SIGNING_KEYS", default="")
WEBCAP_CARD_SIGNING_KEY_ID: str = env.str("WEBCAP_CARD_SIGNING_KEY_ID", default="")
WEBCAP_AGENT_NAME: str = env.str("WEBCAP_AGENT_NAME", default="webcap")
WEBCAP_AGENT_DESCRIPTION: str = env.str(
    "WEBCAP_AGENT_DESCRIPTION",
    default="An A2A agent server on Django: tasks, streaming and durable history.",
)

# --- Logging ----------------------------------------------------------------------------------
# Every record (webcap's, Django's, Celery's, daphne's) goes through structlog
# (common/logging.py): JSON lines with timestamp, level, logger, event and the request, user,
# task, context and job ids that are known; or key=value lines for people.
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_LEVEL: str = env.str("LOG_LEVEL", default="INFO").upper()
if LOG_LEVEL not in _LOG_LEVELS:
    raise ImproperlyConfigured(f"LOG_LEVEL must be one of {', '.join(_LOG_LEVELS)}.")
# Unset or empty: JSON for collectors in production, lines for people embedded or debugging.
LOG_FORMAT: str = env.str("LOG_FORMAT", default="").lower() or (
    "console" if EMBEDDED or DEBUG else "json"
)
if LOG_FORMAT not in ("json", "console"):
    raise ImproperlyConfigured("LOG_FORMAT must be json or console.")
LOGGING_CONFIG = "common.logging.configure"
LOGGING: dict[str, Any] = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"structlog": {"()": "common.logging.formatter", "renderer": LOG_FORMAT}},
    "handlers": {"default": {"class": "logging.StreamHandler", "formatter": "structlog"}},
    "root": {"handlers": ["default"], "level": LOG_LEVEL},
    "loggers": {
        # Django's default handlers (a plain console in DEBUG, mail_admins) are replaced:
        # its records reach the one handler above through the root.
        "django": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.server": {"handlers": [], "level": LOG_LEVEL, "propagate": True},
        "django.db.backends": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        "celery": {"level": "WARNING"},
        "kombu": {"level": "WARNING"},
        # litellm logs every request at INFO through a handler of its own.
        "LiteLLM": {"level": "WARNING"},
        "LiteLLM Router": {"level": "WARNING"},
        "LiteLLM Proxy": {"level": "WARNING"},
        "httpx": {"level": "WARNING"},
    },
}
# django-structlog's request records: request_finished at INFO (4xx WARNING, 5xx ERROR);
# request_started only at DEBUG. The user is bound by authentication (accounts/auth.py)
# and the client address by common/request_context.py, not by django-structlog.
DJANGO_STRUCTLOG_STATUS_START_LOG_LEVEL = logging.DEBUG
DJANGO_STRUCTLOG_USER_ID_FIELD = None
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False

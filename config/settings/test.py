"""Settings for the in-process test suite: jobs run eagerly, passwords hash fast.

Live-server tests start ``manage.py runembedded`` with the ordinary settings instead.
"""

from config.settings.base import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# A job enqueued on commit runs inline, so a service test sees the whole path.
CELERY_TASK_ALWAYS_EAGER = True
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_BROKER_URL = "memory://localhost/"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
WEBCAP_AGENT = "echo"
WEBCAP_MODEL = ""
WEBCAP_MODEL_RETRY_BASE = 0.01
# In-process tests share one SQLite transaction: no lease renewal thread should wake up.
WEBCAP_RUN_LEASE_SECONDS = 600.0
WEBCAP_ECHO_DELAY_MS = 0
WEBCAP_PUBLIC_AGENT_USER = ""
WEBCAP_STREAM_POLL_INTERVAL = 0.2
# Counters live in the shared in-process cache: tests that check limits switch them on.
WEBCAP_RATE_LIMIT_USER = 0
WEBCAP_RATE_LIMIT_KEY = 0
WEBCAP_RATE_LIMIT_TOKEN_IP = 0
WEBCAP_RATE_LIMIT_TOKEN_USER = 0

# A file, not :memory:, so the threads that async views and consumers use share one database
# with real locking (pytest-django suffixes the name per xdist worker).
if DATABASES["default"]["ENGINE"] == SQLITE_ENGINE:  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test-db.sqlite3")}  # noqa: F405

# Enabling a tool package in one test must not outlive the run (the file cache would).
CACHES = {
    **CACHES,  # noqa: F405
    "tools": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "tools"},
}

# webcap: one image for every process of the production topology. The default command is the
# Procfile's web line; the same image runs the worker, beat and the release step (migrate) by
# command (docker-compose.yml, deploy/helm/webcap). docs/deployment.md explains the lot.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    WEBCAP_VAR_DIR=/app/var \
    PORT=8000

WORKDIR /app

# Dependencies first, hash-locked, so a code change does not reinstall them. The image's own pip
# is whatever the base image bundles: bring it to the hash-pinned version first (as the
# Makefile does), then let only that pip run the locked install.
COPY requirements/bootstrap.txt requirements/base.txt requirements/
RUN pip install --require-hashes --no-deps -r requirements/bootstrap.txt \
    && pip install --require-hashes -r requirements/base.txt

# A fixed non-root uid, so Kubernetes' runAsNonRoot can check it.
RUN groupadd --system --gid 10001 webcap \
    && useradd --system --uid 10001 --gid webcap --home-dir /app --shell /usr/sbin/nologin webcap

COPY . .

# STATIC_ROOT is $WEBCAP_VAR_DIR/static. A throwaway key for this one command: without it the
# embedded mode would write a generated key into the image.
RUN DJANGO_SECRET_KEY=collectstatic-only python manage.py collectstatic --noinput \
    && rm -f "$WEBCAP_VAR_DIR/secret_key" "$WEBCAP_VAR_DIR"/*.sqlite3* \
    && mkdir -p "$WEBCAP_VAR_DIR/artifacts" \
    && chown -R webcap:webcap "$WEBCAP_VAR_DIR"

USER 10001:10001

EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health/live' % os.environ.get('PORT', '8000'), timeout=4)"]

# The Procfile's web line, through a shell for its ${...} defaults.
CMD ["sh", "-c", "exec daphne --bind 0.0.0.0 --port ${PORT:-8000} --websocket-max-message-size ${WEBCAP_MAX_REQUEST_BYTES:-12233388} --websocket-max-frame-size ${WEBCAP_MAX_REQUEST_BYTES:-12233388} config.asgi:application"]

"""ASGI entry point: HTTP to Django, WebSocket to the A2A consumer.

``EMBEDDED_WORKER=1 daphne config.asgi:application`` also starts the in-process Celery
worker (``manage.py runembedded`` does that for you).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from a2a.asgi import A2AFastPath  # noqa: E402
from a2a.routing import websocket_urlpatterns  # noqa: E402
from accounts.middleware import ApiKeyAuthMiddleware  # noqa: E402
from common.asgi import (  # noqa: E402
    BodySizeLimitMiddleware,
    WebSocketDatabaseGuard,
    WebSocketOriginMiddleware,
)

application = BodySizeLimitMiddleware(
    ProtocolTypeRouter(
        {
            # The A2A HTTP bindings and the cards without Django's per-hook thread hops
            # (a2a/asgi.py); every other path goes to Django's handler unchanged.
            "http": A2AFastPath(django_asgi_app),
            # Outermost: a handshake that loses the database closes with 1013, not a 500.
            "websocket": WebSocketDatabaseGuard(
                WebSocketOriginMiddleware(ApiKeyAuthMiddleware(URLRouter(websocket_urlpatterns)))
            ),
        }
    )
)

if os.environ.get("EMBEDDED_WORKER") == "1":
    from config.embedded import install_into_daphne

    install_into_daphne()

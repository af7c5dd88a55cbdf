from django.urls import path

from a2a.capnweb.consumer import CapnWebConsumer
from a2a.consumers import A2AConsumer

websocket_urlpatterns = [
    path("ws/a2a", A2AConsumer.as_asgi()),
    path("ws/a2a/", A2AConsumer.as_asgi()),
    # Cap'n Web (the npm capnweb client): authentication is in-band, not in the handshake.
    path("ws/capnweb", CapnWebConsumer.as_asgi()),
]

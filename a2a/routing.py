from django.urls import path

from a2a.consumers import A2AConsumer

websocket_urlpatterns = [
    path("ws/a2a", A2AConsumer.as_asgi()),
    path("ws/a2a/", A2AConsumer.as_asgi()),
]

"""The management API's sign-in, ticket and key routes (mounted under /api/)."""

from django.urls import path
from rest_framework.routers import SimpleRouter

from accounts import apis

router = SimpleRouter()
router.register("keys", apis.ApiKeyViewSet, basename="api-key")

api_urlpatterns = [
    path("auth/token/", apis.TokenObtainView.as_view(), name="auth-token"),
    path("auth/token/refresh/", apis.TokenRefreshView.as_view(), name="auth-token-refresh"),
    # The short form named in the issue; the same view.
    path("auth/refresh/", apis.TokenRefreshView.as_view(), name="auth-refresh"),
    path("auth/logout/", apis.LogoutView.as_view(), name="auth-logout"),
    path("auth/ws-ticket/", apis.WebSocketTicketView.as_view(), name="auth-ws-ticket"),
    *router.urls,
]

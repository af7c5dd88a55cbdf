from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

from a2a.admin_analytics import analytics_view
from a2a.api_urls import api_urlpatterns as task_api_urlpatterns
from a2a.capnweb.views import capnweb_batch
from a2a.card import WEBCAP_VERSION
from accounts.urls import api_urlpatterns as account_api_urlpatterns
from audit.urls import api_urlpatterns as audit_api_urlpatterns
from config.views import ApiDocsView, ApiIndexView, ApiRedocView, home, not_found
from observability.health import health, health_live, health_ready
from observability.views import metrics
from remote_agents.urls import api_urlpatterns as remote_agent_api_urlpatterns
from tools.urls import api_urlpatterns, page_urlpatterns

urlpatterns = [
    # The landing page (the admin's "View site" leads here).
    path("", home, name="home"),
    path("", include("a2a.urls")),
    # Cap'n Web HTTP batch (newline-delimited messages; the WebSocket form is /ws/capnweb).
    path("capnweb", capnweb_batch, name="capnweb-batch"),
    # The API's index, and its documentation on the schema below (config/views.py).
    path("api/", ApiIndexView.as_view(), name="api-index"),
    path("api/docs/", ApiDocsView.as_view(), name="api-docs"),
    path("api/redoc/", ApiRedocView.as_view(), name="api-redoc"),
    path("api/", include(account_api_urlpatterns)),
    path("api/", include(api_urlpatterns)),
    path("api/", include(audit_api_urlpatterns)),
    path("api/", include(task_api_urlpatterns)),
    path("api/", include(remote_agent_api_urlpatterns)),
    path(
        "api/schema/",
        SpectacularAPIView.as_view(custom_settings={"VERSION": WEBCAP_VERSION}),
        name="api-schema",
    ),
    path("", include(page_urlpatterns)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", health, name="health"),
    # Kubernetes probes (observability.health.HealthProbeMiddleware answers them first).
    path("health/live", health_live, name="health-live"),
    path("health/ready", health_ready, name="health-ready"),
    path("metrics", metrics, name="metrics"),
    # Before the admin's own URLs: the dashboard page inside the admin (a2a/admin_analytics.py).
    path("admin/analytics/", analytics_view, name="admin-analytics"),
    path("admin/", admin.site.urls),
]

# A path under /api/, /a2a/ or /.well-known/ that matches nothing is a JSON 404.
handler404 = not_found

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from common.views import health
from tools.urls import api_urlpatterns, page_urlpatterns

urlpatterns = [
    path("", include("a2a.urls")),
    path("api/", include(api_urlpatterns)),
    path("", include(page_urlpatterns)),
    path("accounts/login/", auth_views.LoginView.as_view(), name="login"),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
]

from django.contrib import admin
from django.urls import include, path

from common.views import health

urlpatterns = [
    path("", include("a2a.urls")),
    path("health", health, name="health"),
    path("admin/", admin.site.urls),
]

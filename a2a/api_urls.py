"""The management API routes of the a2a app (mounted under /api/ by config/urls.py)."""

from django.urls import path

from a2a import apis

api_urlpatterns = [
    path("tasks/<str:task_id>/shares/", apis.TaskSharesView.as_view(), name="task-shares"),
    path(
        "tasks/<str:task_id>/shares/<str:username>/",
        apis.TaskShareView.as_view(),
        name="task-share",
    ),
]

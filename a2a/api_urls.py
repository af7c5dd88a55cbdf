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
    path("tasks/<str:task_id>/artifacts/", apis.TaskArtifactsView.as_view(), name="task-artifacts"),
    path(
        "tasks/<str:task_id>/artifacts/<str:artifact_id>/versions/",
        apis.ArtifactVersionsView.as_view(),
        name="artifact-versions",
    ),
]

from django.urls import path
from rest_framework.routers import SimpleRouter

from tools import apis, catalogue_apis, views

router = SimpleRouter()
router.register("tool-calls", apis.ToolCallViewSet, basename="tool-call")
router.register("llm-calls", apis.LLMCallViewSet, basename="llm-call")
# Sources and versions before the catalogue, whose {name} would match them.
router.register("tools/sources", catalogue_apis.ToolSourceViewSet, basename="tool-source")
router.register("tools/versions", catalogue_apis.ToolVersionViewSet, basename="tool-version")
router.register("tools", catalogue_apis.ToolViewSet, basename="tool")

api_urlpatterns = router.urls
page_urlpatterns = [
    path("approvals/", views.approvals, name="approvals"),
    # The page's live list (Server-Sent Events), for the signed-in user.
    path("approvals/events/", views.approvals_events, name="approvals-events"),
]

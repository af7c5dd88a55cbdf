from django.urls import path
from rest_framework.routers import SimpleRouter

from tools import apis, views

router = SimpleRouter()
router.register("tool-calls", apis.ToolCallViewSet, basename="tool-call")
router.register("llm-calls", apis.LLMCallViewSet, basename="llm-call")

api_urlpatterns = router.urls
page_urlpatterns = [
    path("approvals/", views.approvals, name="approvals"),
    # The page's live list (Server-Sent Events), for the signed-in user.
    path("approvals/events/", views.approvals_events, name="approvals-events"),
]

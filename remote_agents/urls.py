"""The management API routes of the remote agents registry (mounted under /api/)."""

from rest_framework.routers import SimpleRouter

from remote_agents import apis

router = SimpleRouter()
router.register("agents", apis.RemoteAgentViewSet, basename="remote-agent")

api_urlpatterns = router.urls

"""The audit log's management API route (mounted under /api/ by config.urls)."""

from rest_framework.routers import SimpleRouter

from audit import apis

router = SimpleRouter()
router.register("audit", apis.AuditEventViewSet, basename="audit-event")

api_urlpatterns = router.urls

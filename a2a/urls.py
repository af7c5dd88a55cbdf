from django.urls import URLPattern, path, re_path

from a2a import apis
from a2a.views import card, jsonrpc, jwks, rest

LIST_OR_CREATE_CONFIGS = {
    "GET": "ListTaskPushNotificationConfigs",
    "POST": "CreateTaskPushNotificationConfig",
}
GET_OR_DELETE_CONFIG = {
    "GET": "GetTaskPushNotificationConfig",
    "DELETE": "DeleteTaskPushNotificationConfig",
}


def _rest_routes(prefix: str) -> list[URLPattern]:
    """The HTTP+JSON routes of A2A §11.3 under prefix (operation-specific routes first)."""
    return [
        path(f"{prefix}message:send", rest.endpoint({"POST": "SendMessage"})),
        path(f"{prefix}message:stream", rest.endpoint({"POST": "SendStreamingMessage"})),
        path(f"{prefix}tasks", rest.endpoint({"GET": "ListTasks"})),
        path(f"{prefix}tasks/<str:id>:cancel", rest.endpoint({"POST": "CancelTask"})),
        path(
            f"{prefix}tasks/<str:id>:subscribe",
            rest.endpoint({"GET": "SubscribeToTask", "POST": "SubscribeToTask"}),
        ),
        path(
            f"{prefix}tasks/<str:taskId>/pushNotificationConfigs",
            rest.endpoint(
                {
                    "GET": "ListTaskPushNotificationConfigs",
                    "POST": "CreateTaskPushNotificationConfig",
                }
            ),
        ),
        path(
            f"{prefix}tasks/<str:taskId>/pushNotificationConfigs/<str:id>",
            rest.endpoint(
                {
                    "GET": "GetTaskPushNotificationConfig",
                    "DELETE": "DeleteTaskPushNotificationConfig",
                }
            ),
        ),
        path(f"{prefix}tasks/<str:id>", rest.endpoint({"GET": "GetTask"})),
        path(f"{prefix}extendedAgentCard", rest.endpoint({"GET": "GetExtendedAgentCard"})),
    ]


urlpatterns = [
    path("a2a/jsonrpc", jsonrpc.jsonrpc_endpoint, name="a2a-jsonrpc"),
    path("a2a/jsonrpc/", jsonrpc.jsonrpc_endpoint),
    *_rest_routes("a2a/rest/"),
    # The optional /{tenant} prefix (A2A §11.3); the tenant reaches handlers as params.
    *_rest_routes("a2a/rest/<str:tenant>/"),
    re_path(r"^a2a/rest(?:/.*)?$", rest.not_found),
    # The bytes of file parts agents produced (the parts carry this URL).
    path(
        "a2a/files/<uuid:file_id>",
        apis.ArtifactFileContentView.as_view(),
        name="a2a-artifact-file",
    ),
    path(".well-known/agent-card.json", card.agent_card, name="agent-card"),
    # The path older clients look for: the card with its 0.3 fields too.
    path(".well-known/agent.json", card.agent_card, {"legacy": True}, name="agent-card-legacy"),
    # The public keys the card's signature names (jku), when card signing is configured.
    path(".well-known/jwks.json", jwks.jwks, name="jwks"),
]

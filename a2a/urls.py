from django.urls import path

from a2a import views

urlpatterns = [
    path("a2a/jsonrpc", views.jsonrpc_endpoint, name="a2a-jsonrpc"),
    path("a2a/jsonrpc/", views.jsonrpc_endpoint),
    path(".well-known/agent-card.json", views.agent_card, name="agent-card"),
    # The path older clients look for.
    path(".well-known/agent.json", views.agent_card, name="agent-card-legacy"),
]

"""Remote agents and their delegations in the admin.

Adding, changing and deleting an agent goes through ``remote_agents.services``, exactly as
the REST API: the card is fetched and verified before anything is stored, a refused card is
shown on the form with its reason, and every change has its audit row. The pages of this
model are therefore not wrapped in one transaction (the services own theirs, and a card
fetch should not hold one open). The credential's secret is a write-only field: it is never
rendered back, only said to be "set" or "not set".
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html

from a2a.admin_common import admin_user, short_id
from a2a.protocol.signatures import TrustPolicy
from audit.admin_mixins import AuditedAdminMixin
from common.errors import ApplicationError
from remote_agents.models import (
    DEFAULT_CREDENTIAL_HEADER,
    CredentialKind,
    Delegation,
    RemoteAgent,
    trust_policy_choices,
)
from remote_agents.services import (
    EDITABLE_FIELDS,
    remote_agent_delete,
    remote_agent_enable,
    remote_agent_refresh,
    remote_agent_register,
    remote_agent_update,
)


def _pretty(value: Any) -> str:
    if value in (None, {}, []):
        return "-"
    return format_html("<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True))


class RemoteAgentForm(forms.ModelForm[RemoteAgent]):
    """The agent's settings; saving calls the registry's services (see ``clean``)."""

    card_url = forms.URLField(
        max_length=2048,
        assume_scheme="https",
        help_text="The agent's base URL or its card's URL.",
    )
    trust_policy = forms.ChoiceField(choices=trust_policy_choices(), initial=TrustPolicy.OPEN)
    pinned_keys = forms.JSONField(
        required=False, help_text='Under "pinned": a JWK set {"keys": [...]} of public keys.'
    )
    credential_secret = forms.CharField(
        required=False,
        strip=False,
        # Never rendered back: the page shows whether one is set, not what it is.
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text="Write-only. Leave empty to keep the stored one; choose credential kind "
        "'none' to remove it.",
    )

    class Meta:
        model = RemoteAgent
        fields = [f for f in EDITABLE_FIELDS if f != "credential_secret"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.actor = kwargs.pop("actor", None)
        super().__init__(*args, **kwargs)
        self.saved: RemoteAgent | None = None
        self.fields["credential_header"].initial = DEFAULT_CREDENTIAL_HEADER

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        values = {name: data[name] for name in EDITABLE_FIELDS if name in data}
        if values.get("pinned_keys") is None:
            values["pinned_keys"] = {}
        secret = values.pop("credential_secret", "")
        try:
            if self.instance._state.adding:
                self.saved = remote_agent_register(
                    actor=self.actor,
                    auth_method="session",
                    credential_secret=secret or None,
                    **values,
                )
            else:
                changes = {
                    name: value
                    for name, value in values.items()
                    if getattr(self.instance, name) != value
                }
                if secret:
                    changes["credential_secret"] = secret
                current = RemoteAgent.objects.get(pk=self.instance.pk)
                self.saved = remote_agent_update(
                    agent=current, actor=self.actor, changes=changes, auth_method="session"
                )
        except ApplicationError as exc:
            field = exc.extra.get("field")
            self.add_error(field if field in self.fields else None, exc.message)
        return data

    def _post_clean(self) -> None:
        # The service validated and stored the agent; the form's own instance is not saved.
        pass


class DelegationInline(admin.TabularInline[Delegation, RemoteAgent]):
    model = Delegation
    fields = ("parent_task", "remote_task_id", "state", "depth", "created_at", "finished_at")
    readonly_fields = fields
    extra = 0
    max_num = 0
    show_change_link = True
    can_delete = False
    ordering = ("-created_at",)


@admin.register(RemoteAgent)
class RemoteAgentAdmin(AuditedAdminMixin, admin.ModelAdmin[RemoteAgent]):
    """Remote A2A agents: their card, trust, credential (write-only) and settings."""

    form = RemoteAgentForm
    list_display = (
        "name",
        "enabled",
        "trust_policy",
        "signature_status",
        "card_stale",
        "interface",
        "card_checked_at",
    )
    list_filter = ("enabled", "trust_policy", "signature_status", "card_stale")
    search_fields = ("name", "card_url", "interface_url")
    ordering = ("name",)
    actions = ["refresh_cards", "enable", "disable"]
    inlines = [DelegationInline]
    raw_id_fields = ("client_user",)
    readonly_fields = (
        "credential",
        "shown_card",
        "skills_list",
        "signature_status",
        "signature_kid",
        "signature_problem",
        "card_error",
        "card_stale",
        "card_fetched_at",
        "card_checked_at",
        "card_due_at",
        "interface_url",
        "interface_binding",
        "interface_version",
        "description",
        "created_by",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("name", "card_url", "enabled", "description", "description_override")}),
        ("Trust", {"fields": ("trust_policy", "pinned_keys", "approval_policy")}),
        (
            "Credential",
            {"fields": ("credential", "credential_kind", "credential_header", "credential_secret")},
        ),
        (
            "Federation",
            {
                "fields": ("client_user",),
                "description": "The account of this server the agent calls it with, when "
                "it delegates to us too: the audit rows of its requests name the agent.",
            },
        ),
        (
            "Timeouts",
            {
                "fields": (
                    "request_timeout_seconds",
                    "task_timeout_seconds",
                    "stream_idle_seconds",
                )
            },
        ),
        (
            "Card",
            {
                "fields": (
                    "signature_status",
                    "signature_kid",
                    "signature_problem",
                    "card_stale",
                    "card_error",
                    "card_fetched_at",
                    "card_checked_at",
                    "card_due_at",
                    "interface_url",
                    "interface_binding",
                    "interface_version",
                    "skills_list",
                    "shown_card",
                )
            },
        ),
        (None, {"fields": ("created_by", "created_at", "updated_at")}),
    )

    @admin.display(description="interface")
    def interface(self, agent: RemoteAgent) -> str:
        if not agent.interface_url:
            return "-"
        return f"{agent.interface_binding} {agent.interface_version} {agent.interface_url}"

    @admin.display(description="credential")
    def credential(self, agent: RemoteAgent) -> str:
        if agent.credential_kind == CredentialKind.NONE:
            return "none"
        return (
            f"{agent.get_credential_kind_display()}: {'set' if agent.credential_set else 'not set'}"
        )

    @admin.display(description="card")
    def shown_card(self, agent: RemoteAgent) -> str:
        return _pretty(agent.card)

    @admin.display(description="skills")
    def skills_list(self, agent: RemoteAgent) -> str:
        return _pretty(agent.skills)

    @admin.display(description="signature error")
    def signature_problem(self, agent: RemoteAgent) -> str:
        return _pretty(agent.signature_error)

    def get_form(
        self,
        request: HttpRequest,
        obj: RemoteAgent | None = None,
        change: bool = False,
        **kwargs: Any,
    ) -> Any:
        form = super().get_form(request, obj, change, **kwargs)
        actor = admin_user(request)

        class _Form(form):  # type: ignore[valid-type,misc]
            def __init__(self, *args: Any, **kw: Any) -> None:
                super().__init__(*args, actor=actor, **kw)

        return _Form

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        # Not in one transaction: the services own theirs (durable), and fetch the card first.
        view = self._changeform_view  # type: ignore[attr-defined]  # Django's, unstubbed
        response: HttpResponse = view(request, object_id, form_url, extra_context)
        return response

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> RemoteAgent:
        assert form.saved is not None
        saved: RemoteAgent = form.saved
        return saved

    def save_model(self, request: HttpRequest, obj: RemoteAgent, form: Any, change: bool) -> None:
        pass  # saved by the service, in the form's clean()

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        pass  # delegations are read-only here

    def construct_change_message(
        self, request: HttpRequest, form: Any, formsets: Any, add: bool = False
    ) -> list[dict[str, Any]]:
        # The read-only delegations are never saved, so they have nothing to report.
        message: list[dict[str, Any]] = super().construct_change_message(request, form, [], add)
        return message

    def delete_view(
        self, request: HttpRequest, object_id: str, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method != "POST":
            view = self._delete_view  # type: ignore[attr-defined]  # Django's, unstubbed
            response: HttpResponse = view(request, object_id, extra_context)
            return response
        agent = self.get_object(request, object_id)
        if agent is None:
            raise Http404("No such remote agent.")
        if not self.has_delete_permission(request, agent):
            raise PermissionDenied
        try:
            remote_agent_delete(agent=agent, actor=admin_user(request), auth_method="session")
        except ApplicationError as exc:
            self.message_user(request, exc.message, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:remote_agents_remoteagent_change", args=[agent.pk])
            )
        self.message_user(request, f"Deleted {agent.name}.")
        return HttpResponseRedirect(reverse("admin:remote_agents_remoteagent_changelist"))

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        # Deleting goes through the service, one agent at a time (it may be refused).
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Refresh the card now")
    def refresh_cards(self, request: HttpRequest, queryset: QuerySet[RemoteAgent]) -> None:
        for agent in queryset.order_by("name"):
            outcome = remote_agent_refresh(
                agent=agent, actor=admin_user(request), auth_method="session"
            )
            if outcome.result == "failed":
                self.message_user(
                    request,
                    f"{agent.name}: refresh failed, the last card is kept: "
                    f"{outcome.agent.card_error}",
                    messages.WARNING,
                )
            else:
                self.message_user(request, f"{agent.name}: card {outcome.result}.")

    def _enable(self, request: HttpRequest, queryset: QuerySet[RemoteAgent], on: bool) -> None:
        for agent in queryset.order_by("name"):
            remote_agent_enable(
                agent=agent, actor=admin_user(request), enabled=on, auth_method="session"
            )
        self.message_user(
            request, f"{queryset.count()} agent(s) {'enabled' if on else 'disabled'}."
        )

    @admin.action(description="Enable selected")
    def enable(self, request: HttpRequest, queryset: QuerySet[RemoteAgent]) -> None:
        self._enable(request, queryset, True)

    @admin.action(description="Disable selected")
    def disable(self, request: HttpRequest, queryset: QuerySet[RemoteAgent]) -> None:
        self._enable(request, queryset, False)


@admin.register(Delegation)
class DelegationAdmin(AuditedAdminMixin, admin.ModelAdmin[Delegation]):
    """Tasks webcap handed to remote agents (read-only: delegation writes them)."""

    list_display = (
        "delegation_id",
        "remote_agent",
        "task_link",
        "remote_task_id",
        "state",
        "depth",
        "created_at",
        "finished_at",
    )
    list_filter = ("remote_agent", "state")
    list_select_related = ("remote_agent",)
    search_fields = ("id", "remote_task_id", "parent_task__id", "remote_agent__name")
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in Delegation._meta.fields]

    @admin.display(description="id", ordering="id")
    def delegation_id(self, delegation: Delegation) -> str:
        return short_id(delegation.pk)

    @admin.display(description="task", ordering="parent_task_id")
    def task_link(self, delegation: Delegation) -> str:
        url = reverse("admin:a2a_task_change", args=[delegation.parent_task_id])
        return format_html('<a href="{}">{}</a>', url, short_id(delegation.parent_task_id))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

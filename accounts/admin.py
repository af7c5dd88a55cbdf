from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.utils import timezone

from accounts.models import ApiKey, ExternalIdentity, Scope, User
from accounts.services import api_key_create, api_key_revoke
from audit.admin_mixins import AuditedAdminMixin


@admin.register(User)
class AuditedUserAdmin(AuditedAdminMixin, UserAdmin):  # type: ignore[type-arg]
    """The stock user admin; every add, change and delete is in the audit log."""


class ApiKeyCreationForm(forms.ModelForm):  # type: ignore[type-arg]
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: the key may do everything its user may do.",
    )

    class Meta:
        model = ApiKey
        fields = ("user", "name", "expires_at")

    def clean_expires_at(self) -> Any:
        expires_at = self.cleaned_data.get("expires_at")
        if expires_at is not None and expires_at <= timezone.now():
            raise forms.ValidationError("Must be in the future.")
        return expires_at


@admin.register(ApiKey)
class ApiKeyAdmin(AuditedAdminMixin, admin.ModelAdmin[ApiKey]):
    """Create keys (the key is shown once, on the page after saving) and revoke them.

    Both go through accounts.services, like /api/keys/ and ``manage.py apikey``, so they are
    audited as apikey.create / apikey.revoke. A key cannot be edited: revoke it, make another.
    """

    list_display = (
        "name",
        "prefix",
        "user",
        "scopes",
        "created_at",
        "last_used_at",
        "expires_at",
        "revoked_at",
    )
    list_filter = ("revoked_at",)
    search_fields = ("name", "prefix", "user__username")
    actions = ["revoke_selected"]
    autocomplete_fields = ("user",)

    def get_form(
        self, request: HttpRequest, obj: Any | None = None, change: bool = False, **kwargs: Any
    ) -> Any:
        if obj is None:
            kwargs["form"] = ApiKeyCreationForm
        return super().get_form(request, obj, change, **kwargs)

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ("user", "name", "expires_at", "scopes")
        return self.get_readonly_fields(request, obj)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        if obj is None:
            return ()
        return (
            "id",
            "user",
            "name",
            "prefix",
            "scopes",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        )

    def save_model(self, request: HttpRequest, obj: ApiKey, form: Any, change: bool) -> None:
        if change:
            return  # nothing is editable
        assert isinstance(request.user, User)
        api_key, key = api_key_create(
            user=form.cleaned_data["user"],
            name=form.cleaned_data["name"],
            expires_at=form.cleaned_data["expires_at"],
            scopes=form.cleaned_data["scopes"],
            actor=request.user,
        )
        # The admin goes on with obj (its log entry, the response): make it the stored key.
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(api_key, field.attname))
        obj._state.adding = False
        obj._state.db = api_key._state.db
        self._new_key = key

    def response_add(self, request: HttpRequest, obj: ApiKey, post_url_continue: Any = None) -> Any:
        # The key is rendered into this one response, never into a message or a session.
        key = getattr(self, "_new_key", None)
        if key is None:
            return super().response_add(request, obj, post_url_continue)
        del self._new_key
        context = {
            **self.admin_site.each_context(request),
            "title": "API key created",
            "api_key": obj,
            "key": key,
            "opts": self.opts,
        }
        # The admin's views already send "Cache-Control: no-store" (never_cache).
        response: HttpResponse = TemplateResponse(
            request, "admin/accounts/apikey/created.html", context
        )
        return response

    @admin.action(description="Revoke the selected API keys")
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        assert isinstance(request.user, User)
        revoked = 0
        for api_key in queryset.select_related("user"):
            if api_key.revoked_at is None:
                api_key_revoke(api_key=api_key, actor=request.user)
                revoked += 1
        self.message_user(request, f"Revoked {revoked} key(s).")


@admin.register(ExternalIdentity)
class ExternalIdentityAdmin(AuditedAdminMixin, admin.ModelAdmin[ExternalIdentity]):
    """Who signed in through the OpenID Connect provider (rows are made by sign-in)."""

    list_display = ("subject", "issuer", "user", "created_at", "last_seen_at")
    search_fields = ("subject", "user__username")
    readonly_fields = ("issuer", "subject", "user", "created_at", "last_seen_at")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

"""System checks: the tool configuration names modules, tools and roles that exist, and a
production assistant has a real model."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, Warning, register

from accounts.roles import ROLES
from tools.packages import PACKAGE_ERRORS
from tools.registry import REGISTRY, tools_load
from tools.sandbox import isolation_active


def model_missing() -> str | None:
    """Say so when a production assistant would answer with the offline stand-in model.

    ``make run`` (embedded) uses the offline model on purpose; a Compose or Helm deployment
    without WEBCAP_MODEL almost never means to. The echo and conformance agents need no model.
    """
    if settings.EMBEDDED or settings.WEBCAP_AGENT != "assistant" or settings.WEBCAP_MODEL:
        return None
    return (
        "WEBCAP_MODEL is unset: the assistant answers with the offline rule-based stand-in, "
        "not a language model. Set WEBCAP_MODEL to a litellm model name (e.g. "
        "openai/gpt-4o-mini), with WEBCAP_MODEL_API_KEY and WEBCAP_MODEL_API_BASE as its "
        "provider needs."
    )


@register()
def model_configured(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """A production assistant should name a real model (it still starts without one)."""
    message = model_missing()
    return [] if message is None else [Warning(message, id="webcap.W002")]


@register()
def tools_configured(app_configs: Any, **kwargs: Any) -> list[Error]:
    """WEBCAP_TOOL_MODULES must import; the tool settings must name known tools and roles."""
    try:
        tools_load()
    except Exception as exc:
        return [
            Error(
                f"WEBCAP_TOOL_MODULES={','.join(settings.WEBCAP_TOOL_MODULES)!r} could not be "
                f"loaded: {type(exc).__name__}: {exc}",
                hint="Each entry is a dotted module path on the server's Python path.",
                id="webcap.E010",
            )
        ]
    errors = []
    for setting in (
        "WEBCAP_TOOLS_ENABLED",
        "WEBCAP_TOOLS_REQUIRE_APPROVAL",
        "WEBCAP_TOOLS_RETRY_WITH_KEY",
        "WEBCAP_TOOL_ROLES",
    ):
        unknown = [name for name in getattr(settings, setting) if name not in REGISTRY]
        if unknown:
            errors.append(
                Error(
                    f"{setting} names tools this server does not have: {', '.join(unknown)}.",
                    hint=f"Known tools: {', '.join(sorted(REGISTRY))}.",
                    id="webcap.E011",
                )
            )
    unknown_roles = sorted(
        {role for roles in settings.WEBCAP_TOOL_ROLES.values() for role in roles} - set(ROLES)
    )
    if unknown_roles:
        errors.append(
            Error(
                f"WEBCAP_TOOL_ROLES names roles that do not exist: {', '.join(unknown_roles)}.",
                hint=f"Roles: {', '.join(ROLES)}; e.g. WEBCAP_TOOL_ROLES=http_request=admin;user",
                id="webcap.E012",
            )
        )
    return errors


@register()
def sandbox_isolation(app_configs: Any, **kwargs: Any) -> list[Warning | Error]:
    """Say which network isolation sandboxed tools get here, when it is the weaker one."""
    configured = settings.WEBCAP_SANDBOX_ISOLATION
    if configured not in ("auto", "namespace", "audit-hook"):
        return [
            Error(
                f"WEBCAP_SANDBOX_ISOLATION={configured!r} is not a known mode.",
                hint="One of auto, namespace, audit-hook.",
                id="webcap.E014",
            )
        ]
    if not any(t.sandbox is not None and not t.sandbox.network for t in REGISTRY.values()):
        return []
    if isolation_active(configured) == "namespace":
        return []
    reason = (
        "WEBCAP_SANDBOX_ISOLATION=audit-hook"
        if configured == "audit-hook"
        else "this machine does not allow unprivileged user namespaces"
    )
    return [
        Warning(
            f"Sandboxed tools are kept off the network by a Python audit hook only ({reason}); "
            "code that reaches the C library directly is not stopped.",
            hint="Allow unprivileged user namespaces (kernel.unprivileged_userns_clone=1, "
            "user.max_user_namespaces > 0, a container runtime that permits unshare).",
            id="webcap.W006",
        )
    ]


@register()
def tool_packages_loaded(app_configs: Any, **kwargs: Any) -> list[Warning]:
    """Name each installed tool package whose entry point did not load (the server still starts)."""
    return [
        Warning(
            f"The tool package {package!r} could not be loaded: {error}. Its tools are missing.",
            hint="Fix or uninstall the package; its entry point in the 'webcap.tools' group "
            "names a module that must import.",
            id="webcap.W015",
        )
        for package, error in sorted(PACKAGE_ERRORS.items())
    ]

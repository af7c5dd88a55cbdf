"""Writes of tool sources: register, refresh, change; publish, deprecate, retire; policies.

Each entry point owns its transaction, writes its audit row in it, and publishes a new
registry version on commit (overlay.py), so every process offers the change within seconds.
Talking to a server (discovery) happens before the transaction, never inside it.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.models import Action
from audit.services import audit_record
from common.errors import ApplicationError
from common.sealing import TOOL_SOURCE_HEADERS, secret_seal
from tools.models import (
    SourceKind,
    ToolPolicy,
    ToolSource,
    ToolVersion,
    VersionState,
)
from tools.registry import REGISTRY
from tools.sources.mcp import Discovered, McpFailure, mcp_tools_list, url_guard
from tools.sources.overlay import SEPARATOR, endpoint_of, registry_changed

logger = logging.getLogger(__name__)

MCP_KINDS = frozenset({SourceKind.MCP_HTTP, SourceKind.MCP_STDIO})
# A version may move only along these edges; retired is final.
TRANSITIONS: dict[str, frozenset[str]] = {
    VersionState.DRAFT: frozenset({VersionState.ACTIVE, VersionState.RETIRED}),
    VersionState.ACTIVE: frozenset({VersionState.DEPRECATED, VersionState.RETIRED}),
    VersionState.DEPRECATED: frozenset({VersionState.ACTIVE, VersionState.RETIRED}),
    VersionState.RETIRED: frozenset(),
}


class ToolSourceInvalid(ApplicationError):
    """A registration or change that cannot be made; ``extra["field"]`` names the field."""

    status_code = 400


class ToolStateRefused(ApplicationError):
    """A version state change the lifecycle does not allow."""

    status_code = 409


def _invalid(field: str, message: str) -> ToolSourceInvalid:
    return ToolSourceInvalid(message, extra={"field": field})


def offered_name(source_name: str, tool_name: str) -> str:
    """Return the name the model calls a source's tool by: <source>__<tool>, at most 64."""
    cleaned = re.sub(r"[^A-Za-z0-9_-]", "_", tool_name)
    return f"{source_name}{SEPARATOR}{cleaned}"[:64]


def _discover(source: ToolSource) -> list[Discovered]:
    return mcp_tools_list(
        endpoint_of(source), timeout=float(settings.WEBCAP_TOOL_SOURCE_LIST_TIMEOUT)
    )


def _definition(row: ToolVersion | Discovered) -> tuple[str, Any, Any]:
    return row.description, row.input_schema, row.annotations


def _versions_sync(
    *, source: ToolSource, discovered: Sequence[Discovered], actor: User | None
) -> list[ToolVersion]:
    """Publish a new version of each tool whose definition changed; return the new rows.

    With WEBCAP_TOOL_SOURCE_AUTOPUBLISH a new definition is active at once (the previous
    active version becomes deprecated); without it, a draft an admin publishes.
    """
    created = []
    now = timezone.now()
    for item in discovered:
        latest = (
            ToolVersion.objects.filter(source=source, tool_name=item.name)
            .order_by("-number")
            .first()
        )
        if latest is not None and _definition(latest) == _definition(item):
            continue
        publish = settings.WEBCAP_TOOL_SOURCE_AUTOPUBLISH or latest is None
        if publish:
            ToolVersion.objects.filter(
                source=source, tool_name=item.name, state=VersionState.ACTIVE
            ).update(state=VersionState.DEPRECATED, updated_at=now)
        created.append(
            ToolVersion.objects.create(
                source=source,
                tool_name=item.name,
                offered_name=offered_name(source.name, item.name),
                number=(latest.number + 1) if latest is not None else 1,
                description=item.description,
                input_schema=item.input_schema,
                annotations=item.annotations,
                state=VersionState.ACTIVE if publish else VersionState.DRAFT,
                published_at=now if publish else None,
                published_by=actor if publish else None,
            )
        )
    return created


def _seal_headers(headers: Mapping[str, Any] | None) -> str:
    if not headers:
        return ""
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise _invalid("headers", "headers must be an object of strings")
    return secret_seal(json.dumps(dict(headers)), purpose=TOOL_SOURCE_HEADERS)


def tool_source_register(
    *,
    actor: User,
    name: str,
    kind: str,
    url: str = "",
    command: str = "",
    args: Sequence[str] = (),
    headers: Mapping[str, str] | None = None,
    enabled: bool = True,
    auth_method: str = "",
) -> ToolSource:
    """Register a source: check it, list its tools, store it with a first version of each."""
    if kind not in MCP_KINDS:
        raise _invalid("kind", f"{kind!r} sources are not supported yet; use mcp_http or mcp_stdio")
    if ToolSource.objects.filter(name=name).exists():
        raise _invalid("name", f"a tool source named {name!r} exists")
    if kind == SourceKind.MCP_HTTP:
        if not url:
            raise _invalid("url", "an mcp_http source needs a url")
        try:
            url_guard(url)
        except McpFailure as exc:
            raise _invalid("url", str(exc)) from exc
        command, args = "", ()
    else:
        if not command:
            raise _invalid("command", "an mcp_stdio source needs a command")
        url = ""
    source = ToolSource(
        name=name,
        kind=kind,
        url=url,
        command=command,
        args=list(args),
        headers_sealed=_seal_headers(headers),
        enabled=enabled,
        created_by=actor,
    )
    try:
        discovered = _discover(source)
    except McpFailure as exc:
        raise _invalid("detail", f"could not list the server's tools: {exc}") from exc
    with transaction.atomic(durable=True):
        source.refreshed_at = timezone.now()
        source.save()
        versions = _versions_sync(source=source, discovered=discovered, actor=actor)
        audit_record(
            action=Action.TOOL_SOURCE_REGISTER,
            actor=actor,
            target=source,
            auth_method=auth_method,
            extra={"name": name, "kind": kind, "tools": [v.tool_name for v in versions]},
        )
        registry_changed()
    return source


def tool_source_update(
    *,
    source: ToolSource,
    actor: User,
    enabled: bool | None = None,
    headers: Mapping[str, str] | None = None,
    auth_method: str = "",
) -> ToolSource:
    """Enable or disable a source, or set its headers (never shown again)."""
    changed: list[str] = []
    with transaction.atomic(durable=True):
        source = ToolSource.objects.select_for_update().get(pk=source.pk)
        if enabled is not None and enabled != source.enabled:
            source.enabled = enabled
            changed.append("enabled")
        if headers is not None:
            source.headers_sealed = _seal_headers(headers)
            changed.append("headers_sealed")
        if changed:
            source.save(update_fields=[*changed, "updated_at"])
            audit_record(
                action=Action.TOOL_SOURCE_UPDATE,
                actor=actor,
                target=source,
                auth_method=auth_method,
                extra={"changed": changed, "enabled": source.enabled},
            )
            registry_changed()
    return source


@dataclass(frozen=True)
class RefreshOutcome:
    result: str  # "unchanged", "changed" or "failed"
    source: ToolSource
    versions: list[ToolVersion]


def tool_source_refresh(
    *, source: ToolSource, actor: User | None, auth_method: str = ""
) -> RefreshOutcome:
    """List the server's tools again; a changed definition publishes a new version."""
    try:
        discovered, error = _discover(source), ""
    except McpFailure as exc:
        discovered, error = [], str(exc)
    with transaction.atomic(durable=True):
        source = ToolSource.objects.select_for_update().get(pk=source.pk)
        versions = (
            [] if error else _versions_sync(source=source, discovered=discovered, actor=actor)
        )
        source.refreshed_at, source.error = timezone.now(), error
        source.save(update_fields=["refreshed_at", "error", "updated_at"])
        result = "failed" if error else "changed" if versions else "unchanged"
        audit_record(
            action=Action.TOOL_SOURCE_REFRESH,
            actor=actor,
            target=source,
            auth_method=auth_method,
            outcome="failure" if error else "success",
            extra={
                "result": result,
                "versions": [f"{v.tool_name} v{v.number}" for v in versions],
                **({"error": error} if error else {}),
            },
        )
        if versions:
            registry_changed()
    return RefreshOutcome(result=result, source=source, versions=versions)


def tool_sources_refresh_due() -> int:
    """Refresh every enabled MCP source (the beat job); return how many were asked."""
    count = 0
    for source in ToolSource.objects.filter(enabled=True, kind__in=MCP_KINDS):
        outcome = tool_source_refresh(source=source, actor=None)
        if outcome.result == "failed":
            logger.warning("Tool source %s could not be refreshed: %s", source.name, source.error)
        count += 1
    return count


def tool_version_state_set(
    *, version: ToolVersion, state: str, actor: User, auth_method: str = ""
) -> ToolVersion:
    """Publish, deprecate or retire a version; publishing deprecates the tool's active one."""
    with transaction.atomic(durable=True):
        version = ToolVersion.objects.select_for_update().get(pk=version.pk)
        before = version.state
        if state not in TRANSITIONS[before]:
            raise ToolStateRefused(f"version {version.number} cannot go from {before} to {state}")
        now = timezone.now()
        fields = ["state", "updated_at"]
        if state == VersionState.ACTIVE:
            ToolVersion.objects.filter(
                source_id=version.source_id, tool_name=version.tool_name, state=VersionState.ACTIVE
            ).update(state=VersionState.DEPRECATED, updated_at=now)
            if version.published_at is None:
                version.published_at, version.published_by = now, actor
                fields += ["published_at", "published_by"]
        version.state = state
        version.save(update_fields=fields)
        audit_record(
            action=Action.TOOL_VERSION_STATE,
            actor=actor,
            target=version,
            auth_method=auth_method,
            extra={
                "tool": version.offered_name,
                "number": version.number,
                "from": before,
                "to": state,
            },
        )
        registry_changed()
    return version


_UNSET: Any = object()


def tool_known(name: str) -> bool:
    """Return whether name is a built-in tool or a tool some source published."""
    return name in REGISTRY or ToolVersion.objects.filter(offered_name=name).exists()


def tool_policy_set(
    *,
    name: str,
    actor: User,
    enabled: bool | None = None,
    approval: str | None = None,
    pinned_version: ToolVersion | None = _UNSET,
    auth_method: str = "",
) -> ToolPolicy:
    """Enable or disable a tool, set its approval policy, or pin (None: unpin) a version."""
    if not tool_known(name):
        raise _invalid("name", f"no tool named {name!r}")
    if pinned_version is not _UNSET and pinned_version is not None:
        if pinned_version.offered_name != name:
            raise _invalid("pinned_version", f"that version is not a version of {name}")
        if pinned_version.state in (VersionState.RETIRED, VersionState.DRAFT):
            raise _invalid(
                "pinned_version", f"version {pinned_version.number} is {pinned_version.state}"
            )
    with transaction.atomic(durable=True):
        policy, _ = ToolPolicy.objects.select_for_update().get_or_create(name=name)
        changes: dict[str, Any] = {}
        if enabled is not None:
            policy.enabled, changes["enabled"] = enabled, enabled
        if approval is not None:
            policy.approval, changes["approval"] = approval, approval
        if pinned_version is not _UNSET:
            policy.pinned_version = pinned_version
            changes["pinned_version"] = None if pinned_version is None else pinned_version.number
        policy.updated_by = actor
        policy.save()
        audit_record(
            action=Action.TOOL_POLICY,
            actor=actor,
            target=policy,
            auth_method=auth_method,
            extra={"tool": name, **changes},
        )
        registry_changed()
    return policy

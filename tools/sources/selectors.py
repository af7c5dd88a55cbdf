"""Reads of tool sources: the catalogue of every tool, and sources and versions by id.

Every authenticated role reads the catalogue (what exists, who may use it); the sources'
endpoints (URLs, commands) are shown to admins and operators only (accounts/roles.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db.models import QuerySet

from accounts.models import User
from common.errors import ApplicationError
from tools.models import ApprovalMode, ToolPolicy, ToolSource, ToolVersion
from tools.registry import REGISTRY, tool_get, tool_roles, tools_load


class ToolNotFound(ApplicationError):
    status_code = 404


@dataclass
class CatalogueEntry:
    """One tool as the catalogue lists it."""

    name: str
    kind: str
    source: ToolSource | None
    description: str
    enabled: bool
    approval: str
    requires_approval: bool
    roles: list[str]
    pinned_version: int | None
    current_version: str
    added_by: str | None
    added_at: Any
    versions: list[ToolVersion] = field(default_factory=list)


def _entry(
    name: str, versions: list[ToolVersion], policy: ToolPolicy | None
) -> CatalogueEntry | None:
    found = tool_get(name)
    source = versions[0].source if versions else None
    if found is None and source is None:
        return None
    builtin_off = (
        source is None
        and bool(settings.WEBCAP_TOOLS_ENABLED)
        and name not in settings.WEBCAP_TOOLS_ENABLED
    )
    return CatalogueEntry(
        name=name,
        kind=source.kind if source is not None else "builtin",
        source=source,
        description=found.description if found is not None else "",
        enabled=(policy is None or policy.enabled)
        and not builtin_off
        and (source is None or source.enabled),
        approval=policy.approval if policy is not None else ApprovalMode.DEFAULT,
        requires_approval=found.needs_approval() if found is not None else False,
        roles=sorted(tool_roles(name)),
        pinned_version=(
            policy.pinned_version.number
            if policy is not None and policy.pinned_version is not None
            else None
        ),
        current_version=found.version if found is not None else "",
        added_by=(
            source.created_by.username
            if source is not None and source.created_by is not None
            else None
        ),
        added_at=source.created_at if source is not None else None,
        versions=sorted(versions, key=lambda v: v.number),
    )


def tool_catalogue(*, user: User) -> list[CatalogueEntry]:
    """Return every tool: the built-ins and each source's tools, by name."""
    tools_load()
    policies = {p.name: p for p in ToolPolicy.objects.select_related("pinned_version")}
    versions: dict[str, list[ToolVersion]] = {}
    for version in ToolVersion.objects.select_related(
        "source__created_by", "published_by"
    ).order_by("offered_name", "number"):
        versions.setdefault(version.offered_name, []).append(version)
    entries = []
    for name in sorted(set(REGISTRY) | set(versions)):
        entry = _entry(name, versions.get(name, []), policies.get(name))
        if entry is not None:
            entries.append(entry)
    return entries


def tool_catalogue_entry(*, user: User, name: str) -> CatalogueEntry:
    """Return one tool of the catalogue; ToolNotFound when there is none of that name."""
    tools_load()
    versions = list(
        ToolVersion.objects.filter(offered_name=name).select_related(
            "source__created_by", "published_by"
        )
    )
    if name not in REGISTRY and not versions:
        raise ToolNotFound(f"no tool named {name!r}")
    policy = ToolPolicy.objects.select_related("pinned_version").filter(name=name).first()
    entry = _entry(name, versions, policy)
    if entry is None:
        raise ToolNotFound(f"no tool named {name!r}")
    return entry


def tool_sources_all() -> QuerySet[ToolSource]:
    """Return every source (for admins and operators, who are checked before)."""
    return ToolSource.objects.select_related("created_by").order_by("name")


def tool_source_get(*, source_id: Any) -> ToolSource:
    """Return a source by id; ToolNotFound when there is none."""
    try:
        return tool_sources_all().get(pk=uuid.UUID(str(source_id)))
    except (ToolSource.DoesNotExist, ValueError, TypeError) as exc:
        raise ToolNotFound("no such tool source") from exc


def tool_version_get(*, version_id: Any) -> ToolVersion:
    """Return a version by id; ToolNotFound when there is none."""
    try:
        return ToolVersion.objects.select_related("source").get(pk=int(version_id))
    except (ToolVersion.DoesNotExist, ValueError, TypeError) as exc:
        raise ToolNotFound("no such tool version") from exc


def tool_version_by_number(*, name: str, number: int) -> ToolVersion:
    """Return version number of the tool called name; ToolNotFound when there is none."""
    version = ToolVersion.objects.filter(offered_name=name, number=number).first()
    if version is None:
        raise ToolNotFound(f"{name} has no version {number}")
    return version

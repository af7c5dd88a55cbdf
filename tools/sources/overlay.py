"""The tools of the enabled sources and the policies admins set, as the registry sees them.

Every change (tools/sources/services.py) writes a new registry version into Django's cache
(Redis in production, shared by every process; local memory in embedded mode, one process).
Each process compares it with the version its snapshot was built from at most every
``WEBCAP_TOOL_REGISTRY_CHECK_SECONDS`` and rebuilds on a difference: a change reaches every
web and worker process within seconds, without a restart. The version is a random token, not
a counter, so a cache that lost it (a Redis restart) still differs from every snapshot.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from pydantic import BaseModel, ConfigDict

from common.sealing import TOOL_SOURCE_HEADERS, CredentialUnreadable, secret_open
from tools.models import ApprovalMode, SourceKind, ToolPolicy, ToolSource, ToolVersion, VersionState
from tools.registry import Tool, ToolError
from tools.sources.mcp import GRACE_SECONDS, Endpoint, McpFailure, mcp_tool_call

VERSION_KEY = "tools:registry-version"
# Each offered name is <source>__<tool>.
SEPARATOR = "__"


class AnyArguments(BaseModel):
    """The arguments of a source's tool: any object (its JSON schema checks them)."""

    model_config = ConfigDict(extra="allow")


def registry_changed() -> None:
    """Publish a new registry version once the caller's transaction commits."""
    transaction.on_commit(registry_bump)


def registry_bump() -> None:
    """Publish a new registry version now: every process rebuilds its tools within seconds."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, timeout=None)
    # This process sees its own change at once.
    OVERLAY.forget()


def endpoint_of(source: ToolSource) -> Endpoint:
    """Return how to reach a source (its headers opened); CredentialUnreadable if they can't."""
    headers: dict[str, str] = {}
    if source.headers_sealed:
        headers = json.loads(secret_open(source.headers_sealed, purpose=TOOL_SOURCE_HEADERS))
    return Endpoint(
        kind=source.kind,
        url=source.url,
        command=source.command,
        args=tuple(str(a) for a in source.args or ()),
        headers=headers,
    )


def approval_default(annotations: Mapping[str, Any]) -> str | None:
    """Return why calls of an MCP tool wait for a person by default, or None.

    MCP's defaults: a tool not marked read-only may change things (destructiveHint true).
    """
    if annotations.get("readOnlyHint") is True:
        return None
    if annotations.get("destructiveHint") is False:
        return "The MCP server marks this tool as changing things (not read-only)."
    return "The MCP server marks this tool as destructive (or does not say it is read-only)."


def _calling(source_name: str, endpoint: Endpoint, tool_name: str) -> Any:
    limit = float(settings.WEBCAP_TOOL_SOURCE_CALL_TIMEOUT)

    def call(**arguments: Any) -> Any:
        try:
            return mcp_tool_call(endpoint, name=tool_name, arguments=arguments, timeout=limit)
        except McpFailure as exc:
            raise ToolError(f"MCP server {source_name!r}, tool {tool_name!r}: {exc}") from exc

    return call


def tool_of_version(version: ToolVersion, source: ToolSource) -> Tool:
    """Return the registry's Tool for one published version of a source's tool."""
    refusal = ""
    if version.state == VersionState.RETIRED:
        refusal = (
            f"{version.offered_name} version {version.number} is retired and is not run; "
            "pin another version or remove the pin."
        )
    elif version.state == VersionState.DRAFT:
        refusal = f"{version.offered_name} version {version.number} is a draft, not published."
    try:
        endpoint = endpoint_of(source)
    except CredentialUnreadable as exc:
        refusal = refusal or f"{version.offered_name}: {exc}"
        endpoint = Endpoint(kind=source.kind)
    description = version.description or version.tool_name
    if version.state == VersionState.DEPRECATED:
        description = f"[deprecated version {version.number}] {description}"
    reason = approval_default(version.annotations)
    side_effects = reason is not None
    extra = {
        "source": source.name,
        "toolVersion": version.number,
        "versionState": version.state,
    }
    return Tool(
        name=version.offered_name,
        version=str(version.number),
        description=description,
        function=_calling(source.name, endpoint, version.tool_name),
        params=AnyArguments,
        requires_approval=reason is not None,
        approval_reason=reason or "",
        timeout=float(settings.WEBCAP_TOOL_SOURCE_CALL_TIMEOUT) + 2 * GRACE_SECONDS,
        side_effects=lambda _params: side_effects,
        audit_extra=lambda _call_id, _arguments: dict(extra),
        schema=version.input_schema,
        version_id=version.pk,
        refusal=refusal,
    )


@dataclass
class _Snapshot:
    token: str | None = None
    tools: dict[str, Tool] = field(default_factory=dict)
    policies: dict[str, ToolPolicy] = field(default_factory=dict)
    adjusted: dict[tuple[str, int], Tool] = field(default_factory=dict)


def _chosen(versions: list[ToolVersion], pinned: ToolVersion | None) -> ToolVersion | None:
    """The pinned version, else the newest active one, else the newest deprecated one."""
    if pinned is not None:
        return pinned
    for state in (VersionState.ACTIVE, VersionState.DEPRECATED):
        candidates = [v for v in versions if v.state == state]
        if candidates:
            return max(candidates, key=lambda v: v.number)
    return None


def snapshot_build(token: str | None) -> _Snapshot:
    """Read the sources, versions and policies once: the tools this process offers."""
    policies = {p.name: p for p in ToolPolicy.objects.select_related("pinned_version")}
    versions: dict[str, list[ToolVersion]] = {}
    sources: dict[Any, ToolSource] = {}
    rows = ToolVersion.objects.filter(
        source__enabled=True,
        source__kind__in=[SourceKind.MCP_HTTP, SourceKind.MCP_STDIO],
    ).select_related("source")
    for version in rows:
        versions.setdefault(version.offered_name, []).append(version)
        sources[version.source_id] = version.source
    tools: dict[str, Tool] = {}
    for name, candidates in versions.items():
        policy = policies.get(name)
        pinned = policy.pinned_version if policy is not None else None
        chosen = _chosen(candidates, pinned)
        if chosen is not None:
            tools[name] = tool_of_version(chosen, sources[chosen.source_id])
    return _Snapshot(token=token, tools=tools, policies=policies)


def _in_event_loop() -> bool:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return False
    return True


class SourcesOverlay:
    """The registry's overlay (tools.registry.Overlay): one snapshot per process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: _Snapshot | None = None
        self._checked = 0.0

    def _current(self) -> _Snapshot:
        if _in_event_loop():
            # No database access on an event loop's thread: the last snapshot this process
            # built (the sync code paths that run tools build it).
            return self._snapshot or _Snapshot()
        with self._lock:
            now = time.monotonic()
            snapshot = self._snapshot
            interval = float(settings.WEBCAP_TOOL_REGISTRY_CHECK_SECONDS)
            if snapshot is not None and now - self._checked < interval:
                return snapshot
            self._checked = now
            token = cache.get(VERSION_KEY)
            if token is None:
                # A cache that never had one, or lost it: one token all processes agree on.
                cache.add(VERSION_KEY, uuid.uuid4().hex, timeout=None)
                token = cache.get(VERSION_KEY)
            if snapshot is None or snapshot.token != token:
                snapshot = self._snapshot = snapshot_build(token)
            return snapshot

    def forget(self) -> None:
        """Drop the snapshot: the next lookup reads the database again (tests, a change here)."""
        with self._lock:
            self._snapshot = None

    def tools(self) -> Mapping[str, Tool]:
        return self._current().tools

    def adjust(self, tool: Tool) -> Tool:
        snapshot = self._current()
        policy = snapshot.policies.get(tool.name)
        if policy is None:
            return tool
        key = (tool.name, id(tool))
        adjusted = snapshot.adjusted.get(key)
        if adjusted is None:
            override = {ApprovalMode.ALWAYS: True, ApprovalMode.NEVER: False}.get(
                ApprovalMode(policy.approval)
            )
            refusal = tool.refusal
            if not policy.enabled:
                refusal = f"{tool.name} is disabled by an admin."
            adjusted = replace(tool, approval_override=override, refusal=refusal)
            snapshot.adjusted[key] = adjusted
        return adjusted


OVERLAY = SourcesOverlay()

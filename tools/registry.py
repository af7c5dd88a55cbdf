"""The tool registry: what the model may call, with schemas derived from type hints.

A tool is a plain function decorated with ``@tool``. Its signature becomes a pydantic model,
which gives the JSON schema the model sees and validates the arguments the model sends;
a failed validation is a tool error the model reads, never a crash.

Which roles may cause a tool to run is configuration (WEBCAP_TOOL_ROLES): the model is
offered only the tools the task owner's roles allow, and a call of any other tool is refused.
"""

from __future__ import annotations

import copy
import importlib
import importlib.metadata
import inspect
import logging
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Protocol, TypeVar, get_type_hints

from django.conf import settings
from pydantic import BaseModel, ConfigDict, ValidationError, create_model

from accounts.models import User
from accounts.roles import roles_of, tool_roles_default
from tools.errors import ToolError as ToolError
from tools.errors import ToolSuspended as ToolSuspended
from tools.errors import failed_message as failed_message
from tools.errors import timed_out_message as timed_out_message
from tools.packages import (
    PACKAGE_ERRORS,
    PACKAGE_GROUP,
    PACKAGE_TOOLS,
    tool_packages_enabled,
)
from tools.sandbox import Sandbox, SandboxError, isolation_active, sandbox_run
from tools.schemas import jsonschema_problem as jsonschema_problem
from tools.schemas import strip_titles

logger = logging.getLogger(__name__)

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Tool:
    """A registered tool and everything the agent needs to call it safely."""

    name: str
    version: str
    description: str
    function: Callable[..., Any]
    params: type[BaseModel]
    requires_approval: bool
    # Why a person must decide, shown next to the pending call.
    approval_reason: str
    # Seconds one call may run.
    timeout: float
    # Whether a call may change something outside webcap; such a call interrupted by a
    # crash is not run again (it may have happened), the model hears it was interrupted.
    side_effects: Callable[[BaseModel], bool]
    # Checks beyond the types, made before a person is asked (e.g. URL or path safety).
    check: Callable[[BaseModel], None] | None = None
    # Whether a call with side effects interrupted by a crash may run again with the same
    # idempotency key (the system it changes applies a repeated key once).
    retry_with_key: bool = False
    # Per call: the reason this call waits for a person, or None when it need not (decided
    # from its validated arguments, e.g. the trust of the agent it names).
    approval: Callable[[BaseModel], str | None] | None = None
    # The description as it is now, for a tool whose description changes at run time (the
    # agents ``delegate`` may call); read each time the model is offered the tool.
    describe: Callable[[], str] | None = None
    # More for the audit rows of a call (its id, its arguments): what the call acts on.
    audit_extra: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None
    # Whether the tool is offered now (a tool with nothing to act on is left out).
    offered: Callable[[], bool] | None = None
    # The limits of a tool that runs in a child process (code that is not webcap's own);
    # None: it runs in the worker's thread, and only stops at its deadline if it cooperates.
    sandbox: Sandbox | None = None
    # A tool from a source (tools/sources/): its JSON schema as the source published it
    # (params then accepts any object; the schema checks it), and the ToolVersion row.
    schema: dict[str, Any] | None = None
    version_id: int | None = None
    # Set at run time (tools/sources/overlay.py): True or False overrides requires_approval;
    # a refusal (a retired version, a disabled tool) is the error every call of it gets.
    approval_override: bool | None = None
    refusal: str = ""

    def retries_with_key(self) -> bool:
        """Whether an interrupted call runs again: the tool's default, or configuration."""
        return self.retry_with_key or self.name in settings.WEBCAP_TOOLS_RETRY_WITH_KEY

    def needs_approval(self) -> bool:
        """Whether calls wait for a person: forced by configuration, set by an admin, or the
        tool's default."""
        if self.name in settings.WEBCAP_TOOLS_REQUIRE_APPROVAL:
            return True
        if self.approval_override is not None:
            return self.approval_override
        return self.requires_approval

    def is_offered(self) -> bool:
        """Whether the model is offered the tool now."""
        return self.offered is None or self.offered()

    def approval_for(self, params: BaseModel) -> str | None:
        """Return why this call waits for a person, or None when it runs without asking."""
        if self.needs_approval():
            return self.approval_reason or f"{self.name} needs approval."
        if self.approval is not None and self.approval_override is None:
            return self.approval(params)
        return None

    def spec(self) -> dict[str, Any]:
        """Return the OpenAI-style function spec sent to the model (a copy: callers may edit)."""
        spec = copy.deepcopy(self._spec)
        if self.describe is not None:
            spec["function"]["description"] = self.describe()
        return spec

    @cached_property
    def _spec(self) -> dict[str, Any]:
        # Built once per Tool: schema generation is the costly part, and a Tool never changes.
        # Registering, replacing or removing a tool replaces the registry's Tool object, so
        # the memo goes with it (tests/tools/test_spec_cache.py).
        schema = self.params.model_json_schema() if self.schema is None else self.schema
        parameters = strip_titles(schema)
        parameters.setdefault("properties", {})
        return {
            "type": "function",
            "function": {
                "name": self.name,
                "description": self.description,
                "parameters": parameters,
            },
        }

    def validate(self, arguments: Any) -> BaseModel:
        """Return the validated arguments or raise ToolError saying which field is wrong."""
        if self.refusal:
            raise ToolError(self.refusal)
        if not isinstance(arguments, dict):
            raise ToolError("arguments must be a JSON object")
        if self.schema is not None:
            problem = jsonschema_problem(self.schema, arguments)
            if problem is not None:
                raise ToolError(f"invalid arguments: {problem}")
        try:
            params = self.params.model_validate(arguments)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in e['loc']) or 'arguments'}: {e['msg']}"
                for e in exc.errors(include_url=False)
            )
            raise ToolError(f"invalid arguments: {problems}") from exc
        if self.check is not None:
            self.check(params)
        return params

    def invoke(self, arguments: Any, context: CallContext) -> Any:
        """Validate the arguments and run the call as context (the worker's and run_tool's way)."""
        # Set in the calling thread: a context variable does not cross threads.
        with calling(context):
            return self.run(self.validate(arguments))

    def run(self, params: BaseModel) -> Any:
        """Call the tool with validated arguments (in the sandbox when it has one)."""
        if self.sandbox is None:
            # dict(params), not model_dump(): a parameter typed as a pydantic model gets that
            # model, not a dict (a sandboxed call gets JSON, which is all a process boundary takes).
            return self.function(**dict(params))
        call = current_call()
        deadline = call.deadline if call is not None else None
        left = self.timeout if deadline is None else deadline - time.monotonic()
        try:
            return sandbox_run(
                module=self.function.__module__,
                function=self.function.__name__,
                arguments=params.model_dump(mode="json"),
                policy=self.sandbox,
                timeout=max(left, 0.0),
                limit=self.timeout,
                isolation=isolation_active(settings.WEBCAP_SANDBOX_ISOLATION),
            )
        except SandboxError as exc:
            raise ToolError(str(exc)) from exc


REGISTRY: dict[str, Tool] = {}


class Overlay(Protocol):
    """What tool sources add at run time (tools/sources/overlay.py, set in tools/apps.py)."""

    def tools(self) -> Mapping[str, Tool]:
        """Return the tools of the enabled sources, by the name the model calls them."""

    def adjust(self, tool: Tool) -> Tool:
        """Return tool with what admins set at run time (approval, disabled) applied."""


_overlay: Overlay | None = None


def overlay_set(overlay: Overlay | None) -> None:
    """Install what tool sources add to the registry (None: built-in tools only)."""
    global _overlay
    _overlay = overlay


def _lookup(name: str) -> Tool | None:
    found = REGISTRY.get(name)
    if _overlay is None:
        return found
    if found is None:
        found = _overlay.tools().get(name)
    return None if found is None else _overlay.adjust(found)


@dataclass(frozen=True)
class CallContext:
    """The tool call being run: its task, its caller, its idempotency key, its deadline."""

    call_id: str
    task_id: str
    # The same on every attempt of the call.
    idempotency_key: str
    # 1 on the first run, 2 on the first run again after a crash, ...
    attempt: int
    # time.monotonic() when the call must be done (its start plus its tool's timeout).
    deadline: float | None = field(default=None, compare=False)
    # The username of the task's owner: on whose behalf the tool runs ("" when unknown).
    caller: str = field(default="", compare=False)
    # Set when the call should stop (its deadline passed): a long-running tool checks
    # ``stopped()`` now and then and returns or raises ToolError.
    stop: threading.Event = field(default_factory=threading.Event, compare=False)

    def stopped(self) -> bool:
        """Return whether the call should stop now: told to, or past its deadline."""
        return self.stop.is_set() or (
            self.deadline is not None and time.monotonic() >= self.deadline
        )


_current_call: ContextVar[CallContext | None] = ContextVar("webcap_tool_call", default=None)


def current_call() -> CallContext | None:
    """Return the call the running tool serves (None outside a tool call, e.g. in a shell)."""
    return _current_call.get()


@contextmanager
def calling(context: CallContext) -> Iterator[CallContext]:
    """Make context the current call for the tool run inside the block (this thread)."""
    token = _current_call.set(context)
    try:
        yield context
    finally:
        _current_call.reset(token)


def tool(
    *,
    description: str,
    name: str | None = None,
    version: str = "1",
    requires_approval: bool = False,
    approval_reason: str = "",
    timeout: float = 10.0,
    side_effects: bool | Callable[[Any], bool] = False,
    check: Callable[[Any], None] | None = None,
    retry_with_key: bool = False,
    approval: Callable[[Any], str | None] | None = None,
    describe: Callable[[], str] | None = None,
    audit_extra: Callable[[str, dict[str, Any]], dict[str, Any]] | None = None,
    offered: Callable[[], bool] | None = None,
    sandbox: Sandbox | None = None,
) -> Callable[[F], F]:
    """Register a function as a tool; its annotated parameters become the argument schema.

    With ``sandbox``, each call runs in a child process under those limits: the child imports
    the function's module and looks the function up by name, so it must be a top-level
    function of a module that imports without Django (tools/sandbox/__init__.py).
    """

    def register(function: F) -> F:
        fields: dict[str, Any] = {}
        hints = get_type_hints(function, include_extras=True)
        for parameter in inspect.signature(function).parameters.values():
            default = ... if parameter.default is inspect.Parameter.empty else parameter.default
            fields[parameter.name] = (hints.get(parameter.name, Any), default)
        tool_name = name or function.__name__
        if sandbox is not None and (
            function.__qualname__ != function.__name__ or function.__module__ == "__main__"
        ):
            raise ValueError(
                f"The sandboxed tool {tool_name!r} must be a top-level function of an "
                "importable module: the sandbox finds it by module and name."
            )
        if tool_name in REGISTRY:
            # A second tool of the same name would silently replace the first (a built-in).
            raise ValueError(f"A tool named {tool_name!r} is already registered.")
        params = create_model(
            f"{tool_name}_arguments",
            __config__=ConfigDict(extra="forbid"),
            **fields,
        )
        effects: Callable[[Any], bool]
        if callable(side_effects):
            effects = side_effects
        else:
            constant = bool(side_effects)

            def effects(_params: Any) -> bool:
                return constant

        REGISTRY[tool_name] = Tool(
            name=tool_name,
            version=version,
            description=description,
            function=function,
            params=params,
            requires_approval=requires_approval,
            approval_reason=approval_reason,
            timeout=timeout,
            side_effects=effects,
            check=check,
            retry_with_key=retry_with_key,
            approval=approval,
            describe=describe,
            audit_extra=audit_extra,
            offered=offered,
            sandbox=sandbox,
        )
        return function

    return register


def tools_load() -> None:
    """Import the modules of WEBCAP_TOOL_MODULES, which register their tools.

    The built-in tools register when the app is ready (tools/apps.py), the tools of
    installed packages then too (``tool_packages_load``).
    """
    for module in settings.WEBCAP_TOOL_MODULES:
        importlib.import_module(module)


# --- Tool packages: installed distributions with ``webcap.tools`` entry points ------------------


def tool_packages_load() -> None:
    """Import the module each ``webcap.tools`` entry point names; record what it registered.

    A package that fails to import is logged and remembered (system check webcap.W015),
    never a failure of the server's start.
    """
    for entry_point in importlib.metadata.entry_points(group=PACKAGE_GROUP):
        package = entry_point.dist.name if entry_point.dist is not None else entry_point.name
        before = set(REGISTRY)
        try:
            importlib.import_module(entry_point.module)
        except Exception as exc:
            logger.exception(
                "Tool package %s (entry point %s = %s) could not be loaded",
                package,
                entry_point.name,
                entry_point.value,
            )
            PACKAGE_ERRORS[package] = f"{type(exc).__name__}: {exc}"
            continue
        PACKAGE_ERRORS.pop(package, None)
        for name in set(REGISTRY) - before:
            PACKAGE_TOOLS[name] = package


def tool_enabled(name: str, enabled_packages: frozenset[str] | None = None) -> bool:
    """Return whether the tool may be offered and run: WEBCAP_TOOLS_ENABLED, and its package.

    A tool of a registered source (the overlay) is governed by its source's own state.
    """
    if name not in REGISTRY:
        return True
    if settings.WEBCAP_TOOLS_ENABLED and name not in settings.WEBCAP_TOOLS_ENABLED:
        return False
    package = PACKAGE_TOOLS.get(name)
    if package is None:
        return True
    if enabled_packages is None:
        enabled_packages = tool_packages_enabled()
    return package in enabled_packages


def tool_get(name: str) -> Tool | None:
    """Return the registered tool of that name."""
    tools_load()
    return _lookup(name)


def tool_roles(name: str) -> frozenset[str]:
    """Return the roles that may cause the tool to run (WEBCAP_TOOL_ROLES, else the default).

    A tool configured with no roles at all runs for nobody.
    """
    configured = settings.WEBCAP_TOOL_ROLES.get(name)
    return frozenset(tool_roles_default() if configured is None else configured)


def tool_allowed_for(*, name: str, user: User) -> bool:
    """Return whether one of the user's roles may cause the tool to run."""
    return not roles_of(user).isdisjoint(tool_roles(name))


def tools_available(*, user: User | None = None) -> list[Tool]:
    """Return the tools the agent offers the model, in name order.

    With a user (the task's owner), only the tools the user's roles may cause to run; a
    package's tools only while the package is enabled.
    """
    tools_load()
    # Read once per offer: a package enabled at run time is offered from the next turn on.
    packages = tool_packages_enabled()
    names = {n for n in REGISTRY if tool_enabled(n, packages)}
    if _overlay is not None:
        names.update(_overlay.tools())
    offered = []
    for name in sorted(names):
        if user is not None and not tool_allowed_for(name=name, user=user):
            continue
        found = _lookup(name)
        if found is not None and not found.refusal and found.is_offered():
            offered.append(found)
    return offered

"""Roles are Django groups (created by a migration); what each may do is decided here.

- ``admin``: everything, including the audit log, every task and every tool-call decision.
- ``operator``: sees every task and the audit log, may cancel any task; never decides tool
  calls of others, never sends to or changes others' tasks (no push configs, no shares).
- ``approver``: may decide tool calls of tasks shared with them for approval.
- ``user``: their own tasks (the role of a user in no role group).
- ``viewer``: read-only; may read tasks shared with them, never sends or cancels.

A superuser counts as admin. A user in several groups has the union of their rights.

What a role may do with one task (``a2a/selectors.py`` applies it; a task the caller may not
read is reported as not found, a task it may read but not act on as permission denied):

============  ==========================  ====================  ========================
action        owner                       object permission     role, whatever the task
============  ==========================  ====================  ========================
read          yes                         ``view_task``         admin, operator
send, change  yes (unless only a viewer)  ``change_task``       admin
cancel        yes (unless only a viewer)  ``cancel_task``       admin, operator
decide tools  yes (unless only a viewer)  ``approve_task`` and  admin
                                          the approver role
manage shares yes                         none                  admin
============  ==========================  ====================  ========================

The owner of a new task is granted ``view_task``, ``change_task``, ``cancel_task`` and
``approve_task`` on it; a share grants ``view_task`` ("view") or ``view_task`` and
``approve_task`` ("approve", only to approvers). Model permissions of the groups (admin:
every webcap model; operator: read the task trail and cancel) only matter in the admin site.
"""

from __future__ import annotations

from accounts.models import User

ADMIN = "admin"
OPERATOR = "operator"
APPROVER = "approver"
USER = "user"
VIEWER = "viewer"
ROLES = (ADMIN, OPERATOR, APPROVER, USER, VIEWER)

_CACHE_ATTR = "_webcap_roles"


def roles_of(user: User) -> frozenset[str]:
    """Return the user's roles (cached on the user object for the request)."""
    cached: frozenset[str] | None = getattr(user, _CACHE_ATTR, None)
    if cached is not None:
        return cached
    names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
    if user.is_superuser:
        names.add(ADMIN)
    if not names:
        names.add(USER)
    roles = frozenset(names)
    setattr(user, _CACHE_ATTR, roles)
    return roles


def forget_roles(user: User) -> None:
    """Drop the cached roles after the user's groups changed."""
    if hasattr(user, _CACHE_ATTR):
        delattr(user, _CACHE_ATTR)


def has_role(user: User, *roles: str) -> bool:
    return not roles_of(user).isdisjoint(roles)


def sees_all_tasks(user: User) -> bool:
    """Admins and operators read (and may cancel) every task."""
    return has_role(user, ADMIN, OPERATOR)


def cancels_all_tasks(user: User) -> bool:
    """Admins and operators cancel any task."""
    return has_role(user, ADMIN, OPERATOR)


def manages_all_tasks(user: User) -> bool:
    """Admins send to, change, share and decide the tool calls of any task."""
    return has_role(user, ADMIN)


def decides_when_granted(user: User) -> bool:
    """Approvers decide the tool calls of tasks shared with them for approval."""
    return has_role(user, APPROVER)


def reads_audit(user: User) -> bool:
    return has_role(user, ADMIN, OPERATOR)


def may_send(user: User) -> bool:
    """Whether the user may create tasks and send messages (everyone but pure viewers)."""
    return has_role(user, ADMIN, OPERATOR, APPROVER, USER)


def manages_remote_agents(user: User) -> bool:
    """Admins and operators register, change, refresh and delete remote agents (and see
    disabled ones); every role may read the enabled ones."""
    return has_role(user, ADMIN, OPERATOR)


def tool_roles_default() -> tuple[str, ...]:
    """Roles that may cause a tool to run when WEBCAP_TOOL_ROLES does not name it."""
    return (ADMIN, OPERATOR, APPROVER, USER)


def manages_tools(user: User) -> bool:
    """Admins and operators register tool sources, publish versions and set tool policies."""
    return has_role(user, ADMIN, OPERATOR)

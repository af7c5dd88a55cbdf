"""Tool calls in the admin: who may open them, the filters, and decisions through the service.

The "Approve selected" / "Reject selected" actions and the buttons on a call's page call
``tools.services.tool_call_decide``, so they have the API's rights (the owner, an approver
the task is shared with for approval, admins; never an operator) and write the same audit
events. A call that does not wait for a decision is skipped, and the message says why.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.contrib.messages import get_messages
from django.test import Client
from django.utils import timezone

from a2a.models import Task
from a2a.services.shares import task_share_set
from accounts.models import User
from assistant.services import assistant_turn_store
from audit.models import AuditEvent
from tests.admin_people import (
    EXPECTED,
    admin_people,
    assert_matrix_answer,
    make_staff,
    signed_in,
)
from tests.factories import make_user, send
from tools.models import ToolCall, ToolCallStatus
from tools.services import RequestedCall

pytestmark = pytest.mark.django_db

CALLS = "/admin/tools/toolcall/"
READ = ("read_file", '{"path": "notes.txt"}')
CALC = ("calculator", '{"expression": "2*3"}')


def _calls(task: Task, *requested: tuple[str, str]) -> list[ToolCall]:
    """Store a model turn asking for these calls, through the service."""
    _, calls = assistant_turn_store(
        task=task, text="", requested=[RequestedCall("", name, args) for name, args in requested]
    )
    return calls


@pytest.fixture
def owner(db: None) -> User:
    return make_user("alice")


@pytest.fixture
def task(owner: User, files_folder: Path) -> Task:
    (files_folder / "notes.txt").write_text("remember the milk")  # a person is asked to read it
    return Task.objects.get(pk=send(owner, "please read notes.txt").task_id)


@pytest.fixture
def pending(task: Task) -> ToolCall:
    [call] = _calls(task, READ)
    assert call.status == ToolCallStatus.AWAITING_APPROVAL
    return call


@pytest.fixture
def people(db: None) -> dict[str, User | None]:
    return admin_people()


@pytest.mark.parametrize("who", list(EXPECTED))
@pytest.mark.parametrize("page", ["list", "detail"])
def test_authorization_matrix(people, pending, who, page):
    path = CALLS if page == "list" else f"{CALLS}{pending.pk}/change/"

    response = signed_in(people[who]).get(path)

    assert_matrix_answer(response, who, path)


def _listed(client: Client, **query: str) -> list[str]:
    response = client.get(CALLS, query)
    assert response.status_code == 200, response.content.decode()[:2000]
    return [str(c.pk) for c in response.context["cl"].result_list]


def test_filters_return_the_right_calls(people, task):
    read, calc = _calls(task, READ, CALC)
    old = timezone.now() - timedelta(days=40)
    ToolCall.objects.filter(pk=calc.pk).update(created_at=old)
    client = signed_in(people["operator"])

    assert _listed(client, status__exact="awaiting-approval") == [str(read.pk)]
    assert _listed(client, status__exact="scheduled") == [str(calc.pk)]
    assert _listed(client, tool="calculator") == [str(calc.pk)]
    assert _listed(client, tool="read_file") == [str(read.pk)]
    day = timezone.localdate(old)
    assert _listed(
        client,
        created_at__year=str(day.year),
        created_at__month=str(day.month),
        created_at__day=str(day.day),
    ) == [str(calc.pk)]
    assert client.get(CALLS, {"_facets": "True"}).status_code == 200
    body = client.get(CALLS).content.decode()
    assert "notes.txt" in body  # the arguments column
    assert f'href="/admin/a2a/task/{task.pk}/change/"' in body


def _act(client: Client, action: str, calls: list[ToolCall]) -> list[str]:
    response = client.post(
        CALLS, {"action": action, "_selected_action": [str(c.pk) for c in calls]}
    )
    assert response.status_code == 302
    return [str(m) for m in get_messages(response.wsgi_request)]


def _decisions() -> list[tuple[str, str, str, str, dict[str, Any]]]:
    return [
        (e.action, e.outcome, e.actor_username, e.target_id, e.extra)
        for e in AuditEvent.objects.filter(action__in=["toolcall.approve", "toolcall.reject"])
    ]


def test_approve_selected_goes_through_the_service_and_is_audited(people, task, pending):
    [done] = _calls(task, CALC)
    ToolCall.objects.filter(pk=done.pk).update(status=ToolCallStatus.SUCCESS)

    messages = _act(signed_in(people["superuser"]), "approve", [pending, done])

    pending.refresh_from_db()
    assert (pending.status, pending.decision, pending.decision_reason) == (
        "scheduled",
        "approved",
        "decided in the admin",
    )
    assert pending.decided_by_id == people["superuser"].pk
    assert messages == [
        "1 tool call(s) approved.",
        f"1 skipped: calculator {str(done.pk)[:8]} is success: it does not wait for a decision.",
    ]
    assert _decisions() == [
        (
            "toolcall.approve",
            "success",
            "root",
            str(pending.pk),
            {"tool": "read_file", "taskId": str(task.pk), "reason": "decided in the admin"},
        )
    ]
    # The action's own row names what was selected.
    [row] = AuditEvent.objects.filter(action="admin.change")
    assert row.extra["admin_action"] == "approve"
    assert row.extra["count"] == 2


def test_reject_selected_by_an_approver_the_task_is_shared_with(owner, task, pending):
    approver = make_staff("april", "approver")
    approver.user_permissions.add(Permission.objects.get(codename="view_toolcall"))
    task_share_set(user=owner, task_id=str(task.pk), username="april", permission="approve")

    messages = _act(signed_in(User.objects.get(pk=approver.pk)), "reject", [pending])

    pending.refresh_from_db()
    assert (pending.status, pending.decision) == ("cancelled", "rejected")
    assert pending.error == "rejected by april: decided in the admin"
    assert messages == ["1 tool call(s) rejected."]
    assert [d[:3] for d in _decisions()] == [("toolcall.reject", "success", "april")]


def test_an_operator_sees_calls_but_may_not_decide_them(people, task, pending):
    before = list(ToolCall.objects.values())

    messages = _act(signed_in(people["operator"]), "approve", [pending])

    assert list(ToolCall.objects.values()) == before
    assert messages == [
        "0 tool call(s) approved.",
        f"1 skipped: read_file {str(pending.pk)[:8]}: You may see tool call {pending.pk} but "
        "not decide it.",
    ]
    assert _decisions() == []


def test_a_staff_approver_without_a_share_does_not_even_see_the_call(task, pending):
    approver = make_staff("april", "approver")
    approver.user_permissions.add(Permission.objects.get(codename="view_toolcall"))
    client = signed_in(User.objects.get(pk=approver.pk))

    assert _listed(client) == []
    assert client.get(f"{CALLS}{pending.pk}/change/").status_code == 302  # "not found"
    response = client.post(f"{CALLS}{pending.pk}/decide/", {"decision": "approve"})
    assert response.status_code == 404
    pending.refresh_from_db()
    assert pending.decision == ""


def test_the_buttons_on_a_calls_page_decide_it(people, pending):
    client = signed_in(people["superuser"], enforce_csrf_checks=True)
    page = client.get(f"{CALLS}{pending.pk}/change/")
    assert page.status_code == 200
    assert page.context["decidable"] is True
    body = page.content.decode()
    assert f'action="/admin/tools/toolcall/{pending.pk}/decide/"' in body
    token = page.cookies["csrftoken"].value
    decide = f"{CALLS}{pending.pk}/decide/"

    assert client.post(decide, {"decision": "reject"}).status_code == 403  # no CSRF token
    assert client.get(decide).status_code == 405
    pending.refresh_from_db()
    assert pending.decision == ""

    response = client.post(
        decide,
        {"decision": "reject", "reason": " too risky ", "csrfmiddlewaretoken": token},
        follow=True,  # the page shows (and so uses up) the message
    )

    assert response.redirect_chain == [(f"{CALLS}{pending.pk}/change/", 302)]
    assert f"Rejected read_file {str(pending.pk)[:8]}." in response.content.decode()
    pending.refresh_from_db()
    assert (pending.status, pending.decision, pending.decision_reason) == (
        "cancelled",
        "rejected",
        "too risky",
    )
    assert [d[:3] for d in _decisions()] == [("toolcall.reject", "success", "root")]
    again = client.post(decide, {"decision": "approve", "csrfmiddlewaretoken": token})
    assert [str(m) for m in get_messages(again.wsgi_request)] == [
        f"Not decided: read_file {str(pending.pk)[:8]} is cancelled (rejected): it does not "
        "wait for a decision."
    ]
    assert client.get(f"{CALLS}{pending.pk}/change/").context["decidable"] is False


def test_an_operator_gets_no_buttons_and_a_refusal(people, pending):
    client = signed_in(people["operator"])
    assert client.get(f"{CALLS}{pending.pk}/change/").context["decidable"] is False

    response = client.post(f"{CALLS}{pending.pk}/decide/", {"decision": "approve"})

    assert response.status_code == 302
    assert [str(m) for m in get_messages(response.wsgi_request)] == [
        f"Not decided: read_file {str(pending.pk)[:8]}: You may see tool call {pending.pk} "
        "but not decide it."
    ]
    pending.refresh_from_db()
    assert pending.decision == ""
    bad = signed_in(people["operator"]).post(f"{CALLS}{pending.pk}/decide/", {"decision": "maybe"})
    assert [str(m) for m in get_messages(bad.wsgi_request)] == ["Choose approve or reject."]


def test_calls_cannot_be_edited_and_only_superusers_delete(people, pending):
    admin_role = make_staff("ada", "admin")
    for user in (people["operator"], admin_role):
        client = signed_in(user)
        assert client.post(f"{CALLS}{pending.pk}/change/", {"tool": "x"}).status_code == 403
        assert client.get(f"{CALLS}{pending.pk}/delete/").status_code == 403
    assert signed_in(people["superuser"]).get(f"{CALLS}{pending.pk}/delete/").status_code == 200

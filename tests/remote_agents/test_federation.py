"""Federation: a registered agent's own account (``client_user``) names it in audit rows, and
a task lists its sub-tasks at other agents, with theirs, as a tree in its metadata and on
its admin page."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from a2a.models import Task
from a2a.services.tasks import SendResult, message_send
from accounts.services import user_ensure
from audit.models import AuditEvent
from remote_agents.delegation import (
    MAX_TREE_DEPTH,
    MAX_TREE_NODES,
    TREE_KEY,
    delegation_finish,
    delegation_progress,
    subtasks_clean,
    task_federation,
)
from remote_agents.models import Delegation, RemoteAgent
from remote_agents.services import remote_agent_update
from tests.admin_people import make_staff, signed_in
from tests.factories import make_key, make_user, wire_message
from tests.remote_agents.cardsite import card

pytestmark = [pytest.mark.django_db]


def _agent(name: str = "peer", **fields: Any) -> RemoteAgent:
    values: dict[str, Any] = {
        "card_url": f"http://127.0.0.1:9/{name}/card.json",
        "card": {"name": name},
        "interface_url": f"http://127.0.0.1:9/{name}",
        "interface_binding": "JSONRPC",
        "interface_version": "1.0",
        "approval_policy": "never",
    }
    return RemoteAgent.objects.create(name=name, **{**values, **fields})


def _task(
    owner: Any,
    text: str = "hello",
    metadata: dict[str, Any] | None = None,
    request_metadata: dict[str, Any] | None = None,
) -> Task:
    message = wire_message(text)
    if metadata is not None:
        message = message.model_copy(update={"metadata": metadata})
    result = message_send(owner=owner, message=message, request_metadata=request_metadata)
    assert isinstance(result, SendResult)
    return Task.objects.get(pk=result.task_id)


def _delegation(task: Task, agent: RemoteAgent, depth: int = 1) -> Delegation:
    return Delegation.objects.create(
        parent_task=task, remote_agent=agent, depth=depth, state="TASK_STATE_SUBMITTED"
    )


@pytest.mark.live
def test_the_api_sets_the_agents_account_by_username_and_refuses_a_bad_one(site, allow_local):
    operator = user_ensure(username="ops", role="operator")
    client = Client(headers={"Authorization": f"Bearer {make_key(operator)}"})
    user_ensure(username="from-peer", role="user")
    url = site.put("/fed/card.json", card(site.url))
    created = client.post(
        "/api/agents/",
        {"name": "peer", "card_url": url, "client_user": "from-peer"},
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    assert created.json()["client_user"] == "from-peer"
    registered = AuditEvent.objects.get(action="remoteagent.register")
    assert registered.extra["client_user"] == "from-peer"

    unknown = client.post(
        "/api/agents/",
        {"name": "other", "card_url": url, "client_user": "nobody"},
        content_type="application/json",
    )
    assert unknown.status_code == 400
    assert unknown.json()["client_user"] == ["no active user is named 'nobody'"]
    taken = client.post(
        "/api/agents/",
        {"name": "other", "card_url": url, "client_user": "from-peer"},
        content_type="application/json",
    )
    assert taken.status_code == 400
    assert "already the account of 'peer'" in taken.json()["client_user"][0]
    assert not RemoteAgent.objects.filter(name="other").exists()

    agent_id = created.json()["id"]
    cleared = client.patch(
        f"/api/agents/{agent_id}/", {"client_user": None}, content_type="application/json"
    )
    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["client_user"] is None


def test_audit_rows_of_an_agents_account_name_the_agent_and_no_one_elses(settings):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 60
    account, person = make_user("from-peer"), make_user("alice")
    agent = _agent()
    _task(account)
    _task(person)
    # Not yet the agent's account: no label (and the cache remembers "nobody").
    assert "callingAgent" not in AuditEvent.objects.filter(actor=account).latest("id").extra
    remote_agent_update(agent=agent, actor=None, changes={"client_user": account})
    _task(account)
    _task(person)
    rows = AuditEvent.objects.filter(action="task.create").order_by("id")
    assert [(r.actor_username, r.extra.get("callingAgent")) for r in rows] == [
        ("from-peer", None),
        ("alice", None),
        ("from-peer", "peer"),
        ("alice", None),
    ]
    # A caller's own extra wins over the label; deleting the agent forgets the account.
    agent.delete()
    _task(account)
    assert "callingAgent" not in AuditEvent.objects.filter(actor=account).latest("id").extra


def test_a_task_lists_its_delegations_as_a_tree_with_what_each_remote_reported():
    owner = make_user("alice")
    task = _task(owner, request_metadata={"mine": 1})
    b, c = _agent("b"), _agent("c")
    first = _delegation(task, b)
    delegation_progress(delegation=first, remote_task_id="b-1", state="TASK_STATE_WORKING")
    task.refresh_from_db()
    assert (task.metadata or {})[TREE_KEY] == [
        {"agent": "b", "taskId": "b-1", "state": "TASK_STATE_WORKING", "subtasks": []}
    ]
    second = _delegation(task, c)
    reported = [{"agent": "a", "taskId": "a-9", "state": "TASK_STATE_COMPLETED", "x": 1}]
    delegation_finish(
        delegation=first, state="TASK_STATE_COMPLETED", subtasks=subtasks_clean(reported)
    )
    delegation_finish(
        delegation=second, state="TASK_STATE_SUBMITTED", error="c could not be reached"
    )
    task.refresh_from_db()
    assert (task.metadata or {})[TREE_KEY] == [
        {
            "agent": "b",
            "taskId": "b-1",
            "state": "TASK_STATE_COMPLETED",
            "subtasks": [
                {"agent": "a", "taskId": "a-9", "state": "TASK_STATE_COMPLETED", "subtasks": []}
            ],
        },
        {
            "agent": "c",
            "state": "TASK_STATE_SUBMITTED",
            "error": "c could not be reached",
            "subtasks": [],
        },
    ]
    # The client's own metadata is kept beside it; the admin reads the same tree.
    assert (task.metadata or {})["mine"] == 1
    assert task_federation(task=task)["subtasks"] == (task.metadata or {})[TREE_KEY]


def test_a_reported_tree_is_cleaned_and_bounded():
    deep: list[dict[str, Any]] = []
    node = deep
    for level in range(MAX_TREE_DEPTH + 5):
        child: list[dict[str, Any]] = []
        node.append({"agent": f"l{level}", "subtasks": child})
        node = child
    cleaned = subtasks_clean(deep)
    levels = 0
    while cleaned:
        levels += 1
        cleaned = cleaned[0]["subtasks"]
    assert levels == MAX_TREE_DEPTH
    wide = [{"agent": "w", "taskId": str(n)} for n in range(MAX_TREE_NODES * 2)]
    assert len(subtasks_clean(wide)) == MAX_TREE_NODES
    assert subtasks_clean(
        [
            "not a node",
            {"taskId": "no agent"},
            {"agent": 7},
            {"agent": "x" * 1000, "state": ["bad"], "error": "e" * 2000, "secret": "dropped"},
        ]
    ) == [{"agent": "x" * 256, "error": "e" * 500, "subtasks": []}]
    assert subtasks_clean(None) == subtasks_clean({"agent": "a"}) == []


def test_a_task_another_agent_asked_for_says_who_on_its_admin_page(settings):
    settings.WEBCAP_CREDENTIAL_CACHE_SECONDS = 0
    account = make_user("from-peer")
    _agent(client_user=account)
    chain = {"origin": "task-at-peer", "depth": 1, "chain": ["task-at-peer"]}
    task = _task(account, metadata={"webcap.delegation": chain})
    b = _agent("b")
    delegation = _delegation(task, b, depth=2)
    delegation_finish(
        delegation=delegation,
        state="TASK_STATE_COMPLETED",
        subtasks=[{"agent": "c", "taskId": "c-1", "state": "TASK_STATE_FAILED", "subtasks": []}],
    )
    client = signed_in(make_staff("root", "admin"))
    page = client.get(f"/admin/a2a/task/{task.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Asked for by the agent <strong>peer</strong>" in html
    assert "hop 1 of a chain of delegations from task <code>task-at-peer</code>" in html
    tree = html[html.index('id="task-agents"') :]
    assert tree.index('data-agent="b"') < tree.index('data-agent="c"')
    assert 'data-state="TASK_STATE_FAILED"' in tree
    # A task nobody delegated, with no sub-tasks, shows no such section.
    plain = _task(make_user("bob"))
    assert 'id="task-agents"' not in client.get(f"/admin/a2a/task/{plain.pk}/change/").text

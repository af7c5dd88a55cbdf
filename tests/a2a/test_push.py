"""Push notifications: config operations on both bindings, SSRF refusals, the outbox."""

from __future__ import annotations

import socket
import time
from unittest import mock

import pytest
from asgiref.sync import sync_to_async
from django.db import transaction

from a2a.models import DeliveryStatus, EventKind, PushConfig, PushDelivery, Task
from a2a.services import push as push_services
from a2a.services.events import event_append
from a2a.services.push import push_deliveries_drain, push_deliveries_resume
from tests.factories import message_params
from tests.webhook import WebhookReceiver

pytestmark = pytest.mark.django_db(transaction=True)

HOOK = "https://hooks.example.com/a2a"


@pytest.fixture(autouse=True)
def no_background_delivery():
    """Jobs run eagerly in-process: keep them from delivering; tests drain by hand."""
    with mock.patch.object(push_services, "_deliver_later") as deliver_later:
        yield deliver_later


@pytest.fixture
def public_dns(monkeypatch):
    """Resolve every name to a public address (the sandbox has no DNS)."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host in ("127.0.0.1", "localhost"):
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.215.14", port or 443))]

    monkeypatch.setattr(socket, "getaddrinfo", fake)


@pytest.fixture
def receiver(settings):
    hook = WebhookReceiver()
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    settings.WEBCAP_PUSH_RETRY_BASE = 0.05
    yield hook
    hook.close()


async def _task(rpc, key, text="hello world", **kwargs):
    return (await rpc("SendMessage", message_params(text, **kwargs), key=key)).json()["result"][
        "task"
    ]


async def _create(rpc, key, task_id, **config):
    return (
        await rpc("CreateTaskPushNotificationConfig", {"taskId": task_id, **config}, key=key)
    ).json()


# --- Config operations ---------------------------------------------------------------------------


async def test_config_crud_over_json_rpc(rpc, api_key, public_dns):
    task = await _task(rpc, api_key)
    made = (await _create(rpc, api_key, task["id"], url=HOOK, token="tok"))["result"]
    assert made["taskId"] == task["id"]
    assert made["url"] == HOOK
    assert made["token"] == "tok"
    assert len(made["id"]) == 36  # a server-made UUID
    named = (
        await _create(
            rpc,
            api_key,
            task["id"],
            id="mine",
            url=HOOK,
            authentication={"scheme": "Bearer", "credentials": "s3cret"},
        )
    )["result"]
    assert named["authentication"] == {"scheme": "Bearer", "credentials": "s3cret"}

    got = (
        await rpc(
            "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "mine"}, key=api_key
        )
    ).json()
    assert got["result"] == named
    listed = (
        await rpc("ListTaskPushNotificationConfigs", {"task_id": task["id"]}, key=api_key)
    ).json()
    assert listed["result"] == {"configs": [made, named], "nextPageToken": ""}

    for _ in range(2):  # delete is idempotent
        deleted = (
            await rpc(
                "DeleteTaskPushNotificationConfig",
                {"taskId": task["id"], "id": "mine"},
                key=api_key,
            )
        ).json()
        assert deleted["result"] == {}
    gone = (
        await rpc(
            "GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "mine"}, key=api_key
        )
    ).json()
    assert gone["error"]["code"] == -32001
    assert (await Task.objects.aget(pk=task["id"])).push_config_count == 1


async def test_config_crud_over_rest(async_client, rpc, api_key, public_dns):
    task = await _task(rpc, api_key)
    headers = {"Authorization": f"Bearer {api_key}", "A2A-Version": "1.0"}
    base = f"/a2a/rest/tasks/{task['id']}/pushNotificationConfigs"
    made = await async_client.post(
        base, {"id": "c1", "url": HOOK}, content_type="application/json", headers=headers
    )
    assert made.status_code == 200
    assert made.json() == {"id": "c1", "taskId": task["id"], "url": HOOK}
    assert (await async_client.get(f"{base}/c1", headers=headers)).json()["id"] == "c1"
    assert (await async_client.get(base, headers=headers)).json()["configs"][0]["id"] == "c1"
    deleted = await async_client.delete(f"{base}/c1", headers=headers)
    assert (deleted.status_code, deleted.json()) == (200, {})
    assert (await async_client.get(f"{base}/c1", headers=headers)).status_code == 404


async def test_ids_are_never_overwritten_and_configs_are_capped(rpc, api_key, settings, public_dns):
    settings.WEBCAP_PUSH_MAX_CONFIGS_PER_TASK = 2
    task = await _task(rpc, api_key)
    await _create(rpc, api_key, task["id"], id="a", url=HOOK)
    again = await _create(rpc, api_key, task["id"], id="a", url=HOOK + "/other")
    assert again["error"]["code"] == -32602
    assert "already exists" in again["error"]["message"]
    await _create(rpc, api_key, task["id"], id="b", url=HOOK)
    third = await _create(rpc, api_key, task["id"], id="c", url=HOOK)
    assert third["error"]["code"] == -32602
    assert "the most a task may have" in third["error"]["message"]
    config = await PushConfig.objects.aget(task_id=task["id"], config_id="a")
    assert config.url == HOOK


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:9/hook", "loopback"),
        ("http://169.254.169.254/latest/meta-data", "link-local"),
        ("http://[::ffff:127.0.0.1]/hook", "IPv4-mapped"),
        ("http://localhost/hook", "localhost"),
        ("http://10.1.2.3/hook", "private"),
        ("ftp://example.com/hook", "scheme"),
    ],
)
async def test_unsafe_webhook_urls_are_refused_at_create(rpc, api_key, url, reason):
    task = await _task(rpc, api_key)
    error = (await _create(rpc, api_key, task["id"], url=url))["error"]
    assert error["code"] == -32602
    assert "url:" in error["message"]
    assert reason in error["message"]
    assert await PushConfig.objects.acount() == 0


async def test_name_resolving_to_a_private_address_is_refused_at_create(rpc, api_key, monkeypatch):
    task = await _task(rpc, api_key)
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.168.7.7", port))
        ],
    )
    error = (await _create(rpc, api_key, task["id"], url="https://intranet.example.com/hook"))[
        "error"
    ]
    assert error["code"] == -32602
    assert "192.168.7.7" in error["message"]


async def test_allowlisted_host_is_accepted(rpc, api_key, settings):
    settings.WEBCAP_PUSH_ALLOWED_HOSTS = ["127.0.0.1"]
    task = await _task(rpc, api_key)
    assert "result" in await _create(rpc, api_key, task["id"], url="http://127.0.0.1:9/hook")


@pytest.mark.parametrize(
    ("config", "field"),
    [
        ({"token": "a\r\nX-Evil: 1"}, "token"),
        (
            {"authentication": {"scheme": "Bearer", "credentials": "x\ny"}},
            "authentication.credentials",
        ),
        ({"authentication": {"scheme": "Bear er"}}, "authentication.scheme"),
    ],
)
async def test_header_injection_is_refused(rpc, api_key, public_dns, config, field):
    task = await _task(rpc, api_key)
    error = (await _create(rpc, api_key, task["id"], url=HOOK, **config))["error"]
    assert error["code"] == -32602
    assert field in error["message"]


async def test_foreign_and_missing_tasks_are_not_found(rpc, api_key, other_api_key, public_dns):
    task = await _task(rpc, api_key)
    await _create(rpc, api_key, task["id"], id="c", url=HOOK)
    calls = [
        ("CreateTaskPushNotificationConfig", {"taskId": task["id"], "url": HOOK}),
        ("GetTaskPushNotificationConfig", {"taskId": task["id"], "id": "c"}),
        ("ListTaskPushNotificationConfigs", {"taskId": task["id"]}),
        ("DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": "c"}),
    ]
    for method, params in calls:
        assert (await rpc(method, params, key=other_api_key)).json()["error"]["code"] == -32001
        anonymous = await rpc(method, params)
        assert anonymous.status_code == 401
    assert await PushConfig.objects.acount() == 1


async def test_capability_off_is_refused_before_params_are_read(rpc, api_key, settings):
    settings.WEBCAP_PUSH_ENABLED = False
    body = (await rpc("GetTaskPushNotificationConfig", {}, key=api_key)).json()
    assert body["error"]["code"] == -32003


# --- The outbox ----------------------------------------------------------------------------------


async def test_inline_config_queues_every_event_of_the_task(
    rpc, api_key, receiver, no_background_delivery
):
    params = message_params(
        "a b",
        configuration={"taskPushNotificationConfig": {"url": receiver.url, "token": "tok"}},
    )
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    deliveries = [
        d
        async for d in PushDelivery.objects.filter(task_id=task["id"])
        .order_by("id")
        .select_related("event")
    ]
    assert [d.event.seq for d in deliveries] == [1, 2, 3, 4, 5]
    assert {d.status for d in deliveries} == {DeliveryStatus.PENDING}
    assert no_background_delivery.call_count == 5


async def test_inline_config_with_unsafe_url_stores_nothing(rpc, api_key):
    params = message_params(
        "x", configuration={"taskPushNotificationConfig": {"url": "http://127.0.0.1/"}}
    )
    error = (await rpc("SendMessage", params, key=api_key)).json()["error"]
    assert error["code"] == -32602
    assert "configuration.taskPushNotificationConfig.url" in error["message"]
    assert await Task.objects.acount() == 0


def _drain_until_idle(config_pk: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        wait = push_deliveries_drain(config_pk=config_pk)
        if wait is None:
            return
        time.sleep(wait)
    raise AssertionError("deliveries still pending")


async def test_failed_deliveries_are_retried_in_order_none_twice(rpc, api_key, receiver):
    receiver.fail_first = 2
    params = message_params(
        "one two three",
        configuration={
            "taskPushNotificationConfig": {
                "url": receiver.url,
                "token": "tok-1",
                "authentication": {"scheme": "Bearer", "credentials": "cred-1"},
            }
        },
    )
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    config = await PushConfig.objects.aget(task_id=task["id"])
    await sync_to_async(_drain_until_idle)(str(config.pk))
    received = receiver.wait_for(6)
    assert receiver.attempts == 8  # two refusals, then six deliveries
    bodies = [r.body for r in received]
    assert [next(iter(b)) for b in bodies] == [
        "task",
        "statusUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "artifactUpdate",
        "statusUpdate",
    ]
    assert bodies[-1]["statusUpdate"]["status"]["state"] == "TASK_STATE_COMPLETED"
    first = received[0]
    assert first.headers["authorization"] == "Bearer cred-1"
    assert first.headers["x-a2a-notification-token"] == "tok-1"
    assert first.headers["content-type"] == "application/a2a+json"
    statuses = [d.status async for d in PushDelivery.objects.filter(config=config)]
    assert statuses == [DeliveryStatus.DELIVERED] * 6
    head = await PushDelivery.objects.filter(config=config).order_by("id").afirst()
    assert head is not None
    assert (head.attempts, head.last_status_code) == (3, 200)


async def test_deliveries_are_dead_lettered_after_the_last_attempt(
    rpc, api_key, receiver, settings
):
    settings.WEBCAP_PUSH_MAX_ATTEMPTS = 2
    receiver.fail_first = 100
    params = message_params(
        "x", configuration={"taskPushNotificationConfig": {"url": receiver.url}}
    )
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    config = await PushConfig.objects.aget(task_id=task["id"])
    await sync_to_async(_drain_until_idle)(str(config.pk))
    deliveries = [d async for d in PushDelivery.objects.filter(config=config)]
    assert {(d.status, d.attempts, d.last_error) for d in deliveries} == {
        (DeliveryStatus.DEAD, 2, "HTTP 500")
    }


async def test_an_address_that_turns_private_is_refused_at_delivery(
    rpc, api_key, monkeypatch, settings
):
    settings.WEBCAP_PUSH_RETRY_BASE = 0.05
    answer = {"address": "93.184.215.14"}
    monkeypatch.setattr(
        socket,
        "getaddrinfo",
        lambda host, port, *a, **k: [
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer["address"], port))
        ],
    )
    task = await _task(rpc, api_key)
    await _create(rpc, api_key, task["id"], url="https://rebinding.example.com/hook")
    answer["address"] = "127.0.0.1"  # DNS rebinding after the config was accepted
    config = await PushConfig.objects.aget(task_id=task["id"])
    delivery = await sync_to_async(_delivery_for_new_event)(config)
    assert delivery.status == DeliveryStatus.DEAD
    assert delivery.attempts == 1
    assert "127.0.0.1" in delivery.last_error
    assert delivery.last_error.startswith("Refused:")


def _delivery_for_new_event(config: PushConfig) -> PushDelivery:
    """Append one event to the config's task and try to deliver it at once."""
    with transaction.atomic():
        task = Task.objects.select_for_update().select_related("context").get(pk=config.task_id)
        event = event_append(task=task, kind=EventKind.STATUS_UPDATE, payload={"statusUpdate": {}})
        task.save(update_fields=["last_seq"])
    push_deliveries_drain(config_pk=str(config.pk))
    return PushDelivery.objects.get(event=event)


async def test_deleting_a_config_cancels_its_pending_deliveries(rpc, api_key, receiver):
    params = message_params(
        "x", configuration={"taskPushNotificationConfig": {"id": "c", "url": receiver.url}}
    )
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    await rpc("DeleteTaskPushNotificationConfig", {"taskId": task["id"], "id": "c"}, key=api_key)
    statuses = {d.status async for d in PushDelivery.objects.filter(task_id=task["id"])}
    assert statuses == {DeliveryStatus.CANCELED}
    assert receiver.attempts == 0


async def test_one_deliverer_at_a_time_and_resume_after_a_crash(
    rpc, api_key, receiver, no_background_delivery
):
    params = message_params(
        "x", configuration={"taskPushNotificationConfig": {"url": receiver.url}}
    )
    task = (await rpc("SendMessage", params, key=api_key)).json()["result"]["task"]
    config = await PushConfig.objects.aget(task_id=task["id"])
    # A crashed job left its lease behind: others stay away until it expires...
    assert await sync_to_async(push_services._claim)(str(config.pk))
    assert await sync_to_async(push_deliveries_drain)(config_pk=str(config.pk)) is None
    assert receiver.attempts == 0
    # ...or until the embedded server restarts and hands the webhook to a new job.
    no_background_delivery.reset_mock()
    assert await sync_to_async(push_deliveries_resume)(release_all_leases=True) == 1
    no_background_delivery.assert_called_once_with([str(config.pk)])
    await sync_to_async(_drain_until_idle)(str(config.pk))
    assert len(receiver.wait_for(4)) == 4

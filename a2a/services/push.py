"""Push notifications (A2A §4.3, §13.2): webhook configs and their durable delivery outbox.

Every event of a task with webhooks becomes one ``PushDelivery`` per webhook, written in the
event's own transaction, so a crash can delay a notification but never lose it. One job at a
time delivers for a webhook (a lease on the config row), oldest event first, so a receiver
sees events in order; a failed POST is retried with exponential backoff up to
WEBCAP_PUSH_MAX_ATTEMPTS and then dead-lettered (visible in the admin). URLs are checked
against SSRF when a config is created and again, with the address resolved and pinned, at
every delivery (``common/netguard.py``).

Configs carry the webhook's secrets, so reading them needs the same right as changing them
(change_task: the owner, an admin); a caller who may only read the task gets
PermissionDeniedError, one who may not read it TaskNotFoundError.
"""

from __future__ import annotations

import contextlib
import logging
import re
import uuid
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from a2a.metrics import push_delivery_record
from a2a.models import DeliveryStatus, PushConfig, PushDelivery, Task, TaskEvent
from a2a.protocol import types as wire
from a2a.protocol.errors import InvalidParamsError, TaskNotFoundError
from a2a.protocol.jsonrpc import dumps
from a2a.registry import job_queue
from a2a.selectors import CHANGE, task_get_for_user
from accounts.models import User
from common.netguard import (
    DeliveryError,
    UnsafeURLError,
    check_url,
    guarded_request,
    resolve,
)

logger = logging.getLogger(__name__)

# RFC 9110 token: what an auth scheme may look like.
_SCHEME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}")
_UNSAFE_HEADER_CHARS = re.compile(r"[\r\n\x00]")
RESPONSE_LIMIT = 64 * 1024
# The name a2a/apps.py registers a2a.jobs.push_deliver_job under.
PUSH_DELIVER_JOB = "push_deliver"


def push_config_to_wire(config: PushConfig) -> dict[str, Any]:
    """Return the wire TaskPushNotificationConfig (credentials go to the owner only)."""
    data: dict[str, Any] = {
        "id": config.config_id,
        "taskId": str(config.task_id),
        "url": config.url,
    }
    if config.token:
        data["token"] = config.token
    if config.auth_scheme:
        data["authentication"] = {"scheme": config.auth_scheme}
        if config.auth_credentials:
            data["authentication"]["credentials"] = config.auth_credentials
    return data


def _validate(config: wire.TaskPushNotificationConfig, *, prefix: str) -> None:
    """Refuse unsafe URLs and values that would break the webhook's HTTP headers."""
    problems: list[tuple[str, str]] = []
    allowed = settings.WEBCAP_PUSH_ALLOWED_HOSTS
    try:
        parts = check_url(config.url, allowed_hosts=allowed)
        default_port = 443 if parts.scheme == "https" else 80
        # A name that resolves to a private address now is refused now; a name that does not
        # resolve at the moment is accepted, and every delivery checks it again.
        with contextlib.suppress(DeliveryError):
            resolve(parts.hostname or "", parts.port or default_port, allowed_hosts=allowed)
    except UnsafeURLError as exc:
        problems.append((f"{prefix}url", str(exc)))
    if config.token and _UNSAFE_HEADER_CHARS.search(config.token):
        problems.append((f"{prefix}token", "must not contain CR, LF or NUL"))
    auth = config.authentication
    if auth is not None:
        if not _SCHEME.fullmatch(auth.scheme):
            problems.append((f"{prefix}authentication.scheme", "must be an HTTP auth scheme token"))
        if auth.credentials and _UNSAFE_HEADER_CHARS.search(auth.credentials):
            problems.append(
                (f"{prefix}authentication.credentials", "must not contain CR, LF or NUL")
            )
    if problems:
        raise InvalidParamsError.for_fields(problems)


def push_config_add(
    *, task: Task, config: wire.TaskPushNotificationConfig, prefix: str = ""
) -> PushConfig:
    """Add a webhook to a task locked by the caller; the id is the client's or a new UUID."""
    _validate(config, prefix=prefix)
    if task.push_config_count >= settings.WEBCAP_PUSH_MAX_CONFIGS_PER_TASK:
        raise InvalidParamsError.for_fields(
            [
                (
                    f"{prefix}taskId",
                    f"has {task.push_config_count} push configs, the most a task may have",
                )
            ]
        )
    config_id = config.id or str(uuid.uuid4())
    if PushConfig.objects.filter(task=task, config_id=config_id).exists():
        # Ids are never overwritten: a changed webhook is a delete and a create.
        raise InvalidParamsError.for_fields(
            [(f"{prefix}id", f"a push config {config_id!r} already exists for this task")]
        )
    auth = config.authentication
    stored = PushConfig.objects.create(
        task=task,
        owner_id=task.owner_id,
        config_id=config_id,
        url=config.url,
        token=config.token or "",
        auth_scheme=auth.scheme if auth else "",
        auth_credentials=(auth.credentials or "") if auth else "",
    )
    Task.objects.filter(pk=task.pk).update(push_config_count=F("push_config_count") + 1)
    task.push_config_count += 1
    logger.info("Push config %s added to task %s", config_id, task.id)
    return stored


@transaction.atomic(durable=True)
def push_config_create(
    *, user: User, task_id: str, config: wire.TaskPushNotificationConfig
) -> PushConfig:
    """CreateTaskPushNotificationConfig for a task the user may change."""
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=CHANGE)
    return push_config_add(task=task, config=config)


def _config_not_found(task_id: str, config_id: str) -> TaskNotFoundError:
    return TaskNotFoundError(
        f"Push config {config_id!r} of task {task_id!r} not found",
        metadata={"taskId": task_id, "configId": config_id},
    )


@transaction.atomic(durable=True)
def push_config_delete(*, user: User, task_id: str, config_id: str) -> None:
    """Delete a webhook; deleting one that is gone is not an error (idempotent)."""
    task = task_get_for_user(user=user, task_id=task_id, for_update=True, permission=CHANGE)
    config = PushConfig.objects.filter(task=task, config_id=config_id).first()
    if config is None:
        return
    PushDelivery.objects.filter(config=config, status=DeliveryStatus.PENDING).update(
        status=DeliveryStatus.CANCELED, last_error="The push config was deleted."
    )
    config.delete()
    Task.objects.filter(pk=task.pk).update(push_config_count=F("push_config_count") - 1)
    logger.info("Push config %s removed from task %s", config_id, task.id)


def push_configs_for_user(*, user: User, task_id: str) -> list[PushConfig]:
    """Return the webhooks of a task the user may change, oldest first."""
    task = task_get_for_user(user=user, task_id=task_id, permission=CHANGE)
    return list(PushConfig.objects.filter(task=task).order_by("created_at", "id"))


def push_config_get_for_user(*, user: User, task_id: str, config_id: str) -> PushConfig:
    """Return one webhook of a task the user may change; a missing one is not found."""
    task = task_get_for_user(user=user, task_id=task_id, permission=CHANGE)
    config = PushConfig.objects.filter(task=task, config_id=config_id).first()
    if config is None:
        raise _config_not_found(task_id, config_id)
    return config


# --- The outbox ----------------------------------------------------------------------------------


def push_deliveries_enqueue(*, task: Task, event: TaskEvent) -> None:
    """Queue the event for every webhook of the task, inside the event's transaction."""
    configs = list(PushConfig.objects.filter(task=task).only("id", "url"))
    now = timezone.now()
    PushDelivery.objects.bulk_create(
        [
            PushDelivery(config=c, task=task, event=event, url=c.url, next_attempt_at=now)
            for c in configs
        ]
    )
    config_ids = [str(c.pk) for c in configs]
    transaction.on_commit(lambda: _deliver_later(config_ids))


def _deliver_later(config_ids: list[str]) -> None:
    for config_id in config_ids:
        job_queue(PUSH_DELIVER_JOB, config_id)


def _lease_seconds() -> float:
    return float(settings.WEBCAP_PUSH_TIMEOUT) + 60.0


def _claim(config_pk: str) -> bool:
    now = timezone.now()
    claimed = (
        PushConfig.objects.filter(pk=config_pk)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(lease_until=now + timedelta(seconds=_lease_seconds()))
    )
    return claimed == 1


def _release(config_pk: str) -> None:
    PushConfig.objects.filter(pk=config_pk).update(lease_until=None)


def _pending(config_pk: str) -> QuerySet[PushDelivery]:
    return PushDelivery.objects.filter(config__pk=config_pk, status=DeliveryStatus.PENDING)


def push_deliveries_drain(*, config_pk: str) -> float | None:
    """Deliver a webhook's pending events in order; return seconds until a retry is due.

    Only the holder of the config's lease delivers. A job that finds the lease taken returns
    at once: the holder looks for new deliveries after it lets the lease go, so an event
    committed meanwhile is never stranded.
    """
    while True:
        if not _claim(config_pk):
            return None
        try:
            wait = _drain_claimed(config_pk)
        finally:
            _release(config_pk)
        if wait is not None:
            return wait
        if not _pending(config_pk).filter(next_attempt_at__lte=timezone.now()).exists():
            return None


def _drain_claimed(config_pk: str) -> float | None:
    while True:
        delivery = _pending(config_pk).select_related("config", "event").order_by("id").first()
        if delivery is None:
            return None
        now = timezone.now()
        if delivery.next_attempt_at > now:
            # In order: later events wait behind the one being retried.
            wait: float = (delivery.next_attempt_at - now).total_seconds()
            return wait
        _attempt(delivery)
        PushConfig.objects.filter(pk=config_pk).update(
            lease_until=timezone.now() + timedelta(seconds=_lease_seconds())
        )


def _backoff(attempts: int) -> float:
    base: float = settings.WEBCAP_PUSH_RETRY_BASE
    return float(min(settings.WEBCAP_PUSH_RETRY_MAX, base * 2 ** (attempts - 1)))


def _attempt(delivery: PushDelivery) -> None:
    config = delivery.config
    assert config is not None
    headers = {"Content-Type": "application/a2a+json"}
    if config.auth_scheme:
        headers["Authorization"] = f"{config.auth_scheme} {config.auth_credentials}".strip()
    if config.token:
        headers["X-A2A-Notification-Token"] = config.token
    delivery.attempts += 1
    now = timezone.now()
    outcome: str | None = None
    try:
        response = guarded_request(
            "POST",
            delivery.url,
            headers=headers,
            content=dumps(delivery.event.payload),
            timeout=settings.WEBCAP_PUSH_TIMEOUT,
            max_response_bytes=RESPONSE_LIMIT,
            allowed_hosts=settings.WEBCAP_PUSH_ALLOWED_HOSTS,
        )
    except UnsafeURLError as exc:
        # Not retryable: the name now resolves somewhere a webhook may not go.
        delivery.status = DeliveryStatus.DEAD
        delivery.last_error = f"Refused: {exc}"
        outcome = "refused"
    except DeliveryError as exc:
        _failed(delivery, f"{type(exc).__name__}: {exc}", now)
    else:
        delivery.last_status_code = response.status
        if 200 <= response.status < 300:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = now
            delivery.last_error = ""
        else:
            _failed(delivery, f"HTTP {response.status}", now)
    delivery.save(
        update_fields=[
            "status",
            "attempts",
            "next_attempt_at",
            "last_status_code",
            "last_error",
            "delivered_at",
            "updated_at",
        ]
    )
    if outcome is None:
        if delivery.status == DeliveryStatus.DELIVERED:
            outcome = "delivered"
        else:
            outcome = "dropped" if delivery.status == DeliveryStatus.DEAD else "failed"
    push_delivery_record(outcome=outcome)
    log = logger.info if delivery.status == DeliveryStatus.DELIVERED else logger.warning
    log(
        "Push of event %s of task %s: %s after %d attempt(s)%s",
        delivery.event.seq,
        delivery.task_id,
        delivery.status,
        delivery.attempts,
        f" ({delivery.last_error})" if delivery.last_error else "",
    )


def _failed(delivery: PushDelivery, error: str, now: Any) -> None:
    delivery.last_error = error
    if delivery.attempts >= settings.WEBCAP_PUSH_MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.DEAD
    else:
        delivery.next_attempt_at = now + timedelta(seconds=_backoff(delivery.attempts))


def push_deliveries_resume(*, release_all_leases: bool = False) -> int:
    """Hand every webhook with pending deliveries to a job again; return how many.

    Run at start in the embedded mode (queued jobs and leases died with the last process:
    ``release_all_leases``) and periodically in production, for jobs lost with a crashed
    worker (only expired leases are released then).
    """
    leases = PushConfig.objects.exclude(lease_until__isnull=True)
    if not release_all_leases:
        leases = leases.filter(lease_until__lt=timezone.now())
    leases.update(lease_until=None)
    config_ids = [
        str(pk)
        for pk in PushDelivery.objects.filter(status=DeliveryStatus.PENDING, config__isnull=False)
        .values_list("config_id", flat=True)
        .distinct()
    ]
    _deliver_later(config_ids)
    return len(config_ids)


@transaction.atomic(durable=True)
def push_deliveries_retry(*, deliveries: list[PushDelivery]) -> int:
    """Put dead-lettered deliveries back in the queue (the admin's retry action)."""
    ids = [d.pk for d in deliveries if d.status == DeliveryStatus.DEAD and d.config_id]
    count = PushDelivery.objects.filter(pk__in=ids).update(
        status=DeliveryStatus.PENDING, attempts=0, next_attempt_at=timezone.now()
    )
    config_ids = list({str(d.config_id) for d in deliveries if d.pk in ids})
    transaction.on_commit(lambda: _deliver_later(config_ids))
    return count

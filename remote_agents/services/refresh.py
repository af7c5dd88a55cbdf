"""Refreshing cards: conditional fetches, stale marks, and the beat's due cards."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import transaction
from django.utils import timezone

from accounts.models import User
from audit.models import Action, Outcome
from audit.services import audit_record
from remote_agents.cards import CardChecked
from remote_agents.models import (
    RemoteAgent,
    SignatureStatus,
)
from remote_agents.services.checks import (
    CardProblem,
    card_accept,
    card_checked,
    due_at,
    summary,
    url_check,
)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RefreshOutcome:
    """What a refresh did: ``unchanged`` (304 or the same card), ``changed`` or ``failed``."""

    agent: RemoteAgent
    result: str


def remote_agent_refresh(
    *, agent: RemoteAgent, actor: User | None = None, auth_method: str = ""
) -> RefreshOutcome:
    """Fetch the agent's card again (conditionally) and store what came back.

    A 304 keeps the card; a new card is verified again and replaces it; a refused or
    unreachable card keeps the last accepted one and marks the agent stale with the reason.
    A refresh a person asked for (actor) is always audited; the beat's only when the card
    changed or a failure is new.
    """
    problem: CardProblem | None = None
    checked: CardChecked | None = None
    try:
        url = url_check(agent.card_url)
        checked = card_checked(
            url=url,
            policy=agent.trust_policy,
            pinned_keys=agent.pinned_keys,
            etag=agent.card_etag,
            last_modified=agent.card_last_modified,
        )
    except CardProblem as exc:
        problem = exc
    now = timezone.now()
    with transaction.atomic(durable=True):
        locked = RemoteAgent.objects.select_for_update().get(pk=agent.pk)
        result = "unchanged"
        audited = actor is not None
        if problem is not None:
            result = "failed"
            audited = audited or locked.card_error != problem.text
            locked.card_checked_at = now
            locked.card_due_at = due_at(now, None)
            locked.card_stale = True
            locked.card_error = problem.text
            if problem.signature is not None:
                locked.signature_status = SignatureStatus.REFUSED
                locked.signature_error = problem.signature
        elif checked is not None and checked.card is None:
            locked.card_checked_at = now
            locked.card_due_at = due_at(now, checked.fetch.max_age)
            locked.card_etag = checked.fetch.etag or locked.card_etag
            locked.card_last_modified = checked.fetch.last_modified or locked.card_last_modified
            locked.card_stale = False
            locked.card_error = ""
        elif checked is not None:
            if checked.fetch.raw != locked.card:
                result = "changed"
                audited = True
            card_accept(locked, checked, now=now)
        locked.save()
        if audited:
            extra: dict[str, Any] = {**summary(locked), "result": result}
            if problem is not None:
                extra.update(
                    reason=problem.reason,
                    message=problem.message[:1000],
                    signature_error=problem.signature,
                )
            audit_record(
                action=Action.REMOTE_AGENT_REFRESH,
                actor=actor,
                target=locked,
                auth_method=auth_method,
                outcome=Outcome.FAILURE if problem is not None else Outcome.SUCCESS,
                extra=extra,
            )
    if problem is not None:
        logger.warning("remote agent %s: refresh failed: %s", locked.name, problem.text[:500])
    else:
        logger.info("remote agent %s: card %s", locked.name, result)
    return RefreshOutcome(agent=locked, result=result)


def remote_agents_refresh_due(*, now: datetime | None = None) -> int:
    """Refresh every enabled agent whose card is due; return how many were refreshed.

    An agent past its due time is marked stale first, so one this run does not reach (a
    crash, a slow remote) still says its card is out of date.
    """
    now = now or timezone.now()
    due = RemoteAgent.objects.filter(enabled=True, card_due_at__lte=now)
    with transaction.atomic(durable=True):
        due.filter(card_stale=False).update(card_stale=True)
    count = 0
    for agent in due.order_by("card_due_at"):
        remote_agent_refresh(agent=agent)
        count += 1
    return count

"""The approval page: a person sees the pending tool calls they may decide, and decides.

Listed: calls of their own tasks, of tasks shared with them for approval (approvers), and
every call for admins. A call of a task they may not read is "not found", like a missing one.

``GET /approvals/`` renders the list and ``POST /approvals/`` records one decision from a
plain form (a rejection needs a reason), then redirects back; the page's script posts the
same form with ``Accept: application/json`` and gets the outcome as JSON instead.
``GET /approvals/events/`` is the page's live feed (Server-Sent Events): each open feed waits
on the approvals group of the channel layer (``tools.services.approvals_changed``), re-reads
what its user may decide when rung (and every poll interval, in case a ring was lost), and
sends the ids now waiting with the rendered cards the page has not had yet.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    StreamingHttpResponse,
)
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from redis.exceptions import RedisError

from a2a.admin_common import truncated
from accounts.models import User
from common.errors import ApplicationError
from tools.selectors import PendingApproval, pending_approvals, tool_calls_awaiting_decision_by
from tools.services import APPROVALS_GROUP, tool_call_decide

logger = logging.getLogger(__name__)

# How much of the task's request, and of each recent message, a card shows.
REQUEST_CHARS = 2000
MESSAGE_CHARS = 500
REASON_CHARS = 2000
# A feed ends after this long and the browser reconnects (EventSource does so by itself,
# after RETRY_MS): the reconnect checks the session again, so a signed-out or deactivated
# user's feed does not outlive it.
FEED_LIFETIME = 300.0
RETRY_MS = 1000


def _opens_task_in_admin(user: User) -> bool:
    """Whether the task links lead somewhere for this user: the admin's task page."""
    return user.is_active and user.is_staff and user.has_perm("a2a.view_task")


def _said(parts: Any, limit: int) -> str:
    """Return what a message says, for people: its text; other parts named, not dumped."""
    shown = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("text"), str):
            shown.append(part["text"])
        elif "data" in part:
            shown.append("[data]")
        else:
            name = part.get("filename") or part.get("url") or part.get("mediaType") or ""
            shown.append(f"[file {name}]" if name else "[file]")
    return truncated("\n".join(shown), limit)


def _card(item: PendingApproval, *, user: User, task_links: bool) -> dict[str, Any]:
    """Return what the card of one waiting call shows."""
    call = item.call
    return {
        "call": call,
        # JSON as the model sent it, indented; the template escapes it.
        "arguments": json.dumps(call.arguments, indent=2, ensure_ascii=False, default=str),
        "request": _said(item.request.parts, REQUEST_CHARS) if item.request else "",
        "recent": [{"message": m, "text": _said(m.parts, MESSAGE_CHARS)} for m in item.recent],
        "task_url": reverse("admin:a2a_task_change", args=[call.task_id]) if task_links else "",
        "mine": call.task.owner_id == user.pk,
    }


def _cards(user: User, ids: list[uuid.UUID] | None = None) -> list[dict[str, Any]]:
    task_links = _opens_task_in_admin(user)
    return [
        _card(item, user=user, task_links=task_links)
        for item in pending_approvals(user=user, ids=ids)
    ]


def _decide(request: HttpRequest, user: User) -> tuple[int, str]:
    """Record the posted decision; return an HTTP status and the sentence to show."""
    decision = request.POST.get("decision")
    reason = request.POST.get("reason", "").strip()[:REASON_CHARS]
    if decision not in ("approve", "reject"):
        return 400, "Choose approve or reject."
    if decision == "reject" and not reason:
        return 400, "Say why you reject the call: the agent reads your reason."
    try:
        call = tool_call_decide(
            user=user,
            tool_call_id=request.POST.get("tool_call", ""),
            approved=decision == "approve",
            reason=reason,
        )
    except ApplicationError as exc:
        return exc.status_code, exc.message
    verb = "Approved" if decision == "approve" else "Rejected"
    return 200, f"{verb} {call.tool} for task {call.task_id}."


@login_required
@require_http_methods(["GET", "POST"])
def approvals(request: HttpRequest) -> HttpResponse:
    """GET lists the calls that wait for the caller's decision; POST records one."""
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        status, text = _decide(request, user)
        if request.headers.get("Accept") == "application/json":
            answer = {"message": text} if status == 200 else {"error": text}
            return JsonResponse(answer, status=status)
        (messages.success if status == 200 else messages.error)(request, text)
        return HttpResponseRedirect(reverse("approvals"))
    context = {"cards": _cards(user), "feed_url": reverse("approvals-events")}
    return render(request, "tools/approvals.html", context)


# --- The live feed --------------------------------------------------------------------------------


def _waiting_ids(user: User) -> list[uuid.UUID]:
    return list(tool_calls_awaiting_decision_by(user=user).values_list("pk", flat=True))


def _rendered(request: HttpRequest, user: User, ids: list[uuid.UUID]) -> dict[str, str]:
    """Return the cards of ids that still wait, rendered as on the page, by id."""
    return {
        str(card["call"].pk): render_to_string(
            "tools/approval_card.html", {"card": card}, request=request
        )
        for card in _cards(user, ids)
    }


class _Doorbell:
    """The feed's membership of the approvals group; without a channel layer, a timer."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None

    async def join(self) -> None:
        if self.layer is None:
            return
        try:
            self.channel = await self.layer.new_channel()
            await self.layer.group_add(APPROVALS_GROUP, self.channel)
        except (RedisError, OSError):
            logger.warning("Approvals feed without doorbell: it re-reads on a timer", exc_info=True)
            self.channel = None

    async def wait(self, seconds: float) -> None:
        """Return when rung or after seconds, whichever comes first."""
        if self.layer is None or self.channel is None:
            await asyncio.sleep(seconds)
            return
        try:
            await asyncio.wait_for(self.layer.receive(self.channel), seconds)
        except TimeoutError:
            return
        except (RedisError, OSError):
            logger.warning("Approvals feed lost its doorbell", exc_info=True)
            self.channel = None
            await asyncio.sleep(seconds)

    async def leave(self) -> None:
        if self.layer is not None and self.channel is not None:
            channel, self.channel = self.channel, None
            try:
                await self.layer.group_discard(APPROVALS_GROUP, channel)
            except Exception:
                logger.warning("Approvals feed could not leave its group", exc_info=True)


async def _feed(request: HttpRequest, user: User) -> AsyncIterator[bytes]:
    """Yield an ``approvals`` event whenever the calls waiting for the user change."""
    poll = settings.WEBCAP_STREAM_POLL_INTERVAL
    keepalive = settings.WEBCAP_STREAM_KEEPALIVE
    doorbell = _Doorbell()
    # Join before the first read: a change between the read and the join would be missed.
    await doorbell.join()
    try:
        yield b"retry: %d\n\n" % RETRY_MS
        sent: set[uuid.UUID] = set()
        shown: list[uuid.UUID] | None = None
        quiet = 0.0
        ends = time.monotonic() + FEED_LIFETIME
        while time.monotonic() < ends:
            ids = await sync_to_async(_waiting_ids)(user)
            if ids != shown:
                new = [pk for pk in ids if pk not in sent]
                cards = await sync_to_async(_rendered)(request, user, new) if new else {}
                sent.update(uuid.UUID(pk) for pk in cards)
                event = {"ids": [str(pk) for pk in ids], "cards": cards}
                yield b"event: approvals\ndata: %s\n\n" % json.dumps(event).encode()
                shown, quiet = ids, 0.0
            elif quiet >= keepalive:
                yield b": keepalive\n\n"
                quiet = 0.0
            started = time.monotonic()
            await doorbell.wait(poll)
            quiet += time.monotonic() - started
    finally:
        await doorbell.leave()


@require_GET
async def approvals_events(request: HttpRequest) -> HttpResponseBase:
    """Stream the signed-in user's waiting calls as Server-Sent Events (the page's live list)."""
    user = await request.auser()
    if not isinstance(user, User) or not user.is_authenticated:
        return HttpResponse(
            f"Sign in first: {settings.LOGIN_URL}", status=401, content_type="text/plain"
        )
    return StreamingHttpResponse(
        _feed(request, user),
        content_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )

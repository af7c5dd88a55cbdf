"""The approval page: a person sees their pending tool calls and decides on them."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.models import User
from common.errors import ApplicationError
from tools.models import ToolCall, ToolCallStatus
from tools.services import tool_call_decide


@login_required
@require_http_methods(["GET", "POST"])
def approvals(request: HttpRequest) -> HttpResponse:
    """GET lists the caller's calls that wait for a decision; POST records one."""
    user = request.user
    assert isinstance(user, User)
    if request.method == "POST":
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            messages.error(request, "Choose approve or reject.")
        else:
            try:
                call = tool_call_decide(
                    user=user,
                    tool_call_id=request.POST.get("tool_call", ""),
                    approved=decision == "approve",
                    reason=request.POST.get("reason", "")[:2000],
                )
            except ApplicationError as exc:
                messages.error(request, exc.message)
            else:
                verb = "Approved" if decision == "approve" else "Rejected"
                messages.success(request, f"{verb} {call.tool} for task {call.task_id}.")
        return HttpResponseRedirect(reverse("approvals"))
    pending = (
        ToolCall.objects.filter(
            requester=user, status=ToolCallStatus.AWAITING_APPROVAL, decision=""
        )
        .select_related("task")
        .order_by("created_at", "position")
    )
    return render(request, "tools/approvals.html", {"pending": pending})

"""The approval page: a person sees the pending tool calls they may decide, and decides.

Listed: calls of their own tasks, of tasks shared with them for approval (approvers), and
every call for admins. A call of a task they may not read is "not found", like a missing one.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from accounts.models import User
from common.errors import ApplicationError
from tools.selectors import tool_calls_awaiting_decision_by
from tools.services import tool_call_decide


@login_required
@require_http_methods(["GET", "POST"])
def approvals(request: HttpRequest) -> HttpResponse:
    """GET lists the calls that wait for the caller's decision; POST records one."""
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
    pending = tool_calls_awaiting_decision_by(user=user)
    return render(request, "tools/approvals.html", {"pending": pending})

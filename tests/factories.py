"""Builders for test data; each makes one thing through the real services."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from a2a.protocol import types as wire
from a2a.services.tasks import SendResult, message_send
from accounts.models import User
from accounts.services import api_key_create

_counter = itertools.count(1)


def make_user(username: str | None = None) -> User:
    user = User(username=username or f"user{next(_counter)}")
    user.set_unusable_password()
    user.save()
    return user


def make_key(user: User) -> str:
    _, key = api_key_create(user=user, name="test")
    return key


def wire_message(
    text: str = "hello world",
    *,
    message_id: str | None = None,
    task_id: str | None = None,
    context_id: str | None = None,
    parts: list[dict[str, Any]] | None = None,
) -> wire.Message:
    data: dict[str, Any] = {
        "messageId": message_id or f"msg-{uuid.uuid4()}",
        "role": "ROLE_USER",
        "parts": parts if parts is not None else [{"text": text}],
    }
    if task_id:
        data["taskId"] = task_id
    if context_id:
        data["contextId"] = context_id
    return wire.Message.model_validate(data)


def message_params(text: str = "hello world", **kwargs: Any) -> dict[str, Any]:
    """Return SendMessage params in wire form."""
    config = kwargs.pop("configuration", None)
    params: dict[str, Any] = {"message": wire_message(text, **kwargs).dump()}
    if config is not None:
        params["configuration"] = config
    return params


def send(owner: User, text: str = "hello world", **kwargs: Any) -> SendResult:
    result = message_send(owner=owner, message=wire_message(text, **kwargs))
    assert isinstance(result, SendResult)
    return result


def normalized(value: Any) -> Any:
    """Blank out what differs between two runs of one scenario (ids, times) for comparing."""
    if isinstance(value, dict):
        return {
            k: "*"
            if k in {"id", "contextId", "taskId", "messageId", "timestamp"}
            else normalized(v)
            for k, v in value.items()
            if k != "metadata"
        }
    if isinstance(value, list):
        return [normalized(v) for v in value]
    return value


async def rpc_send_task(rpc: Any, key: str, text: str, **kwargs: Any) -> dict[str, Any]:
    """SendMessage over JSON-RPC with the rpc fixture; return the wire task it answered."""
    body = (await rpc("SendMessage", message_params(text, **kwargs), key=key)).json()
    assert "result" in body, body
    task: dict[str, Any] = body["result"]["task"]
    return task


def task_answer(task: dict[str, Any]) -> str:
    """The text of a wire task's newest artifact (the assistant's answer for the last turn)."""
    return "".join(part["text"] for part in task["artifacts"][-1]["parts"])


def make_access_token(user: User) -> str:
    """Return a webcap access token (JWT) for user, as /api/auth/token/ would issue it."""
    from rest_framework_simplejwt.tokens import AccessToken

    return str(AccessToken.for_user(user))


def make_password_user(username: str, password: str = "correct horse battery staple") -> User:
    user = make_user(username)
    user.set_password(password)
    user.save()
    return user

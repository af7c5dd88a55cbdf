"""A2A v0.3 on the same endpoints: method names, shapes and errors of the older protocol.

A client that sends no ``A2A-Version`` (or ``0.3``) and a 0.3 method name (``message/send``,
``tasks/get``, ...) is served by the 1.0 handlers through this translation: its params become
the 1.0 request, and the result and every stream event go back in 0.3 form (``kind`` on
objects and parts, kebab-case states, lower-case roles, ``final`` on status updates, results
not wrapped). Behaviour is the 1.0 behaviour; only the shapes differ. The object shapes
themselves, both ways, are in ``v03_shapes.py``, which webcap's client uses too.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from a2a.protocol.errors import InvalidParamsError
from a2a.protocol.v03_shapes import (
    event_out,
    message_in,
    message_out,
    task_out,
)
from a2a.streams import ResultStream, StreamItem, TaskEventStream

LEGACY_VERSION = "0.3"


# --- 0.3 -> 1.0 -----------------------------------------------------------------------------------


def _push_config_in(config: Any, task_id: Any = None) -> Any:
    if not isinstance(config, dict):
        return config
    core = {k: v for k, v in config.items() if k in ("id", "url", "token")}
    auth = config.get("authentication")
    if isinstance(auth, dict):
        schemes = auth.get("schemes") or []
        core["authentication"] = {
            "scheme": schemes[0] if isinstance(schemes, list) and schemes else "",
            "credentials": auth.get("credentials"),
        }
    if task_id is not None:
        core["taskId"] = task_id
    return core


def _object(params: Any) -> dict[str, Any]:
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidParamsError.for_fields([("params", "must be a JSON object")])
    return params


def _history_length(value: Any) -> Any:
    # 0.3: zero (or nothing) means "no limit"; 1.0 spells that as unset.
    return None if value in (0, None) else value


def _send_in(params: Any) -> dict[str, Any]:
    params = _object(params)
    core: dict[str, Any] = {"message": message_in(params.get("message"))}
    if params.get("metadata") is not None:
        core["metadata"] = params["metadata"]
    config = params.get("configuration")
    if isinstance(config, dict):
        out: dict[str, Any] = {}
        if config.get("acceptedOutputModes") is not None:
            out["acceptedOutputModes"] = config["acceptedOutputModes"]
        if _history_length(config.get("historyLength")) is not None:
            out["historyLength"] = config["historyLength"]
        if config.get("blocking") is False:
            out["returnImmediately"] = True
        if config.get("pushNotificationConfig") is not None:
            out["taskPushNotificationConfig"] = _push_config_in(config["pushNotificationConfig"])
        core["configuration"] = out
    return core


def _get_in(params: Any) -> dict[str, Any]:
    params = _object(params)
    core = {"id": params.get("id")}
    if _history_length(params.get("historyLength")) is not None:
        core["historyLength"] = params["historyLength"]
    return core


def _id_in(params: Any) -> dict[str, Any]:
    params = _object(params)
    return {k: v for k, v in params.items() if k in ("id", "metadata")}


def _config_set_in(params: Any) -> Any:
    params = _object(params)
    return _push_config_in(params.get("pushNotificationConfig"), params.get("taskId"))


def _config_ref_in(params: Any) -> dict[str, Any]:
    # 0.3 names the task "id" and the config "pushNotificationConfigId".
    params = _object(params)
    return {"taskId": params.get("id"), "id": params.get("pushNotificationConfigId")}


def _task_ref_in(params: Any) -> dict[str, Any]:
    return {"taskId": _object(params).get("id")}


# --- 1.0 -> 0.3 -----------------------------------------------------------------------------------


def push_config_out(config: dict[str, Any]) -> dict[str, Any]:
    inner = {k: v for k, v in config.items() if k in ("id", "url", "token")}
    if "authentication" in config:
        auth = config["authentication"]
        inner["authentication"] = {"schemes": [auth["scheme"]]}
        if auth.get("credentials"):
            inner["authentication"]["credentials"] = auth["credentials"]
    return {"taskId": config["taskId"], "pushNotificationConfig": inner}


def _send_out(result: dict[str, Any]) -> dict[str, Any]:
    return task_out(result["task"]) if "task" in result else message_out(result["message"])


class V03Stream(ResultStream):
    """A 1.0 stream whose items are re-shaped as 0.3 events, ``final`` on the last one."""

    def __init__(self, inner: ResultStream) -> None:
        self.inner = inner
        self.task_id = inner.task_id
        self.stop_on_interrupt = isinstance(inner, TaskEventStream) and inner.stop_on_interrupt

    async def events(self) -> AsyncIterator[StreamItem | None]:
        async for item in self.inner.events():
            if item is None:
                yield None
                continue
            final = item.terminal or (self.stop_on_interrupt and item.interrupted)
            yield StreamItem(
                seq=item.seq, payload=event_out(item.payload, final=final), state=item.state
            )

    async def close(self) -> None:
        await self.inner.close()


@dataclass(frozen=True)
class LegacyMethod:
    """A 0.3 method: the 1.0 operation behind it and the translations both ways."""

    operation: str
    params_in: Callable[[Any], Any]
    result_out: Callable[[Any], Any] | None = None


METHODS: dict[str, LegacyMethod] = {
    "message/send": LegacyMethod("SendMessage", _send_in, _send_out),
    "message/stream": LegacyMethod("SendStreamingMessage", _send_in),
    "tasks/get": LegacyMethod("GetTask", _get_in, task_out),
    "tasks/cancel": LegacyMethod("CancelTask", _id_in, task_out),
    "tasks/resubscribe": LegacyMethod("SubscribeToTask", _id_in),
    "tasks/pushNotificationConfig/set": LegacyMethod(
        "CreateTaskPushNotificationConfig", _config_set_in, push_config_out
    ),
    "tasks/pushNotificationConfig/get": LegacyMethod(
        "GetTaskPushNotificationConfig", _config_ref_in, push_config_out
    ),
    "tasks/pushNotificationConfig/list": LegacyMethod(
        "ListTaskPushNotificationConfigs",
        _task_ref_in,
        lambda result: [push_config_out(c) for c in result["configs"]],
    ),
    "tasks/pushNotificationConfig/delete": LegacyMethod(
        "DeleteTaskPushNotificationConfig", _config_ref_in, lambda result: None
    ),
    "agent/getAuthenticatedExtendedCard": LegacyMethod(
        "GetExtendedAgentCard", lambda params: {}, lambda card: card_v03(card)
    ),
}
STREAMING_METHODS = frozenset({"message/stream", "tasks/resubscribe"})


def card_out(card: dict[str, Any]) -> dict[str, Any]:
    """The 0.3 fields of a card (url, preferredTransport, OpenAPI-style security, ...).

    Only the JSON-RPC interface speaks 0.3, so it is the card's ``url`` and the only entry of
    ``additionalInterfaces``; the 1.0-only HTTP+JSON and WebSocket interfaces stay out.
    """
    jsonrpc = next(i for i in card["supportedInterfaces"] if i["protocolBinding"] == "JSONRPC")
    out: dict[str, Any] = {
        "protocolVersion": "0.3.0",
        "url": jsonrpc["url"],
        "preferredTransport": "JSONRPC",
        "additionalInterfaces": [{"url": jsonrpc["url"], "transport": "JSONRPC"}],
    }
    schemes = {}
    for name, scheme in (card.get("securitySchemes") or {}).items():
        if "httpAuthSecurityScheme" in scheme:
            http = scheme["httpAuthSecurityScheme"]
            schemes[name] = {"type": "http", **http}
        elif "apiKeySecurityScheme" in scheme:
            key = dict(scheme["apiKeySecurityScheme"])
            schemes[name] = {"type": "apiKey", "in": key.pop("location"), **key}
        elif "openIdConnectSecurityScheme" in scheme:
            schemes[name] = {"type": "openIdConnect", **scheme["openIdConnectSecurityScheme"]}
    if schemes:
        out["securitySchemes"] = schemes
    if card.get("securityRequirements"):
        out["security"] = [
            {name: scopes.get("list", []) for name, scopes in r["schemes"].items()}
            for r in card["securityRequirements"]
        ]
    if card["capabilities"].get("extendedAgentCard"):
        out["supportsAuthenticatedExtendedCard"] = True
    return out


def hybrid_card(card: dict[str, Any]) -> dict[str, Any]:
    """A card both a 1.0 and a 0.3 client can read: the 1.0 card plus the 0.3 fields.

    Security schemes keep their 1.0 oneof member and gain the OpenAPI ``type`` form beside
    it; each client ignores the keys it does not know.
    """
    legacy = card_out(card)
    merged = copy.deepcopy(card)
    for name, scheme in legacy.pop("securitySchemes", {}).items():
        merged["securitySchemes"][name].update(scheme)
    merged.update(legacy)
    return merged


def card_v03(card: dict[str, Any]) -> dict[str, Any]:
    """A card in the 0.3 shape alone (what agent/getAuthenticatedExtendedCard returns)."""
    keep = ("name", "description", "version", "provider", "documentationUrl", "iconUrl")
    out = {k: card[k] for k in keep if k in card}
    out["capabilities"] = {
        k: v for k, v in card["capabilities"].items() if k in ("streaming", "pushNotifications")
    }
    out["defaultInputModes"] = card["defaultInputModes"]
    out["defaultOutputModes"] = card["defaultOutputModes"]
    out["skills"] = [
        {k: v for k, v in skill.items() if k != "securityRequirements"} for skill in card["skills"]
    ]
    out.update(card_out(card))
    return out

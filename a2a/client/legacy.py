"""A2A 0.3 over JSON-RPC, for agents that speak nothing newer: the 1.0 operations the 0.3
methods cover, translated both ways with ``a2a/protocol/v03_shapes.py``.

Covered: SendMessage (``message/send``), SendStreamingMessage (``message/stream``), GetTask
(``tasks/get``), CancelTask (``tasks/cancel``), SubscribeToTask (``tasks/resubscribe``).
ListTasks does not exist in 0.3; push configs and the extended card are not translated yet.
"""

from __future__ import annotations

from typing import Any

from a2a.client.errors import NoCompatibleInterface
from a2a.client.transport import Call, JsonRpcBinding
from a2a.protocol.errors import ERROR_INFO_TYPE
from a2a.protocol.v03_shapes import event_in, message_out, task_in

LEGACY_VERSION = "0.3"
METHODS = {
    "SendMessage": "message/send",
    "SendStreamingMessage": "message/stream",
    "GetTask": "tasks/get",
    "CancelTask": "tasks/cancel",
    "SubscribeToTask": "tasks/resubscribe",
}


def _send_params(params: dict[str, Any]) -> dict[str, Any]:
    legacy: dict[str, Any] = {"message": message_out(params["message"])}
    if "metadata" in params:
        legacy["metadata"] = params["metadata"]
    config = params.get("configuration")
    if config:
        out: dict[str, Any] = {"blocking": not config.get("returnImmediately", False)}
        for name in ("acceptedOutputModes", "historyLength"):
            if name in config:
                out[name] = config[name]
        if "taskPushNotificationConfig" in config:
            raise NoCompatibleInterface(
                "push notification configs are not sent over A2A 0.3 by this client"
            )
        legacy["configuration"] = out
    return legacy


def card_in(data: Any) -> Any:
    """A 0.3 card (``url``, ``preferredTransport``, ``additionalInterfaces``) with the 1.0
    ``supportedInterfaces`` list its fields stand for; any other value as it is."""
    if not isinstance(data, dict) or "supportedInterfaces" in data or "url" not in data:
        return data
    version = str(data.get("protocolVersion") or LEGACY_VERSION)
    interfaces = [
        {
            "url": data["url"],
            "protocolBinding": data.get("preferredTransport") or "JSONRPC",
            "protocolVersion": version,
        }
    ]
    for extra in data.get("additionalInterfaces") or []:
        if isinstance(extra, dict) and extra.get("url") != data["url"]:
            interfaces.append(
                {
                    "url": extra.get("url"),
                    "protocolBinding": extra.get("transport"),
                    "protocolVersion": version,
                }
            )
    return {**data, "supportedInterfaces": interfaces}


class JsonRpcV03Binding(JsonRpcBinding):
    """JSON-RPC with 0.3 method names and shapes; results come back as 1.0 wire JSON."""

    name = "JSONRPC 0.3"

    def method(self, call: Call, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        method = METHODS.get(call.operation)
        if method is None:
            raise NoCompatibleInterface(
                f"{call.operation} is not available over A2A 0.3 in this client; it offers "
                f"{', '.join(METHODS)}"
            )
        params = {k: v for k, v in params.items() if k != "tenant"}
        if call.operation in ("SendMessage", "SendStreamingMessage"):
            return method, _send_params(params)
        if call.operation == "GetTask" and params.get("historyLength") == 0:
            # 0.3 reads 0 as "no limit"; the history is dropped from the answer instead.
            params = {k: v for k, v in params.items() if k != "historyLength"}
        return method, params

    def error_details(self, data: Any) -> list[Any]:
        # 0.3 sends the error's metadata object as data, without a reason.
        if isinstance(data, dict):
            return [{"@type": ERROR_INFO_TYPE, "metadata": data}]
        return []

    def result(self, call: Call, status: int, body: bytes) -> Any:
        result = super().result(call, status, body)
        if call.operation == "SendMessage":
            return event_in(result)
        return task_in(result)

    def event(self, call: Call, event: str, data: str) -> dict[str, Any]:
        return event_in(super().event(call, event, data))

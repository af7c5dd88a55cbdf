"""The shapes of A2A 0.3 objects and their 1.0 counterparts, both ways (pure, no I/O).

The server's 0.3 adapter (``v03.py``) reads 0.3 requests in and writes 1.0 results out as
0.3; webcap's client (``a2a/client``) does the opposite with the same functions and their
inverses here: 0.3 has ``kind`` on objects and parts, kebab-case states, lower-case roles,
file parts as ``{"file": {...}}`` and a ``final`` flag on status updates.
"""

from __future__ import annotations

from typing import Any

from a2a.protocol.states import WireTaskState, state_from_wire, state_to_wire

ROLE_IN = {"user": "ROLE_USER", "agent": "ROLE_AGENT"}
ROLE_OUT = {"ROLE_USER": "user"}


# --- 0.3 -> 1.0 -----------------------------------------------------------------------------------


def part_in(part: Any) -> Any:
    if not isinstance(part, dict):
        return part
    kind = part.get("kind")
    core: dict[str, Any] = {}
    metadata = dict(part["metadata"]) if isinstance(part.get("metadata"), dict) else None
    if kind == "text" or (kind is None and "text" in part):
        core["text"] = part.get("text")
    elif kind == "file" or (kind is None and "file" in part):
        file: dict[str, Any] = part["file"] if isinstance(part.get("file"), dict) else {}
        if "bytes" in file:
            core["raw"] = file["bytes"]
        if "uri" in file:
            core["url"] = file["uri"]
        if file.get("mimeType"):
            core["mediaType"] = file["mimeType"]
        if file.get("name"):
            core["filename"] = file["name"]
    elif kind == "data" or (kind is None and "data" in part):
        data = part.get("data")
        if metadata and metadata.pop("data_part_compat", False) and isinstance(data, dict):
            data = data.get("value")
        core["data"] = data
    else:
        return part  # validation names what is wrong with it
    if metadata:
        core["metadata"] = metadata
    return core


def message_in(message: Any) -> Any:
    if not isinstance(message, dict):
        return message
    core = {k: v for k, v in message.items() if k != "kind"}
    if isinstance(core.get("role"), str):
        core["role"] = ROLE_IN.get(core["role"], core["role"])
    if isinstance(core.get("parts"), list):
        core["parts"] = [part_in(p) for p in core["parts"]]
    return core


def state_in(state: Any) -> str:
    """input-required -> TASK_STATE_INPUT_REQUIRED; anything unknown -> TASK_STATE_UNSPECIFIED."""
    try:
        return state_to_wire(state)
    except (KeyError, TypeError):
        return WireTaskState.UNSPECIFIED.value


def _status_in(status: Any) -> Any:
    if not isinstance(status, dict):
        return status
    core = {**status, "state": state_in(status.get("state"))}
    if "message" in status:
        core["message"] = message_in(status["message"])
    return core


def _artifact_in(artifact: Any) -> Any:
    if not isinstance(artifact, dict) or not isinstance(artifact.get("parts"), list):
        return artifact
    return {**artifact, "parts": [part_in(p) for p in artifact["parts"]]}


def task_in(task: Any) -> Any:
    """A 0.3 task as the 1.0 Task (what cannot be read is left for validation to name)."""
    if not isinstance(task, dict):
        return task
    core = {k: v for k, v in task.items() if k != "kind"}
    core["status"] = _status_in(task.get("status"))
    if isinstance(task.get("history"), list):
        core["history"] = [message_in(m) for m in task["history"]]
    if isinstance(task.get("artifacts"), list):
        core["artifacts"] = [_artifact_in(a) for a in task["artifacts"]]
    return core


def event_in(event: Any) -> dict[str, Any]:
    """A bare 0.3 event (or send result) as the 1.0 StreamResponse that wraps it."""
    kind = event.get("kind") if isinstance(event, dict) else None
    if kind == "task":
        return {"task": task_in(event)}
    if kind == "message":
        return {"message": message_in(event)}
    if kind == "status-update":
        update = {k: v for k, v in event.items() if k not in ("kind", "final")}
        return {"statusUpdate": {**update, "status": _status_in(event.get("status"))}}
    if kind == "artifact-update":
        update = {k: v for k, v in event.items() if k != "kind"}
        return {"artifactUpdate": {**update, "artifact": _artifact_in(event.get("artifact"))}}
    return {}


# --- 1.0 -> 0.3 -----------------------------------------------------------------------------------


def state_out(state: str) -> str:
    """TASK_STATE_INPUT_REQUIRED -> input-required (0.3 spells states as stored); else unknown."""
    return state_from_wire(state) or "unknown"


def part_out(part: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any]
    if "text" in part:
        out = {"kind": "text", "text": part["text"]}
    elif "raw" in part or "url" in part:
        file: dict[str, Any] = {"bytes": part["raw"]} if "raw" in part else {"uri": part["url"]}
        if part.get("mediaType"):
            file["mimeType"] = part["mediaType"]
        if part.get("filename"):
            file["name"] = part["filename"]
        out = {"kind": "file", "file": file}
    else:
        data = part.get("data")
        if isinstance(data, dict):
            out = {"kind": "data", "data": data}
        else:
            # 0.3 data parts hold objects only; anything else is wrapped and flagged.
            out = {"kind": "data", "data": {"value": data}}
            out["metadata"] = {**(part.get("metadata") or {}), "data_part_compat": True}
            return out
    if part.get("metadata"):
        out["metadata"] = part["metadata"]
    return out


def message_out(message: dict[str, Any]) -> dict[str, Any]:
    out = {**message, "kind": "message", "role": ROLE_OUT.get(message["role"], "agent")}
    out["parts"] = [part_out(p) for p in message["parts"]]
    return out


def status_out(status: dict[str, Any]) -> dict[str, Any]:
    out = {**status, "state": state_out(status["state"])}
    if "message" in status:
        out["message"] = message_out(status["message"])
    return out


def artifact_out(artifact: dict[str, Any]) -> dict[str, Any]:
    return {**artifact, "parts": [part_out(p) for p in artifact["parts"]]}


def task_out(task: dict[str, Any]) -> dict[str, Any]:
    out = {**task, "kind": "task", "status": status_out(task["status"])}
    if "history" in task:
        out["history"] = [message_out(m) for m in task["history"]]
    if "artifacts" in task:
        out["artifacts"] = [artifact_out(a) for a in task["artifacts"]]
    return out


def event_out(payload: dict[str, Any], *, final: bool) -> dict[str, Any]:
    """A StreamResponse as the bare 0.3 event it wraps."""
    if "task" in payload:
        return task_out(payload["task"])
    if "message" in payload:
        return message_out(payload["message"])
    if "statusUpdate" in payload:
        update = payload["statusUpdate"]
        return {
            **update,
            "kind": "status-update",
            "status": status_out(update["status"]),
            "final": final,
        }
    update = payload["artifactUpdate"]
    return {
        **update,
        "kind": "artifact-update",
        "artifact": artifact_out(update["artifact"]),
        "append": bool(update.get("append")),
        "lastChunk": bool(update.get("lastChunk")),
    }

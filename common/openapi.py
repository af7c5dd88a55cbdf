"""How the OpenAPI schema (/api/schema/) documents errors: every operation, every status.

drf-spectacular documents only the success of an operation. ``WebcapAutoSchema`` adds the
error answers each operation can really give, all in the shape ``common/drf.py`` renders:

- 400 with the field errors (``{"<field>": ["<rule>"]}``, or ``{"detail"}`` for a body that
  is not JSON or a URL with a NUL character) on every operation;
- 401 on every operation (no, or a bad, credential; a refused sign-in);
- 403 where a caller must be signed in (a role, a key's scope, a task's permission);
- 404 where the path names something (missing, or not the caller's to see) and on paged
  lists (a page or cursor past the end);
- 413 and 415 where there is a body (too large; not JSON);
- 503 on every operation (the database is unreachable; ``Retry-After`` says when to retry).

A view adds statuses of its own with ``extra_error_statuses``: a tuple for every operation
of the view, or a dict by viewset action or lowercase HTTP method (the sign-in's 429, a
decision's 409, a deleted file's 410).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny

ERROR_DESCRIPTIONS = {
    400: "The request is malformed: each field it names, with the rule it broke.",
    401: "No credential, a bad or expired one, or more than one (send exactly one).",
    403: "The caller may not do this (role, API key scope, or task permission).",
    404: "Not found, or not the caller's to see.",
    409: "It conflicts with how things are now (a call already decided; a share that user "
    "cannot hold).",
    410: "Gone: it existed and was deleted.",
    413: "The request body is larger than the server accepts.",
    415: "The request body is not JSON.",
    429: "Too many requests: Retry-After says how many seconds to wait.",
    503: "The database is unreachable: Retry-After says how many seconds to wait.",
}

ERROR = inline_serializer(
    name="Error",
    fields={
        "detail": serializers.CharField(help_text="What went wrong, for people."),
        "code": serializers.CharField(required=False, help_text="A stable error code."),
        "extra": serializers.DictField(required=False, help_text="Details, by name."),
        "retryAfter": serializers.IntegerField(
            required=False, help_text="Seconds to wait before trying again."
        ),
    },
)


FIELD_ERRORS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": (
        'Each refused field with what it must be, e.g. {"page_size": ["must be a whole '
        'number from 1 to 100"]}; a body that is not JSON gets {"detail": "..."}.'
    ),
    "additionalProperties": {},
}


# No text webcap stores or compares may hold U+0000 (PostgreSQL cannot): DRF's CharField
# refuses it in bodies, common/security.py in paths and query strings.
NO_NUL = "^[^\\x00]*$"
# A CharField that trims and may not be blank needs one character str.strip() keeps: not
# whitespace, and not U+001C-U+001F, which Python strips and JSON Schema's \s does not match.
NOT_BLANK = "^[^\\x00]*[^\\s\\x00\\x1c-\\x1f][^\\x00]*$"


def _no_nul(schema: Any) -> None:
    """Add NO_NUL to every free string schema in schema, recursively."""
    if isinstance(schema, list):
        for item in schema:
            _no_nul(item)
        return
    if not isinstance(schema, dict):
        return
    if schema.get("type") == "string" and not {"enum", "format", "pattern"} & schema.keys():
        schema["pattern"] = NO_NUL
    for value in schema.values():
        if isinstance(value, dict | list):
            _no_nul(value)


def postprocess_strings(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular postprocessing hook: free strings say they hold no NUL."""
    _no_nul(result.get("paths", {}))
    _no_nul(result.get("components", {}).get("schemas", {}))
    return result


class WebcapAutoSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with every error an operation can answer."""

    def _map_serializer_field(
        self, field: Any, direction: Any, bypass_extensions: bool = False
    ) -> dict[str, Any]:
        schema: dict[str, Any] = super()._map_serializer_field(  # type: ignore[no-untyped-call]
            field, direction, bypass_extensions
        )
        # Only what a request sends: a response may hold "" where a request may not.
        text = (
            direction == "request"
            and isinstance(field, serializers.CharField)
            and not isinstance(field, serializers.ChoiceField)
        )
        if text and schema.get("type") == "string" and not {"format", "enum"} & schema.keys():
            # What CharField refuses, the schema refuses: NUL always, and a blank (after
            # trimming) unless allow_blank.
            blank_refused = not field.allow_blank and field.trim_whitespace
            schema.setdefault("pattern", NOT_BLANK if blank_refused else NO_NUL)
            if not field.allow_blank:
                schema.setdefault("minLength", 1)
        return schema

    def _get_response_bodies(self, direction: Any = "response") -> dict[str, Any]:
        responses: dict[str, Any] = super()._get_response_bodies(direction)
        for status in sorted(self.error_statuses()):
            if str(status) in responses:
                continue
            if status == 400:
                body: Any = FIELD_ERRORS_SCHEMA
            else:
                body = ERROR
            response = self._get_response_for_code(  # type: ignore[no-untyped-call]
                body, str(status), direction=direction
            )
            response["description"] = ERROR_DESCRIPTIONS[status]
            responses[str(status)] = response
        return responses

    def error_statuses(self) -> set[int]:
        """Return the error statuses this operation can answer with."""
        # 400 everywhere: a URL with a NUL character (common/security.py).
        statuses: set[int] = {400, 401, 503}
        public = all(isinstance(p, AllowAny) for p in self.view.get_permissions())
        if not public:
            statuses.add(403)
        takes_body = self.method in ("POST", "PUT", "PATCH") and (
            self.get_request_serializer() is not None
        )
        if takes_body:
            statuses.update({413, 415})
        paged = self.method == "GET" and self._is_list_view() and self._get_paginator()  # type: ignore[no-untyped-call]
        if "{" in self.path or paged:
            statuses.add(404)
        extra = getattr(self.view, "extra_error_statuses", ())
        if isinstance(extra, dict):
            extra = extra.get(getattr(self.view, "action", None) or self.method.lower(), ())
        statuses.update(extra)
        return statuses

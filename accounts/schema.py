"""How the OpenAPI schema (/api/schema/) describes webcap's authentication."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class WebcapAuthenticationScheme(OpenApiAuthenticationExtension):  # type: ignore[no-untyped-call]
    target_class = "accounts.authentication.WebcapAuthentication"
    name = ["bearerAuth", "apiKeyAuth"]

    def get_security_requirement(self, auto_schema: Any) -> list[dict[str, list[Any]]]:
        # Either one, not both: one requirement object naming two schemes means "and", and
        # /api/docs/ and /api/redoc/ would tell readers to send a key and a token together.
        return [{name: []} for name in self.name]

    def get_security_definition(self, auto_schema: Any) -> list[dict[str, Any]]:
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "JWT or webcap API key",
            },
            {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        ]

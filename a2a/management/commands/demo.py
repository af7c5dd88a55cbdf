"""``manage.py demo``: make sure a demo user and key exist, and print how to call webcap."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from accounts.auth import AuthenticationFailed, user_for_credential
from accounts.services import api_key_create, user_ensure

DEMO_USER = "demo"


class Command(BaseCommand):
    help = (
        "Create (once) a demo user with an API key kept in var/ and the files folder "
        "(WEBCAP_FILES_ROOT), and print a curl example."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)

    def _demo_key(self) -> str:
        path = settings.VAR_DIR / "demo-api-key"
        if path.exists():
            key = path.read_text().strip()
            try:
                if user_for_credential(key).username == DEMO_USER:
                    return key
            except AuthenticationFailed:
                pass
        user = user_ensure(username=DEMO_USER, role="user")
        _, key = api_key_create(user=user, name="demo")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(key)
        return key

    def handle(self, *args: Any, host: str, port: int, **options: Any) -> None:
        key = self._demo_key()
        # read_file reads only this folder: make it, so there is a place to put files.
        files = Path(settings.WEBCAP_FILES_ROOT).resolve()
        files.mkdir(parents=True, exist_ok=True)
        # A wildcard bind is reachable on loopback too; print an address curl can use.
        shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host  # noqa: S104
        base = f"http://{shown_host}:{port}"
        mode = "embedded" if settings.EMBEDDED else "production"
        model = (
            settings.WEBCAP_MODEL or "the offline model (a rule-based stand-in; set WEBCAP_MODEL)"
        )
        headers = (
            "-H 'Content-Type: application/json' -H 'A2A-Version: 1.0' \\\n"
            f"  -H 'Authorization: Bearer {key}'"
        )
        self.stdout.write(
            f"""
webcap: an A2A v1.0 agent server ({mode} mode, agent: {settings.WEBCAP_AGENT})

  Start page:  {base}/
  Agent card:  {base}/.well-known/agent-card.json
  JSON-RPC:    POST {base}/a2a/jsonrpc   (SSE for SendStreamingMessage)
  REST:        {base}/a2a/rest/message:send and friends
  WebSocket:   ws://{shown_host}:{port}/ws/a2a
  Approvals:   {base}/approvals/ and {base}/api/tool-calls/
  API docs:    {base}/api/docs/ (Swagger UI), {base}/api/redoc/
  Health:      {base}/health
  Model:       {model}
  Files:       {files}   (read_file reads files you put here)
  Demo user:   {DEMO_USER}
  API key:     {key}

Send a message (blocks until the task is done):

curl -s {base}/a2a/jsonrpc \\
  {headers} \\
  -d '{self._send_body("what is 12*7?")}'
"""
        )
        if settings.WEBCAP_AGENT == "assistant":
            self.stdout.write(
                f"""
Ask for something risky and the task waits for a person (state TASK_STATE_INPUT_REQUIRED):

curl -s {base}/a2a/jsonrpc \\
  {headers} \\
  -d '{self._send_body("fetch http://example.com")}'

List what waits, then approve (or reject) it by the toolCallId the task showed:

curl -s '{base}/api/tool-calls/?status=awaiting-approval' -H 'Authorization: Bearer {key}'
curl -s -X POST {base}/api/tool-calls/TOOL_CALL_ID/approve/ -H 'Authorization: Bearer {key}'

For the approval page, give the demo user a password: manage.py changepassword {DEMO_USER}
"""
            )
        self.stdout.write('Stream with curl -N and "method":"SendStreamingMessage".\n')

    @staticmethod
    def _send_body(text: str) -> str:
        """A SendMessage body for a shell's single quotes, with a fresh messageId per run."""
        message = (
            '{"messageId":"demo-\'$RANDOM$RANDOM\'","role":"ROLE_USER",'
            f'"parts":[{{"text":"{text}"}}]}}'
        )
        return f'{{"jsonrpc":"2.0","id":1,"method":"SendMessage","params":{{"message":{message}}}}}'

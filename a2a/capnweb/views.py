"""The Cap'n Web HTTP batch form at POST /capnweb (the npm client's newHttpBatchRpcSession).

The body holds one Cap'n Web message per line; every line is fed to a fresh session, the
pulled answers are awaited, and the messages the session sent are the response, one per
line. The session ends with the response, so nothing can call the client back: streams and
callbacks need /ws/capnweb. The body is bounded by WEBCAP_MAX_REQUEST_BYTES (common/asgi.py).
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from a2a.bindings import public_base_url
from a2a.capnweb.errors import error_mapper, session_limits
from a2a.capnweb.service import A2AService
from a2a.capnweb.streaming import Connection
from capnweb import RpcSession

TEXT = "text/plain; charset=utf-8"


@csrf_exempt
async def capnweb_batch(request: HttpRequest) -> HttpResponse:
    """POST /capnweb: a newline-delimited batch of Cap'n Web messages in, the answers out."""
    if request.method != "POST":
        response = HttpResponse(
            "This endpoint only accepts POST requests.", content_type=TEXT, status=405
        )
        response["Allow"] = "POST"
        return response
    try:
        body = request.body.decode("utf-8")
    except UnicodeDecodeError:
        return HttpResponse("The request body is not UTF-8.", content_type=TEXT, status=400)
    sent: list[str] = []

    async def send(text: str) -> None:
        sent.append(text)

    connection = Connection(
        base_url=public_base_url(request.scheme or "http", request.get_host()), batch=True
    )
    session = RpcSession(
        A2AService(connection), send, limits=session_limits(), error_mapper=error_mapper
    )
    try:
        for line in body.split("\n"):
            if line.strip():  # a trailing newline is no message
                await session.feed(line)
            if session.closed:
                break  # aborted: the abort message is the last line of the answer
        await session.drain()
    finally:
        session.close("The HTTP batch ended.")
        await connection.close()
    return HttpResponse("\n".join(sent), content_type=TEXT)

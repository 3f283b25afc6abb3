"""ASGI middleware refusing request bodies over a size limit with 413, before the application
sees them."""

from __future__ import annotations

import json
from typing import Any


class BodyLimit:
    """Answer 413 to a request whose body exceeds ``max_bytes``, declared (``Content-Length``) or
    streamed; the body is read at most up to the limit, then handed to the application.

    Args:
        app: The ASGI application.
        max_bytes: Largest accepted body [bytes].
    """

    def __init__(self, app: Any, max_bytes: int) -> None:
        self.app, self.max_bytes = app, int(max_bytes)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers", ())).get(b"content-length")
        if declared is not None:
            try:
                size = int(declared)
            except ValueError:
                await _refuse(send, 400, "Content-Length is not a number.")
                return
            if size > self.max_bytes:
                await _refuse(send, 413, self._message(f"{size} bytes"))
                return
        chunks, seen = [], 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break  # the client went away; the application sees an empty body
            chunks.append(message.get("body", b""))
            seen += len(chunks[-1])
            if seen > self.max_bytes:
                await _refuse(send, 413, self._message(f"over {self.max_bytes} bytes"))
                return
            if not message.get("more_body", False):
                break
        body, delivered = b"".join(chunks), False

        async def replay() -> dict[str, Any]:
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _message(self, size: str) -> str:
        return (f"The request body has {size}, over the limit of {self.max_bytes} (max_body_bytes; the server's "
                "--max-body-bytes). Split the request.")


async def _refuse(send: Any, status: int, message: str) -> None:
    body = json.dumps({"detail": message}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

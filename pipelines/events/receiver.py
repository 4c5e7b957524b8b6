"""`pixee-etl receive`'s ASGI app: verify X-Pixee-Signature, store the event durably, then acknowledge.

POST /webhooks/pixee: 401 for a missing or wrong signature (nothing stored), 413 for a body over
1 MB (refused while reading, never buffered beyond the limit), 400 for a body that is not a JSON
event or holds what the journal or warehouse cannot (nesting past 64 levels, a 65-bit integer, a
lone surrogate), 503 when the journal cannot store it (Pixee retries), 200 once it is committed.
GET /healthz: 200 with the journal's counts. Plain ASGI rather than Starlette routing: the body
limit must hold while the body streams in.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from pipelines.events.journal import Journal
from pipelines.extract.rejected_rows import value_problem

log = logging.getLogger("pipelines.webhooks")

MAX_BODY = 1024 * 1024
EVENTS_PATH = "/webhooks/pixee"
Send = Callable[[dict[str, Any]], Awaitable[None]]
Receive = Callable[[], Awaitable[dict[str, Any]]]


class _Refused(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def signature_ok(secrets: Sequence[bytes], body: bytes, given: str | None) -> bool:
    """True when `given` is the hex HMAC-SHA256 of body under any secret; constant-time per secret."""
    if not given:
        return False
    given = given.strip().lower().removeprefix("sha256=")
    ok = False
    for secret in secrets:
        expected = hmac.new(secret, body, hashlib.sha256).hexdigest()
        # No early exit: the time taken does not tell which secret (if any) matched.
        ok = hmac.compare_digest(expected.encode(), given.encode("ascii", "replace")) or ok
    return ok


class ReceiverApp:
    """The receiver: a journal, the valid secrets, and an optional callback per newly stored event."""

    def __init__(
        self,
        journal: Journal,
        secrets: Sequence[str],
        *,
        on_stored: Callable[[dict[str, Any]], None] | None = None,
        max_body: int = MAX_BODY,
    ) -> None:
        if not secrets:
            raise ValueError("the receiver needs at least one secret")
        self.journal = journal
        self.secrets = [s.encode() for s in secrets]
        self.on_stored = on_stored
        self.max_body = max_body
        self.counts = {"stored": 0, "redelivered": 0, "unauthorized": 0, "too_large": 0, "bad_request": 0}

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        path, method = scope["path"], scope["method"]
        if path == "/healthz" and method == "GET":
            events, deliveries = await asyncio.to_thread(self.journal.count)
            await _json(send, 200, {"ok": True, "events": events, "deliveries": deliveries})
            return
        if path != EVENTS_PATH:
            await _json(send, 404, {"error": "not found"})
            return
        if method != "POST":
            await _json(send, 405, {"error": "POST only"})
            return
        try:
            status, answer = await self._event(scope, receive)
        except _Refused as exc:
            key = {401: "unauthorized", 413: "too_large", 400: "bad_request"}.get(exc.status)
            if key:
                self.counts[key] += 1
            log.warning("webhook delivery refused: %d %s", exc.status, exc.message)
            status, answer = exc.status, {"error": exc.message}
        await _json(send, status, answer)

    async def _event(self, scope: dict[str, Any], receive: Receive) -> tuple[int, dict[str, Any]]:
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        length = headers.get("content-length", "")
        if length.isdigit() and int(length) > self.max_body:
            raise _Refused(413, f"body over {self.max_body} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Refused(400, "the sender went away before the body ended")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise _Refused(413, f"body over {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body"):
                break
        body = b"".join(chunks)
        if not signature_ok(self.secrets, body, headers.get("x-pixee-signature")):
            raise _Refused(401, "missing or wrong X-Pixee-Signature")
        event = _parse(body)
        try:
            new = await asyncio.to_thread(self.journal.record, event)
        except Exception as exc:  # the disk is full, the file went away: no 2xx, so Pixee retries
            log.error("could not store event %s: %s: %s", event["id"], type(exc).__name__, exc)
            return 503, {"error": "could not store the event; deliver it again"}
        self.counts["stored" if new else "redelivered"] += 1
        if new and self.on_stored is not None:
            try:
                self.on_stored(event)
            except Exception:  # a failed trigger must not undo an acknowledged, stored event
                log.exception("the on-stored callback failed for event %s", event["id"])
        return 200, {"id": event["id"], "stored": True, "duplicate": not new}


def _parse(body: bytes) -> dict[str, Any]:
    try:
        event = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise _Refused(400, "body is not valid JSON") from None
    except RecursionError:  # a signed body can still be hostile: never a 500 Pixee retries forever
        raise _Refused(400, "body is nested too deeply to decode") from None
    if not isinstance(event, dict):
        raise _Refused(400, "body is not a JSON object")
    # What the journal (SQLite wants valid Unicode) and the warehouse (64-bit integers, a
    # normalizer that recurses per level) cannot hold must be refused now: once acknowledged,
    # it would fail every later run instead of this one delivery.
    problem = value_problem(event)
    if problem is not None:
        raise _Refused(400, f"event cannot be stored: {problem}")
    for key in ("id", "type"):
        value = event.get(key)
        if not isinstance(value, str) or not value or len(value) > 200:
            raise _Refused(400, f"event {key!r} is missing or not a short string")
    if "data" in event and not isinstance(event["data"], dict | type(None)):
        raise _Refused(400, "event 'data' is not an object")
    return event


async def _json(send: Send, status: int, obj: dict[str, Any]) -> None:
    body = json.dumps(obj, separators=(",", ":")).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

"""Secrets out of every text pixee-etl emits, log records too: whole, or any 8+ character piece."""

from __future__ import annotations

import logging
import threading
from typing import Any

# A secret cut short (a log line truncated, a header echoed in part) is still a leak: any run of
# this many characters of a secret is hidden. Shorter runs are too likely to be ordinary text.
MIN_PIECE = 8

_secrets: set[str] = set()
_pieces: dict[str, tuple[str, ...]] = {}
_lock = threading.Lock()


def add_secret(value: str) -> None:
    """Remember a secret for redact(); values shorter than MIN_PIECE are hidden only whole."""
    if not value or len(value) < 4:
        return
    with _lock:
        _secrets.add(value)
        _pieces[value] = tuple({value[i : i + MIN_PIECE] for i in range(len(value) - MIN_PIECE + 1)})


def secrets() -> tuple[str, ...]:
    return tuple(_secrets)


def redact(text: str) -> str:
    """`text` with every secret, and every 8+ character piece of one, replaced by '***'."""
    if not _secrets or not text:
        return text
    with _lock:
        known = list(_pieces.items())
    hidden: list[tuple[int, int]] = []
    for secret, pieces in known:
        if secret in text:
            text = text.replace(secret, "***")
        for piece in pieces:
            start = text.find(piece)
            while start != -1:
                hidden.append((start, start + len(piece)))
                start = text.find(piece, start + 1)
    if not hidden:
        return text
    # Overlapping pieces mark one run: the run goes as a whole, not as fragments.
    hidden.sort()
    out, last = [], 0
    run_start, run_end = hidden[0]
    for start, end in [*hidden[1:], (len(text) + 1, len(text) + 1)]:
        if start <= run_end:
            run_end = max(run_end, end)
            continue
        out += [text[last:run_start], "***"]
        last = run_end
        run_start, run_end = start, end
    out.append(text[last:])
    return "".join(out)


def holds_secret(data: bytes, *, pieces: bool = True) -> bool:
    """Whether `data` holds a secret (with `pieces`, also any 8+ character piece of one: a few
    microseconds per kilobyte per secret, so bulk response bodies are checked whole only)."""
    with _lock:
        known = list(_pieces.items())
    for secret, grams in known:
        if secret.encode() in data or (pieces and any(g.encode() in data for g in grams)):
            return True
    return False


def scrub(value: object) -> object:
    """A decoded JSON value with every string (keys too) passed through redact()."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {redact(k): scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    return value


def register_secret(value: str) -> None:
    """Remember a secret so every log record and error text that passes redact() hides it."""
    add_secret(value)
    if value and len(value) >= 4:
        _install_log_filter()


class RedactingFilter(logging.Filter):
    """Formats the record once and replaces every registered secret by '***'."""

    def filter(self, record: logging.LogRecord) -> bool:
        if secrets():
            try:
                message = record.getMessage()
            except Exception:  # a broken format string must not hide the record
                message = str(record.msg)
            cleaned = redact(message)
            if cleaned != message or record.args:
                record.msg, record.args = cleaned, None
            if record.exc_info and record.exc_info[1] is not None:
                # Tracebacks are rendered by the handler; render now so the secret can be removed.
                record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
                record.exc_info = None
        return True


_FILTER = RedactingFilter()
_factory_installed = False
_factory_lock = threading.Lock()


def _install_log_filter() -> None:
    """Attach the filter where every record passes: the record factory, so handlers added later
    (Prefect's, pytest's) see redacted records too, and httpx/httpcore never log headers."""
    global _factory_installed
    with _factory_lock:
        if _factory_installed:
            return
        previous = logging.getLogRecordFactory()

        def factory(*args: Any, **kwargs: Any) -> logging.LogRecord:
            record = previous(*args, **kwargs)
            _FILTER.filter(record)
            return record

        logging.setLogRecordFactory(factory)
        _factory_installed = True
    # httpcore's DEBUG trace names every header event; keep it quiet whatever the root level is.
    for name in ("httpcore", "hpack"):
        logging.getLogger(name).setLevel(logging.WARNING)

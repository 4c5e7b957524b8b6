"""Secrets out of every text pixee-etl emits: whole, or any piece of 8+ characters of them."""

from __future__ import annotations

import threading

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

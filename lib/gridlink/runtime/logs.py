"""JSON-lines logging that carries the service, the event type and the correlation_id of the work in hand."""

from __future__ import annotations

import contextvars
import json
import logging
import sys
from contextlib import contextmanager, suppress
from datetime import UTC, datetime

_context: contextvars.ContextVar[dict | None] = contextvars.ContextVar("gridlink_log_context", default=None)


@contextmanager
def log_context(**fields):
    """Attach fields (correlation_id, event_type…) to every log line written inside the block."""
    token = _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


def push_context(**fields) -> contextvars.Token:
    return _context.set({**(_context.get() or {}), **{k: v for k, v in fields.items() if v is not None}})


def pop_context(token: contextvars.Token) -> None:
    # A reset from another context (a different green thread) leaves nothing of ours to undo.
    with suppress(ValueError):
        _context.reset(token)


def current_context() -> dict:
    return _context.get() or {}


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
            **(_context.get() or {}),
        }
        extra = getattr(record, "fields", None)
        if extra:
            line.update(extra)
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure_logging(service: str, level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # kombu and nameko narrate every connection at INFO; keep their warnings only.
    for noisy in ("kombu", "amqp", "nameko", "eventlet.wsgi.server"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))

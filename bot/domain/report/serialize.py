"""The report as JSON-ready data (``backlog-bot report ID --format json``, and the
document stored beside the Markdown): times as ISO 8601 in UTC, durations in seconds,
enums by value, people by user id with ``people`` mapping ids to names."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from enum import Enum
from typing import Any
from uuid import UUID

from bot.domain.report.document import MessageMoment, ReportDocument


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, MessageMoment):
        return {"type": "message", **_fields(value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _fields(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    return value


def _fields(value: Any) -> dict[str, Any]:
    return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}


def report_data(doc: ReportDocument) -> dict[str, Any]:
    """``doc`` as a dict of JSON types (plus ``peak``: the highest queue's figures)."""
    data = _fields(doc)
    data["peak"] = _plain(doc.peak)
    return data

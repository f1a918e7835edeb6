"""An incident channel's name: the playbook's template made into a name Slack accepts.

Slack's rule (``conversations.create`` reference, "Naming"): lowercase letters,
numbers, hyphens and underscores only, at most 80 characters. A name that is
taken gets a numeric suffix (``-2``, ``-3``…), still within 80.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from datetime import datetime, tzinfo

MAX_NAME = 80
_INVALID = re.compile(r"[^a-z0-9_-]+")
_DASHES = re.compile(r"-{2,}")


def slack_name(raw: str) -> str:
    """``raw`` as a valid channel name: lowercased, other characters as ``-`` (runs of
    them as one), no ``-``/``_`` at either end, cut to 80. Empty when nothing is left."""
    name = _DASHES.sub("-", _INVALID.sub("-", raw.lower())).strip("-_")
    return name[:MAX_NAME].rstrip("-_")


def incident_channel_name(
    template: str,
    *,
    incident_id: int,
    rule: str,
    queue: str,
    severity: str,
    playbook: str,
    detected_at: datetime,
    zone: tzinfo,
) -> str:
    """The template filled in (``inc-{date}-{rule}`` → ``inc-20261129-emailqueuebacklog``);
    ``{date}``/``{time}`` are the detection's ``YYYYMMDD``/``HHMM`` in ``zone``. Falls back
    to ``incident-<id>`` when the template leaves nothing valid."""
    local = detected_at.astimezone(zone)
    filled = template.format(
        date=f"{local:%Y%m%d}",
        time=f"{local:%H%M}",
        rule=rule,
        queue=queue,
        severity=severity,
        id=incident_id,
        playbook=playbook,
    )
    return slack_name(filled) or f"incident-{incident_id}"


def with_suffix(name: str, n: int) -> str:
    """``name-n`` within 80 characters (the name is shortened, never the suffix); ``n``
    of 1 or less is the name itself."""
    if n <= 1:
        return name
    suffix = f"-{n}"
    return name[: MAX_NAME - len(suffix)].rstrip("-_") + suffix


def first_free(name: str, taken: Collection[str], start: int = 2) -> tuple[str, int]:
    """The first of ``name``, ``name-start``, ``name-(start+1)``… not in ``taken``, and
    its suffix number (1 for the bare name)."""
    if name not in taken and start <= 2:
        return name, 1
    n = max(start, 2)
    while with_suffix(name, n) in taken:
        n += 1
    return with_suffix(name, n), n

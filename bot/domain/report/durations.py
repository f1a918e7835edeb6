"""Durations and instants as people read them, in the playbook's time zone with UTC
alongside.

Two ways to write a duration: :func:`format_duration` is the coarse one of chat
messages ("above the threshold for 10m"), floored to the minute past one minute;
:func:`format_elapsed` is the report's, exact to the second ("5m", "4m 59s",
"1h 02m 03s"). The report measures a duration between two instants as they are
shown (:func:`elapsed`: whole seconds), so "10:40:26 → 10:45:26" reads "5m" even when
the instants underneath were 10:40:26.9 and 10:45:26.1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

NOT_RECORDED = "_not recorded_"


def format_duration(delta: timedelta) -> str:
    """Coarse: ``42s`` under a minute, else whole minutes (``10m``, ``1h 01m``), floored."""
    seconds = int(delta.total_seconds())
    if seconds < 60:
        return f"{seconds}s"
    hours, rem = divmod(seconds, 3600)
    minutes = rem // 60
    return f"{hours}h {minutes:02d}m" if hours else f"{minutes}m"


def elapsed(start: datetime, end: datetime) -> timedelta:
    """``end - start`` between the two instants as shown (to the whole second), never
    negative."""
    shown = end.replace(microsecond=0) - start.replace(microsecond=0)
    return max(shown, timedelta(0))


def format_elapsed(delta: timedelta) -> str:
    """Exact to the second, seconds shown only where they are not zero: ``0s``,
    ``42s``, ``5m``, ``4m 59s``, ``1h 02m``, ``1h 02m 03s``, ``2d 03h 00m``."""
    seconds = round(delta.total_seconds())
    sign = "-" if seconds < 0 else ""
    seconds = abs(seconds)
    days, rem = divmod(seconds, 86400)
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    if days:
        text = f"{days}d {hours:02d}h {minutes:02d}m"
    elif hours:
        text = f"{hours}h {minutes:02d}m"
    elif minutes:
        text = f"{minutes}m"
    else:
        return f"{sign}{secs}s"
    return sign + text + (f" {secs:02d}s" if secs else "")


def zone_name(tz: tzinfo, at: datetime) -> str:
    """The zone's abbreviation at ``at`` (``CET``, ``CEST``, ``UTC``), else its offset."""
    name = at.astimezone(tz).tzname() or ""
    if name and name[0] not in "+-":
        return name
    offset = at.astimezone(tz).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _is_utc(tz: tzinfo, at: datetime) -> bool:
    return at.astimezone(tz).utcoffset() == timedelta(0) and zone_name(tz, at) in ("UTC", "GMT")


def format_clock(at: datetime, tz: tzinfo) -> str:
    """``10:40:26 CET (09:40:26 UTC)``; ``09:40:26 UTC`` when the zone is UTC."""
    utc = at.astimezone(UTC)
    if _is_utc(tz, at):
        return f"{utc:%H:%M:%S} UTC"
    local = at.astimezone(tz)
    return f"{local:%H:%M:%S} {zone_name(tz, at)} ({utc:%H:%M:%S} UTC)"


def format_instant(at: datetime | None, tz: tzinfo) -> str:
    """``2026-11-28 10:40:26 CET (09:40:26 UTC)``, the date in the playbook's zone;
    the UTC date too when it differs. :data:`NOT_RECORDED` for None."""
    if at is None:
        return NOT_RECORDED
    utc = at.astimezone(UTC)
    if _is_utc(tz, at):
        return f"{utc:%Y-%m-%d %H:%M:%S} UTC"
    local = at.astimezone(tz)
    utc_part = f"{utc:%H:%M:%S}" if local.date() == utc.date() else f"{utc:%Y-%m-%d %H:%M:%S}"
    return f"{local:%Y-%m-%d %H:%M:%S} {zone_name(tz, at)} ({utc_part} UTC)"

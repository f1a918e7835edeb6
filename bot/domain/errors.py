"""Failures worded for people.

Every exception the bot expects to meet derives from :class:`BotError`: its
``str()`` is one or more full sentences, safe to show in Slack (no secrets, no
URL with a password, user-supplied text already escaped), saying what went
wrong in the terms of the person who acted. The Slack error boundary shows it
to them; anything that is *not* a ``BotError`` is a bug, logged with an error
id and answered with a generic sentence naming that id.
"""

from __future__ import annotations


class BotError(Exception):
    """A failure worded for the person who acted."""

    #: The emoji the error boundary puts before the sentence.
    icon = ":warning:"


class Refused(BotError):
    """The request cannot be done as asked (bad input, not allowed, nothing open);
    nothing was changed."""

    icon = ":no_entry:"


class DependencyError(BotError):
    """A dependency (Redis, Kubernetes, PostgreSQL, Slack, PagerDuty) failed or
    answered with an error; the sentence names it and what is known of the state."""

    icon = ":warning:"

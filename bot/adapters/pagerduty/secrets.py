"""Routing keys and hook URLs, read from the environment variables the playbook names.

Both are secrets: reading one registers its value with the log redactor
(:data:`bot.logs.redact`) so it is masked wherever it would appear in a log
line, its ``repr`` never shows it, and every sentence names the variable, never
the value.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot import logs
from bot.domain.errors import DependencyError
from bot.domain.paging import PagerDutyTarget, WebhookTarget

#: PagerDuty Events API v2, "Send an Alert Event": routing_key is "the 32 character
#: Integration Key for an integration on a service or on a global ruleset".
ROUTING_KEY_LENGTH = 32


class PagingNotConfigured(DependencyError):
    """A playbook names a pager whose secret is missing or unusable in the environment."""


@dataclass(frozen=True)
class RoutingKey:
    """A PagerDuty routing key and the variable it came from; ``repr`` hides the value."""

    env_name: str
    value: str = field(repr=False)

    @property
    def label(self) -> str:
        return PagerDutyTarget(routing_key_env=self.env_name).label


@dataclass(frozen=True)
class HookUrl:
    """A generic webhook's URL and the variable it came from; ``repr`` hides the value."""

    env_name: str
    value: str = field(repr=False)

    @property
    def label(self) -> str:
        return WebhookTarget(url_env=self.env_name).label


def _read(env_name: str, environ: Mapping[str, str] | None, what: str) -> str:
    value = (os.environ if environ is None else environ).get(env_name, "").strip()
    if not value:
        raise PagingNotConfigured(
            f"The playbook pages {what} with the secret in `{env_name}`, "
            "but that environment variable is not set."
        )
    logs.redact.register([value])
    return value


def routing_key(target: PagerDutyTarget, environ: Mapping[str, str] | None = None) -> RoutingKey:
    """The routing key ``target`` names, from ``environ`` (default ``os.environ``).

    Raises :class:`PagingNotConfigured` when the variable is unset or its value is not
    32 characters long (PagerDuty would refuse every event with a 400).
    """
    value = _read(target.routing_key_env, environ, "PagerDuty")
    if len(value) != ROUTING_KEY_LENGTH or any(ch.isspace() for ch in value):
        raise PagingNotConfigured(
            f"`{target.routing_key_env}` does not hold a PagerDuty routing key: it is "
            f"{len(value)} characters long, and an Events API v2 integration key is "
            f"{ROUTING_KEY_LENGTH} characters without spaces."
        )
    return RoutingKey(env_name=target.routing_key_env, value=value)


def hook_url(target: WebhookTarget, environ: Mapping[str, str] | None = None) -> HookUrl:
    """The webhook URL ``target`` names, from ``environ`` (default ``os.environ``).

    Raises :class:`PagingNotConfigured` when the variable is unset or not an
    ``http(s)://host/…`` URL.
    """
    value = _read(target.url_env, environ, "a webhook")
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PagingNotConfigured(
            f"`{target.url_env}` does not hold a webhook URL: expected http(s)://host/path."
        )
    return HookUrl(env_name=target.url_env, value=value)

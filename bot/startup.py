"""Start-up checks: every setting the bot cannot run without, checked before it serves.

Each failure is a :class:`ConfigurationError` whose ``str()`` is one line naming the
setting (``DATABASE_URL: ...``); the command line prints it and exits 2. The checks
that need no server run before anything is started; those that do (Slack's
``auth.test``, a PostgreSQL connection, a Redis ``PING``) run as each client is made,
and whoever started something stops it when one fails (see :mod:`bot.lifecycle`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import asyncpg
from redis.exceptions import RedisClusterException, RedisError
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot import logs
from bot.adapters.kube import KubeClient
from bot.adapters.kube.unconfigured import KubeConfigInvalid, kube_from_environment
from bot.adapters.queues.connection import describe
from bot.domain.playbook import Playbook, PlaybookError, load_playbook
from bot.domain.playbook_set import PlaybookSet, load_playbooks
from bot.settings import Settings

if TYPE_CHECKING:  # bot.backends imports this module
    from bot.backends import Backends

DEFAULT_PLAYBOOK = Path("playbooks/queue-backlog.yml")
CONNECT_TIMEOUT_SECONDS = 10.0
# auth.test errors that mean the token itself is wrong (Slack's auth.test docs).
_TOKEN_REFUSED = {"invalid_auth", "not_authed", "account_inactive", "token_revoked",
                  "token_expired", "not_allowed_token_type"}  # fmt: skip


class ConfigurationError(RuntimeError):
    """A setting the bot cannot start with; ``str()`` is one line naming it."""


def secret(value: object) -> str:
    return value.get_secret_value() if hasattr(value, "get_secret_value") else ""


def slack_secrets(settings: Settings) -> tuple[str, str]:
    """``(bot token, signing secret)``; raises ConfigurationError when either is unset."""
    token = secret(settings.slack_bot_token)
    signing_secret = secret(settings.slack_signing_secret)
    if not token or not signing_secret:
        raise ConfigurationError("SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set")
    return token, signing_secret


def playbook_file(path: Path) -> Path:
    """The playbook to load: ``path`` if it exists, else the packaged PhishNet
    playbook when ``path`` is the default (so an installed bot runs anywhere)."""
    if path.exists() or path != DEFAULT_PLAYBOOK:
        return path
    packaged = Path(str(resources.files("bot") / "playbooks" / "queue-backlog.yml"))
    return packaged if packaged.exists() else path


def configured_playbook(settings: Settings) -> Playbook:
    """The ``PLAYBOOK``, loaded and validated; every problem on one line."""
    try:
        return load_playbook(playbook_file(settings.playbook))
    except PlaybookError as exc:
        raise ConfigurationError(f"PLAYBOOK: {exc.path} cannot be used: {_problems(exc)}") from exc


def configured_playbooks(settings: Settings) -> PlaybookSet:
    """The ``PLAYBOOK`` file or directory, loaded. A directory's broken files are in
    the set's ``broken``; a ConfigurationError (every problem on one line) when a
    file is broken, a directory holds no playbook or reuses a name, or none of a
    directory's playbooks is valid."""
    path = settings.playbook
    if not path.is_dir():
        return PlaybookSet(playbooks=(configured_playbook(settings),))
    try:
        found = load_playbooks(path)
    except PlaybookError as exc:
        raise ConfigurationError(f"PLAYBOOK: {exc.path} cannot be used: {_problems(exc)}") from exc
    if not found.playbooks:
        lines = "; ".join(found.problem_lines())
        raise ConfigurationError(f"PLAYBOOK: no playbook in {path} can be used: {lines}")
    return found


def _problems(exc: PlaybookError) -> str:
    return "; ".join(f"{p.field}: {p.reason}" for p in exc.problems)


def playbook_backends(
    playbook: Playbook, backends: Backends, environ: Mapping[str, str] | None = None
) -> Backends:
    """``backends`` with the Redis URL of ``playbook``: the value of the variable its
    ``redis.url_env`` names (``environ``, default ``os.environ``), or ``REDIS_URL``'s
    (``backends.redis_url``, embedded or not) when it names that one. Raises
    ConfigurationError naming the variable when it is unset."""
    if playbook.redis.is_default:
        return backends
    variable = playbook.redis.url_env
    url = (os.environ if environ is None else environ).get(variable, "")
    if not url:
        raise ConfigurationError(
            f"{variable}: not set (playbook {playbook.name!r} takes its Redis URL from it: "
            "redis.url_env)"
        )
    return dataclasses.replace(backends, redis_url=url)


def configured_kube(settings: Settings) -> KubeClient:
    """The Kubernetes client (a stand-in when none is configured); a configuration that
    is given but unusable is a ConfigurationError naming it."""
    try:
        return kube_from_environment(settings.kubeconfig)
    except KubeConfigInvalid as exc:
        raise ConfigurationError(str(exc)) from exc


def missing_urls(names: list[str], command: str) -> ConfigurationError:
    """The error for ``REDIS_URL``/``DATABASE_URL`` unset without ``--embedded``."""
    what = " and ".join(names)
    verb = "is" if len(names) == 1 else "are"
    hint = {
        "serve": "point it at the workers' Redis and the bot's PostgreSQL, or try the bot on "
        "embedded servers with `backlog-bot serve --embedded` (or BACKLOG_BOT_EMBEDDED=1)",
        "report": "point it at the bot's PostgreSQL; for the demo's incidents run "
        "`backlog-bot report --demo ID`",
    }.get(
        command,
        f"point it at the bot's PostgreSQL, or use `backlog-bot {command} --embedded` "
        "(or BACKLOG_BOT_EMBEDDED=1) for the embedded one",
    )
    if len(names) == 1:
        hint = hint.replace("the workers' Redis and the bot's PostgreSQL", _WHAT[names[0]])
    return ConfigurationError(f"{what} {verb} not set: {hint}")


_WHAT = {"REDIS_URL": "the workers' Redis", "DATABASE_URL": "the bot's PostgreSQL"}


async def verify_slack(client: AsyncWebClient, api_url: str) -> None:
    """Calls ``auth.test``: a refused token or an unreachable Slack stops the start."""
    try:
        await client.auth_test()
    except SlackApiError as exc:
        error = str(exc.response.get("error", "error"))
        setting = "SLACK_BOT_TOKEN" if error in _TOKEN_REFUSED else "SLACK_API_URL"
        raise ConfigurationError(
            f"{setting}: Slack refused auth.test ({error}) at {api_url}"
        ) from exc
    except (OSError, TimeoutError) as exc:
        raise ConfigurationError(
            f"SLACK_API_URL: Slack did not answer auth.test at {api_url} ({_reason(exc)})"
        ) from exc


async def verify_postgres(url: str, *, embedded: bool = False) -> None:
    """Opens (and closes) one connection; raises ConfigurationError naming DATABASE_URL."""
    setting = "the embedded PostgreSQL" if embedded else "DATABASE_URL"
    try:
        conn = await asyncpg.connect(url, timeout=CONNECT_TIMEOUT_SECONDS)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        raise ConfigurationError(
            f"{setting}: PostgreSQL did not accept the connection ({_reason(exc)})"
        ) from exc
    except ValueError as exc:  # asyncpg's own DSN parsing
        raise ConfigurationError(f"{setting}: {_reason(exc)}") from exc
    await conn.close()


async def verify_redis(
    client: Any, url: str, *, embedded: bool = False, setting: str = "REDIS_URL"
) -> None:
    """``PING``; raises ConfigurationError naming ``setting`` (the variable holding the
    URL: ``REDIS_URL``, or a playbook's ``redis.url_env``) with the password masked."""
    setting = "the embedded Redis" if embedded else f"{setting} ({describe(url)})"
    try:
        await asyncio.wait_for(client.ping(), CONNECT_TIMEOUT_SECONDS)
    except (RedisError, RedisClusterException, OSError, TimeoutError) as exc:
        raise ConfigurationError(f"{setting}: Redis did not answer PING ({_reason(exc)})") from exc


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().rstrip(".") or type(exc).__name__
    return logs.redact(" ".join(text.split()))

"""The Redis and PostgreSQL the bot uses: the configured ones, or embedded ones when
asked (``--embedded`` / ``BACKLOG_BOT_EMBEDDED``, the demo), stopped on every exit path.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from bot import logs
from bot.adapters.queues.connection import passwords
from bot.embedded import EmbeddedPostgres, EmbeddedRedis, EmbeddedServerError, default_data_dir
from bot.settings import Settings
from bot.startup import ConfigurationError, missing_urls, secret


@dataclass
class Backends:
    """The Redis and PostgreSQL URLs to use, and the embedded servers this process
    started for them (stopped by :meth:`stop`, on every exit path)."""

    embedded: list[EmbeddedRedis | EmbeddedPostgres]
    redis_url: str = ""
    database_url: str = ""

    def has(self, kind: str) -> bool:
        return any(server.kind == kind for server in self.embedded)

    def stop(self) -> None:
        """Stops every embedded server (each one even if another fails). Idempotent."""
        with contextlib.ExitStack() as stack:
            for server in self.embedded:
                stack.callback(server.stop)


async def start_backends(
    settings: Settings,
    *,
    redis: bool = True,
    embedded: bool | None = None,
    data_dir: Path | None = None,
    command: str = "serve",
) -> Backends:
    """The configured Redis and PostgreSQL; embedded ones only where a URL is unset
    *and* ``embedded`` (default: ``BACKLOG_BOT_EMBEDDED``) asks for them.

    Raises :class:`ConfigurationError` as :func:`check_urls` does (``command`` picks
    the hint), or when an embedded server does not start; nothing is left running then.
    ``data_dir`` (default ``BACKLOG_BOT_DATA_DIR``, else the user's data directory)
    holds the embedded servers' data.
    """
    check_urls(settings, redis=redis, embedded=embedded, command=command)
    redis_url = settings.redis_url or ""
    database_url = secret(settings.database_url)
    backends = Backends(embedded=[], redis_url=redis_url, database_url=database_url)
    root = data_dir or settings.data_dir or default_data_dir()
    try:
        if redis and not redis_url:
            redis_server = EmbeddedRedis(root / "redis")
            backends.embedded.append(redis_server)
            backends.redis_url = await start_embedded(redis_server)
        if not database_url:
            pg = EmbeddedPostgres(root / "postgres")
            backends.embedded.append(pg)
            backends.database_url = await start_embedded(pg)
    except BaseException as exc:
        await asyncio.to_thread(backends.stop)
        if isinstance(exc, EmbeddedServerError | OSError | subprocess.SubprocessError):
            raise ConfigurationError(f"BACKLOG_BOT_DATA_DIR ({root}): {exc}") from exc
        raise
    # The passwords, wherever a client error may quote them (the logs mask any
    # user:password@ in a URL too); hosts and ports stay readable.
    logs.redact.register([*passwords(backends.redis_url), urlsplit(backends.database_url).password])
    return backends


def check_urls(
    settings: Settings, *, redis: bool = True, embedded: bool | None = None, command: str = "serve"
) -> None:
    """Raises ConfigurationError naming ``REDIS_URL`` / ``DATABASE_URL`` when one is
    unset and embedded servers (``embedded``, default ``BACKLOG_BOT_EMBEDDED``) were
    not asked for: a bot watching an empty embedded Redis would never alert."""
    if settings.embedded if embedded is None else embedded:
        return
    unset = [("REDIS_URL", redis and not settings.redis_url)]
    unset.append(("DATABASE_URL", not secret(settings.database_url)))
    missing = [name for name, is_unset in unset if is_unset]
    if missing:
        raise missing_urls(missing, command)


async def start_embedded(server: EmbeddedRedis | EmbeddedPostgres) -> str:
    """``server.start()`` in a thread, carried to its end even if the caller is
    cancelled (a signal during start-up), so that ``server.stop()`` then finds the
    process it must stop instead of missing one still being started."""
    starting = asyncio.ensure_future(asyncio.to_thread(server.start))
    try:
        return await asyncio.shield(starting)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):
            await starting
        raise

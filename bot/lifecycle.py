"""``serve`` from start to a clean stop, and signals for every command.

Start: settings and playbook checked, Slack's ``auth.test``, then the servers
(:func:`bot.app.build_runtime`); any failure is a :class:`ConfigurationError` and
whatever was started is stopped before the process exits 2.

Stop, on SIGTERM or SIGINT (Kubernetes sends SIGTERM, then SIGKILL after the pod's
``terminationGracePeriodSeconds``, 30 s by default):

1. no new work: the HTTP listener and Socket Mode close, the scheduler stops and the
   jobs it had started are let finish (briefly);
2. the background work stops and the leader lock is released, so a stand-by
   replica takes it over within a second or two (bot/services/leadership.py);
3. actions executing here get ``BACKLOG_BOT_SHUTDOWN_GRACE`` seconds (default 20) to
   finish; those still running are cancelled and reported interrupted, as a crashed
   process's are (never re-run; what is known said in their thread);
4. the outbox gets a few seconds to deliver what the bot has to say;
5. the clients close and the embedded servers stop; exit 0 (at once, even if a
   cut-off action's Kubernetes call is still blocked in a worker thread).

With the defaults the whole stop takes at most :func:`stop_bound_seconds` (29 s).

A second signal during step 3 cuts the grace short. The handlers are installed with
``loop.add_signal_handler``, so they work when the bot is PID 1 in a container (the
kernel drops signals PID 1 has no handler for; that is why SIGTERM was ignored).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.adapters.slack.client import make_client
from bot.app import Runtime, build_runtime
from bot.backends import check_urls, start_backends
from bot.gameday_schedule import schedule_gameday
from bot.readiness import embedded_warnings
from bot.services.actions import CANCEL_SECONDS
from bot.services.leadership import Leadership
from bot.settings import Settings
from bot.startup import (
    ConfigurationError,
    configured_kube,
    configured_playbook,
    slack_secrets,
    verify_slack,
)
from bot.web import start_socket_mode, web_application

log = logging.getLogger(__name__)
T = TypeVar("T")

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# Bounds on the steps around the grace period, so the whole stop stays well inside
# Kubernetes' 30 s default with the default 20 s grace.
JOBS_SETTLE_SECONDS = 2.0
OUTBOX_FLUSH_SECONDS = 3.0
HTTP_DRAIN_SECONDS = 1.0
THREADS_SECONDS = 1.0
#: The scheduled jobs of the background work (run by the replica that leads).
BACKGROUND_JOBS = ("monitor", "interrupted", "channel-events", "expiry")


def stop_bound_seconds(shutdown_grace_seconds: float) -> float:
    """The longest a stop after SIGTERM takes: every bounded step above, in order
    (the pod's ``terminationGracePeriodSeconds`` must cover it)."""
    return (
        HTTP_DRAIN_SECONDS
        + JOBS_SETTLE_SECONDS
        + shutdown_grace_seconds
        + CANCEL_SECONDS
        + OUTBOX_FLUSH_SECONDS
        + THREADS_SECONDS
    )


class Stopping:
    """Set by the first stop signal; a second one sets ``hurry``."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.hurry = asyncio.Event()
        self.signal_name = ""

    def on_signal(self, signum: int) -> None:
        name = signal.Signals(signum).name
        if self.requested.is_set():
            log.warning("second %s: cutting the grace period short", name)
            self.hurry.set()
            return
        log.info("%s received: stopping", name)
        self.signal_name = name
        self.requested.set()


@contextlib.contextmanager
def signal_handlers(handler: Callable[[int], None]) -> Iterator[None]:
    """Routes SIGTERM and SIGINT to ``handler(signum)`` on the running loop."""
    loop = asyncio.get_running_loop()
    for signum in STOP_SIGNALS:
        loop.add_signal_handler(signum, handler, signum)
    try:
        yield
    finally:
        for signum in STOP_SIGNALS:
            loop.remove_signal_handler(signum)


async def run_interruptibly(work: Coroutine[Any, Any, int]) -> int:
    """Runs ``work`` (demo, migrate, report); a stop signal cancels it, so its
    ``finally`` blocks stop what it started, and returns 128 + the signal number."""
    task = asyncio.ensure_future(work)
    received: list[int] = []

    def cancel(signum: int) -> None:
        received.append(signum)
        task.cancel()

    with signal_handlers(cancel):
        try:
            return await task
        except asyncio.CancelledError:
            if not received:
                raise
            return 128 + received[0]


async def serve(settings: Settings) -> int:
    """Runs the bot until SIGTERM/SIGINT; returns the exit code (0 after a clean stop).

    Raises :class:`ConfigurationError` before serving; nothing is left running then.
    """
    stopping = Stopping()
    with signal_handlers(stopping.on_signal):
        starting = asyncio.ensure_future(start(settings))
        stop_wait = asyncio.ensure_future(stopping.requested.wait())
        await asyncio.wait({starting, stop_wait}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():  # a signal during start-up: undo it and leave
            starting.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await starting
            return 0
        server = starting.result()
        try:
            await stop_wait
        finally:
            stop_wait.cancel()
            await server.stop(stopping)
    await _leave_blocked_threads()
    return 0


async def _leave_blocked_threads() -> None:
    """Exits at once when a worker thread is still blocked in a call (the Kubernetes
    client is synchronous: a cut-off action's request may hang until its 15 s read
    timeout), since Python would otherwise wait for it at exit, past the grace period.
    Everything is recorded and stopped by now; nothing else is lost."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(loop.shutdown_default_executor()), THREADS_SECONDS)
        return
    log.warning("a call is still blocked in a worker thread; exiting without waiting for it")
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


async def start(settings: Settings) -> Server:
    """Checks, connects, and starts serving; see the module docstring."""
    if settings.playbook.is_dir():  # several playbooks (docs/many-playbooks.md)
        from bot.organisation_server import start_organisation  # it imports this module

        return await start_organisation(settings)
    token, _ = slack_secrets(settings)
    check_urls(settings)
    playbook = configured_playbook(settings)
    kube = configured_kube(settings)
    try:
        slack = make_client(token, settings.slack_api_url)
        await verify_slack(slack, settings.slack_api_url)
        backends = await start_backends(settings)
    except BaseException:
        kube.close()
        raise
    runtime = await build_runtime(settings, playbook=playbook, kube=kube, backends=backends)
    # What start-up built (the imported libraries, the wiring) lives as long as the
    # process: frozen out of the collector, a full collection no longer walks it and
    # stops taking 100-300 ms in the middle of a burst of acks (benchmarks/README.md).
    gc.collect()
    gc.freeze()
    # Said before the port opens: once it does, /readyz may answer (with the same
    # warnings) while the outbox sender and the recovery still start.
    for warning in embedded_warnings(runtime):
        log.warning(warning)
    server = Server(runtime)
    try:
        await server.start()
    except BaseException:
        await server.stop(None)
        raise
    log.info(
        "backlog bot serving",
        extra={
            "port": settings.port,
            "playbook": runtime.playbook.name,
            "embedded": [s.kind for s in runtime.embedded],
        },
    )
    return server


class Server:
    """The HTTP listener and Socket Mode (every replica), and the background work:
    scheduled jobs, outbox senders, escalation timer (the replica that leads)."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.leadership = Leadership(runtime.leader, lead=self._lead, follow=self._follow)
        runtime.leadership = self.leadership  # /readyz says whether this replica leads
        self._runner = web.AppRunner(web_application(runtime), shutdown_timeout=HTTP_DRAIN_SECONDS)
        self._scheduler = AsyncIOScheduler()
        self._jobs: set[asyncio.Task[Any]] = set()
        self._socket_mode: Any = None
        self._accepting = True

    async def start(self) -> None:
        settings = self.runtime.settings
        await self._runner.setup()
        site = web.TCPSite(self._runner, host="0.0.0.0", port=settings.port)  # noqa: S104
        try:
            await site.start()
        except OSError as exc:
            raise ConfigurationError(
                f"PORT: cannot listen on port {settings.port} ({exc.strerror or exc})"
            ) from exc
        # The playbook's gameday.schedule, if any: on every replica, since a drill
        # takes its own lock (bot/gameday_schedule.py) and only pushes, watches and
        # cleans up; the leader's loops do the rest.
        schedule_gameday(self._scheduler, self.runtime)
        self._scheduler.start()
        await self.leadership.start()  # leads now if no other replica does, else stands by
        self._socket_mode = await start_socket_mode(self.runtime)

    async def _lead(self) -> None:
        """Starts the background work (this replica took the leader lock)."""
        runtime = self.runtime
        self._schedule(
            "monitor", runtime.monitor.tick, seconds=runtime.settings.sample_interval_seconds
        )
        # Actions a dead process left running, and channel events stored but left
        # unprocessed (a retry never came; forgotten after a day): at once, then on an
        # interval — as jobs, so a long sweep never holds up the takeover.
        self._schedule("interrupted", runtime.actions.recover_interrupted, seconds=10, now=True)
        self._schedule("channel-events", runtime.channel_events.sweep, seconds=30, now=True)
        self._schedule("expiry", runtime.actions.expire_pending, seconds=30)
        await runtime.start_senders()
        # The rules' pending/firing state from the samples another replica stored.
        await runtime.incidents.restore()
        # Pages are decided from PostgreSQL; a `date` job wakes the escalation when the
        # next one falls due (re-planned after every change), so a takeover or a restart
        # loses no timer.
        await runtime.paging.timer.attach(self._scheduler)

    async def _follow(self) -> None:
        """Stops the background work (the lock was lost or is being given up): no new
        job starts, running ones get a moment and are then cancelled — a sample or a
        delivery cut short is redone by the new leader from PostgreSQL."""
        for job in BACKGROUND_JOBS:
            if self._scheduler.get_job(job) is not None:
                self._scheduler.remove_job(job)
        await self.runtime.paging.timer.detach()
        await self._settle_jobs()
        for task in list(self._jobs):
            task.cancel()
        await self.runtime.stop_background()

    async def stop(self, stopping: Stopping | None) -> None:
        """The stop sequence of the module docstring; every step runs even if one fails."""
        self._accepting = False
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(self.runtime.close)
            stack.push_async_callback(self._runner.cleanup)
            stack.push_async_callback(self._flush_outbox)
            if stopping is not None:
                stack.push_async_callback(self._finish_actions, stopping)
            # The background work stops and the lock is released: a stand-by takes over.
            stack.push_async_callback(self.leadership.stop)
            stack.callback(self._shutdown_scheduler)
            stack.push_async_callback(self._close_socket_mode)
            stack.push_async_callback(self._close_listeners)
        log.info("backlog bot stopped")

    # ---- steps -------------------------------------------------------------

    def _schedule(
        self, name: str, job: Callable[[], Awaitable[Any]], *, seconds: float, now: bool = False
    ) -> None:
        async def run() -> None:
            if not self._accepting:
                return
            task = asyncio.current_task()
            assert task is not None
            self._jobs.add(task)
            try:
                await job()
            finally:
                self._jobs.discard(task)

        self._scheduler.add_job(
            run,
            "interval",
            seconds=seconds,
            max_instances=1,
            coalesce=True,
            id=name,
            replace_existing=True,
            # None: APScheduler's default, one interval from now.
            **({"next_run_time": datetime.now(UTC)} if now else {}),
        )

    async def _close_listeners(self) -> None:
        for site in list(self._runner.sites):
            await site.stop()

    async def _close_socket_mode(self) -> None:
        if self._socket_mode is not None:
            close: Any = self._socket_mode.close_async  # untyped in slack_bolt
            await close()

    def _shutdown_scheduler(self) -> None:
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)

    async def _settle_jobs(self) -> None:
        if self._jobs:
            await asyncio.wait(set(self._jobs), timeout=JOBS_SETTLE_SECONDS)

    async def _flush_outbox(self) -> None:
        # What the bot has to say (outcomes, interruptions) goes out before it exits;
        # anything left is in the outbox for the next sender, never lost.
        with contextlib.suppress(TimeoutError):
            await self.runtime.sender.flush(within=OUTBOX_FLUSH_SECONDS)

    async def _finish_actions(self, stopping: Stopping) -> None:
        grace = self.runtime.settings.shutdown_grace_seconds
        waiting = asyncio.ensure_future(self.runtime.actions.wait_idle(grace))
        hurry = asyncio.ensure_future(stopping.hurry.wait())
        await asyncio.wait({waiting, hurry}, return_when=asyncio.FIRST_COMPLETED)
        hurry.cancel()
        if waiting.done():
            running = waiting.result()
        else:
            waiting.cancel()
            running = await self.runtime.actions.wait_idle(0)
        if not running:
            return
        reason = (
            f"the bot was stopped ({stopping.signal_name or 'signal'}) and it did not finish "
            f"within the {grace:g} s shutdown grace period"
        )
        log.warning("interrupting actions still running", extra={"actions": len(running)})
        await self.runtime.actions.interrupt(running, reason)

"""``KubeEmulator``: a Kubernetes API server on loopback for tests and the demo."""

from __future__ import annotations

import asyncio
import copy
import threading
from collections.abc import Callable, Sequence
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import yaml
from aiohttp import web

from bot.emulators.kube.cluster import Cluster
from bot.emulators.kube.controller import Controller
from bot.emulators.kube.gate import Fault, Gate
from bot.emulators.kube.rbac import PolicyRule, RequestRecord
from bot.emulators.kube.resources import (
    JOBS,
)
from bot.emulators.kube.server import ApiServer
from bot.emulators.kube.store import utc_now
from bot.emulators.kube.troubles import TroubleMixin

JSON = dict[str, Any]
DEFAULT_USER = "system:serviceaccount:default:backlog-bot"
_UNSET: Any = object()


class KubeEmulator(TroubleMixin):
    """A Kubernetes API server emulator (aiohttp, loopback) with a tiny controller.

    Run it on the current event loop (``await start()`` / ``await stop()``, or
    ``async with``) or on a thread of its own (``start_in_thread()`` /
    ``stop_thread()``, or ``with``). The synchronous ``kubernetes`` client blocks, so
    when the emulator shares the test's event loop call the client from a worker
    thread (``asyncio.to_thread``). Seeding helpers and accessors are thread-safe.
    """

    def __init__(
        self,
        *,
        rbac_rules: Sequence[PolicyRule] | None = None,
        user: str = DEFAULT_USER,
        require_auth: bool = False,
        metrics_enabled: bool = True,
        auto_reconcile: bool = True,
        fail_jobs: bool = False,
        job_duration: float | None = None,
        enforce_hpa: bool = False,
        seed: int | None = None,
        clock: Callable[[], datetime] = utc_now,
        namespaces: Sequence[str] = ("default", "kube-system"),
    ) -> None:
        self.cluster = Cluster(clock=clock, seed=seed)
        self.controller = Controller(self.cluster)
        self.gate = Gate(
            user=user,
            rbac_rules=list(rbac_rules) if rbac_rules is not None else None,
            require_auth=require_auth,
        )
        self.auto_reconcile = auto_reconcile
        self.cluster.side.metrics_enabled = metrics_enabled
        self.cluster.side.fail_jobs = fail_jobs
        self.cluster.side.job_duration = job_duration
        self.cluster.side.enforce_hpa = enforce_hpa
        self._api = ApiServer(
            self.cluster, self.controller, self.gate, auto_reconcile=lambda: self.auto_reconcile
        )
        self._runner: web.AppRunner | None = None
        self._url: str | None = None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        for namespace in namespaces:
            self.cluster.ensure_namespace(namespace)

    # --- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the Kubernetes emulator is not running")
        return self._url

    @property
    def running(self) -> bool:
        return self._url is not None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        if self._runner is not None:
            raise RuntimeError("the Kubernetes emulator is already running")
        runner = web.AppRunner(self._api.make_app(), access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        try:
            site = web.TCPSite(runner, host, port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound_host, bound_port = runner.addresses[0][:2]
        self._runner = runner
        url_host = f"[{bound_host}]" if ":" in str(bound_host) else bound_host
        self._url = f"http://{url_host}:{bound_port}"
        self._api.server_address = f"{bound_host}:{bound_port}"
        return self._url

    async def stop(self) -> None:
        runner, self._runner = self._runner, None
        self._url = None
        if runner is not None:
            self._api.close_watches()
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    def start_in_thread(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve from a daemon thread with its own event loop; returns the URL."""
        if self._thread is not None:
            raise RuntimeError("the Kubernetes emulator thread is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self.start(host, port))
            except BaseException as exc:  # reported to the caller below
                failure.append(exc)
                started.set()
                loop.close()
                return
            started.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(self.stop())
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.run_until_complete(loop.shutdown_default_executor())
                loop.close()

        thread = threading.Thread(target=run, name="kube-emulator", daemon=True)
        thread.start()
        started.wait()
        if failure:
            thread.join()
            raise failure[0]
        self._thread, self._thread_loop = thread, loop
        return self.url

    def stop_thread(self, timeout: float = 10.0) -> None:
        thread, loop = self._thread, self._thread_loop
        self._thread = self._thread_loop = None
        if thread is None or loop is None:
            return
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout)

    def __enter__(self) -> Self:
        self.start_in_thread()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop_thread()

    def write_kubeconfig(
        self,
        path: str | Path,
        *,
        namespace: str = "default",
        token: str = "emulator-token",  # noqa: S107 - a test credential for loopback
        user: str | None = None,
        context: str = "emulator",
    ) -> Path:
        """A kubeconfig for the running server (http, bearer ``token``). The token is
        registered as ``user`` (default: the emulator's user) and ``namespace`` is created."""
        target = Path(path)
        with self.gate.lock:
            self.gate.tokens[token] = user
        self.cluster.ensure_namespace(namespace)
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": context, "cluster": {"server": self.url}}],
            "users": [{"name": context, "user": {"token": token}}],
            "contexts": [
                {
                    "name": context,
                    "context": {"cluster": context, "user": context, "namespace": namespace},
                }
            ],
            "current-context": context,
            "preferences": {},
        }
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        return target

    # --- RBAC, recording, faults ------------------------------------------------------

    @property
    def rbac_rules(self) -> list[PolicyRule] | None:
        return self.gate.rbac_rules

    @rbac_rules.setter
    def rbac_rules(self, rules: Sequence[PolicyRule] | None) -> None:
        self.gate.rbac_rules = list(rules) if rules is not None else None

    @property
    def user(self) -> str:
        return self.gate.user

    @user.setter
    def user(self, user: str) -> None:
        self.gate.user = user

    @property
    def requests(self) -> list[RequestRecord]:
        """Every resource request so far (a copy), oldest first."""
        with self.gate.lock:
            return list(self.gate.records)

    def clear_requests(self) -> None:
        with self.gate.lock:
            self.gate.records.clear()

    def fail_next(
        self,
        verb: str,
        resource: str,
        status: int = 500,
        times: int = 1,
        *,
        message: str | None = None,
        retry_after: int | None = None,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests with an error ``status``.
        ``verb``: a Kubernetes verb (``patch``), an HTTP method in capitals (``PATCH``)
        or ``*``; ``resource``: ``deployments``, ``deployments/scale``, ``pods/log``, ``*``.
        A 429 is answered as API priority and fairness answers it (see ``throttle_next``);
        ``retry_after`` sets the ``Retry-After`` header (seconds) on any status."""
        with self.gate.lock:
            self.gate.faults.append(
                Fault(
                    verb,
                    resource,
                    times,
                    status=status,
                    message=message,
                    retry_after=retry_after,
                    namespace=namespace,
                    name=name,
                )
            )

    def throttle_next(
        self,
        verb: str,
        resource: str,
        times: int = 1,
        *,
        retry_after: int = 1,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        """Answer the next ``times`` matching requests (same matching as ``fail_next``)
        as API priority and fairness does when it sheds load: 429 Too Many Requests, a
        ``Status`` with reason TooManyRequests and ``details.retryAfterSeconds``, and
        ``Retry-After: <retry_after>``. The request is not executed."""
        self.fail_next(
            verb,
            resource,
            429,
            times,
            retry_after=retry_after,
            namespace=namespace,
            name=name,
        )

    def delay_next(
        self,
        verb: str,
        resource: str,
        seconds: float,
        times: int = 1,
        *,
        namespace: str | None = None,
        name: str | None = None,
    ) -> None:
        """Hold the next ``times`` matching requests for ``seconds`` before answering."""
        with self.gate.lock:
            self.gate.delays.append(
                Fault(verb, resource, times, seconds=seconds, namespace=namespace, name=name)
            )

    def clear_faults(self) -> None:
        with self.gate.lock:
            self.gate.faults.clear()
            self.gate.delays.clear()

    # --- controller ---------------------------------------------------------------------

    def reconcile(self) -> None:
        """Run the controllers once (deployments, replicasets, jobs, HPAs)."""
        self.controller.reconcile()

    @property
    def fail_jobs(self) -> bool:
        return self.cluster.side.fail_jobs

    @fail_jobs.setter
    def fail_jobs(self, value: bool) -> None:
        self.cluster.side.fail_jobs = value

    @property
    def job_duration(self) -> float | None:
        """Seconds a job stays active before it completes on its own (None: until
        ``complete_job``/``fail_job``)."""
        return self.cluster.side.job_duration

    @job_duration.setter
    def job_duration(self, value: float | None) -> None:
        self.cluster.side.job_duration = value

    @property
    def enforce_hpa(self) -> bool:
        return self.cluster.side.enforce_hpa

    @enforce_hpa.setter
    def enforce_hpa(self, value: bool) -> None:
        self.cluster.side.enforce_hpa = value

    def complete_job(self, namespace: str, name: str, *, succeeded: bool = True) -> JSON:
        with self.cluster.lock:
            job = self.cluster.get(JOBS, namespace, name)
            return copy.deepcopy(self.controller.finish_job(job, succeeded=succeeded))

    def fail_job(self, namespace: str, name: str) -> JSON:
        return self.complete_job(namespace, name, succeeded=False)

"""The processes and threads around the ack-latency benchmark
(``benchmarks/ack_latency.py``): the Slack emulator on its own event loop, free ports,
waiting for a server to come up, and the bare Bolt app it is compared with."""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
from collections.abc import Awaitable
from pathlib import Path
from typing import TypeVar

import aiohttp

T = TypeVar("T")


class EmulatorThread:
    """The Slack emulator on its own thread and event loop, so the client's loop only
    sends and times requests."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Awaitable[T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()  # type: ignore[arg-type]

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=5)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            if proc.poll() is not None:
                raise SystemExit(f"{url} exited; see {log}")
            try:
                async with http.get(url) as resp:
                    if resp.status in (200, 404, 405):
                        return
            except aiohttp.ClientConnectionError:
                pass
            await asyncio.sleep(0.1)
    raise SystemExit(f"{url} did not come up; see {log}")


def bare_server(port: int) -> None:
    """A Bolt app on aiohttp that acks /backlog and the Approve button, nothing else."""
    from aiohttp import web
    from slack_bolt.async_app import AsyncAck, AsyncApp
    from slack_sdk.web.async_client import AsyncWebClient

    client = AsyncWebClient(
        token=os.environ["SLACK_BOT_TOKEN"], base_url=os.environ["SLACK_API_URL"]
    )
    app = AsyncApp(client=client, signing_secret=os.environ["SLACK_SIGNING_SECRET"])

    async def only_ack(ack: AsyncAck) -> None:
        await ack()

    app.command("/backlog")(only_ack)
    app.action("backlog_approve")(only_ack)
    web.run_app(app.web_app(path="/slack/events"), host="127.0.0.1", port=port, print=None)

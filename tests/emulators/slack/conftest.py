"""Fixtures: a started Slack emulator, a real ``AsyncWebClient`` on it, a real Bolt app."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from bot.emulators.slack_api import SlackEmulator, SlackUserInfo
from tests.emulators.slack.support import CHANNEL, SIGNING_SECRET, TOKEN, BoltHarness


@pytest.fixture
async def emulator() -> AsyncIterator[SlackEmulator]:
    emu = SlackEmulator(
        bot_token=TOKEN,
        channels={CHANNEL: "backlog-incidents"},
        users={
            "U1": SlackUserInfo(name="alice", real_name="Alice Ops", email="alice@example.com"),
            "U2": SlackUserInfo(name="bob"),
        },
        usergroups={"S0ONCALL": ["U1", "U2"]},
    )
    await emu.start()
    yield emu
    await emu.stop()


@pytest.fixture
def client(emulator: SlackEmulator) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=emulator.api_url)


@pytest.fixture
async def bolt(emulator: SlackEmulator) -> AsyncIterator[BoltHarness]:
    app = AsyncApp(
        signing_secret=SIGNING_SECRET,
        client=AsyncWebClient(token=TOKEN, base_url=emulator.api_url),
    )

    async def endpoint(request: web.Request) -> web.Response:
        bolt_response = await app.async_dispatch(await to_bolt_request(request))
        return await to_aiohttp_response(bolt_response)

    web_app = web.Application()
    web_app.router.add_post("/slack/events", endpoint)
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        yield BoltHarness(app, f"http://127.0.0.1:{port}/slack/events")
    finally:
        await runner.cleanup()

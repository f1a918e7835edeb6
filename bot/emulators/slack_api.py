"""A Slack Web API emulator on loopback for tests and the demo.

The real ``slack_sdk`` client talks to it over HTTP (pass :attr:`SlackEmulator.api_url` as
``base_url``). It answers the way Slack does, errors included: ``ok: false`` bodies with
Slack's error codes on HTTP 200, ``429`` with ``Retry-After`` when told to rate limit, and
``5xx`` when told to fail. Every call is recorded; messages, ephemerals, ``response_url``
posts and file uploads are kept so tests can assert what a user would have seen. People
act through :attr:`SlackEmulator.people`.

Everything runs on the event loop that started the emulator; there is no locking.
"""

from bot.emulators.slack.people import ActionRefused
from bot.emulators.slack.records import (
    Channel,
    ChannelText,
    EmulatorEvent,
    EventKind,
    MessageVersion,
    Pin,
    RecordedCall,
    RecordedResponse,
    SlackUserInfo,
    StoredMessage,
    StoredUpload,
)
from bot.emulators.slack.render import Directory, humanize, render_for_people, render_text
from bot.emulators.slack.server import SlackEmulator

__all__ = [
    "ActionRefused",
    "Channel",
    "ChannelText",
    "Directory",
    "EmulatorEvent",
    "EventKind",
    "MessageVersion",
    "Pin",
    "RecordedCall",
    "RecordedResponse",
    "SlackEmulator",
    "SlackUserInfo",
    "StoredMessage",
    "StoredUpload",
    "humanize",
    "render_for_people",
    "render_text",
]

"""Users, user groups, permalinks, file uploads and response_url."""

from __future__ import annotations

from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.webhook.async_client import AsyncWebhookClient

from bot.emulators.slack_api import SlackEmulator
from tests.emulators.slack.support import (
    APPROVAL_BLOCKS,
    CHANNEL,
    slack_error,
)

# ------------------------------------------------------------------ other methods


async def test_users_usergroups_permalink_and_auth(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    auth = await client.auth_test()
    assert (auth["user_id"], auth["team_id"], auth["bot_id"]) == ("UBOT", "T0001", "B0001")

    user = await client.users_info(user="U1")
    assert user["user"]["name"] == "alice"
    assert user["user"]["profile"]["email"] == "alice@example.com"
    missing = await slack_error(client.users_info(user="U999"))
    assert missing.response["error"] == "user_not_found"

    group = await client.usergroups_users_list(usergroup="S0ONCALL")
    assert group["users"] == ["U1", "U2"]
    no_group = await slack_error(client.usergroups_users_list(usergroup="S0NOPE"))
    assert no_group.response["error"] == "no_such_subteam"

    posted = await client.chat_postMessage(channel=CHANNEL, text="link me")
    link = await client.chat_getPermalink(channel=CHANNEL, message_ts=posted["ts"])
    assert link["permalink"].endswith(f"/archives/{CHANNEL}/p{posted['ts'].replace('.', '')}")


async def test_files_upload_v2_end_to_end(emulator: SlackEmulator, client: AsyncWebClient) -> None:
    result = await client.files_upload_v2(
        channel=CHANNEL,
        content="# Incident report\nAll good.",
        filename="incident-report.md",
        title="Incident report",
        initial_comment="Report attached",
    )

    assert result["file"]["title"] == "Incident report"
    assert result["file"]["name"] == "incident-report.md"
    (upload,) = emulator.uploads
    assert upload.content == b"# Incident report\nAll good."
    assert upload.completed and upload.channels == [CHANNEL]
    (message,) = emulator.messages(CHANNEL)
    assert message.text == "Report attached"
    assert message.files[0]["id"] == upload.file_id == result["file"]["id"]
    assert [c.method for c in emulator.calls] == [
        "files.getUploadURLExternal",
        "files.completeUploadExternal",
    ]


async def test_complete_upload_of_a_file_never_uploaded_is_file_not_found(
    client: AsyncWebClient,
) -> None:
    url = await client.files_getUploadURLExternal(filename="a.txt", length=3)
    error = await slack_error(
        client.files_completeUploadExternal(files=[{"id": url["file_id"]}], channel_id=CHANNEL)
    )
    assert error.response["error"] == "file_not_found"


async def test_response_url_acts_like_slacks(
    emulator: SlackEmulator, client: AsyncWebClient
) -> None:
    posted = await client.chat_postMessage(channel=CHANNEL, text="Approve?", blocks=APPROVAL_BLOCKS)
    url = emulator.response_url("r", channel=CHANNEL, user="U1", message_ts=posted["ts"])
    webhook = AsyncWebhookClient(url)

    shared = await webhook.send(text="Everyone sees this", response_type="in_channel")
    emulator.fail_next("response_url", "expired_url", status=404)
    expired = await webhook.send(text="too late")
    deleted = await webhook.send_dict({"delete_original": True})

    assert (shared.status_code, expired.status_code, deleted.status_code) == (200, 404, 200)
    assert [m.text for m in emulator.messages(CHANNEL)] == ["Everyone sees this"]
    assert [r.status for r in emulator.responses("r")] == [200, 404, 200]
    assert emulator.responses("r")[2].delete_original

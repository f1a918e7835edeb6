"""File uploads as ``files_upload_v2`` makes them: ``files.getUploadURLExternal``, the POST of
the bytes to the returned ``upload_url``, then ``files.completeUploadExternal``."""

from __future__ import annotations

import mimetypes
import secrets
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

from aiohttp import BodyPartReader, web

from bot.emulators.slack.actions import Actions
from bot.emulators.slack.records import (
    _UPLOAD_PATH,
    Handler,
    JSONDict,
    StoredMessage,
    StoredUpload,
    _Fault,
    _SlackError,
)
from bot.emulators.slack.validation import _int_arg, _json_list_arg, _str_arg
from bot.emulators.slack.workspace import Workspace


class FileMethods:
    def __init__(self, workspace: Workspace, actions: Actions, base_url: Callable[[], str]) -> None:
        self._ws = workspace
        self._actions = actions
        self._base_url = base_url
        self.uploads: list[StoredUpload] = []

    def handlers(self) -> dict[str, Handler]:
        return {
            "files.getUploadURLExternal": self.get_upload_url_external,
            "files.completeUploadExternal": self.complete_upload_external,
        }

    def get_upload_url_external(self, args: JSONDict) -> JSONDict:
        self._ws.require_scope("files.getUploadURLExternal")
        filename = _str_arg(args, "filename")
        length = _int_arg(args, "length", -1)
        if filename is None or length < 0:
            raise _SlackError("invalid_arguments")
        upload = StoredUpload(
            file_id=f"F{secrets.token_hex(5).upper()}",
            filename=filename,
            length=length,
            upload_key=secrets.token_urlsafe(24),
            alt_txt=_str_arg(args, "alt_txt"),
            snippet_type=_str_arg(args, "snippet_type"),
        )
        self.uploads.append(upload)
        return {
            "upload_url": f"{self._base_url()}{_UPLOAD_PATH}{upload.upload_key}",
            "file_id": upload.file_id,
        }

    def complete_upload_external(self, args: JSONDict) -> JSONDict:
        ws = self._ws
        ws.require_scope("files.completeUploadExternal")
        entries = _json_list_arg(args, "files", "invalid_arguments")
        if not entries:
            raise _SlackError("invalid_arguments")
        picked = [self._uploaded_file(entry) for entry in entries]
        channels = [self._shareable(c) for c in self._share_targets(args)]
        thread_ts = _str_arg(args, "thread_ts")
        comment = _str_arg(args, "initial_comment")
        for upload, title in picked:
            upload.title = title or upload.filename
            upload.completed = True
            upload.channels = channels
            upload.thread_ts = thread_ts
            upload.initial_comment = comment
        files = [self._file_json(upload) for upload, _ in picked]
        for channel_id in channels:
            message = StoredMessage(
                channel=channel_id,
                ts=ws.next_ts(),
                text=comment or "",
                thread_ts=thread_ts,
                user=ws.bot_user_id,
                bot_id=ws.bot_id,
                files=files,
            )
            self._actions.post(message, kind="upload")
        return {"files": files}

    def _shareable(self, value: str) -> str:
        """A channel the bot may share a file into: not archived, and the bot in it."""
        ws = self._ws
        channel_id = ws.bot_conversation(value, "files.completeUploadExternal")
        ws.require_open(channel_id)
        ws.require_member(channel_id)
        return channel_id

    async def handle_upload(self, request: web.Request, fault: _Fault | None) -> web.Response:
        """The POST of a file's bytes to its ``upload_url`` (raw or multipart)."""
        key = request.match_info["key"]
        upload = next((u for u in self.uploads if u.upload_key == key), None)
        if fault is not None:
            return web.Response(status=fault.status, text="error", content_type="text/plain")
        if upload is None:
            return web.Response(status=404, text="Not Found", content_type="text/plain")
        if request.content_type == "multipart/form-data":
            data = b""
            async for part in await request.multipart():
                if not isinstance(part, BodyPartReader):  # nested multipart: not from Slack SDKs
                    continue
                data = bytes(await part.read())
                break
        else:
            data = await request.read()
        upload.content = data
        return web.Response(text=f"OK - {len(data)}", content_type="text/plain")

    @staticmethod
    def _share_targets(args: JSONDict) -> Iterator[str]:
        channel_id = _str_arg(args, "channel_id")
        if channel_id is not None:
            yield channel_id
        for channel in (_str_arg(args, "channels") or "").split(","):
            if channel and channel != channel_id:
                yield channel

    def _uploaded_file(self, entry: Any) -> tuple[StoredUpload, str | None]:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str):
            raise _SlackError("invalid_arguments")
        upload = next((u for u in self.uploads if u.file_id == entry["id"]), None)
        if upload is None or upload.content is None:
            raise _SlackError("file_not_found")
        title = entry.get("title")
        return upload, title if isinstance(title, str) else None

    def _file_json(self, upload: StoredUpload) -> JSONDict:
        ws = self._ws
        mimetype = mimetypes.guess_type(upload.filename)[0] or "application/octet-stream"
        base = f"https://files.slack.com/files-pri/{ws.team_id}-{upload.file_id}"
        now = int(ws.clock())
        return {
            "id": upload.file_id,
            "created": now,
            "timestamp": now,
            "name": upload.filename,
            "title": upload.title,
            "mimetype": mimetype,
            "filetype": upload.filename.rsplit(".", 1)[-1] if "." in upload.filename else "binary",
            "user": ws.bot_user_id,
            "size": len(upload.content or b""),
            "is_public": any(c in ws.channels for c in upload.channels),
            "url_private": f"{base}/{quote(upload.filename)}",
            "permalink": f"https://{ws.team_domain}.slack.com/files/{ws.bot_user_id}/{upload.file_id}",
            "channels": list(upload.channels),
            "alt_txt": upload.alt_txt,
        }

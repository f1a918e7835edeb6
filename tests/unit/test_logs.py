from __future__ import annotations

import io
import json
import logging

from bot import logs


def test_secrets_never_reach_the_log():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream)
    logs.redact.register(["s3cr3t-signing-value"])
    log = logging.getLogger("bot.test")
    log.info(
        "connecting",
        extra={
            "url": "postgresql://bot:hunter22@db:5432/bot",
            "token": "xoxb-1234-5678-abcdef",
            "note": "signing s3cr3t-signing-value",
        },
    )
    line = stream.getvalue().strip()
    entry = json.loads(line)
    assert entry["msg"] == "connecting"
    assert "hunter22" not in line and "xoxb-1234" not in line and "s3cr3t" not in line
    assert entry["url"] == "postgresql://bot:[REDACTED]@db:5432/bot"
    assert entry["token"] == "[REDACTED]"
    logging.getLogger().handlers.clear()

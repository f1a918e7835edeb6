"""The container runs the bot under an init, stops it with SIGTERM, and checks its
health on the configured PORT (the HEALTHCHECK command is run here for real)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import pytest

DOCKERFILE = (Path(__file__).parents[2] / "Dockerfile").read_text()


def _instruction(name: str) -> str:
    """The instruction's arguments, continuation lines joined."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    [line] = [line for line in joined.splitlines() if line.startswith(name + " ")]
    return line[len(name) + 1 :].strip()


def test_an_init_is_pid_1_and_sigterm_stops_the_bot():
    assert json.loads(_instruction("ENTRYPOINT")) == ["/usr/bin/tini", "--", "backlog-bot"]
    assert "apt-get install -y --no-install-recommends tini" in DOCKERFILE
    assert _instruction("STOPSIGNAL") == "SIGTERM"


def _healthcheck_command() -> list[str]:
    arguments = _instruction("HEALTHCHECK")
    return list(json.loads(arguments[arguments.index("CMD") + 3 :].strip()))


class _Healthz(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.mark.parametrize("listening", [True, False])
def test_the_healthcheck_uses_the_configured_port(listening):
    server = HTTPServer(("127.0.0.1", 0), _Healthz)
    port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    if listening:
        thread.start()
    else:
        server.server_close()
    try:
        env = {**os.environ, "PORT": str(port)}
        done = subprocess.run(_healthcheck_command(), env=env, capture_output=True, timeout=30)
        assert (done.returncode == 0) is listening
    finally:
        if listening:
            server.shutdown()
            server.server_close()

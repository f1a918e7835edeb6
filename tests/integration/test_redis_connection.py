"""``REDIS_URL`` as operators run Redis: an ACL user, TLS, Sentinel with a failover.
Every server here is a real ``redis-server`` the test starts on free ports (never
the machine's 6379) and stops."""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from bot import logs
from bot.adapters.queues.depths import connect, queue_depths
from bot.startup import ConfigurationError, verify_redis
from tests.integration.proc import RedisServer, free_port, redis_servers, tls_redis_server

pytestmark = pytest.mark.skipif(
    shutil.which("redis-server") is None, reason="needs redis-server on PATH"
)
QUEUES = ["email_processing_queue", "analysis_queue"]


async def test_an_acl_user_with_a_password(tmp_path):
    server = RedisServer(tmp_path, "--user", "default", "off", "--user", "bot", "on",
                         ">p@ss:word", "~*", "+@all")  # fmt: skip
    with redis_servers(server.start()):
        admin = server.client(username="bot", password="p@ss:word")
        admin.rpush("email_processing_queue", "a", "b")
        # The password is URL-quoted, as in any URL.
        client = connect(f"redis://bot:p%40ss%3Aword@127.0.0.1:{server.port}/0")
        try:
            await verify_redis(client, "unused")
            assert await queue_depths(client, QUEUES) == {
                "email_processing_queue": 2,
                "analysis_queue": 0,
            }
        finally:
            await client.aclose()
        wrong = f"redis://bot:not-it@127.0.0.1:{server.port}/0"
        client = connect(wrong)
        try:
            with pytest.raises(ConfigurationError) as refused:
                await verify_redis(client, wrong)
        finally:
            await client.aclose()
    assert "not-it" not in str(refused.value)
    assert str(refused.value) == (
        f"REDIS_URL (redis://bot:***@127.0.0.1:{server.port}/0): Redis did not answer PING "
        "(invalid username-password pair or user is disabled)"
    )


def _self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "redis.crt", directory / "redis.key"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl CLI")
async def test_tls_with_a_private_ca(tmp_path):
    binary = tls_redis_server(tmp_path)
    if binary is None:
        pytest.skip("no redis-server on PATH is built with TLS")
    cert, key = _self_signed(tmp_path)
    tls_port = free_port()
    server = RedisServer(
        tmp_path, "--tls-port", str(tls_port), "--tls-cert-file", str(cert),
        "--tls-key-file", str(key), "--tls-ca-cert-file", str(cert),
        "--tls-auth-clients", "no", "--requirepass", "tls-secret", binary=binary,
    )  # fmt: skip
    with redis_servers(server.start()):
        trusted = f"rediss://:tls-secret@127.0.0.1:{tls_port}/0?ssl_ca_certs={cert}"
        client = connect(trusted)
        try:
            await verify_redis(client, trusted)
            assert await queue_depths(client, QUEUES) == dict.fromkeys(QUEUES, 0)
        finally:
            await client.aclose()
        untrusted = f"rediss://:tls-secret@127.0.0.1:{tls_port}/0"  # the system CAs only
        client = connect(untrusted)
        try:
            with pytest.raises(ConfigurationError) as refused:
                await verify_redis(client, untrusted)
        finally:
            await client.aclose()
    assert "certificate verify failed" in str(refused.value)
    assert "tls-secret" not in str(refused.value)


class SentinelSetup:
    """A primary, a replica and one Sentinel watching them as ``backlog``."""

    def __init__(self, directory: Path) -> None:
        self.primary = RedisServer(directory / "primary")
        self.replica = RedisServer(directory / "replica")
        self.sentinel_port = free_port()
        self.sentinel = RedisServer(directory / "sentinel", port=self.sentinel_port)
        self.directory = directory

    def start(self) -> None:
        self.primary.start()
        self.replica.extra = ["--replicaof", "127.0.0.1", str(self.primary.port)]
        self.replica.start()
        conf = self.directory / "sentinel.conf"
        conf.write_text(
            f"port {self.sentinel_port}\nbind 127.0.0.1\n"
            f"dir {self.directory}\n"
            f"sentinel monitor backlog 127.0.0.1 {self.primary.port} 1\n"
            "sentinel down-after-milliseconds backlog 2000\n"
            "sentinel failover-timeout backlog 10000\n"
        )
        binary = shutil.which("redis-server")
        assert binary is not None
        self.sentinel.process = subprocess.Popen(
            [binary, str(conf), "--sentinel", "--logfile", str(self.directory / "s.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.sentinel.wait_ready()

    def stop(self) -> None:
        for server in (self.sentinel, self.replica, self.primary):
            server.stop()

    def primary_port(self) -> int:
        answer = self.sentinel.client().execute_command(
            "SENTINEL", "GET-MASTER-ADDR-BY-NAME", "backlog"
        )
        return int(answer[1])

    def wait(self, condition, what: str, within: float = 30.0) -> None:
        deadline = time.monotonic() + within
        while True:
            try:
                if condition():
                    return
            except Exception:  # noqa: S110 - a server still starting answers errors
                pass
            assert time.monotonic() < deadline, f"timed out waiting for {what}"
            time.sleep(0.1)


async def test_sentinel_failover_under_a_running_client(tmp_path):
    setup = SentinelSetup(tmp_path)
    try:
        await asyncio.to_thread(setup.start)
        primary = setup.primary.client()
        primary.rpush("email_processing_queue", *range(5))
        replica = setup.replica.client()
        await asyncio.to_thread(
            setup.wait,
            lambda: (
                replica.info("replication")["master_link_status"] == "up"
                and replica.llen("email_processing_queue") == 5
            ),
            "the replica to sync",
        )
        url = f"redis+sentinel://127.0.0.1:{setup.sentinel_port}/backlog/0"
        client = connect(url, timeout_seconds=2.0)
        try:
            await verify_redis(client, url)
            assert (await queue_depths(client, QUEUES))["email_processing_queue"] == 5

            def failed_over() -> bool:
                reply = setup.sentinel.client().execute_command("SENTINEL", "FAILOVER", "backlog")
                return bool(reply)

            # Sentinel refuses until it has seen the replica (NOGOODSLAVE); then it promotes.
            await asyncio.to_thread(setup.wait, failed_over, "SENTINEL FAILOVER to be accepted")
            await asyncio.to_thread(
                setup.wait,
                lambda: (
                    setup.primary_port() == setup.replica.port
                    and replica.info("replication")["role"] == "master"
                ),
                "the replica to be promoted",
            )
            replica.rpush("email_processing_queue", "written-after-the-failover")
            # The same client, untouched, keeps reading (the demoted primary turns
            # replica of the new one, so the depth reaches 6 wherever it reads)...
            await _eventually_reads(client, 6)
            # ...and a write (as a requeue makes) lands on the new primary.
            await client.rpush("email_processing_queue", "requeued")
            assert replica.llen("email_processing_queue") == 7
        finally:
            await client.aclose()
    finally:
        setup.stop()


async def _eventually_reads(client, depth: int) -> None:
    """Reads until the email queue shows ``depth``; every read must succeed."""
    deadline = time.monotonic() + 15
    while (await queue_depths(client, QUEUES))["email_processing_queue"] != depth:
        assert time.monotonic() < deadline, "the reads never showed the new primary's data"
        await asyncio.sleep(0.2)


def test_passwords_in_redis_urls_never_reach_the_logs():
    stream = io.StringIO()
    logs.configure("INFO", stream=stream)
    try:
        logging.getLogger("test").warning(
            "connecting", extra={"url": "redis+sentinel://bot:sentinel-pw@h1:26379,h2/backlog/0"}
        )
        logging.getLogger("test").warning("to rediss://:tls-pw@redis.internal:6380/0")
    finally:
        logs.configure("WARNING")
    text = stream.getvalue()
    assert "sentinel-pw" not in text and "tls-pw" not in text
    assert "bot:[REDACTED]@h1:26379,h2/backlog/0" in text

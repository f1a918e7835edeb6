"""REDIS_URL forms: what is accepted, what is refused (in words), what is shown."""

from __future__ import annotations

import pytest

from bot.adapters.queues.connection import (
    RedisUrlInvalid,
    SentinelTarget,
    check_url,
    describe,
    parse_sentinel_url,
)


@pytest.mark.parametrize(
    "url",
    [
        "redis://127.0.0.1:6379/0",
        "redis://:secret@redis.internal/3",
        "redis://bot:p%40ss@redis.internal:6380",
        "rediss://bot:pw@redis.internal:6380/0?ssl_ca_certs=/etc/ssl/ca.pem",
        "rediss://redis.internal:6380/0?ssl_cert_reqs=none",
        "unix:///var/run/redis/redis.sock?db=2",
        "redis+sentinel://s1:26379,s2:26380/backlog",
        "rediss+sentinel://bot:pw@s1,s2/backlog/4?sentinel_password=spw",
        "redis+cluster://bot:pw@n1:6379,n2:6380",
    ],
)
def test_accepted(url):
    check_url(url)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://redis.internal/0", "it must start with redis://, rediss:// (TLS), unix://, "
         "redis+sentinel:// or redis+cluster://, not http://"),
        ("redis.internal:6379", "it must start with redis://, rediss:// (TLS), unix://, "
         "redis+sentinel:// or redis+cluster://"),
        ("redis+cluster://n1:6379/3", "A Redis Cluster has only database 0: remove the "
         "database number from `REDIS_URL`."),
        ("redis://redis.internal:port/0", "Port could not be cast to integer value as 'port'"),
        ("redis://redis.internal/zero", "the database `zero` is not a number"),
        ("redis:///0", "it names no host"),
        ("redis://h/0?ssl_ca_cert=/x", "it has an unknown option `ssl_ca_cert`"),
        ("redis://h/0?socket_timeout=soon", "Invalid value for 'socket_timeout' in the URL."),
        ("redis+sentinel:///backlog", "the Sentinel URL names no Sentinel (host:port)"),
        ("redis+sentinel://s1:26379", "the Sentinel URL must end with /service_name or "
         "/service_name/db (the name given to the primary in the Sentinels' configuration)"),
        ("redis+sentinel://s1:x/backlog", "the Sentinel address `s1:x` has no valid port"),
        ("redis+sentinel://s1/backlog/zero", "the database `zero` is not a number"),
        ("redis+sentinel://s1/backlog/0?nope=1", "it has an unknown option `nope`"),
    ],
)  # fmt: skip
def test_refused_in_words(url, reason):
    with pytest.raises(RedisUrlInvalid) as refused:
        check_url(url)
    assert str(refused.value) == reason


def test_sentinel_url_parts():
    url = "rediss+sentinel://bot:p%40ss@s1:26379,[::1]:26380,s3/backlog/4?sentinel_password=spw"
    assert parse_sentinel_url(url) == SentinelTarget(
        sentinels=(("s1", 26379), ("::1", 26380), ("s3", 26379)),
        service_name="backlog",
        db=4,
        tls=True,
        options={"username": "bot", "password": "p@ss"},
        sentinel_options={"password": "spw"},
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://:secret@h:6379/0", "redis://:***@h:6379/0"),
        ("redis://bot:secret@h/0?ssl_ca_certs=/x", "redis://bot:***@h/0"),
        ("redis+sentinel://bot:secret@s1,s2/backlog", "redis+sentinel://bot:***@s1,s2/backlog"),
        ("unix:///run/redis.sock", "unix:///run/redis.sock"),
        ("redis://h", "redis://h"),
    ],
)
def test_described_without_the_password(url, shown):
    assert describe(url) == shown


def test_passwords_for_the_log_redactor():
    from bot.adapters.queues.connection import passwords

    assert passwords("redis://bot:p%40ss@h/0") == ["p@ss"]
    assert passwords("redis+sentinel://:pw@s1/backlog?sentinel_password=spw") == ["pw", "spw"]
    assert passwords("unix:///run/redis.sock") == []

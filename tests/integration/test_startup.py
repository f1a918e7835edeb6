"""``backlog-bot serve`` refusing to start: one line naming the setting, exit 2, and
nothing left running — the real command, real servers, the Slack API emulator."""

from __future__ import annotations

import pytest

from bot.emulators.slack_api import SlackEmulator
from tests.integration.proc import (
    RedisServer,
    free_port,
    message_lines,
    processes_mentioning,
    redis_servers,
    run_bot,
)
from tests.integration.proc import bot_env as _bot_env

TOKEN = "xoxb-startup-test-token"
SIGNING_SECRET = "startup-test-signing-secret"


@pytest.fixture
async def slack():
    emulator = SlackEmulator(bot_token=TOKEN, channels={"C1": "phishnet-incidents"})
    await emulator.start()
    yield emulator
    await emulator.stop()


@pytest.fixture
def base_env(tmp_path, data_dir, slack, redis_url, migrated_database):
    """A configuration `serve` starts with; each test breaks one thing in it."""

    def make(**changes: str | None) -> dict[str, str]:
        settings = {
            "SLACK_BOT_TOKEN": TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_API_URL": slack.api_url,
            "REDIS_URL": redis_url,
            "DATABASE_URL": migrated_database,
            "PORT": str(free_port()),
            "BACKLOG_BOT_DATA_DIR": str(data_dir),
        }
        settings.update(changes)  # type: ignore[arg-type]
        return _bot_env(tmp_path, **{k: v for k, v in settings.items() if v is not None})

    return make


async def _refused(env: dict[str, str], *args: str) -> str:
    """Runs ``serve``; asserts exit 2 with one line on stderr, no secret, and nothing
    left running that mentions the test's directory. Returns that line."""
    code, out, err = await run_bot("serve", *args, env=env, limit=90)
    lines = message_lines(err)
    assert code == 2, err
    assert len(lines) == 1, err
    assert lines[0].startswith("backlog-bot: ")
    for secret in (TOKEN, SIGNING_SECRET, "s3cr3t-pw"):
        assert secret not in err and secret not in out
    marker = env["BACKLOG_BOT_DATA_DIR"]
    assert processes_mentioning(marker) == [], f"left running: {processes_mentioning(marker)}"
    return lines[0]


def _closed_port_url(scheme: str) -> str:
    return f"{scheme}://127.0.0.1:{free_port()}"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"REDIS_URL": None}, "REDIS_URL is not set: point it at the workers' Redis"),
        ({"DATABASE_URL": None}, "DATABASE_URL is not set: point it at the bot's PostgreSQL"),
        ({"REDIS_URL": None, "DATABASE_URL": None}, "REDIS_URL and DATABASE_URL are not set"),
        ({"REDIS_URL": "http://127.0.0.1:6390/0"}, "REDIS_URL: it must start with redis://"),
        ({"REDIS_URL": "redis://127.0.0.1:6390/zero"}, "REDIS_URL: the database `zero`"),
        ({"REDIS_URL": "redis+sentinel://127.0.0.1:26379"}, "REDIS_URL: the Sentinel URL must"),
        ({"DATABASE_URL": "mysql://bot:s3cr3t-pw@db/bot"}, "DATABASE_URL: it must start with"),
        ({"PORT": "http"}, "PORT: Input should be a valid integer"),
        ({"PORT": "70000"}, "PORT: Input should be less than or equal to 65535"),
        ({"LOG_LEVEL": "loud"}, "LOG_LEVEL: Input should be 'DEBUG'"),
        ({"BACKLOG_BOT_EMBEDDED": "sometimes"}, "BACKLOG_BOT_EMBEDDED: Input should be"),
        ({"BACKLOG_BOT_SHUTDOWN_GRACE": "-1"}, "BACKLOG_BOT_SHUTDOWN_GRACE: Input should be"),
        ({"SLACK_SIGNING_SECRET": None}, "SLACK_BOT_TOKEN and SLACK_SIGNING_SECRET must be set"),
        ({"SLACK_BOT_TOKEN": "xoxb-not-the-right-one"}, "SLACK_BOT_TOKEN: Slack refused auth.test"),
        ({"SLACK_API_URL": "slack.com/api"}, "SLACK_API_URL: it must be an http(s) URL"),
        ({"KUBECONFIG": "/nonexistent/kubeconfig"}, "KUBECONFIG: cannot load the kubeconfig"),
        (
            {"KUBECONFIG": "/etc/passwd"},
            "KUBECONFIG: cannot load the kubeconfig /etc/passwd: not a",
        ),
        ({"PORT": "0"}, "PORT: Input should be greater than or equal to 1"),
    ],
    ids=lambda value: str(value)[:40],
)
async def test_a_bad_setting_is_one_line_naming_it(base_env, change, expected):
    line = await _refused(base_env(**change))
    assert expected in line


async def test_an_unreachable_slack_is_named(base_env):
    line = await _refused(base_env(SLACK_API_URL=_closed_port_url("http") + "/api/"))
    assert "SLACK_API_URL: Slack did not answer auth.test" in line


async def test_an_unreadable_or_invalid_playbook_is_named(base_env, tmp_path):
    missing = tmp_path / "missing.yml"
    line = await _refused(base_env(PLAYBOOK=str(missing)))
    assert (
        line
        == f"backlog-bot: PLAYBOOK: {missing} cannot be used: (file): No such file or directory"
    )
    binary = tmp_path / "binary.yml"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xcf\x11\xe0")
    line = await _refused(base_env(PLAYBOOK=str(binary)))
    assert line == (
        f"backlog-bot: PLAYBOOK: {binary} cannot be used: (file): not UTF-8 text "
        "(byte 0xd0 at offset 8)"
    )
    invalid = tmp_path / "invalid.yml"
    invalid.write_text("name: x\nqueues: 12\n")
    line = await _refused(base_env(PLAYBOOK=str(invalid)))
    assert line.startswith(f"backlog-bot: PLAYBOOK: {invalid} cannot be used: ")
    assert "queues" in line


async def test_a_wrong_database_url_is_named(base_env, postgres_server_url):
    from tests.conftest import _with_database

    line = await _refused(base_env(DATABASE_URL=_with_database(postgres_server_url, "no_such_db")))
    assert "DATABASE_URL: PostgreSQL did not accept the connection" in line
    assert 'database "no_such_db" does not exist' in line
    line = await _refused(base_env(DATABASE_URL=_closed_port_url("postgresql") + "/bot"))
    assert "DATABASE_URL: PostgreSQL did not accept the connection" in line


async def test_a_redis_that_refuses_is_named_without_its_password(base_env, tmp_path):
    server = RedisServer(tmp_path / "redis", "--requirepass", "right-password")
    with redis_servers(server.start()):
        url = f"redis://:s3cr3t-pw@127.0.0.1:{server.port}/0"
        line = await _refused(base_env(REDIS_URL=url))
    assert line.startswith("backlog-bot: REDIS_URL (redis://:")  # the password masked
    assert (
        f"@127.0.0.1:{server.port}/0): Redis did not answer PING "
        "(invalid username-password pair or user is disabled)"
    ) in line
    closed = _closed_port_url("redis")
    line = await _refused(base_env(REDIS_URL=closed + "/0"))
    assert f"REDIS_URL ({closed}/0): Redis did not answer PING (Error 111 connecting to" in line


async def test_a_port_in_use_is_named_and_the_embedded_servers_are_stopped(base_env, data_dir):
    """The last thing `serve` does is listen: everything before it must be undone."""
    import socket

    with socket.socket() as taken:
        taken.bind(("0.0.0.0", 0))  # noqa: S104 - where `serve` listens
        taken.listen()
        port = taken.getsockname()[1]
        env = base_env(PORT=str(port), REDIS_URL=None, DATABASE_URL=None)
        line = await _refused(env, "--embedded")
    assert f"PORT: cannot listen on port {port}" in line
    assert (data_dir / "redis" / "redis.log").exists()  # they did start


async def test_a_failure_after_the_embedded_redis_started_stops_it(
    base_env, data_dir, postgres_server_url
):
    from tests.conftest import _with_database

    env = base_env(REDIS_URL=None, DATABASE_URL=_with_database(postgres_server_url, "no_such_db"))
    line = await _refused(env, "--embedded")
    assert "DATABASE_URL: PostgreSQL did not accept the connection" in line
    assert (data_dir / "redis" / "redis.log").exists()


async def test_report_and_migrate_follow_the_same_rule(base_env):
    env = base_env(DATABASE_URL=None)
    code, _, err = await run_bot("report", "1", env=env)
    assert code == 2
    assert message_lines(err) == [
        "backlog-bot: DATABASE_URL is not set: point it at the bot's PostgreSQL; "
        "for the demo's incidents run `backlog-bot report --demo ID`"
    ]
    code, _, err = await run_bot("migrate", env=env)
    assert code == 2 and "backlog-bot migrate --embedded" in err
    code, _, err = await run_bot("report", "--demo", "1", env=env)
    assert code == 1 and "run `backlog-bot demo` first" in err

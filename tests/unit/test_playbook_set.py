"""``PLAYBOOK`` naming a directory: loading, its errors, ``check-playbook DIR``, the
playbook a command is about, and a playbook's own Redis (docs/many-playbooks.md)."""

from __future__ import annotations

import pytest

from bot.backends import Backends
from bot.cli import main
from bot.domain.errors import Refused
from bot.domain.playbook import PlaybookError, load_playbook
from bot.domain.playbook_choice import choose_playbook, take_playbook_option
from bot.domain.playbook_set import load_playbooks
from bot.settings import Settings
from bot.startup import ConfigurationError, configured_playbooks, playbook_backends
from tests.integration.many_support import PHISHNET, billing_text, broken_text, write_playbooks

NAMES = ["phishnet-queue-backlog", "billing-queue-backlog"]


def test_a_directory_runs_its_valid_playbooks_and_keeps_the_broken_ones_problems(tmp_path):
    found = load_playbooks(write_playbooks(tmp_path))
    assert found.names == tuple(NAMES) and found.directory
    [broken] = found.broken
    assert broken.path.endswith("c-broken.yml")
    assert found.problem_lines() == [
        f"{tmp_path / 'c-broken.yml'}: queues[0].deployment: 'payroll-worker' is not listed "
        "under deployments"
    ]


def test_a_file_is_one_playbook_as_before(tmp_path):
    assert load_playbooks(PHISHNET).names == ("phishnet-queue-backlog",)
    broken = tmp_path / "broken.yml"
    broken.write_text(broken_text())
    with pytest.raises(PlaybookError):
        load_playbooks(broken)


def test_two_files_with_one_name_and_an_empty_directory_are_refused(tmp_path):
    (tmp_path / "one.yml").write_text(billing_text())
    (tmp_path / "two.yaml").write_text(billing_text())
    (tmp_path / ".hidden.yml").write_text(broken_text())  # skipped, as is anything not YAML
    (tmp_path / "notes.txt").write_text("not a playbook")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)
    [problem] = caught.value.problems
    assert problem.field == "name"
    assert problem.reason == (
        "'billing-queue-backlog' is the name of one.yml and two.yaml: each playbook in a "
        "directory needs its own name"
    )
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(PlaybookError, match=r"holds no playbook \(\*\.yml, \*\.yaml\)"):
        load_playbooks(empty)


def test_serve_cannot_start_when_no_playbook_of_the_directory_is_valid(tmp_path):
    (tmp_path / "broken.yml").write_text(broken_text())
    with pytest.raises(ConfigurationError, match=r"^PLAYBOOK: no playbook in .* can be used: "):
        configured_playbooks(Settings(playbook=tmp_path))
    (tmp_path / "again.yml").write_text(billing_text())
    (tmp_path / "twice.yml").write_text(billing_text())
    with pytest.raises(ConfigurationError, match=r"'billing-queue-backlog' is the name of"):
        configured_playbooks(Settings(playbook=tmp_path))


def test_check_playbook_takes_a_directory(tmp_path, capsys):
    directory = write_playbooks(tmp_path / "good", broken=False)
    assert main(["check-playbook", str(directory)]) == 0
    out = capsys.readouterr().out
    # Each line names its file, not the directory.
    assert f"{directory / 'a-phishnet.yml'}: ok — playbook 'phishnet-queue-backlog'" in out
    assert f"{directory / 'b-billing.yml'}: ok — playbook 'billing-queue-backlog'" in out
    write_playbooks(directory)  # now with the broken file
    assert main(["check-playbook", str(directory)]) == 1
    captured = capsys.readouterr()
    assert "ok — playbook 'billing-queue-backlog'" in captured.out
    err = captured.err.splitlines()
    header = err.index(f"{directory / 'c-broken.yml'}: invalid playbook")
    # Its problems follow its own header.
    assert err[header + 1].startswith(f"{directory / 'c-broken.yml'}: queues[0].deployment: ")


@pytest.mark.parametrize(
    ("text", "rest", "name"),
    [
        ("status --playbook billing", "status", "billing"),
        ("--playbook=billing scale w 3", "scale w 3", "billing"),
        ("scale w 3 —playbook billing", "scale w 3", "billing"),  # Slack's autocorrect
        ("note --playbook billing the queue drained", "note the queue drained", "billing"),
        ("note we need a --playbook flag", "note we need a --playbook flag", None),
        ("status", "status", None),
    ],
)
def test_the_playbook_option_is_taken_out_of_the_command(text, rest, name):
    targeted = take_playbook_option(text)
    assert (targeted.text, targeted.requested) == (rest, name)


def test_the_playbook_option_needs_a_name():
    with pytest.raises(Refused, match="needs a playbook's name"):
        take_playbook_option("status --playbook")


def test_which_playbook_a_command_is_about():
    def choose(*, requested=None, of_channel=None, verb="scale", names=NAMES):
        return choose_playbook(names, requested=requested, of_channel=of_channel, verb=verb)

    assert choose(requested="billing-queue-backlog", of_channel=NAMES[0]) == NAMES[1]
    assert choose(of_channel=NAMES[1]) == NAMES[1]
    assert choose(names=NAMES[:1]) == NAMES[0]
    assert choose(verb="status") is None  # every playbook summarised
    with pytest.raises(Refused) as unknown:
        choose(requested="payroll")
    assert str(unknown.value) == (
        "There is no playbook `payroll`: the playbooks are `phishnet-queue-backlog`, "
        "`billing-queue-backlog`."
    )
    with pytest.raises(Refused, match=r"several playbooks .*add `--playbook NAME`"):
        choose()


def test_a_playbook_may_take_its_redis_url_from_its_own_variable(tmp_path):
    default = load_playbook(PHISHNET)
    backends = Backends([], redis_url="redis://shared:6379/0", database_url="postgresql://x")
    assert playbook_backends(default, backends, {}) is backends
    own = tmp_path / "own.yml"
    own.write_text(billing_text() + "\nredis:\n  url_env: BILLING_REDIS_URL\n")
    billing = load_playbook(own)
    chosen = playbook_backends(billing, backends, {"BILLING_REDIS_URL": "redis://billing:6379/3"})
    assert (chosen.redis_url, chosen.database_url) == ("redis://billing:6379/3", "postgresql://x")
    with pytest.raises(ConfigurationError, match=r"^BILLING_REDIS_URL: not set \(playbook "):
        playbook_backends(billing, backends, {})
    own.write_text(billing_text() + "\nredis:\n  url_env: lower-case\n")
    with pytest.raises(PlaybookError, match=r"redis\.url_env"):
        load_playbook(own)

"""Game day from the command line, before anything connects: the targets it refuses
(not marked staging, a production namespace or queue, a copy of a production playbook)
and what ``check-playbook`` says of a ``gameday`` section a drill would refuse."""

from __future__ import annotations

import pytest
import yaml

from bot.cli import main
from tests.integration.test_gameday import PHISHNET, QUEUE, staging_text


@pytest.mark.parametrize(
    ("section", "why"),
    [
        (
            {
                "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
                "queue": "staging_analysis_queue",
            },
            "Refusing the game day: queue 'staging_analysis_queue' is not marked staging in "
            "playbook 'phishnet-staging'.",
        ),
        (
            {"staging": {"namespace": "phishnet-dev", "queues": [QUEUE]}},
            "Refusing the game day: namespace 'phishnet-staging' is not marked staging in "
            "playbook 'phishnet-staging' (gameday.staging.namespace is 'phishnet-dev').",
        ),
    ],
)
def test_the_command_refuses_a_target_not_marked_staging(
    tmp_path, monkeypatch, capsys, section, why
):
    path = tmp_path / "staging.yml"
    path.write_text(staging_text(section), encoding="utf-8")
    monkeypatch.setenv("PLAYBOOK", str(PHISHNET))

    assert main(["gameday", "--playbook", str(path)]) == 2

    out = capsys.readouterr()
    assert out.err == f"backlog-bot: {why}\n"
    assert out.out == ""


def test_a_staging_queue_named_like_a_production_queue_is_refused(tmp_path, monkeypatch, capsys):
    """Redis keys are not namespaced: a staging playbook that kept PhishNet's queue
    names would push onto PhishNet's own queue."""
    text = PHISHNET.read_text(encoding="utf-8")
    text = text.replace("name: phishnet-queue-backlog", "name: phishnet-staging")
    text = text.replace("namespace: phishnet\n", "namespace: phishnet-staging\n")
    section = {"staging": {"namespace": "phishnet-staging", "queues": ["email_processing_queue"]}}
    path = tmp_path / "staging.yml"
    path.write_text(text + "\n" + yaml.safe_dump({"gameday": section}), encoding="utf-8")
    monkeypatch.setenv("PLAYBOOK", str(PHISHNET))

    assert main(["gameday", "--playbook", str(path)]) == 2

    assert capsys.readouterr().err == (
        "backlog-bot: Refusing the game day: queue 'email_processing_queue' is a production "
        "queue of playbook 'phishnet-queue-backlog'.\n"
    )


def test_a_production_namespace_is_refused(tmp_path, monkeypatch, capsys):
    text = staging_text({"staging": {"namespace": "phishnet", "queues": [QUEUE]}}).replace(
        "namespace: phishnet-staging\n", "namespace: phishnet\n"
    )
    path = tmp_path / "staging.yml"
    path.write_text(text, encoding="utf-8")
    monkeypatch.setenv("PLAYBOOK", str(PHISHNET))

    assert main(["gameday", "--playbook", str(path)]) == 2

    assert capsys.readouterr().err == (
        "backlog-bot: Refusing the game day: namespace 'phishnet' is the production "
        "namespace of playbook 'phishnet-queue-backlog'.\n"
    )


def test_a_copy_of_the_production_playbook_marked_staging_is_refused(tmp_path, monkeypatch, capsys):
    """The usual mistake: PhishNet's playbook copied, a gameday section added that marks
    its own namespace and queue staging, the name left as it was. Same name, but not
    the playbook served: the drill would push onto PhishNet's production queue."""
    section = {"staging": {"namespace": "phishnet", "queues": ["email_processing_queue"]}}
    path = tmp_path / "copy.yml"
    path.write_text(
        PHISHNET.read_text(encoding="utf-8") + "\n" + yaml.safe_dump({"gameday": section}),
        encoding="utf-8",
    )
    monkeypatch.setenv("PLAYBOOK", str(PHISHNET))

    assert main(["gameday", "--playbook", str(path), "--dry-run"]) == 2

    assert capsys.readouterr().err == (
        "backlog-bot: Refusing the game day: namespace 'phishnet' is the production "
        "namespace of playbook 'phishnet-queue-backlog'.\n"
    )


@pytest.mark.parametrize(
    ("section", "said"),
    [
        (
            {
                "staging": {"namespace": "phishnet-staging", "queues": [QUEUE]},
                "schedule": "99 2 1 * *",
            },
            "gameday.schedule: '99 2 1 * *' is not a cron expression APScheduler accepts",
        ),
        (
            {"staging": {"namespace": "elsewhere", "queues": [QUEUE]}},
            "gameday: Refusing the game day: namespace 'phishnet-staging' is not marked staging",
        ),
    ],
    ids=["bad-cron", "namespace-not-staging"],
)
def test_check_playbook_says_what_a_drill_would_refuse(tmp_path, capsys, section, said):
    """``check-playbook`` says it now, not ``serve`` at start or the drill on its night."""
    path = tmp_path / "staging.yml"
    path.write_text(staging_text(section), encoding="utf-8")
    assert main(["check-playbook", str(path)]) == 1
    out = capsys.readouterr()
    assert f"{path}: playbook 'phishnet-staging': {said}" in out.err
    assert "ok" not in out.out


def test_check_playbook_passes_a_usable_gameday_section(tmp_path, capsys):
    path = tmp_path / "staging.yml"
    path.write_text(staging_text(), encoding="utf-8")
    assert main(["check-playbook", str(path)]) == 0
    assert "ok — playbook 'phishnet-staging'" in capsys.readouterr().out

from __future__ import annotations

from bot.domain.permissions import ANYONE, allowed_roles, check_permissions
from bot.domain.playbook import PlaybookError, parse_playbook

ROLES = ("sre_oncall", "cto")


def test_defaults_read_only_open_state_changing_any_role():
    assert allowed_roles("status", ROLES, {}) is None
    assert allowed_roles("report", ROLES, {}) is None
    assert allowed_roles("ack", ROLES, {}) == ROLES
    assert allowed_roles("note", ROLES, {}) == ROLES


def test_overrides():
    assert allowed_roles("ack", ROLES, {"ack": (ANYONE,)}) is None
    assert allowed_roles("status", ROLES, {"status": ("cto",)}) == ("cto",)


def test_bad_permissions_are_named():
    problems = check_permissions({"akc": ("cto",), "ack": ("nobody",), "resolve": ()}, ROLES)
    assert ("permissions.ack[0]", "unknown role 'nobody'") in problems
    assert any(f == "permissions.akc" and r.startswith("unknown sub-command") for f, r in problems)
    assert ("permissions.resolve", "name at least one role, or anyone") in problems


def test_check_playbook_reports_them():
    from pathlib import Path

    import yaml

    shipped = Path(__file__).parents[2] / "playbooks" / "queue-backlog.yml"
    data = yaml.safe_load(shipped.read_text())
    data["permissions"] = {"resolve": ["ceo"]}
    try:
        parse_playbook(yaml.safe_dump(data), "p.yml")
    except PlaybookError as exc:
        assert "p.yml: permissions.resolve[0]: unknown role 'ceo'" in str(exc)
    else:
        raise AssertionError("a playbook naming an unknown role was accepted")

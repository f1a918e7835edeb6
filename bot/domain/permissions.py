"""Who may run each ``/backlog`` sub-command.

Read-only sub-commands are open to anyone in the channel. Every sub-command
that changes something — asks for an action, pages, acknowledges (which stops
paging), resolves, or writes the incident's record — is by default limited to
members of any of the playbook's roles, so a guest or a passer-by cannot stop
the paging or close an incident. A playbook's ``permissions`` section
overrides any of them: ``{ack: [sre_oncall, senior_devops]}``, or ``[anyone]``
to open one up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

ANYONE = "anyone"

READ_ONLY = frozenset({"status", "diagnose", "forecast", "report", "backtest", "help"})
STATE_CHANGING = frozenset(
    {
        "scale",
        "requeue",
        "restart",
        "tune",
        "drain",
        "escalate",
        "ack",
        "note",
        "rootcause",
        "resolve",
    }
)
COMMANDS = READ_ONLY | STATE_CHANGING


def allowed_roles(
    command: str, roles: Sequence[str], overrides: Mapping[str, Sequence[str]]
) -> tuple[str, ...] | None:
    """The roles whose members may run ``command``, or None when anyone may.

    ``roles``: every role the playbook defines; ``overrides``: its ``permissions``.
    """
    chosen = overrides.get(command)
    if chosen is not None:
        return None if ANYONE in chosen else tuple(chosen)
    if command in READ_ONLY:
        return None
    return tuple(roles)


def check_permissions(
    overrides: Mapping[str, Sequence[str]], roles: Sequence[str]
) -> list[tuple[str, str]]:
    """Problems in a playbook's ``permissions`` as (field, reason) pairs."""
    problems: list[tuple[str, str]] = []
    for command, allowed in overrides.items():
        if command not in COMMANDS:
            known = ", ".join(sorted(COMMANDS))
            problems.append((f"permissions.{command}", f"unknown sub-command (known: {known})"))
        if not allowed:
            problems.append((f"permissions.{command}", f"name at least one role, or {ANYONE}"))
        for i, role in enumerate(allowed):
            if role != ANYONE and role not in roles:
                problems.append((f"permissions.{command}[{i}]", f"unknown role '{role}'"))
    return problems


def refusal(command: str, roles: Sequence[str]) -> str:
    """What a person without the right role is told."""
    named = ", ".join(f"`{r}`" for r in roles)
    return (
        f"Only members of {named} may run `/backlog {command}` (the playbook's permissions); "
        "nothing was done. Ask one of them, or use the read-only commands (`status`, "
        "`diagnose`, `forecast`, `report`, `backtest`)."
    )

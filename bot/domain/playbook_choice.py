"""Which playbook a ``/backlog`` command is about, when one bot runs several.

The order (docs/many-playbooks.md): ``--playbook NAME`` when given; else the playbook
of the incident whose channel the command is typed in; else the only playbook. With
several and neither, ``status`` summarises every playbook and anything else is
refused with a sentence naming the playbooks.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.commands import normalise_arguments, split_verb
from bot.domain.errors import Refused
from bot.domain.text import code

_OPTION = "--playbook"
_TOKEN = re.compile(r"\S+")
# Free text: an option is only read before or right after the verb, never inside.
_FREE_TEXT = ("note", "rootcause")


@dataclass(frozen=True)
class Targeted:
    """The command's text without the option, and the playbook it names (if any)."""

    text: str
    requested: str | None


def take_playbook_option(text: str) -> Targeted:
    """Takes ``--playbook NAME`` (or ``--playbook=NAME``; Slack's autocorrected
    ``—playbook`` too) out of the slash command's ``text``: before the verb, right after
    it, or at the end (not at the end of ``note``/``rootcause`` text, which keeps every
    character). Raises :class:`Refused` when the option has no name."""
    tokens = list(_TOKEN.finditer(text))
    verb, _ = split_verb(text)
    candidates = [0, 1]
    if verb not in _FREE_TEXT:
        candidates += [len(tokens) - 2, len(tokens) - 1]
    for i in candidates:
        if not 0 <= i < len(tokens):
            continue
        word = _plain(tokens[i].group())
        if word.startswith(_OPTION + "="):
            name = word.removeprefix(_OPTION + "=")
            return Targeted(_without(text, tokens[i].span()), name or _missing())
        if word == _OPTION:
            if i + 1 >= len(tokens):
                _missing()
            end = tokens[i + 1].end()
            name = _plain(tokens[i + 1].group())
            return Targeted(_without(text, (tokens[i].start(), end)), name)
    return Targeted(text, None)


def choose_playbook(
    names: Sequence[str], *, requested: str | None, of_channel: str | None, verb: str
) -> str | None:
    """The playbook to run the command in, or ``None`` for ``status`` across all of
    them. ``names``: the running playbooks; ``of_channel``: the playbook of the
    incident whose channel the command was typed in. Raises :class:`Refused` for an
    unknown name, and when several run and the command says nothing of which."""
    listed = ", ".join(code(n) for n in names)
    if requested is not None:
        if requested not in names:
            raise Refused(f"There is no playbook {code(requested)}: the playbooks are {listed}.")
        return requested
    if of_channel is not None and of_channel in names:
        return of_channel
    if len(names) == 1:
        return names[0]
    if verb in ("", "status", "help"):
        return None
    raise Refused(
        f"This bot runs several playbooks ({listed}): type the command in an incident's "
        f"channel, or add {code('--playbook NAME')}."
    )


def _plain(word: str) -> str:
    plain = normalise_arguments(word)
    # Slack turns "--" into an em dash, which normalises to a single "-".
    if plain.startswith("-") and not plain.startswith("--"):
        plain = "-" + plain
    return plain


def _without(text: str, span: tuple[int, int]) -> str:
    start, end = span
    return (text[:start].rstrip() + " " + text[end:].lstrip()).strip()


def _missing() -> str:
    raise Refused(f"{code('--playbook')} needs a playbook's name: {code('--playbook NAME')}.")

"""``PLAYBOOK`` naming a file or a directory: the playbooks one bot runs.

A file is one playbook, exactly as before (a problem is a :class:`PlaybookError`).
A directory holds one playbook per ``*.yml`` / ``*.yaml`` file (not recursive; hidden
files skipped): the valid ones run, each broken one is kept with every problem
found, so the bot can say what is wrong while the others keep running
(docs/many-playbooks.md).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from bot.domain.playbook import Playbook, PlaybookError, PlaybookProblem, load_playbook

PLAYBOOK_SUFFIXES = (".yml", ".yaml")


@dataclass(frozen=True)
class PlaybookSet:
    """The playbooks found, in file-name order, and the files that cannot be used."""

    playbooks: tuple[Playbook, ...]
    broken: tuple[PlaybookError, ...] = ()
    directory: bool = False
    #: The file each of ``playbooks`` came from, in the same order (empty when the
    #: playbooks were not read from files).
    files: tuple[Path, ...] = ()

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(p.name for p in self.playbooks)

    def problem_lines(self) -> list[str]:
        """Every problem of every broken file, ``file: field: reason`` each."""
        return [f"{e.path}: {p.field}: {p.reason}" for e in self.broken for p in e.problems]


def playbook_files(directory: Path) -> list[Path]:
    """The playbook files of ``directory``, sorted by name."""
    return sorted(
        p
        for p in directory.iterdir()
        if p.suffix in PLAYBOOK_SUFFIXES and not p.name.startswith(".") and p.is_file()
    )


def load_playbooks(path: Path) -> PlaybookSet:
    """Loads ``path``: a file (raises :class:`PlaybookError` when it is broken) or a
    directory. A directory raises :class:`PlaybookError` (naming the directory) only
    when it holds no playbook file or two files share a playbook ``name`` (incidents,
    samples and buttons are found by that name, so which one to run would be a
    guess); a file that fails validation is returned in ``broken``."""
    if not path.is_dir():
        return PlaybookSet(playbooks=(load_playbook(path),), files=(path,))
    files = playbook_files(path)
    if not files:
        raise PlaybookError(
            path,
            [PlaybookProblem(field="(directory)", reason="holds no playbook (*.yml, *.yaml)")],
        )
    playbooks: list[tuple[Path, Playbook]] = []
    broken: list[PlaybookError] = []
    for file in files:
        try:
            playbooks.append((file, load_playbook(file)))
        except PlaybookError as exc:
            broken.append(exc)
    _refuse_duplicates(path, playbooks)
    return PlaybookSet(
        playbooks=tuple(p for _, p in playbooks),
        broken=tuple(broken),
        directory=True,
        files=tuple(f for f, _ in playbooks),
    )


def _refuse_duplicates(directory: Path, found: list[tuple[Path, Playbook]]) -> None:
    files_by_name: dict[str, list[str]] = defaultdict(list)
    for file, playbook in found:
        files_by_name[playbook.name].append(file.name)
    problems = [
        PlaybookProblem(
            field="name",
            reason=f"'{name}' is the name of {' and '.join(files)}: each playbook in a "
            "directory needs its own name",
        )
        for name, files in files_by_name.items()
        if len(files) > 1
    ]
    if problems:
        raise PlaybookError(directory, problems)

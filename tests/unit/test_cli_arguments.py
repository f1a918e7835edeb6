"""Bad command-line arguments are one line and exit 2 before anything runs."""

from __future__ import annotations

import pytest

from bot.cli import main


@pytest.mark.parametrize(
    ("argv", "said"),
    [
        (["demo", "--speed", "0"], "argument --speed: expected a number from 1 to 1000, got '0'"),
        (["demo", "--speed", "-3"], "argument --speed: expected a number from 1 to 1000, got '-3'"),
        (["demo", "--speed", "fast"], "expected a number from 1 to 1000, got 'fast'"),
        (
            ["demo", "--report", "/nonexistent/dir/r.md"],
            "argument --report: the directory /nonexistent/dir does not exist",
        ),
    ],
    ids=["speed-zero", "speed-negative", "speed-word", "report-missing-dir"],
)
def test_a_bad_demo_argument_is_refused_before_the_demo_runs(argv, said, capsys):
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert said in err
    assert "Traceback" not in err


def test_a_directory_as_the_report_is_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exited:
        main(["demo", "--report", str(tmp_path)])
    assert exited.value.code == 2
    assert f"{tmp_path} is a directory; give a file name in it" in capsys.readouterr().err

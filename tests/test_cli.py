"""The CLI contract: help and version work, and bad input is one line on stderr with a non-zero exit."""

from __future__ import annotations

import pytest

from genomamba.cli import COMMANDS, main
from tests.helpers import run_cli


def test_version_and_help():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.startswith("genomamba ")
    r = run_cli("--help")
    assert r.returncode == 0
    for name in COMMANDS:
        assert name.replace("_", "-") in r.stdout


@pytest.mark.parametrize("command", [c.replace("_", "-") for c in COMMANDS])
def test_every_command_has_help(command, capsys):
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    assert "usage: genomamba" in capsys.readouterr().out


def test_missing_input_is_one_line_error(tmp_path):
    missing = tmp_path / "nope.fa"
    r = run_cli("windows", "--fasta", str(missing), "--out", str(tmp_path / "w"))
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("genomamba windows: ") and str(missing) in lines[0]
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "w").exists()

"""Every numeric flag of every command, given 0, a negative value or a non-number (and a float flag NaN or inf, which
every comparison of a plain range check lets through): exit 2, one line on stderr that names the flag, and nothing
written. The flags are read from the parser itself, so a new numeric flag is walked too;
a command with numeric flags must have a base command line below."""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from importlib import resources
from pathlib import Path

import pytest

from genomamba.cli import build_parser

VCF = str(resources.files("genomamba") / "resources/genomes/yeast_chrI/consequence_snvs.vcf.gz")

# the rest of a command line that is valid up to the flag under test ({tmp} is the test's empty folder)
BASE = {
    "windows": ["--fasta", "yeast_chrI", "--out", "{tmp}/windows"],
    "score-vcf": ["--vcf", VCF, "--fasta", "yeast_chrI", "--kmer-baseline", "2", "--out", "{tmp}/scores.tsv"],
    "evaluate-vep": ["--scores", "m={tmp}/missing.tsv", "--out", "{tmp}/eval"],
    "make-task": ["promoters", "--genome", "yeast_chrI", "--out", "{tmp}/task.tsv"],
    "predict": ["--checkpoint", "{tmp}/missing_checkpoint", "--out", "{tmp}/pred.parquet"],
    "embed": ["--checkpoint", "{tmp}/ck", "--sequences", "{tmp}/seqs.csv", "--out", "{tmp}/emb.parquet"],
    "probe": ["--checkpoint", "{tmp}/ck", "--out-dir", "{tmp}/probe", "data.path={tmp}/seqs.csv"],
    "track": [
        "--checkpoint",
        "{tmp}/ck",
        "--fasta",
        "yeast_chrI",
        "--regions",
        "NC_001133.9:1-500",
        "--out",
        "{tmp}/t",
    ],
    "ism": ["--checkpoint", "{tmp}/ck", "--fasta", "yeast_chrI", "--regions", "NC_001133.9:1-50", "--out", "{tmp}/ism"],
}
# flags for which 0 is a documented, valid value (auto, "none", a seed, a class index, a fraction)
ZERO_OK = {
    ("windows", "--min-tail"),
    ("windows", "--max-n-frac"),
    ("windows", "--val-frac"),
    ("windows", "--test-frac"),
    ("windows", "--seed"),
    ("score-vcf", "--batch-size"),
    ("score-vcf", "--threads"),
    ("score-vcf", "--head-output"),
    ("evaluate-vep", "--bootstrap"),
    ("evaluate-vep", "--seed"),
    ("make-task", "--seed"),
    ("predict", "--flank"),
    ("embed", "--layer"),
    ("embed", "--flank"),
    ("embed", "--threads"),
    ("probe", "--layer"),
    ("probe", "--seed"),
    ("probe", "--threads"),
    ("track", "--gene-flank"),
    ("track", "--tile"),
    ("track", "--margin"),
    ("track", "--batch-size"),
    ("track", "--window"),
    ("track", "--step"),
    ("track", "--head-output"),
    ("track", "--threads"),
    ("ism", "--batch-size"),
    ("ism", "--head-output"),
    ("ism", "--threads"),
}
# layer indices count from the end when negative (-1 = the final-norm output), as Python indices do
NEGATIVE_OK = {("embed", "--layer"), ("probe", "--layer")}


def _numeric_flags() -> list[tuple[str, str, int, type]]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    out = []
    for command, sp in sub.choices.items():
        for action in sp._actions:
            if action.type in (int, float) and action.option_strings:
                nargs = action.nargs if isinstance(action.nargs, int) else 1
                out.append((command, action.option_strings[-1], nargs, action.type))
    return out


FLAGS = _numeric_flags()
CASES = [
    pytest.param(command, flag, nargs, value, id=f"{command}{flag}={value}")
    for command, flag, nargs, kind in FLAGS
    for value in ("0", "-3", "abc", *(("nan", "inf") if kind is float else ()))
    if not (value == "0" and (command, flag) in ZERO_OK) and not (value == "-3" and (command, flag) in NEGATIVE_OK)
]


def test_every_command_with_numeric_flags_has_a_base_command_line():
    assert {command for command, *_ in FLAGS} <= set(BASE)


@pytest.mark.parametrize("command, flag, nargs, value", CASES)
def test_bad_numeric_flag_is_one_line_exit_2_and_writes_nothing(tmp_path, command, flag, nargs, value):
    base = [part.format(tmp=tmp_path) for part in BASE[command]]
    argv = [sys.executable, "-m", "genomamba", command, *base, flag, *([value] * nargs)]
    env = dict(os.environ, GENOMAMBA_CACHE_DIR=str(tmp_path / "cache"))
    r = subprocess.run(argv, capture_output=True, text=True, timeout=120, env=env)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2, r.stderr
    assert len(lines) == 1, r.stderr
    assert flag in lines[0], lines[0]
    left = sorted(p.name for p in Path(tmp_path).iterdir() if p.name != "cache")
    assert left == [], f"{command} {flag} {value} left {left}"

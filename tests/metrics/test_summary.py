"""``genomamba summarize``: the config checks and the table of headline numbers."""

from __future__ import annotations

import json

import pytest

from genomamba.cli import main
from genomamba.config import from_dict
from genomamba.errors import GenomambaError
from genomamba.metrics.summary import SummarizeConfig


def test_summarize_cli_table_and_json(tmp_path, capsys):
    qc = tmp_path / "qc.json"
    qc.write_text(json.dumps({"totals": {"kept": 12}, "splits": {"train": {"windows": 10}, "val": {"windows": 2}}}))
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"a": {"b": 1.5, "c": "text"}, "d": 2}))
    out = tmp_path / "summary.txt"
    args = ["summarize", "--metrics", f"windows={qc}", "--metrics", f"other={other}:a.b", "--out", str(out)]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert printed == out.read_text() and "[windows]" in printed and "windows kept" in printed
    summary = json.loads(out.with_suffix(".json").read_text())
    assert summary == {
        "windows": {"windows kept": 12.0, "train windows": 10.0, "val windows": 2.0},
        "other": {"a.b": 1.5},
    }


@pytest.mark.parametrize(
    "fields, problem",
    [
        ({"metrics": ["nolabel.json"], "out": "s.txt"}, "is not LABEL=FILE.json"),
        ({"metrics": ["a=x.json"]}, "--metrics needs --out"),
        ({"plot_pretraining": "run"}, "--plot-pretraining needs --plot-out"),
        ({"plot_out": "p.png"}, "--plot-out needs --plot-pretraining"),
    ],
)
def test_summarize_config_errors(fields, problem):
    with pytest.raises(GenomambaError, match=problem):
        from_dict(SummarizeConfig, fields)


@pytest.mark.parametrize(
    "args, bad, problem",
    [
        (["--out", "sum.json"], "sum.json", "its .json twin would overwrite it"),
        (["--out", "adir"], "adir", "is a directory"),
        (["--out", "twin.txt"], "twin.json", "is a directory"),  # the JSON twin's name is a folder
        (["--out", "s.txt", "--plot-pretraining", "run", "--plot-out", "fig.txt"], "fig.txt", "ending in .png"),
    ],
)
def test_summarize_bad_output_paths_write_nothing(tmp_path, capsys, args, bad, problem):
    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"a": 1}))
    (tmp_path / "adir").mkdir()
    (tmp_path / "twin.json").mkdir()
    (tmp_path / "run").mkdir()
    paths = [str(tmp_path / a) if i % 2 else a for i, a in enumerate(args)]  # every flag's value is a path
    assert main(["summarize", "--metrics", f"x={metrics}", *paths]) == 2
    err = capsys.readouterr().err
    assert err.startswith("genomamba summarize: ") and err.count("\n") == 1, err
    assert f"{tmp_path / bad}: " in err and problem in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir", "m.json", "run", "twin.json"]


def test_summarize_a_bad_metrics_key_fails_before_the_figure_is_drawn(tmp_path, capsys, monkeypatch):
    import genomamba.metrics.summary as summary

    metrics = tmp_path / "m.json"
    metrics.write_text(json.dumps({"a": 1}))
    (tmp_path / "run").mkdir()
    monkeypatch.setattr(summary, "plot_pretraining", lambda *a: pytest.fail("drew the figure before reading --metrics"))
    args = ["summarize", "--metrics", f"x={metrics}:nope", "--out", str(tmp_path / "s.txt")]
    args += ["--plot-pretraining", str(tmp_path / "run"), "--plot-out", str(tmp_path / "fig.png")]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no numeric key 'nope' in x" in err, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json", "run"]
